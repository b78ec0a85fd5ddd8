#!/usr/bin/env bash
# Runs the test binaries of the given packages (cargo test's -p arguments)
# two at a time, each with two test threads, from its package's directory
# as cargo would. Many end-to-end tests wait on servers and timers (a
# netsplit takes a minute of mostly idle time), so one binary at a time
# leaves the cores idle. Each binary's output is printed when it ends;
# A binary that failed is run once more, alone, once the others are done:
# one that passes then is reported as flaky (its first output stays above),
# and only one that fails twice fails the script.
#   scripts/run-tests.sh -p causeway-irc -p causeway-xmpp
set -euo pipefail
cd "$(dirname "$0")/.."

out=$(mktemp -d /tmp/causeway-tests.XXXXXX)
trap 'rm -rf "$out"' EXIT

# Build first, as `cargo test` would, and list each test binary with its
# package directory: "dir<TAB>executable".
cargo test --locked "$@" --no-run --message-format=json-render-diagnostics \
  | python3 -c '
import json, os, sys
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"]["test"]:
        print(os.path.dirname(m["manifest_path"]) + "\t" + m["executable"])
' > "$out/list"

run_one() {
  local dir=$1 exe=$2 log
  log="$OUT/$(basename "$exe").log"
  local started=$SECONDS
  if (cd "$dir" && "$exe" --test-threads 2) > "$log" 2>&1; then
    echo "== ok     $(basename "$exe") ($((SECONDS - started)) s)"
    grep -E '^test result' "$log" || true
  else
    echo "== FAILED $(basename "$exe") ($((SECONDS - started)) s)"
    cat "$log"
    printf '%s\t%s\n' "$dir" "$exe" >> "$OUT/failed"
  fi
}
export -f run_one
export OUT=$out

tr '\t' '\n' < "$out/list" | xargs -d '\n' -n 2 -P 2 bash -c 'run_one "$0" "$1"'
[ -e "$out/failed" ] || exit 0
mv "$out/failed" "$out/first-failures"
while IFS=$'\t' read -r dir exe; do
  echo "== running $(basename "$exe") again, alone"
  run_one "$dir" "$exe"
done < "$out/first-failures"
if [ -e "$out/failed" ]; then
  echo "== some test binaries failed twice (see above)"
  exit 1
fi
echo "== flaky: these failed once and then passed alone:"
cut -f2 "$out/first-failures" | xargs -n 1 basename
