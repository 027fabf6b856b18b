#!/usr/bin/env python3
"""End-to-end benchmark against the real Dovecot and Postfix of tests/env/mail.sh.

1. Raw fetch: the physical limit, fetching N seeded messages over IMAP with no processing
   (imaplib, UID FETCH in batches of 500, BODY.PEEK[]).
2. Intake: the release daemon on a fresh database (SQLite, or PostgreSQL with --database
   postgres, where --daemons 2 runs two daemons on it) reads the same N messages; time until
   every one has an outcome, and until every acknowledgement was accepted by Postfix. Peak
   RSS from /proc (VmHWM), the largest of the daemons.
3. Latency: S requests sent one at a time through Postfix; time from send to the
   acknowledgement landing in the sink Maildir.
With --hold the daemon (and the raw SMTP reference) send to the relay's holding listener,
which accepts exactly as the plain one but queues without delivering until released after
the measurement: acceptance alone, without the relay's deliveries into the sink Maildir
taking the same two cores.
Usage: tests/env/mail.sh up && cargo build --release && benches/mail_e2e.py [--count 10000] [--samples 200]
       [--database postgres --daemons 2]   (after tests/env/pg.sh up; --samples 0 skips step 3)
       [--hold --samples 0]
"""

import argparse
import imaplib
import os
import shutil
import smtplib
import sqlite3
import statistics
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_env():
    env = {}
    path = os.path.join(os.environ.get("SWITCHBOARD_TEST_MAIL_DIR", "/tmp/switchboard-mail"), "env")
    with open(path) as f:
        for line in f:
            if "=" in line:
                k, v = line.strip().split("=", 1)
                env[k] = v
    return env


def empty(maildir):
    """Empties the folders, and Dovecot's UID list and indexes with them: left behind, the
    UID list of a folder emptied behind Dovecot's back keeps every old entry, grows by 10,000
    a run, and is rewritten on every MOVE into the folder, slowing each later run."""
    global last_deleted
    last_deleted = time.monotonic()
    for folder in ["", ".Processed", ".Quarantine"]:
        for sub in ["new", "cur"]:
            d = os.path.join(maildir, folder, sub)
            if os.path.isdir(d):
                for name in os.listdir(d):
                    os.unlink(os.path.join(d, name))
        d = os.path.join(maildir, folder)
        if os.path.isdir(d):
            for name in os.listdir(d):
                if name.startswith("dovecot") and os.path.isfile(os.path.join(d, name)):
                    os.unlink(os.path.join(d, name))


# This machine's ext4 has no journal, and such an ext4 skips, for every file it creates,
# each inode freed in the last 60 s (longer while not yet written back): creating a file
# costs time in proportion to the files deleted in the minute before. Emptying the
# mailboxes (10,000 files each) right before a timed phase made every delivery into the
# sink scan them: a third of the machine went to it. Timed phases start a minute after the
# last deletions, as on a machine where nothing was just deleted.
QUIET_AFTER_DELETING = int(os.environ.get("BENCH_QUIET", "61"))
last_deleted = 0.0


def settle():
    """Writes back and waits until a minute has passed since the last deletions (our own,
    and Postfix's queue files: called after wait_postfix_idle)."""
    global last_deleted
    os.sync()
    wait = last_deleted + QUIET_AFTER_DELETING - time.monotonic()
    if wait > 0:
        print(f"(waiting {wait:.0f} s for the files deleted before to stop costing new ones)", flush=True)
        time.sleep(wait)


def message(i):
    body = ("The VPN drops every few minutes and I cannot reach the shared drive. " * 40)[:2800]
    return (f"From: User {i} <user{i}@example.org>\r\nTo: support@example.com\r\n"
            f"Subject: Request {i}: VPN drops\r\nDate: Mon, 23 Nov 2026 09:00:00 +0100\r\n"
            f"Message-ID: <e2e-{i}-{time.time_ns()}@example.org>\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n").encode()


