#!/usr/bin/env bash
# Starts the demo stack (debug builds, reusing what the tests built) and
# checks what a newcomer meets: Prosody starts without certificate errors,
# ten logins in a row are not rate-limited, and after SIGTERM none of the
# demo's ports is still open, because every child stops with it.
set -euo pipefail
cd "$(dirname "$0")/.."
LOG=$(mktemp /tmp/causeway-demo.XXXXXX)
PORTS=(8008 6667 5222 5347 24440 24443 24444 24450 24451 29317 29318 29330 29340)

open_ports() {
  python3 - "${PORTS[@]}" <<'PY'
import socket, sys
open_ = []
for port in sys.argv[1:]:
    s = socket.socket()
    s.settimeout(0.2)
    if s.connect_ex(("127.0.0.1", int(port))) == 0:
        open_.append(port)
    s.close()
print(" ".join(open_))
PY
}

busy=$(open_ports)
[ -z "$busy" ] || { echo "ports already in use before the demo: $busy"; exit 1; }

CAUSEWAY_DEMO_PROFILE=debug setsid bash scripts/demo.sh > "$LOG" 2>&1 &
DEMO_PID=$!
for _ in $(seq 1 600); do
  grep -q "The demo stack is running" "$LOG" && break
  kill -0 "$DEMO_PID" 2>/dev/null || { echo "the demo exited early:"; tail -30 "$LOG"; exit 1; }
  sleep 0.5
done
grep -q "The demo stack is running" "$LOG" || { echo "the demo did not start:"; tail -30 "$LOG"; kill -TERM "$DEMO_PID"; exit 1; }
busy=$(open_ports)
echo "demo running, listening on: $busy"
if grep -qi "certmanager" "$LOG"; then
  echo "Prosody complained about certificates:"; grep -i certmanager "$LOG"; kill -TERM "$DEMO_PID"; exit 1
fi
for n in $(seq 1 10); do
  status=$(curl -s -o /dev/null -w '%{http_code}' -X POST http://127.0.0.1:8008/_matrix/client/v3/login \
    -H 'Content-Type: application/json' \
    -d '{"type":"m.login.password","identifier":{"type":"m.id.user","user":"demo"},"password":"demo"}')
  if [ "$status" != 200 ]; then
    echo "login $n of 10 answered $status"; kill -TERM "$DEMO_PID"; exit 1
  fi
done
echo "ten logins in a row, none rate-limited"
kill -TERM "$DEMO_PID"
for _ in $(seq 1 60); do
  kill -0 "$DEMO_PID" 2>/dev/null || break
  sleep 0.5
done
sleep 1
left=$(open_ports)
if [ -n "$left" ]; then
  echo "still open after SIGTERM: $left"
  tail -30 "$LOG"
  exit 1
fi
echo "the demo stopped; no port left open"
rm -f "$LOG"
