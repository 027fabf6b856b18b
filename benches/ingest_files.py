#!/usr/bin/env python3
"""End-to-end ingest benchmark: N generated .eml files (1-50 KB, mixed languages, replies,
machine mail) into a fresh SQLite database with the release binary. Prints messages/s and
peak RSS. Usage: benches/ingest_files.py [--count 10000] [--runs 3] [--binary PATH]"""

import argparse
import os
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

LINES = {
    "en": "The VPN keeps dropping and I cannot reach the shared drive from home.",
    "pl": "Drukarka na drugim piętrze nie drukuje, a potrzebuję wydrukować umowy.",
    "ru": "Не могу войти в учётную запись, пароль истёк, помогите пожалуйста.",
    "hr": "Ne radi mi e-pošta u Outlooku od jutros, poruke ne stižu.",
    "de": "Mein Laptop startet nicht mehr, der Bildschirm bleibt schwarz.",
}


def message(i, rng):
    lang = rng.choice(list(LINES))
    size = rng.choice([1, 2, 4, 8, 16, 32, 50]) * 1024
    kind = rng.random()
    headers = [
        f"From: User {i} <user{i % 3000}@example.com>",
        "To: support@example.com",
        f"Subject: Request {i}: {LINES[lang][:30]}",
        "Date: Mon, 23 Nov 2026 09:00:00 +0100",
        f"Message-ID: <bench-{i}@example.com>",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
    ]
    if kind < 0.05:
        headers.append("Auto-Submitted: auto-replied")
    elif kind < 0.08:
        headers.append("List-Id: <news.example.org>")
    body = [LINES[lang], ""]
    filler = "> " + LINES[rng.choice(list(LINES))]
    while sum(len(l) + 1 for l in body) < size:
        body.append(filler)
    return ("\r\n".join(headers) + "\r\n\r\n" + "\r\n".join(body) + "\r\n").encode()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=10000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--binary", default=os.path.join(ROOT, "target/release/switchboard"))
    args = parser.parse_args()
    rng = random.Random(42)
    work = tempfile.mkdtemp(prefix="switchboard-bench-")
    inbox = os.path.join(work, "inbox")
    os.makedirs(inbox)
    total_bytes = 0
    for i in range(args.count):
        raw = message(i, rng)
        total_bytes += len(raw)
        with open(os.path.join(inbox, f"{i:06}.eml"), "wb") as f:
            f.write(raw)
    rates = []
    rss = []
    for run in range(args.runs):
        desk = os.path.join(work, f"desk{run}")
        os.makedirs(desk)
        # Thousands of distinct senders, as a desk that has known its people for years:
        # the first-contact budgets would hold most acknowledgements back, so they are off.
        with open(os.path.join(ROOT, "switchboard.toml")) as shipped:
            config = re.sub(r'^(first_contact_limit\w*) = ".*"$', r'\1 = "off"', shipped.read(), flags=re.M)
        with open(os.path.join(desk, "switchboard.toml"), "w") as copy:
            copy.write(config)
        os.symlink(os.path.join(ROOT, "rules"), os.path.join(desk, "rules"))
        os.symlink(os.path.join(ROOT, "templates"), os.path.join(desk, "templates"))
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        start = time.monotonic()
        result = subprocess.run([args.binary, "ingest", inbox], cwd=desk, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        elapsed = time.monotonic() - start
        if result.returncode != 0:
            sys.exit(f"ingest failed: {result.stderr.decode()[-2000:]}")
        lines = result.stdout.decode().splitlines()
        assert len(lines) == args.count, f"{len(lines)} outcomes for {args.count} messages"
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        rates.append(args.count / elapsed)
        rss.append(max(peak, before) / 1024)
        print(f"run {run + 1}: {args.count} messages in {elapsed:.2f} s = {args.count / elapsed:.0f} msg/s, peak RSS so far {peak / 1024:.1f} MB")
    print(f"median: {statistics.median(rates):.0f} messages/s over {args.runs} runs; "
          f"{total_bytes / args.count / 1024:.1f} KB average; peak RSS {max(rss):.1f} MB")
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