def seed(env, count):
    maildir = env["SUPPORT_MAILDIR"]
    st = os.stat(maildir)
    for i in range(count):
        tmp = os.path.join(maildir, "tmp", f"e2e{i:06}")
        with open(tmp, "wb") as f:
            f.write(message(i))
        os.chown(tmp, st.st_uid, st.st_gid)
        os.rename(tmp, os.path.join(maildir, "new", f"e2e{i:06}"))


def raw_fetch(env, count):
    imap = imaplib.IMAP4("127.0.0.1", int(env["IMAP_PORT"]))
    imap.login(env["SUPPORT_USER"], env["SUPPORT_PASSWORD"])
    imap.select("INBOX", readonly=True)
    typ, data = imap.uid("SEARCH", None, "ALL")
    uids = data[0].split()
    start = time.monotonic()
    fetched = 0
    for i in range(0, len(uids), 500):
        chunk = uids[i:i + 500]
        typ, data = imap.uid("FETCH", b"%s:%s" % (chunk[0], chunk[-1]), "(BODY.PEEK[])")
        fetched += sum(1 for part in data if isinstance(part, tuple))
    elapsed = time.monotonic() - start
    imap.logout()
    assert fetched >= count, f"fetched {fetched} of {count}"
    return fetched / elapsed


PG_SERVER = os.environ.get("SWITCHBOARD_TEST_POSTGRES") or "postgres://switchboard@127.0.0.1:15432/postgres"


def psql(url, sql):
    out = subprocess.run(["psql", url, "-AtX", "-c", sql], capture_output=True, text=True, timeout=30)
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip())
    return out.stdout.strip()


def database_url(kind):
    """The config's url; on PostgreSQL a fresh database of this run's own."""
    if kind == "sqlite":
        return "sqlite://var/switchboard.db"
    name = f"bench_{os.getpid()}"
    psql(PG_SERVER, f"DROP DATABASE IF EXISTS {name}")
    psql(PG_SERVER, f"CREATE DATABASE {name}")
    return PG_SERVER.rsplit("/", 1)[0] + "/" + name


def wait_postfix_idle(env, limit=600):
    """Waits until Postfix has delivered everything queued (an earlier run's mail must not
    compete with this one's)."""
    conf = os.path.join(env["SWITCHBOARD_TEST_MAIL_DIR"], "postfix")
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        out = subprocess.run(["/usr/sbin/postqueue", "-c", conf, "-p"], capture_output=True, text=True)
        if "Mail queue is empty" in out.stdout:
            global last_deleted
            last_deleted = time.monotonic()
            return
        time.sleep(0.5)
    raise SystemExit("Postfix still has mail queued after 10 minutes")


def release_held(env):
    """Lets the holding listener's messages go on to the sink, and waits until they have."""
    conf = os.path.join(env["SWITCHBOARD_TEST_MAIL_DIR"], "postfix")
    subprocess.run(["/usr/sbin/postsuper", "-c", conf, "-H", "ALL"], capture_output=True, check=True)
    subprocess.run(["/usr/sbin/postqueue", "-c", conf, "-f"], capture_output=True, check=True)
    wait_postfix_idle(env)


