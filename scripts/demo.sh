#!/usr/bin/env bash
# The local demo stack: Synapse on 127.0.0.1:8008 (server name "localhost")
# plus every Causeway bridge in bridges/, in the foreground until Ctrl-C.
# State lives in .cache/demo/ and survives restarts; delete it to start over.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CACHE=${CAUSEWAY_CACHE_DIR:-$ROOT/.cache}
DEMO=$CACHE/demo
VENV=$CACHE/synapse-venv-1.163
mkdir -p "$DEMO/synapse" "$DEMO/bridges"

python3 -c 'import venv, ensurepip' 2>/dev/null || { sudo apt-get update -qq && sudo apt-get install -y -qq python3-venv; }
if [ ! -f "$VENV/.installed" ]; then
  echo "== installing Synapse into $VENV"
  rm -rf "$VENV"; python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q 'matrix-synapse==1.163.*' psycopg2-binary
  echo '1.163.*' > "$VENV/.installed"
fi

# Release builds by default; CAUSEWAY_DEMO_PROFILE=debug reuses what the
# tests built (scripts/check-demo-stops.sh does).
PROFILE=${CAUSEWAY_DEMO_PROFILE:-release}
BUILD_FLAGS=()
[ "$PROFILE" = release ] && BUILD_FLAGS=(--release)
BIN_DIR=$ROOT/target/$PROFILE

