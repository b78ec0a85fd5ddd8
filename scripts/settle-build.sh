#!/usr/bin/env bash
# Run after a cargo build. waproto 0.7.0's build script writes
# out/whatsapp.local.desc and declares it rerun-if-changed, so the file is
# newer than the run that wrote it: cargo's next command, whatever it is,
# runs the script again and compiles waproto, whatsapp-rust and the WhatsApp
# crates once more (3 minutes of a CI run, more in release). Dating the file
# back to that run, which wrote it, keeps the build fresh.
set -euo pipefail
cd "$(dirname "$0")/.."
for desc in "${CARGO_TARGET_DIR:-target}"/*/build/waproto-*/out/whatsapp.local.desc; do
  if [ -e "$desc" ]; then touch -r "${desc%/out/*}/output" "$desc"; fi
done
