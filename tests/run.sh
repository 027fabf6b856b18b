#!/usr/bin/env bash
# Every check and test Switchboard has, the way CI runs them. Installs and starts what the
# tests need first: Rust's formatter and linter, Chromium and chromedriver for the browser
# tests (tests/env/browser.sh), a private Dovecot and Postfix on loopback
# (tests/env/mail.sh) and a private PostgreSQL (tests/env/pg.sh), stopped again at the end.
# The integration tests run twice: on SQLite, then on PostgreSQL. Browser screenshots land
# in target/screenshots/.
set -euo pipefail
cd "$(dirname "$0")/.."

rustup component add rustfmt clippy >/dev/null 2>&1 || true

tests/env/browser.sh
tests/env/mail.sh up >/dev/null
trap 'tests/env/mail.sh down >/dev/null 2>&1 || true; tests/env/pg.sh down >/dev/null 2>&1 || true' EXIT
postgres=$(tests/env/pg.sh up | sed -n 's/^SWITCHBOARD_TEST_POSTGRES=//p')
[ -n "$postgres" ] || { echo "run.sh: tests/env/pg.sh up printed no server url" >&2; exit 1; }

cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
SWITCHBOARD_TEST_POSTGRES= cargo test
echo "run.sh: the integration tests again, on PostgreSQL ($postgres)" >&2
SWITCHBOARD_TEST_POSTGRES=$postgres cargo test --test it --test mail