# Each bridge crate under bridges/ that has a binary builds causeway-<network>
# (a crate still without one, such as WhatsApp's for now, is left out).
BRIDGES=()
for dir in bridges/*/; do
  [ -f "$dir/src/main.rs" ] && BRIDGES+=("$(basename "$dir")")
done
PIDS=()
# Root runs helpers directly, anyone else through sudo; a plain command, not
# a function, so that a background start's $! is the process itself.
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
as_root() { $SUDO "$@"; }
# Every child stops with the demo, however it ends. Prosody runs as its own
# user, so it is also stopped by its pid file.
cleanup() {
  trap - EXIT INT TERM
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  if [ -f "$DEMO/prosody/prosody.pid" ]; then
    $SUDO kill "$(cat "$DEMO/prosody/prosody.pid")" 2>/dev/null || true
  fi
  wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

REGISTRATIONS=""
if [ ${#BRIDGES[@]} -gt 0 ]; then
  if [ ! -x "$BIN_DIR/causeway-${BRIDGES[0]}" ]; then
    echo "== building the bridges (${BRIDGES[*]}) in $PROFILE mode: the first build takes about 6 minutes on 2 cores, later starts a few seconds"
  fi
  # The bridges and the sandboxes they talk to build in one go: built one
  # by one, their shared dependencies (the WhatsApp and Telegram protocol
  # crates) resolve to different features and are compiled twice.
  TARGETS=()
  for net in "${BRIDGES[@]}"; do TARGETS+=(-p "causeway-$net" --bin "causeway-$net"); done
  # The demo's WhatsApp bridge talks to the sandbox, whose certificate is not
  # WhatsApp's: only this build (the `sandbox` feature) accepts it.
  if [[ " ${BRIDGES[*]} " == *" whatsapp "* ]]; then
    TARGETS+=(--features causeway-whatsapp/sandbox -p causeway-wa-testserver --bin causeway-wa-sandbox)
  fi
  [[ " ${BRIDGES[*]} " == *" telegram "* ]] && TARGETS+=(-p causeway-tg-testserver --bin causeway-tg-sandbox)
  cargo build "${BUILD_FLAGS[@]}" "${TARGETS[@]}"
  # So that the next start does not compile the WhatsApp stack again.
  bash "$ROOT/scripts/settle-build.sh"
  for net in "${BRIDGES[@]}"; do
    bin=$BIN_DIR/causeway-$net
    cfg=$DEMO/bridges/$net.yaml
    reg=$DEMO/bridges/$net-registration.yaml
    if [ ! -f "$cfg" ]; then
      "$bin" -c "$cfg" -e >/dev/null
      sed -i "s|sqlite:causeway-$net.db|sqlite:$DEMO/bridges/$net.db|; s|secret_key_file: causeway-$net.key|secret_key_file: $DEMO/bridges/$net.key|" "$cfg"
      "$bin" -c "$cfg" -r "$reg" -g >/dev/null
    fi
    REGISTRATIONS="$REGISTRATIONS\"$reg\", "
  done
fi

IRCD_PORT=6667
if [[ " ${BRIDGES[*]} " == *" irc "* ]]; then
  command -v ngircd >/dev/null || [ -x /usr/sbin/ngircd ] || { sudo apt-get update -qq && sudo apt-get install -y -qq ngircd; }
  mkdir -p "$DEMO/ngircd"
  cat > "$DEMO/ngircd/ngircd.conf" <<CONF
[Global]
Name = irc.demo.local
Info = Causeway demo IRC server
Listen = 127.0.0.1
Ports = $IRCD_PORT
MotdPhrase = Welcome to the Causeway demo
PidFile = $DEMO/ngircd/ngircd.pid
[Limits]
MaxConnectionsIP = 0
MaxJoins = 0
MaxNickLength = 30
[Options]
PAM = no
Ident = no
DNS = no
CONF
  echo "== starting ngircd on 127.0.0.1:$IRCD_PORT"
  PATH="$PATH:/usr/sbin" ngircd -n -f "$DEMO/ngircd/ngircd.conf" > "$DEMO/ngircd/ngircd.log" 2>&1 &
  PIDS+=($!)
fi

XMPP_C2S=5222
XMPP_COMPONENT=5347
if [[ " ${BRIDGES[*]} " == *" xmpp "* ]]; then
  # Prosody refuses to run as root, so it runs as its own user, from a
  # directory that user owns.
  if ! command -v prosody >/dev/null || [ ! -d /usr/lib/prosody/modules/mod_muc_moderation ]; then
    as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prosody prosody-modules
  fi
  # An empty certs directory: plain connections on loopback need none, and
  # Prosody then has nothing to complain about at start.
  mkdir -p "$DEMO/prosody/data" "$DEMO/prosody/certs"
  cat > "$DEMO/prosody/prosody.cfg.lua" <<CONF
daemonize = false
certificates = "$DEMO/prosody/certs"
pidfile = "$DEMO/prosody/prosody.pid"
data_path = "$DEMO/prosody/data"
log = { info = "$DEMO/prosody/prosody.log"; error = "*console" }
modules_enabled = { "roster"; "saslauth"; "disco"; "ping"; "vcard_legacy"; "mam"; "offline" }
authentication = "internal_plain"
allow_registration = false
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
interfaces = { "127.0.0.1" }
c2s_ports = { $XMPP_C2S }
component_interfaces = { "127.0.0.1" }
component_ports = { $XMPP_COMPONENT }
s2s_ports = {}
http_ports = {}
https_ports = {}
VirtualHost "xmpp.localhost"
Component "conference.xmpp.localhost" "muc"
  modules_enabled = { "muc_mam"; "muc_moderation" }
  muc_room_locking = false
  muc_room_default_public = true
  muc_room_default_public_jids = true
Component "matrix.xmpp.localhost"
  component_secret = "demo-component-secret"
CONF
  as_root chown -R prosody:prosody "$DEMO/prosody"
  chmod o+x "$CACHE" "$DEMO" 2>/dev/null || true
  for account in alice bob; do
    as_root runuser -u prosody -- prosodyctl --config "$DEMO/prosody/prosody.cfg.lua" register "$account" xmpp.localhost "$account" >/dev/null
  done
  # The bridge's config, pointed at this Prosody, the first time only.
  cfg=$DEMO/bridges/xmpp.yaml
  if grep -q 'matrix.xmpp.example.com' "$cfg"; then
    sed -i 's/xmpp\.example\.com/xmpp.localhost/g; s/component_secret: change-me/component_secret: demo-component-secret/; s/server_port: 5347/server_port: '"$XMPP_COMPONENT"'/' "$cfg"
  fi
  echo "== starting Prosody on 127.0.0.1:$XMPP_C2S (c2s) and :$XMPP_COMPONENT (component)"
  $SUDO runuser -u prosody -- prosody --config "$DEMO/prosody/prosody.cfg.lua" &
  PIDS+=($!)
fi

TG_DC2=24443
TG_DC4=24444
TG_CONTROL=24440
if [[ " ${BRIDGES[*]} " == *" telegram "* ]]; then
  # The sandbox plays Telegram: the bridge runs the real grammers client
  # against it. Set test_server: null and a real api_id for Telegram itself.
  cfg=$DEMO/bridges/telegram.yaml
  if grep -q '^  test_server: null' "$cfg"; then
    sed -i "s|^  test_server: null|  test_server: { host: 127.0.0.1, dc_ports: { 2: $TG_DC2, 4: $TG_DC4 }, key_service: 'http://127.0.0.1:$TG_CONTROL/keys' }|" "$cfg"
  fi
  echo "== starting the Telegram sandbox on 127.0.0.1:$TG_DC2 (login codes appear below)"
  "$BIN_DIR/causeway-tg-sandbox" --dc2-port "$TG_DC2" --dc4-port "$TG_DC4" --control-port "$TG_CONTROL" &
  PIDS+=($!)
fi

WA_PORT=24450
WA_CONTROL=24451
if [[ " ${BRIDGES[*]} " == *" whatsapp "* ]]; then
  # The sandbox plays WhatsApp: the bridge runs the real whatsapp-rust client
  # against it. For WhatsApp itself, build without the sandbox feature and
  # set test_server: null.
  cfg=$DEMO/bridges/whatsapp.yaml
  if grep -q '^  test_server: null' "$cfg"; then
    sed -i "s|^  test_server: null|  test_server: { url: 'ws://127.0.0.1:$WA_PORT/ws/chat' }|" "$cfg"
  fi
  echo "== starting the WhatsApp sandbox on 127.0.0.1:$WA_PORT"
  "$BIN_DIR/causeway-wa-sandbox" --control "127.0.0.1:$WA_CONTROL" serve --listen "127.0.0.1:$WA_PORT" &
  PIDS+=($!)
fi

SECRET=demo-shared-secret
cat > "$DEMO/synapse/homeserver.yaml" <<YAML
server_name: localhost
public_baseurl: http://127.0.0.1:8008/
pid_file: $DEMO/synapse/homeserver.pid
signing_key_path: $DEMO/synapse/signing.key
log_config: $DEMO/synapse/log.yaml
media_store_path: $DEMO/synapse/media
report_stats: false
enable_metrics: false
federation_domain_whitelist: []
room_list_publication_rules: [{action: allow}]
trusted_key_servers: []
suppress_key_server_warning: true
enable_registration: false
registration_shared_secret: "$SECRET"
use_appservice_legacy_authorization: false
app_service_config_files: [${REGISTRATIONS%, }]
listeners:
  - {port: 8008, bind_addresses: ["127.0.0.1"], type: http, tls: false, x_forwarded: false, resources: [{names: [client, openid], compress: false}]}
database: {name: sqlite3, args: {database: $DEMO/synapse/homeserver.db}}
# A local demo: no rate limits a newcomer trying several clients would hit.
rc_login:
  address: {per_second: 1000, burst_count: 1000}
  account: {per_second: 1000, burst_count: 1000}
  failed_attempts: {per_second: 1000, burst_count: 1000}
rc_registration: {per_second: 1000, burst_count: 1000}
rc_message: {per_second: 1000, burst_count: 1000}
rc_joins:
  local: {per_second: 1000, burst_count: 1000}
  remote: {per_second: 1000, burst_count: 1000}
rc_invites:
  per_room: {per_second: 1000, burst_count: 1000}
  per_user: {per_second: 1000, burst_count: 1000}
YAML
cat > "$DEMO/synapse/log.yaml" <<YAML
version: 1
formatters: {f: {format: '%(asctime)s %(levelname)s %(name)s %(message)s'}}
handlers: {file: {class: logging.FileHandler, filename: $DEMO/synapse/homeserver.log, formatter: f}}
root: {level: INFO, handlers: [file]}
YAML
[ -f "$DEMO/synapse/signing.key" ] || "$VENV/bin/python" -c "import signedjson.key as k; k.write_signing_keys(open('$DEMO/synapse/signing.key', 'w'), [k.generate_signing_key('a_1')])"

echo "== starting Synapse on http://127.0.0.1:8008"
"$VENV/bin/python" -m synapse.app.homeserver -c "$DEMO/synapse/homeserver.yaml" &
PIDS+=($!)
for _ in $(seq 1 120); do
  curl -sf http://127.0.0.1:8008/_matrix/client/versions >/dev/null 2>&1 && break
  sleep 0.5
done
"$VENV/bin/register_new_matrix_user" -u demo -p demo -k "$SECRET" --no-admin http://127.0.0.1:8008 >/dev/null 2>&1 || true
"$VENV/bin/register_new_matrix_user" -u admin -p admin -k "$SECRET" --admin http://127.0.0.1:8008 >/dev/null 2>&1 || true

for net in "${BRIDGES[@]}"; do
  echo "== starting causeway-$net"
  "$BIN_DIR/causeway-$net" -c "$DEMO/bridges/$net.yaml" -r "$DEMO/bridges/$net-registration.yaml" &
  PIDS+=($!)
done

cat <<MSG

The demo stack is running. Log in with any Matrix client:
  homeserver  http://127.0.0.1:8008
  user        demo   (password: demo)   or   admin (password: admin, a bridge admin)
Bridges running: ${BRIDGES[*]:-none yet (each bridge issue adds its crate under bridges/)}
Start a DM with a bridge bot (for example @ircbot:localhost) and send help.
IRC: point any IRC client at 127.0.0.1 port $IRCD_PORT (no TLS) and /join #causeway;
     in Matrix, DM @ircbot:localhost and send "!join #causeway", or join #_local_#causeway:localhost.
XMPP: log in with any XMPP client as alice@xmpp.localhost (password alice) or
      bob@xmpp.localhost (password bob), server 127.0.0.1 port $XMPP_C2S, plain
      connection allowed (loopback only). Join a MUC such as
      lobby@conference.xmpp.localhost; in Matrix, join
      #_xmpp_lobby_conference.xmpp.localhost:localhost. Matrix users are
      demo_localhost@matrix.xmpp.localhost for a PM, and public Matrix rooms
      are MUCs under matrix.xmpp.localhost (#room#localhost@matrix.xmpp.localhost).
Telegram (a sandbox on this machine, not the real network): DM @telegram:localhost,
      send "login" and the phone number +15550001 (Alice) or +15550002 (Bob); the
      login code is printed in this console, as the Telegram app would show it.
      Then "pm @echo" opens a chat with a scripted user who answers. For the real
      Telegram, put your api_id and api_hash from https://my.telegram.org in
      $DEMO/bridges/telegram.yaml and set test_server: null.
WhatsApp (a sandbox on this machine, not the real network): DM @whatsappbot:localhost
      and send "login". The bot shows a QR code; its text is the image's body.
      "Scan" it with your sandbox phone (+15550100):
        $BIN_DIR/causeway-wa-sandbox --control 127.0.0.1:$WA_CONTROL scan '<the code>'
      Then "pm +15550101" opens a chat with Ada, who answers; Grace is +15550102,
      and the three of you share the group "Sandbox lounge" ("list groups", "open").
      For the real WhatsApp, build causeway-whatsapp without --features sandbox and
      set test_server: null in $DEMO/bridges/whatsapp.yaml.
Press Ctrl-C to stop everything.
MSG
wait -n "${PIDS[@]}"