def raw_smtp(env, count, port, connections=32):
    """The relay's own limit: COUNT messages of an acknowledgement's size (~2.4 KB) handed to
    Postfix over CONNECTIONS parallel connections, as fast as Python can."""
    import threading
    body = ("Subject: [#SD-1] We have your request\r\nFrom: support@example.com\r\n"
            "Auto-Submitted: auto-replied\r\n\r\n" + ("Thank you for writing to the service desk. " * 55)
            ).encode()
    per = count // connections

    def send(n):
        smtp = smtplib.SMTP("127.0.0.1", port)
        for i in range(per):
            smtp.sendmail("support@example.com", [f"raw{n}-{i}@example.org"], body)
        smtp.quit()

    threads = [threading.Thread(target=send, args=(n,)) for n in range(connections)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rate = per * connections / (time.monotonic() - start)
    # Let Postfix deliver them all before anything else is measured.
    release_held(env)
    return rate


def write_config(desk, env, url, smtp_port):
    with open(os.path.join(desk, "switchboard.toml"), "w") as f:
        # Thousands of distinct senders, as a desk that has known its people for years.
        f.write(f"""[desk]
first_contact_limit = "off"
first_contact_limit_per_domain = "off"
[paths]
rules = "{ROOT}/rules"
templates = "{ROOT}/templates"
[database]
url = "{url}"
[web]
listen = "127.0.0.1:0"
[outbound]
transport = "smtp"
smtp_url = "smtp://127.0.0.1:{smtp_port}"
from = "IT Service Desk <support@example.com>"
retry_base = "1s"
[[mailbox]]
name = "support"
url = "imap://127.0.0.1:{env['IMAP_PORT']}"
username = "{env['SUPPORT_USER']}"
password_env = "BENCH_IMAP_PASSWORD"
folder = "INBOX"
after = "move:Processed"
address = "support@example.com"
ca_file = "{env['CA_FILE']}"
poll_seconds = 300
""")


def start_daemon(desk, env, binary):
    environ = dict(os.environ, BENCH_IMAP_PASSWORD=env["SUPPORT_PASSWORD"], RUST_LOG=os.environ.get("BENCH_RUST_LOG", "warn"))
    proc = subprocess.Popen([binary, "--config", os.path.join(desk, "switchboard.toml"), "serve"],
                            cwd=desk, env=environ, stdout=subprocess.PIPE, stderr=open(os.path.join(desk, "log"), "w"))
    line = proc.stdout.readline().decode()
    assert line.startswith("listening on"), line
    return proc


def scalar(desk, sql, url):
    """The one value SQL selects from the run's database (raises when it cannot be read)."""
    if url.startswith("postgres"):
        return psql(url, sql)
    db = sqlite3.connect(f"file:{os.path.join(desk, 'var/switchboard.db')}?mode=ro", uri=True, timeout=5)
    try:
        return db.execute(sql).fetchone()[0]
    finally:
        db.close()


def count(desk, sql, url="sqlite://var/switchboard.db"):
    """A count while the daemon works: 0 until the database and its tables exist."""
    try:
        return int(scalar(desk, sql, url) or 0)
    except (RuntimeError, ValueError, sqlite3.Error):
        return 0


def recorded(desk, sql, url):
    """A time the daemon wrote (RFC 3339 text), as seconds since the epoch."""
    from datetime import datetime
    text = scalar(desk, sql, url)
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def peak_rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def latency(env, samples):
    """One request at a time, through Postfix, to its acknowledgement in the sink."""
    # Postfix may still be delivering the intake's acknowledgements, which would count here.
    wait_postfix_idle(env)
    empty(env["SINK_MAILDIR"])
    sink_new = os.path.join(env["SINK_MAILDIR"], "new")
    latencies = []
    smtp = smtplib.SMTP("127.0.0.1", int(env["SMTP_PORT"]))
    for i in range(samples):
        before = len(os.listdir(sink_new))
        t0 = time.monotonic()
        smtp.sendmail(f"lat{i}@example.org", ["support@example.com"], message(100000 + i).replace(b"user", b"lat"))
        while len(os.listdir(sink_new)) <= before:
            if time.monotonic() - t0 > 10:
                raise SystemExit(f"sample {i}: no acknowledgement in 10 s")
            time.sleep(0.002)
        latencies.append(time.monotonic() - t0)
    smtp.quit()
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(f"latency over {len(latencies)} samples: median {statistics.median(latencies) * 1000:.0f} ms, "
          f"p99 {p99 * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=10000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--binary", default=os.path.join(ROOT, "target/release/switchboard"))
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--daemons", type=int, default=1)
    parser.add_argument("--hold", action="store_true",
                        help="send to the relay's holding listener: acceptance alone, delivery after")
    parser.add_argument("--raw-smtp", action=argparse.BooleanOptionalAction, default=True,
                        help="measure the relay's own acceptance rate first")
    args = parser.parse_args()
    if args.daemons > 1 and args.database != "postgres":
        raise SystemExit("several daemons share a database only on PostgreSQL: add --database postgres")
    if args.hold and args.samples > 0:
        raise SystemExit("--hold keeps acknowledgements from the sink, so it cannot time latency: add --samples 0")
    env = load_env()
    smtp_port = int(env["HOLD_SMTP_PORT" if args.hold else "SMTP_PORT"])
    held = ", Postfix holding what it accepts" if args.hold else ", Postfix delivering as it accepts"
    wait_postfix_idle(env)
    empty(env["SUPPORT_MAILDIR"])
    empty(env["SINK_MAILDIR"])
    seed(env, args.count)
    relay = 0
    if args.raw_smtp:
        settle()
        relay = raw_smtp(env, args.count, smtp_port)
        print(f"raw SMTP acceptance: {relay:.0f} messages/s ({args.count} messages of ~2.4 KB, 32 connections from Python{held})")
        empty(env["SINK_MAILDIR"])
        wait_postfix_idle(env)
    settle()
    # Right before the daemon: this machine pages out file pages left untouched for ~30 s,
    # so a first fetch brings the messages back into memory, for the timed one and the
    # daemon alike.
    raw_fetch(env, args.count)
    raw = raw_fetch(env, args.count)
    print(f"raw IMAP fetch: {raw:.0f} messages/s ({args.count} messages, UID FETCH of 500, BODY.PEEK[])")

    url = database_url(args.database)
    desks = [tempfile.mkdtemp(prefix="switchboard-e2e-") for _ in range(args.daemons)]
    for desk in desks:
        write_config(desk, env, url, smtp_port)
    desk = desks[0]
    start = time.monotonic()
    start_wall = time.time()
    procs = [start_daemon(d, env, args.binary) for d in desks]
    proc = procs[0]
    print(f"{args.daemons} daemon(s) on {args.database}")
    ingested_at = sent_at = None
    rss = 0.0
    deadline = start + 600
    while time.monotonic() < deadline:
        rss = max([rss] + [peak_rss_mb(p.pid) for p in procs])
        if ingested_at is None and count(desk, "SELECT COUNT(*) FROM intake_keys WHERE key LIKE 'imap:%'", url) >= args.count:
            ingested_at = time.monotonic()
        if count(desk, "SELECT COUNT(*) FROM outbox WHERE kind = 'ack' AND status = 'sent'", url) >= args.count:
            sent_at = time.monotonic()
            break
        # The probe scans tables the daemon is writing; polled often it took a tenth of
        # this 2-core machine from the run it measures. The times come from the database.
        time.sleep(0.25)
    rss = max([rss] + [peak_rss_mb(p.pid) for p in procs])
    assert ingested_at and sent_at, "timed out"
    # Exact ends from the daemon's own records: the last input key's time, and the last
    # acknowledgement's marking (made after Postfix's 250 reply, so never early).
    ingested_at = start + recorded(desk, "SELECT MAX(at) FROM intake_keys WHERE key LIKE 'imap:%'", url) - start_wall
    sent_at = start + recorded(desk, "SELECT MAX(sent_at) FROM outbox WHERE kind = 'ack'", url) - start_wall
    ingest_rate = args.count / (ingested_at - start)
    ack_rate = args.count / (sent_at - start)
    print(f"intake: {ingest_rate:.0f} messages/s ({ingested_at - start:.2f} s, from daemon start); "
          f"ratio to raw fetch {ingest_rate / raw:.2f}")
    if args.hold:
        release_held(env)
    print(f"acknowledgements accepted by Postfix{held}: {ack_rate:.0f}/s ({sent_at - start:.2f} s)"
          + (f"; ratio to raw SMTP acceptance {ack_rate / relay:.2f}" if relay else ""))
    print(f"peak RSS: {rss:.1f} MB")

    if args.samples > 0:
        latency(env, args.samples)
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait(timeout=20)
    if not os.environ.get("BENCH_KEEP"):
        for d in desks:
            shutil.rmtree(d)
        if args.database == "postgres":
            psql(PG_SERVER, f"DROP DATABASE IF EXISTS bench_{os.getpid()}")
    empty(env["SUPPORT_MAILDIR"])
    empty(env["SINK_MAILDIR"])


if __name__ == "__main__":
    main()
