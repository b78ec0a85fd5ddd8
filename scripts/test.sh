#!/usr/bin/env bash
# Runs the whole test suite, installing what it needs first:
#   Debian packages (PostgreSQL, python3-venv, ngircd, inspircd, anope, prosody
#   and prosody-modules), the Synapse venv (cached in .cache/), then unit
#   tests, lints, and the end-to-end suites against real Synapse on SQLite,
#   then the store's tests and the core's suites on PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CACHE=${CAUSEWAY_CACHE_DIR:-$ROOT/.cache}
mkdir -p "$CACHE"
export CAUSEWAY_CACHE_DIR=$CACHE

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

need_apt=()
[ -x /usr/lib/postgresql/15/bin/initdb ] || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql)
command -v psql >/dev/null || need_apt+=(postgresql-client)
python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv)
command -v ngircd >/dev/null || [ -x /usr/sbin/ngircd ] || need_apt+=(ngircd)
# InspIRCd with Anope services: SASL, NickServ and IRCv3.
[ -x /usr/sbin/inspircd ] || need_apt+=(inspircd)
[ -x /usr/sbin/anope ] || need_apt+=(anope)
# Prosody for the XMPP bridge.
command -v prosody >/dev/null || need_apt+=(prosody)
# Its community modules: mod_muc_moderation, for moderated retractions (XEP-0425).
[ -d /usr/lib/prosody/modules/mod_muc_moderation ] || need_apt+=(prosody-modules)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "== installing ${need_apt[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
fi

VENV=$CACHE/synapse-venv-1.163
if [ ! -f "$VENV/.installed" ]; then
  echo "== installing Synapse into $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q 'matrix-synapse==1.163.*' psycopg2-binary
  echo '1.163.*' > "$VENV/.installed"
fi

# Each step's header says when it started, so that a CI log shows where
# the run's minutes go.
step() { echo "== $* (at $((SECONDS / 60))m$((SECONDS % 60))s)"; }

# Incremental caches only help a rebuild; on a clean run they double the disk.
export CARGO_INCREMENTAL=0

step "format"
cargo fmt --all -- --check

step "test-only features stay out of the product"
# whatsapp-rust's danger-* features are for the WhatsApp test server's
# tests alone; the bridge as built for users must not have them.
if cargo tree --locked -e features,normal -p causeway-whatsapp | grep -q danger; then
  echo "causeway-whatsapp is built with a danger-* feature:"
  cargo tree --locked -e features,normal -p causeway-whatsapp -i whatsapp-rust | grep danger
  exit 1
fi

# Clippy lints the workspace's crates as they compile for the tests, through
# the wrapper `cargo clippy` itself uses, and -D warnings fails the build on
# any lint or compiler warning: the check of `cargo clippy --workspace
# --all-targets -- -D warnings`. A `cargo clippy` of its own compiles every
# dependency once more, for metadata alone; built cold side by side on 2
# cores, its way took 931 s to the suites' binaries and this one 764 s. The
# builds below, the demo's included, share these settings and so these
# artifacts; a developer's own builds, without them, do not. Every binary is
# built by the integration tests that run it, so no `cargo build` is needed:
# without dev-dependencies it resolves other features and compiles much again.
export RUSTC_WORKSPACE_WRAPPER=clippy-driver
export RUSTFLAGS="-D warnings"
step "build every target, with clippy's lints"
cargo test --workspace --all-targets --locked --no-run

# So that the next cargo command does not compile the WhatsApp stack again.
bash scripts/settle-build.sh

step "unit tests"
cargo test --workspace --locked --lib --bins

export PATH="$PATH:/usr/sbin"
E2E=(-p causeway-tests -p causeway-irc -p causeway-xmpp -p causeway-tg-testserver -p causeway-telegram -p causeway-wa-testserver -p causeway-whatsapp)

step "end-to-end on SQLite"
bash scripts/run-tests.sh "${E2E[@]}"

step "end-to-end on PostgreSQL"
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
PGDIR=$(mktemp -d /tmp/causeway-pg.XXXXXX)
PGPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cleanup() { as_root runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGDIR/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$PGDIR"; }
trap cleanup EXIT
chown postgres "$PGDIR" 2>/dev/null || as_root chown postgres "$PGDIR"
as_root runuser -u postgres -- "$PGBIN/initdb" -D "$PGDIR/data" -U postgres --auth=trust -E UTF8 --locale=C >/dev/null
as_root runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGDIR/data" -w -l "$PGDIR/log" start \
  -o "-c listen_addresses=127.0.0.1 -p $PGPORT -c unix_socket_directories=$PGDIR -c fsync=off -c max_connections=300" >/dev/null
export CAUSEWAY_TEST_POSTGRES="postgres://postgres@127.0.0.1:$PGPORT"
# The stores' unit tests, built as the unit-test step built them (the whole
# workspace's features), so that nothing is compiled again.
cargo test --workspace --locked --lib -- --test-threads 2 store:: session::
# Then the suites that drive the store under real load: the core's (the test
# network through Synapse, kill -9 and restarts included) and the WhatsApp
# and Telegram test servers' (the real clients' sessions in our store). The
# bridges reach the database only through the core's store, so their own
# suites run on SQLite alone.
bash scripts/run-tests.sh -p causeway-tests -p causeway-tg-testserver -p causeway-wa-testserver

step "fuzzing"
# Its own build, with cargo fuzz's instrumentation and no lints.
env -u RUSTC_WORKSPACE_WRAPPER -u RUSTFLAGS bash scripts/fuzz.sh

step "the demo starts cleanly, lets a newcomer in, and stops cleanly"
bash scripts/check-demo.sh

step "all tests passed"
