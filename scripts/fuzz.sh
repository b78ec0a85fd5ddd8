#!/usr/bin/env bash
# Runs each cargo-fuzz target briefly (FUZZ_SECONDS each, 30 by default):
# the IRC formatter and line splitter, and the command and CAP parsers.
# Installs cargo-fuzz when missing. cargo-fuzz wants nightly for its -Z flags;
# RUSTC_BOOTSTRAP lets the stable toolchain accept them, and no sanitizer is
# needed for the properties the targets assert. The build is the fuzz
# crate's dev profile, optimised only where the fuzzing loop runs (see
# fuzz/Cargo.toml): half a minute less than a release build, for about a third
# fewer executions a second, which the longer default run makes up.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --version 0.13.2
seconds="${FUZZ_SECONDS:-30}"
mkdir -p target
for target in irc_text command_parser; do
  echo "== fuzzing $target for ${seconds}s"
  # A failing input fails the run (pipefail); it is saved under artifacts/.
  RUSTC_BOOTSTRAP=1 cargo fuzz run --dev --sanitizer none "$target" -- \
    -max_total_time="$seconds" -max_len=4096 >"target/$target.log" 2>&1 ||
    { tail -n 40 "target/$target.log"; exit 1; }
  tail -n 1 "target/$target.log"
done
