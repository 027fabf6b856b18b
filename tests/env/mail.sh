#!/usr/bin/env bash
# Real mail servers for Switchboard's tests, private to one folder and bound to loopback only.
#
#   tests/env/mail.sh up     [DIR]   install if missing, (re)start, print KEY=VALUE lines
#   tests/env/mail.sh down   [DIR]   stop both servers; `down --purge [DIR]` also removes DIR
#   tests/env/mail.sh status [DIR]   exit 0 when IMAP, IMAPS and SMTP all answer
#
# DIR defaults to /tmp/switchboard-mail. What runs there:
#   Dovecot  127.0.0.1:10143 IMAP (STARTTLS offered, plaintext login allowed on loopback)
#            127.0.0.1:10993 IMAPS (implicit TLS)
#   Postfix  127.0.0.1:10025 SMTP, open relay for loopback only, no listener on port 25
#            127.0.0.1:10587 submission: STARTTLS required, then AUTH (Dovecot's users)
#            127.0.0.1:10465 submissions: implicit TLS, then AUTH
# Users (passwords in plain text, this is a test rig): support/support-secret is the intake
# mailbox; sink/sink-secret receives every other address in example.com/.org/.net, so the
# acknowledgements Switchboard sends can be read back by a test.
#
# Only stdout carries the KEY=VALUE lines (also written to DIR/env), so a caller can do
#   eval "$(tests/env/mail.sh up)"
# Everything else goes to stderr. `up` and `down` must run as root: they install packages,
# create the vmail user and start both servers' root-run master processes.
set -euo pipefail

# Debian puts postfix, dovecot and useradd in sbin; a non-login root shell may lack it.
export PATH="/usr/local/sbin:/usr/sbin:/sbin:$PATH"

IMAP_PORT=10143
IMAPS_PORT=10993
SMTP_PORT=10025
SUBMISSION_PORT=10587
SUBMISSIONS_PORT=10465
# Accepts like SMTP_PORT but holds what it accepts (Postfix's hold queue) until
# `postsuper -H ALL`: the benchmark measures acceptance alone on it.
HOLD_SMTP_PORT=10026
SUPPORT_USER=support
SUPPORT_PASSWORD=support-secret
SINK_USER=sink
SINK_PASSWORD=sink-secret
PACKAGES=(dovecot-imapd postfix openssl curl)
START_TIMEOUT=20 # seconds for both servers to answer
STOP_TIMEOUT=10  # seconds for each server to go away

log() { echo "mail.sh: $*" >&2; }
die() {
    echo "mail.sh: error: $*" >&2
    exit 1
}

usage() {
    echo "usage: $0 up [DIR] | down [--purge] [DIR] | status [DIR]" >&2
    exit 64
}

