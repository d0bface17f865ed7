#!/usr/bin/env python3
"""Benchmark: ferroban's fail2ban-regex beside fail2ban 1.0.2's, in one run,
on the same generated 1M-line sshd and Courier logs (gen_logs.py).

Reports lines per CPU-second (user + system time of the process) and peak
RSS of each tool, and their ratios. Not a test: it times, it does not judge.

Usage: compat/bench/filter_bench.py [--lines N] [--workdir DIR] [--ours PATH]
[--repeat N] (builds ferroban with `cargo build --release` unless --ours is
given). With --repeat, each tool runs N times, alternating, and the least
CPU time of each is reported: on a shared machine single runs differ by
10-20 %."""

import argparse
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
REFERENCE = "/usr/bin/fail2ban-regex"
CASES = (("sshd.log", "sshd"), ("courier.log", "courier-auth"))


def measure(argv):
    """Runs argv, returns (cpu seconds, peak RSS in KiB, last 'Lines:' line)."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = proc.stdout.read().decode("utf-8", "replace")
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        sys.exit("%s failed with status %d" % (" ".join(argv), status))
    summary = [l for l in out.splitlines() if l.startswith("Lines:")]
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss, summary[-1] if summary else "?"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--lines", type=int, default=1000000)
    p.add_argument("--workdir", default=os.path.join(os.environ.get("TMPDIR", "/tmp"), "ferroban-bench"))
    p.add_argument("--ours")
    p.add_argument("--repeat", type=int, default=1)
    a = p.parse_args()

    ours = a.ours
    if not ours:
        target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
        subprocess.check_call(["cargo", "build", "--release", "--bin", "fail2ban-regex"], cwd=ROOT)
        ours = os.path.join(target, "release", "fail2ban-regex")

    marker = os.path.join(a.workdir, "lines-%d" % a.lines)
    if not os.path.exists(marker):
        subprocess.check_call([sys.executable, os.path.join(HERE, "gen_logs.py"), a.workdir, str(a.lines)])
        open(marker, "w").close()

    print("| log | filter | tool | CPU s | lines/CPU-s | peak RSS MiB |")
    print("|---|---|---|---|---|---|")
    ratios = []
    for log, flt in CASES:
        path = os.path.join(a.workdir, log)
        results = {}
        for _ in range(max(1, a.repeat)):
            for name, tool in (("fail2ban 1.0.2", REFERENCE), ("ferroban", ours)):
                run = measure([tool, path, flt])
                if name not in results or run[0] < results[name][0]:
                    results[name] = run
        for name in ("fail2ban 1.0.2", "ferroban"):
            cpu, rss, lines = results[name]
            print("| %s | %s | %s | %.2f | %.0f | %.1f |" % (log, flt, name, cpu, a.lines / cpu, rss / 1024.0))
        ref, fer = results["fail2ban 1.0.2"], results["ferroban"]
        if ref[2] != fer[2]:
            print("WARNING: summaries differ: %r vs %r" % (ref[2], fer[2]))
        ratios.append((log, ref[0] / fer[0], ref[1] / fer[1], fer[1] / 1024.0))
    print()
    for log, speed, rss, fer_rss in ratios:
        print("%s: ferroban is %.1fx faster per CPU-second, uses %.1fx less peak RSS (%.1f MiB)" % (log, speed, rss, fer_rss))


if __name__ == "__main__":
    main()
