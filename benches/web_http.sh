#!/usr/bin/env bash
# The web channel under load, on loopback: wrk against a release build of the daemon on its
# embedded default (SQLite, acknowledgements written to var/outbox/), rate limit off.
#
#   cargo build --release && benches/web_http.sh [SECONDS] [RUNS]
#
# Measures GET /request (the form page) and POST /api/v1/requests (each request a different
# requester, so every one makes a ticket, an acknowledgement and a notification). Prints
# requests/s and latency percentiles per run, then the median of the runs.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
connections=${CONNECTIONS:-64}
runs=${2:-3}
bin=target/release/switchboard
[ -x "$bin" ] || { echo "build first: cargo build --release" >&2; exit 1; }
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)" >&2; exit 1; }

work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; [ -n "${KEEP:-}" ] && ls -la "$work/var" >&2; rm -rf "$work"' EXIT
cat >"$work/switchboard.toml" <<TOML
[paths]
rules = "$PWD/rules"
templates = "$PWD/templates"
var = "var"
[database]
url = "sqlite://var/switchboard.db"
[web]
listen = "127.0.0.1:0"
rate_limit = "off"
[outbound]
dir = "${OUTBOX_DIR:-var/outbox}"
TOML
cat >"$work/post.lua" <<'LUA'
local counter = 0
local thread_id = 0
local threads = {}
function setup(thread)
  thread:set("id", thread_id)
  thread_id = thread_id + 1
end
function request()
  counter = counter + 1
  local body = string.format(
    '{"name":"Bench User %d","email":"bench%d-%d@example.org","site":"warsaw",' ..
    '"subject":"Printer jams","description":"The printer on the second floor jams on every page.",' ..
    '"urgency":"normal"}', counter, id, counter)
  return wrk.format("POST", "/api/v1/requests", {["Content-Type"] = "application/json"}, body)
end
LUA

(cd "$work" && exec "$OLDPWD/$bin" --config switchboard.toml serve >"$work/serve.out" 2>"$work/serve.err") &
pid=$!
for _ in $(seq 100); do
    grep -q 'listening on' "$work/serve.out" 2>/dev/null && break
    sleep 0.1
done
url=$(sed -n 's/^listening on //p' "$work/serve.out")
[ -n "$url" ] || { cat "$work/serve.err" >&2; exit 1; }

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

measure() {
    local name=$1; shift
    local rates=() p99s=()
    for run in $(seq "$runs"); do
        out=$(wrk --latency "$@" 2>&1)
        rate=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
        p50=$(awk '$1=="50%" {print $2}' <<<"$out")
        p99=$(awk '$1=="99%" {print $2}' <<<"$out")
        errors=$(awk '/Non-2xx|Socket errors/ {print}' <<<"$out")
        echo "$name run $run: $rate req/s, p50 $p50, p99 $p99 ${errors}"
        rates+=("$rate")
    done
    echo "$name median: $(printf '%s\n' "${rates[@]}" | median) req/s"
}

measure "GET /request" -t2 -c"$connections" -d"${seconds}s" "$url/request"
measure "POST /api/v1/requests" -t2 -c"$connections" -d"${seconds}s" -s "$work/post.lua" "$url"
tickets=$(sqlite3 "$work/var/switchboard.db" 'SELECT count(*) FROM tickets' 2>/dev/null || echo "?")
echo "tickets made: $tickets"
echo "peak RSS of the daemon: $(awk '/VmHWM/ {print $2, $3}' /proc/$pid/status)"
