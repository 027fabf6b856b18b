#!/usr/bin/env bash
# Installs Debian's Chromium and chromedriver for the browser tests (tests/it/browser.rs),
# when they are missing. The tests start both themselves, on loopback, headless.
set -euo pipefail

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
[ ${#missing[@]} -gt 0 ] || exit 0
command -v apt-get >/dev/null || {
    echo "browser.sh: missing ${missing[*]} and no apt-get; install them or set SWITCHBOARD_SKIP_BROWSER=1" >&2
    exit 1
}
export DEBIAN_FRONTEND=noninteractive
log=${TMPDIR:-/tmp}/switchboard-browser-install.log
apt=(apt-get install -y -q --no-install-recommends "${missing[@]}")
echo "browser.sh: installing ${missing[*]} (log: $log)" >&2
# A fresh machine has no package lists yet: update only when the install needs it.
if ! "${apt[@]}" >>"$log" 2>&1; then
    if ! { apt-get update -qq && "${apt[@]}"; } >>"$log" 2>&1; then
        tail -n 20 "$log" >&2 || true
        echo "browser.sh: installing ${missing[*]} failed; read $log" >&2
        exit 1
    fi
fi
