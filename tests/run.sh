#!/usr/bin/env bash
# Every check and test Switchboard has, the way CI runs them. Installs and starts what the
# tests need first: Rust's formatter and linter, Chromium and chromedriver for the browser
# tests (tests/env/browser.sh), and a private Dovecot and Postfix on loopback
# (tests/env/mail.sh), stopped again at the end. Browser screenshots land in
# target/screenshots/.
set -euo pipefail
cd "$(dirname "$0")/.."

rustup component add rustfmt clippy >/dev/null 2>&1 || true

tests/env/browser.sh
tests/env/mail.sh up >/dev/null
trap 'tests/env/mail.sh down >/dev/null 2>&1 || true' EXIT

cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
cargo test
