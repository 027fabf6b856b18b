#!/usr/bin/env bash
# A private PostgreSQL for Switchboard's tests, in one folder, on loopback only.
#
#   tests/env/pg.sh up     [DIR]   install if missing, (re)start, print KEY=VALUE lines
#   tests/env/pg.sh down   [DIR]   stop it; `down --purge [DIR]` also removes DIR
#   tests/env/pg.sh status [DIR]   exit 0 when it answers
#
# DIR defaults to /tmp/switchboard-pg. The server listens on 127.0.0.1:15432 (and a socket
# in DIR) with one superuser, `switchboard`, trusted without a password: a test rig, not a
# deployment. Tests create a database of their own per test.
#
# Only stdout carries the KEY=VALUE lines (also written to DIR/env), so a caller can do
#   eval "$(tests/env/pg.sh up)"
set -euo pipefail
export PATH="/usr/local/sbin:/usr/sbin:/sbin:$PATH"

PORT=15432
START_TIMEOUT=30

log() { echo "pg.sh: $*" >&2; }
die() {
    echo "pg.sh: error: $*" >&2
    exit 1
}
usage() {
    echo "usage: $0 up [DIR] | down [--purge] [DIR] | status [DIR]" >&2
    exit 64
}

[ $# -ge 1 ] || usage
CMD=$1
shift
PURGE=0
if [ "$CMD" = down ] && [ "${1:-}" = --purge ]; then
    PURGE=1
    shift
fi
[ $# -le 1 ] || usage
DIR=${1:-/tmp/switchboard-pg}
case "$DIR" in
/*) ;;
*) DIR="$PWD/$DIR" ;;
esac
DATA="$DIR/data"
URL="postgres://switchboard@127.0.0.1:$PORT/postgres"

bindir() {
    local found
    found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
    [ -n "$found" ] && echo "$found"
}

install() {
    [ -n "$(bindir)" ] && return 0
    command -v apt-get >/dev/null || die "PostgreSQL is missing and there is no apt-get to install it"
    log "installing postgresql"
    mkdir -p "$DIR"
    local apt=(apt-get install -y -q --no-install-recommends postgresql)
    if ! DEBIAN_FRONTEND=noninteractive "${apt[@]}" >>"$DIR/install.log" 2>&1; then
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive "${apt[@]}"; } >>"$DIR/install.log" 2>&1 ||
            die "apt-get install postgresql failed; see $DIR/install.log"
    fi
    [ -n "$(bindir)" ] || die "postgresql installed but no /usr/lib/postgresql/*/bin"
}

as_postgres() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

answers() {
    local bin
    bin=$(bindir) || return 1
    "$bin/pg_isready" -q -h 127.0.0.1 -p "$PORT" -U switchboard -d postgres
}

up() {
    install
    local bin
    bin=$(bindir)
    mkdir -p "$DIR"
    [ "$(id -u)" = 0 ] && chown postgres "$DIR"
    if [ ! -f "$DATA/PG_VERSION" ]; then
        log "creating a cluster in $DATA"
        as_postgres "$bin/initdb" -D "$DATA" -U switchboard --auth=trust -E UTF8 --locale=C.UTF-8 >"$DIR/initdb.log" 2>&1 ||
            die "initdb failed; see $DIR/initdb.log"
    fi
    if ! answers; then
        as_postgres "$bin/pg_ctl" -D "$DATA" -l "$DIR/server.log" -w -t "$START_TIMEOUT" \
            -o "-p $PORT -k $DIR -c listen_addresses=127.0.0.1 -c max_connections=300" \
            start >&2 || die "PostgreSQL did not start; see $DIR/server.log"
    fi
    local i
    for i in $(seq 1 "$START_TIMEOUT"); do
        answers && break
        sleep 1
    done
    answers || die "PostgreSQL does not answer on 127.0.0.1:$PORT"
    echo "SWITCHBOARD_TEST_POSTGRES=$URL" | tee "$DIR/env"
}

down() {
    local bin
    if bin=$(bindir) && [ -f "$DATA/postmaster.pid" ]; then
        as_postgres "$bin/pg_ctl" -D "$DATA" -m fast -w -t 20 stop >&2 || true
    fi
    if [ "$PURGE" = 1 ]; then rm -rf "$DIR"; fi
}

case "$CMD" in
up) up ;;
down) down ;;
status) answers ;;
*) usage ;;
esac
