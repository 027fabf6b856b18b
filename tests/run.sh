#!/usr/bin/env bash
# Every check and test Switchboard has, the way CI runs them. Installs what the tests need
# first (only Rust components so far; the mail servers, PostgreSQL and Chromium join as the
# channels that need them land).
set -euo pipefail
cd "$(dirname "$0")/.."

rustup component add rustfmt clippy >/dev/null 2>&1 || true

cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
cargo test
