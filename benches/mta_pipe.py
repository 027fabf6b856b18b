#!/usr/bin/env python3
"""How long one message takes through `switchboard ingest -`, the MTA pipe transport:
process start, config, rules and templates loaded, database opened, the message stored with
its acknowledgement queued, exit 0. Each message is different (its own sender and
Message-ID), so every run makes a new ticket.

Usage: cargo build --release && benches/mta_pipe.py [--count 200]
"""
import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def message(i: int) -> bytes:
    return (
        f"From: Pipe Tester {i} <pipe{i}@example.org>\r\n"
        f"To: support@example.com\r\n"
        f"Subject: Drukarka nie drukuje ({i})\r\n"
        f"Message-ID: <pipe-{i}-{time.time_ns()}@example.org>\r\n"
        f"Date: Sun, 22 Nov 2026 10:00:00 +0000\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n"
        f"Drukarka na drugim piętrze zacina papier od rana. Prośba nr {i}.\r\n"
    ).encode()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--binary", default=os.path.join(ROOT, "target/release/switchboard"))
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="switchboard-pipe-")
    try:
        with open(os.path.join(work, "switchboard.toml"), "w") as config:
            config.write(
                '[desk]\nfirst_contact_limit = "off"\nfirst_contact_limit_per_domain = "off"\n'
                f'[paths]\nrules = "{ROOT}/rules"\ntemplates = "{ROOT}/templates"\nvar = "var"\n'
                '[database]\nurl = "sqlite://var/switchboard.db"\n'
                '[outbound]\ndir = "var/outbox"\n'
            )
        command = [args.binary, "--config", os.path.join(work, "switchboard.toml")]
        subprocess.run(command + ["migrate"], check=True, capture_output=True, cwd=work)
        times = []
        for i in range(args.count):
            started = time.perf_counter()
            done = subprocess.run(
                command + ["ingest", "-"], input=message(i), capture_output=True, cwd=work
            )
            times.append((time.perf_counter() - started) * 1000)
            if done.returncode != 0 or b"\tnew\t" not in done.stdout:
                raise SystemExit(f"run {i}: exit {done.returncode}: {done.stdout!r} {done.stderr!r}")
        times.sort()
        p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
        print(
            f"ingest - over {args.count} messages: median {statistics.median(times):.1f} ms, "
            f"p99 {p99:.1f} ms, max {times[-1]:.1f} ms (each a new ticket, exit 0)"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