# ---------------------------------------------------------------------------------------
# Arguments
# ---------------------------------------------------------------------------------------
[ $# -ge 1 ] || usage
CMD=$1
shift
PURGE=0
if [ "$CMD" = down ] && [ "${1:-}" = --purge ]; then
    PURGE=1
    shift
fi
[ $# -le 1 ] || usage
DIR=${1:-/tmp/switchboard-mail}
case "$DIR" in
*[[:space:]]*) die "DIR must not contain whitespace (it goes into Postfix and Dovecot settings): '$DIR'" ;;
esac
# Absolute, so the paths written into the configs and printed for the tests hold anywhere.
DIR=$(realpath -m -- "$DIR")
[ "$DIR" != / ] || die "refusing to use / as DIR"

DOVECOT_CONF=$DIR/dovecot/dovecot.conf
DOVECOT_LOG=$DIR/dovecot/dovecot.log
DOVECOT_PID=$DIR/dovecot/run/master.pid
POSTFIX_DIR=$DIR/postfix
POSTFIX_LOG=$DIR/postfix/maillog
# Queue and data sit beside the config dir, not inside it: Postfix expects everything under
# its config dir to be root-owned, while queue and data belong to the postfix user.
POSTFIX_QUEUE=$DIR/postfix-queue
POSTFIX_DATA=$DIR/postfix-data

# ---------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------

# True when something accepts TCP connections on 127.0.0.1:PORT.
port_open() {
    timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

# A process that has exited counts as gone even while it is still a zombie: both masters
# daemonize, so PID 1 reaps them, and on these machines PID 1 may take seconds to do so.
pid_alive() {
    local state
    [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null || return 1
    # The state follows the ")" that closes the command name in /proc/PID/stat.
    state=$(sed -n 's/.*) \([A-Za-z]\).*/\1/p' "/proc/$1/stat" 2>/dev/null || true)
    [ -n "$state" ] && [ "$state" != Z ]
}

# The pid of this DIR's Dovecot master, only if that process really is it: after a reboot
# a stale master.pid may name an unrelated process, which must never be signalled.
dovecot_pid() {
    local pid
    [ -s "$DOVECOT_PID" ] || return 1
    pid=$(tr -dc '0-9' <"$DOVECOT_PID")
    [ -n "$pid" ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$DOVECOT_CONF" || return 1
    echo "$pid"
}

postfix_running() {
    [ -f "$POSTFIX_DIR/main.cf" ] && postfix -c "$POSTFIX_DIR" status >/dev/null 2>&1
}

# Postfix refuses to read a main.cf changed within the last couple of seconds: it rereads
# it every 0.3 s until the file looks settled, which would add ~2 s to every start. The
# generated files are written with a modification time safely in the past.
backdate() {
    touch -d "@$(($(date +%s) - 10))" "$@"
}

pkg_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

# ---------------------------------------------------------------------------------------
# 1. Packages
# ---------------------------------------------------------------------------------------
POLICY=/usr/sbin/policy-rc.d
POLICY_SAVED=

# Put back whatever policy-rc.d the machine had (or remove the one we created).
restore_policy() {
    if [ "$POLICY_SAVED" = created ]; then
        rm -f "$POLICY"
    elif [ -n "$POLICY_SAVED" ]; then
        mv -f "$POLICY_SAVED" "$POLICY"
    fi
    POLICY_SAVED=
}

install_packages() {
    local missing=() p
    for p in "${PACKAGES[@]}"; do
        pkg_installed "$p" || missing+=("$p")
    done
    [ ${#missing[@]} -gt 0 ] || return 0
    command -v apt-get >/dev/null || die "missing packages ${missing[*]} and no apt-get to install them"
    log "installing ${missing[*]} (log: $DIR/install.log)"

    # Debian's maintainer scripts would start system-wide dovecot/postfix on port 25/143/993.
    # A policy-rc.d that exits 101 forbids that. Keep one that already does so (Docker
    # images ship it); otherwise put ours in place for the install only.
    if [ -e "$POLICY" ]; then
        local rc=0
        "$POLICY" switchboard-probe start >/dev/null 2>&1 || rc=$?
        if [ "$rc" != 101 ]; then
            POLICY_SAVED=$POLICY.switchboard-saved
            mv -f "$POLICY" "$POLICY_SAVED"
        fi
    else
        POLICY_SAVED=created
    fi
    if [ -n "$POLICY_SAVED" ]; then
        printf '#!/bin/sh\n# Temporary, from Switchboard tests/env/mail.sh: no service starts during install.\nexit 101\n' >"$POLICY"
        chmod 755 "$POLICY"
        trap restore_policy EXIT
    fi

    export DEBIAN_FRONTEND=noninteractive
    # "No configuration": the package installs no /etc/postfix/main.cf and asks nothing; the
    # private instance below brings its own configuration.
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections

    local apt=(apt-get install -y -q --no-install-recommends
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}")
    # A fresh CI machine has no package lists yet: update only when the install needs it.
    if ! "${apt[@]}" >>"$DIR/install.log" 2>&1; then
        log "install failed without 'apt-get update'; updating package lists and retrying"
        if ! { apt-get update -qq && "${apt[@]}"; } >>"$DIR/install.log" 2>&1; then
            tail -n 20 "$DIR/install.log" >&2 || true
            die "installing ${missing[*]} failed; read $DIR/install.log"
        fi
    fi
    restore_policy
    trap - EXIT
}

# The static owner of every mailbox file: Dovecot's mail processes and Postfix's virtual
# delivery agent both run as this user.
ensure_vmail() {
    getent group vmail >/dev/null || groupadd --system vmail
    id vmail >/dev/null 2>&1 ||
        useradd --system --gid vmail --home-dir /nonexistent --no-create-home \
            --shell /usr/sbin/nologin vmail
    VMAIL_UID=$(id -u vmail)
    VMAIL_GID=$(getent group vmail | cut -d: -f3)
}

# ---------------------------------------------------------------------------------------
# 2. Certificates: a CA, a leaf for localhost/127.0.0.1 signed by it, and an unrelated CA.
# ---------------------------------------------------------------------------------------
# Kept across restarts so a test (or a developer) that already trusts ca.pem keeps working;
# regenerated when any piece is missing or the leaf no longer verifies against the CA.
make_certs() {
    local d=$DIR/tls
    mkdir -p "$d"
    if [ -s "$DIR/ca.pem" ] && [ -s "$DIR/other-ca.pem" ] && [ -s "$d/server.pem" ] &&
        [ -s "$d/server.key" ] &&
        openssl verify -CAfile "$DIR/ca.pem" -purpose sslserver "$d/server.pem" >/dev/null 2>&1 &&
        openssl x509 -checkend 86400 -noout -in "$d/server.pem" >/dev/null 2>&1; then
        return 0
    fi
    log "generating test certificates in $DIR"
    local ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
    # The CA: rustls wants a real CA (CA:TRUE, keyCertSign) signing a separate leaf; it
    # rejects a self-signed CA presented as the server certificate.
    openssl req -x509 "${ec[@]}" -days 3650 -keyout "$DIR/ca.key" -out "$DIR/ca.pem" \
        -subj "/CN=Switchboard Test CA" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    # The leaf Dovecot presents.
    openssl req -new "${ec[@]}" -keyout "$d/server.key" -out "$d/server.csr" \
        -subj "/CN=localhost" 2>/dev/null
    cat >"$d/server.ext" <<'EOF'
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
EOF
    openssl x509 -req -in "$d/server.csr" -CA "$DIR/ca.pem" -CAkey "$DIR/ca.key" \
        -set_serial "0x$(openssl rand -hex 8)" -days 825 -extfile "$d/server.ext" \
        -out "$d/server.pem" 2>/dev/null
    # A second CA that signed nothing here: trusting it instead of ca.pem must fail.
    openssl req -x509 "${ec[@]}" -days 3650 -keyout "$d/other-ca.key" -out "$DIR/other-ca.pem" \
        -subj "/CN=Switchboard Unrelated Test CA" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    rm -f "$d/server.csr"
    chmod 600 "$DIR/ca.key" "$d/server.key" "$d/other-ca.key"
    openssl verify -CAfile "$DIR/ca.pem" -purpose sslserver "$d/server.pem" >/dev/null ||
        die "the generated server certificate does not verify against $DIR/ca.pem"
}

# ---------------------------------------------------------------------------------------
# Mailboxes
# ---------------------------------------------------------------------------------------
# Create both Maildirs up front so SUPPORT_MAILDIR/SINK_MAILDIR exist before the first
# message, all owned by vmail (Postfix and Dovecot write there as vmail).
make_mailboxes() {
    local u
    mkdir -p "$DIR/mail"
    for u in "$SUPPORT_USER" "$SINK_USER"; do
        mkdir -p "$DIR/mail/$u/Maildir/cur" "$DIR/mail/$u/Maildir/new" "$DIR/mail/$u/Maildir/tmp"
    done
    chown -R "$VMAIL_UID:$VMAIL_GID" "$DIR/mail"
    chmod 750 "$DIR/mail"
}

# ---------------------------------------------------------------------------------------
# 3. Dovecot
# ---------------------------------------------------------------------------------------
write_dovecot_conf() {
    local d=$DIR/dovecot dh=
    mkdir -p "$d/run" "$d/state"
    # The log and auth processes run as dovecot's internal users; they must reach the
    # files under DIR.
    chmod 755 "$DIR" "$d"

    # passwd-file: user:{PLAIN}password:uid:gid::home:: (uid/gid/home come from
    # default_fields below, so the file stays minimal).
    cat >"$d/users" <<EOF
$SUPPORT_USER:{PLAIN}$SUPPORT_PASSWORD::::::
$SINK_USER:{PLAIN}$SINK_PASSWORD::::::
EOF
    chown root:dovecot "$d/users"
    chmod 640 "$d/users"

    # Debian ships DH parameters; Dovecot 2.3 reads them only for DHE ciphers.
    [ -s /usr/share/dovecot/dh.pem ] && dh="ssl_dh = </usr/share/dovecot/dh.pem"

    # A standalone file: no !include of /etc/dovecot/conf.d, so nothing from the system-wide
    # configuration (ports 143/993, /var/run/dovecot, system users) leaks in.
    cat >"$DOVECOT_CONF" <<EOF
# Switchboard test IMAP server, written by tests/env/mail.sh. Private to $DIR.

# Everything that Dovecot keeps on disk lives under DIR, so this instance never clashes
# with a system-wide Dovecot (its base_dir, state_dir and log are all elsewhere).
instance_name = switchboard-test
base_dir = $d/run
state_dir = $d/state
log_path = $DOVECOT_LOG
info_log_path = $DOVECOT_LOG
debug_log_path = $DOVECOT_LOG
# Started directly, never by systemd: import no socket-activation variables.
import_environment = TZ

protocols = imap
listen = 127.0.0.1

# TLS offered (STARTTLS on 10143, implicit on 10993) but not required, as in production
# setups where the client chooses.
ssl = yes
ssl_cert = <$DIR/tls/server.pem
ssl_key = <$DIR/tls/server.key
$dh
ssl_min_protocol = TLSv1.2

# Plain LOGIN/AUTHENTICATE PLAIN over the unencrypted port are allowed: the tests cover
# both the plaintext and the TLS paths.
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_username_format = %Lu

passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $d/users
}
userdb {
  driver = passwd-file
  args = username_format=%u $d/users
  default_fields = uid=$VMAIL_UID gid=$VMAIL_GID home=$DIR/mail/%u
}
first_valid_uid = $VMAIL_UID
first_valid_gid = $VMAIL_GID

# The same Maildir the Postfix virtual agent delivers into.
mail_location = maildir:$DIR/mail/%u/Maildir

namespace inbox {
  inbox = yes
  separator = /
  # Every user gets the folders Switchboard moves messages to.
  mailbox Processed {
    auto = create
  }
  mailbox Quarantine {
    auto = create
  }
}

service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $IMAP_PORT
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $IMAPS_PORT
    ssl = yes
  }
}

# Postfix's submission listeners ask Dovecot to check passwords, through this socket in
# Postfix's private queue folder.
service auth {
  unix_listener $POSTFIX_QUEUE/private/auth {
    mode = 0660
    user = postfix
    group = postfix
  }
}

# IDLE is on by default; Dovecot tells IDLE clients about new mail ~0.5 s after it lands.
protocol imap {
  mail_max_userip_connections = 100
}
EOF
    doveconf -c "$DOVECOT_CONF" -n >/dev/null 2>"$d/doveconf.err" || {
        cat "$d/doveconf.err" >&2
        die "Dovecot rejects $DOVECOT_CONF (see above)"
    }
}

start_dovecot() {
    log "starting Dovecot (log: $DOVECOT_LOG)"
    if ! dovecot -c "$DOVECOT_CONF" >>"$DIR/dovecot/start.log" 2>&1; then
        cat "$DIR/dovecot/start.log" >&2
        die "Dovecot did not start; read $DIR/dovecot/start.log and $DOVECOT_LOG"
    fi
}

stop_dovecot() {
    local pid i
    pid=$(dovecot_pid || true)
    pid_alive "$pid" || return 0
    # SIGTERM to the master rather than `doveadm stop`: doveadm waits until the pid is gone,
    # and a zombie waiting for PID 1 to reap it looks alive to doveadm for seconds.
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < STOP_TIMEOUT * 10; i++)); do
        pid_alive "$pid" || return 0
        sleep 0.1
    done
    log "Dovecot (pid $pid) did not stop in ${STOP_TIMEOUT}s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.2
}

# ---------------------------------------------------------------------------------------
# 4. Postfix
# ---------------------------------------------------------------------------------------
write_postfix_conf() {
    local p=$POSTFIX_DIR
    mkdir -p "$p" "$POSTFIX_QUEUE" "$POSTFIX_DATA"
    chown root:root "$p" "$POSTFIX_QUEUE"
    chmod 755 "$p" "$POSTFIX_QUEUE"
    # master.lock and the TLS/verify caches live here, written as the postfix user.
    chown postfix:postfix "$POSTFIX_DATA"
    chmod 700 "$POSTFIX_DATA"
    # Dovecot (started first) puts its auth socket here; Postfix keeps these owners.
    mkdir -p "$POSTFIX_QUEUE/private"
    chown postfix:root "$POSTFIX_QUEUE/private"
    chmod 700 "$POSTFIX_QUEUE/private"

    # Catch-all delivery. regexp maps need no postmap step; they are case-insensitive and
    # tried in order, so the support line must come first.
    cat >"$p/vmailbox.regexp" <<EOF
# Written by tests/env/mail.sh. Relative to virtual_mailbox_base ($DIR/mail);
# the trailing slash means Maildir.
/^$SUPPORT_USER@example\.com\$/	$SUPPORT_USER/Maildir/
/@example\.(com|org|net)\$/	$SINK_USER/Maildir/
EOF

    cat >"$p/main.cf" <<EOF
# Switchboard test MTA, written by tests/env/mail.sh. Private to $DIR.
compatibility_level = 3.6

# Own queue and data under DIR, so this instance never touches /var/spool/postfix.
queue_directory = $POSTFIX_QUEUE
data_directory = $POSTFIX_DATA
mail_owner = postfix
setgid_group = postdrop

# Log to a file under DIR (through the postlog service in master.cf); Postfix only
# writes to a file under one of maillog_file_prefixes.
maillog_file = $POSTFIX_LOG
maillog_file_prefixes = /var, /dev/stdout, $DIR

myhostname = mail.switchboard.test
mydomain = switchboard.test
# Unqualified addresses and postmaster notices end in the sink, never off the machine.
myorigin = example.net
smtpd_banner = \$myhostname ESMTP Switchboard test MTA
biff = no
append_dot_mydomain = no
readme_directory = no

# Loopback only, IPv4 only; the one listener is 127.0.0.1:$SMTP_PORT in master.cf.
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_client_restrictions =
smtpd_helo_restrictions =
smtpd_sender_restrictions =
smtpd_sasl_auth_enable = no
smtpd_tls_security_level = none

# No local delivery, no aliases: every accepted address is a virtual mailbox below.
mydestination =
local_recipient_maps =
local_transport = error:local delivery is disabled on the Switchboard test MTA
alias_maps =
alias_database =
relay_domains =
# Nothing ever leaves the machine: mail for any other domain bounces at once (into the
# sink, as the bounce goes to a sender in example.*) instead of waiting for DNS.
default_transport = error:the Switchboard test MTA delivers only to example.com/.org/.net
relay_transport = \$default_transport
smtp_dns_support_level = disabled
# No reverse DNS of 127.0.0.1 per connection: there is no resolver to ask here.
smtpd_peername_lookup = no

virtual_mailbox_domains = example.com example.org example.net
virtual_mailbox_base = $DIR/mail
virtual_mailbox_maps = regexp:$p/vmailbox.regexp
virtual_alias_maps =
virtual_uid_maps = static:$VMAIL_UID
virtual_gid_maps = static:$VMAIL_GID
virtual_minimum_uid = $VMAIL_UID
virtual_mailbox_limit = 0
message_size_limit = 104857600

# Raw 8-bit bodies are accepted as they are; SMTPUTF8 negotiation is not needed.
smtputf8_enable = no

# Tests send bursts and expect delivery within milliseconds: no throttling, no tarpit.
in_flow_delay = 0
smtpd_error_sleep_time = 0
smtpd_soft_error_limit = 1000
smtpd_hard_error_limit = 1000
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
queue_run_delay = 10s
minimal_backoff_time = 10s
maximal_backoff_time = 60s
EOF

    # What both submission listeners ask: TLS, then a login checked by Dovecot; relaying
    # only after it.
    local submission
    submission=$(cat <<OPTS
  -o smtpd_tls_security_level=encrypt
  -o smtpd_tls_auth_only=yes
  -o smtpd_tls_cert_file=$DIR/tls/server.pem
  -o smtpd_tls_key_file=$DIR/tls/server.key
  -o smtpd_tls_received_header=yes
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_sasl_type=dovecot
  -o smtpd_sasl_path=private/auth
  -o smtpd_sasl_authenticated_header=yes
  -o mynetworks=
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
  -o smtpd_recipient_restrictions=permit_sasl_authenticated,reject
OPTS
    )
    # No chroot (column 5 = n): a chroot would need copies of system files under the queue.
    # No listener on port 25: the only inet service is 127.0.0.1:$SMTP_PORT.
    cat >"$p/master.cf" <<EOF
# Switchboard test MTA services, written by tests/env/mail.sh.
# service type  private unpriv  chroot  wakeup  maxproc command + args
127.0.0.1:$SMTP_PORT inet n - n - - smtpd
# Submission as a desk outside the relay's network would use it: TLS first, then a login
# checked by Dovecot; the Received header records both, so a test can see them.
127.0.0.1:$SUBMISSION_PORT inet n - n - - smtpd
$submission
127.0.0.1:$SUBMISSIONS_PORT inet n - n - - smtpd
  -o smtpd_tls_wrappermode=yes
$submission
# As SMTP_PORT, but every message accepted here waits in the hold queue (HOLD does not end
# the restriction list, so relaying is checked as on SMTP_PORT).
127.0.0.1:$HOLD_SMTP_PORT inet n - n - - smtpd
  -o smtpd_recipient_restrictions=check_client_access,static:HOLD,permit_mynetworks,reject_unauth_destination
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
}

start_postfix() {
    backdate "$POSTFIX_DIR/main.cf" "$POSTFIX_DIR/master.cf" "$POSTFIX_DIR/vmailbox.regexp"
    log "starting Postfix (log: $POSTFIX_LOG)"
    # `postfix start` creates the queue subdirectories with the right owners on first use.
    if ! postfix -c "$POSTFIX_DIR" start >>"$POSTFIX_DIR/start.log" 2>&1; then
        tail -n 20 "$POSTFIX_DIR/start.log" >&2 || true
        die "Postfix did not start; read $POSTFIX_DIR/start.log and $POSTFIX_LOG"
    fi
}

stop_postfix() {
    local pidfile=$POSTFIX_QUEUE/pid/master.pid pid i
    # `postfix status` checks the master's lock, so a stale pid file is never trusted.
    postfix_running || return 0
    pid=$(tr -dc '0-9' <"$pidfile" 2>/dev/null || true)
    postfix -c "$POSTFIX_DIR" stop >>"$POSTFIX_DIR/start.log" 2>&1 || true
    pid_alive "$pid" || return 0
    for ((i = 0; i < STOP_TIMEOUT * 10; i++)); do
        pid_alive "$pid" || return 0
        sleep 0.1
    done
    log "Postfix master (pid $pid) did not stop in ${STOP_TIMEOUT}s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.2
}

# ---------------------------------------------------------------------------------------
# 5. Readiness and the environment lines
# ---------------------------------------------------------------------------------------
wait_until_up() {
    local i port missing
    for ((i = 0; i < START_TIMEOUT * 10; i++)); do
        missing=
        for port in $IMAP_PORT $IMAPS_PORT $SMTP_PORT $SUBMISSION_PORT $SUBMISSIONS_PORT $HOLD_SMTP_PORT; do
            port_open "$port" || missing="$missing $port"
        done
        [ -n "$missing" ] || return 0
        # A server that died on startup will not come up by waiting.
        if ! pid_alive "$(dovecot_pid || true)"; then
            tail -n 20 "$DOVECOT_LOG" >&2 2>/dev/null || true
            die "Dovecot exited during startup; read $DOVECOT_LOG"
        fi
        sleep 0.1
    done
    tail -n 20 "$DOVECOT_LOG" "$POSTFIX_LOG" >&2 2>/dev/null || true
    die "nothing answers on 127.0.0.1 port(s)$missing after ${START_TIMEOUT}s; read $DOVECOT_LOG and $POSTFIX_LOG"
}

print_env() {
    cat >"$DIR/env.tmp" <<EOF
SWITCHBOARD_TEST_MAIL_DIR=$DIR
IMAP_PORT=$IMAP_PORT
IMAPS_PORT=$IMAPS_PORT
SMTP_PORT=$SMTP_PORT
SUBMISSION_PORT=$SUBMISSION_PORT
SUBMISSIONS_PORT=$SUBMISSIONS_PORT
HOLD_SMTP_PORT=$HOLD_SMTP_PORT
CA_FILE=$DIR/ca.pem
OTHER_CA_FILE=$DIR/other-ca.pem
SUPPORT_USER=$SUPPORT_USER
SUPPORT_PASSWORD=$SUPPORT_PASSWORD
SINK_USER=$SINK_USER
SINK_PASSWORD=$SINK_PASSWORD
SUPPORT_MAILDIR=$DIR/mail/$SUPPORT_USER/Maildir
SINK_MAILDIR=$DIR/mail/$SINK_USER/Maildir
EOF
    mv -f "$DIR/env.tmp" "$DIR/env"
    cat "$DIR/env"
}

# ---------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------
require_root() {
    [ "$(id -u)" = 0 ] || die "must run as root (installs packages, creates the vmail user, runs Postfix and Dovecot)"
}

cmd_down() {
    if [ ! -d "$DIR" ]; then
        log "nothing to stop: $DIR does not exist"
        return 0
    fi
    stop_postfix
    stop_dovecot
    if [ "$PURGE" = 1 ]; then
        rm -rf -- "$DIR"
        log "stopped; removed $DIR"
    else
        log "stopped; $DIR left in place"
    fi
}

cmd_up() {
    mkdir -p "$DIR"
    install_packages
    ensure_vmail

    # Idempotent: whatever of ours runs from an earlier `up` is stopped first, then started
    # with freshly written configuration.
    stop_postfix
    stop_dovecot

    # Anything still answering now is not ours (another DIR, or another program).
    local port
    for port in $IMAP_PORT $IMAPS_PORT $SMTP_PORT $SUBMISSION_PORT $SUBMISSIONS_PORT $HOLD_SMTP_PORT; do
        ! port_open "$port" ||
            die "127.0.0.1:$port is already in use by another program (another DIR's servers? try: $0 down OTHER_DIR)"
    done

    make_certs
    make_mailboxes
    write_dovecot_conf
    write_postfix_conf
    start_dovecot
    start_postfix
    wait_until_up
    postfix_running || die "Postfix is not running; read $POSTFIX_LOG"
    log "up: IMAP 127.0.0.1:$IMAP_PORT, IMAPS 127.0.0.1:$IMAPS_PORT, SMTP 127.0.0.1:$SMTP_PORT, submission 127.0.0.1:$SUBMISSION_PORT (STARTTLS) and :$SUBMISSIONS_PORT (TLS), with AUTH; holding SMTP 127.0.0.1:$HOLD_SMTP_PORT"
    print_env
}

cmd_status() {
    local port rc=0
    for port in $IMAP_PORT $IMAPS_PORT $SMTP_PORT $SUBMISSION_PORT $SUBMISSIONS_PORT $HOLD_SMTP_PORT; do
        if port_open "$port"; then
            log "127.0.0.1:$port answers"
        else
            log "127.0.0.1:$port does not answer"
            rc=1
        fi
    done
    return $rc
}

case "$CMD" in
up)
    require_root
    cmd_up
    ;;
down)
    require_root
    cmd_down
    ;;
status) cmd_status ;;
*) usage ;;
esac
