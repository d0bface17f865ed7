#!/usr/bin/env python3
"""Benchmark: restoring active bans from the database at start, ferroban's
fail2ban-server beside fail2ban 1.0.2's, in one run (issue 6; fail2ban
gh#3088 reports hours for Python with tens of thousands of bans).

For each count (--counts, default 20000,2000) and each action (dummy,
iptables-multiport), one database is made with COUNT active bans in jail
`bench` (fail2ban's own Fail2BanDb creates the empty schema-4 file, then one
SQLite transaction inserts the rows into `bans` and `bips`: started 60 s ago,
bantime 1 day). Each server gets its own copy of it as `dbfile`, a copy of
/etc/fail2ban (without jail.d/defaults-debian.conf) plus jail `bench`
(empty log, bantime 1d, the action), and its own socket, pidfile and log in
a temp directory (server_bench.Server).

Timed from `fail2ban-client start` until `status bench` says `Currently
banned: COUNT` (polled once the log holds COUNT `Restore Ban` lines, so the
polling costs nothing before), and for iptables-multiport until
`iptables -S f2b-bench` holds COUNT `-s` rules. The dummy action appends
to a file in the temp directory (`dummy[target=...]`); its line count is
checked too. A server that is not done after --cap seconds is killed by PID
and the figure is reported as a lower bound (`> CAP`), with how far it got.

Servers using iptables run in a network namespace this script creates
(`ip netns add`) and deletes; the host's iptables -S, ip6tables -S and nft
list ruleset are compared before and after. Only processes this script
started are ended, by PID.

Unless --no-floor, each action's COUNT actionban commands are also timed
alone, one after the other through `sh -c` (for iptables in a fresh
namespace, as server_bench.shell_floor): what any server running them one
by one cannot go below.

Must run as root. Not a test: it times, it does not judge.

Usage: compat/bench/restore_bench.py [--counts 20000,2000]
       [--actions dummy,iptables] [--tools ours,python] [--cap 600]
       [--ours DIR-with-fail2ban-client] [--keep] [--no-floor]
(`--tools ""` times the floors only.)
"""

import argparse
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import server_bench as sb  # noqa: E402  (Server, InNetns, host_firewall)

ROOT = os.path.dirname(os.path.dirname(HERE))
FAIL2BAN_PY = "/usr/lib/python3/dist-packages"
DAY = 86400


def ips(n):
    return ["10.%d.%d.%d" % (20 + k // 65536, (k // 256) % 256, k % 256) for k in range(1, n + 1)]


def make_db(path, n):
    """A schema-4 database holding n active bans in jail `bench`."""
    # fail2ban's own code writes the schema, in a separate interpreter so
    # its module state stays out of this process.
    subprocess.check_call(["/usr/bin/python3", "-c",
                           "import sys; sys.path.insert(0, %r)\n"
                           "from fail2ban.server.database import Fail2BanDb\n"
                           "db = Fail2BanDb(%r); db.close()" % (FAIL2BAN_PY, path)],
                          stdout=subprocess.DEVNULL)
    now = int(time.time()) - 60
    con = sqlite3.connect(path)
    with con:
        con.execute("INSERT OR REPLACE INTO jails(name, enabled) VALUES('bench', 1)")
        rows = []
        for ip in ips(n):
            data = '{"matches": ["%s mail imapd: LOGIN FAILED, user=mallory, ip=[%s], port=[32932]"], ' \
                   '"failures": 3}' % (time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now)), ip)
            rows.append(("bench", ip, now, DAY, 1, data))
        con.executemany("INSERT INTO bans(jail, ip, timeofban, bantime, bancount, data) VALUES(?,?,?,?,?,?)", rows)
        con.executemany("INSERT INTO bips(jail, ip, timeofban, bantime, bancount, data) VALUES(?,?,?,?,?,?)", rows)
    con.close()


def jail_local(action, dbsrc):
    def jl(d):
        log = os.path.join(d, "mail.log")
        open(log, "w").close()
        db = os.path.join(d, "fail2ban.sqlite3")
        shutil.copyfile(dbsrc, db)
        if action == "dummy":
            act = 'dummy[target="%s"]' % os.path.join(d, "dummy.txt")
        else:
            act = 'iptables-multiport[name=bench, port="143", protocol=tcp]'
        return ("[bench]\nenabled = true\nfilter = bench\nbackend = auto\nlogpath = %s\naction = %s\n"
                "maxretry = 3\nfindtime = 600\nbantime = %d\n" % (log, act, DAY))
    return jl


def count_in_file(path, needle):
    try:
        with open(path, "rb") as f:
            return f.read().count(needle)
    except OSError:
        return 0


def chain_count():
    r = subprocess.run(["iptables", "-w", "-S", "f2b-bench"], capture_output=True, text=True)
    return sum(1 for l in r.stdout.splitlines() if l.startswith("-A f2b-bench -s ")) if r.returncode == 0 else 0


def status_banned(s, timeout):
    try:
        r = s.cmd("status", "bench", check=False, timeout=max(timeout, 1))
    except subprocess.TimeoutExpired:
        return None
    for l in r.stdout.splitlines():
        if "Currently banned" in l:
            return int(l.split(":", 1)[1].strip())
    return None


def run_one(tool, client, action, n, dbsrc, cap, keep):
    """Returns a dict: status_s, rules_s (iptables) or file_s (dummy), got, capped."""
    netns = action == "iptables"
    s = sb.Server(tool, client, jail_local(action, dbsrc), "restore%d" % n, netns=netns, keep=keep)
    # server_bench writes dbfile = None; this benchmark needs the copy.
    s.write("fail2ban.local",
            "[Definition]\nloglevel = INFO\nlogtarget = %s\nsocket = %s\npidfile = %s\ndbfile = %s\n"
            % (s.log, s.sock, s.pidfile, os.path.join(s.dir, "fail2ban.sqlite3")))
    res = {"capped": False}
    starter = None
    try:
        argv = [client, "-c", s.conf, "start"]
        if netns:
            argv = ["nsenter", "--net=/run/netns/" + s.netns] + argv
        t0 = time.perf_counter()
        # The client may wait for the jail's start; the clock runs regardless.
        starter = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        left = lambda: cap - (time.perf_counter() - t0)

        def client_done():
            if "client_s" not in res and starter.poll() is not None:
                res["client_s"] = time.perf_counter() - t0
                res["client_rc"] = starter.returncode
        # 1. The log holds n "Restore Ban" lines (cheap to poll).
        restored = 0
        while left() > 0:
            if s.pid is None and os.path.exists(s.pidfile):
                try:
                    with open(s.pidfile) as f:
                        s.pid = int(f.read().strip())
                except ValueError:
                    pass
            client_done()
            restored = count_in_file(s.log, b"Restore Ban ")
            if restored >= n:
                break
            time.sleep(0.2)
        res["log_s"] = time.perf_counter() - t0
        # 2. `status bench` says n.
        banned = None
        while left() > 0:
            client_done()
            banned = status_banned(s, left())
            if banned is not None and banned >= n:
                break
            time.sleep(0.1)
        res["status_s"] = time.perf_counter() - t0
        res["banned"] = banned
        # 3. The action's effect is complete.
        done = 0
        while left() > 0:
            client_done()
            if netns:
                with sb.InNetns(s.netns):
                    done = chain_count()
            else:
                done = count_in_file(os.path.join(s.dir, "dummy.txt"), b"\n+")
            if done >= n:
                break
            time.sleep(0.5)
        res["effect_s"] = time.perf_counter() - t0
        while left() > 0 and "client_s" not in res:
            client_done()
            time.sleep(0.05)
        res["effect"] = done
        res["restored"] = restored
        if left() <= 0:
            res["capped"] = True
            if netns:
                with sb.InNetns(s.netns):
                    res["effect"] = chain_count()
            else:
                res["effect"] = count_in_file(os.path.join(s.dir, "dummy.txt"), b"\n+")
            res["restored"] = count_in_file(s.log, b"Restore Ban ")
        return res
    finally:
        if res.get("capped") and s.pid:
            # Not worth an orderly stop that unbans thousands: kill it.
            try:
                os.kill(s.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            s.pid = None
        if starter is not None:
            try:
                starter.wait(timeout=30)
            except subprocess.TimeoutExpired:
                starter.kill()
                starter.wait()
        s.stop()


def dummy_floor(n, work):
    """Seconds to run the dummy action's actionban for n IPs one after the
    other through sh, output captured, as a server runs it: the commands alone."""
    target = os.path.join(work, "floor-dummy.txt")
    t0 = time.perf_counter()
    for ip in ips(n):
        subprocess.run(["sh", "-c", 'printf %%b "+%s\\n" >> %s\necho "[bench] dummy %s -- banned %s (family: inet4)"'
                        % (ip, target, target, ip)], capture_output=True, check=True)
    return time.perf_counter() - t0


def fmt(res, key, cap):
    if res.get("capped") and (key != "log_s" or res["restored"] < res["n"]):
        return "> %.0f" % cap
    return "%.2f" % res[key]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--counts", default="20000,2000")
    p.add_argument("--actions", default="dummy,iptables")
    p.add_argument("--tools", default="ours,python")
    p.add_argument("--cap", type=float, default=600, help="seconds before a server is given up on")
    p.add_argument("--ours", help="directory holding ferroban's fail2ban-client and fail2ban-server")
    p.add_argument("--keep", action="store_true")
    p.add_argument("--no-floor", action="store_true",
                   help="skip timing the actionban commands alone (sb.shell_floor for iptables)")
    a = p.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root (network namespaces, iptables)")
    for tool in ("ip", "nsenter", "iptables", sb.PY_CLIENT):
        if not shutil.which(tool):
            sys.exit("%s is needed" % tool)
    ours = a.ours
    if not ours:
        target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
        subprocess.check_call(["cargo", "build", "--release", "--bin", "fail2ban-client",
                               "--bin", "fail2ban-server"], cwd=ROOT)
        ours = os.path.join(target, "release")
    ours = os.path.join(os.path.abspath(ours), "fail2ban-client")
    tools = {"python": ("fail2ban 1.0.2", sb.PY_CLIENT), "ours": ("ferroban", ours)}

    host_before = sb.host_firewall()
    work = tempfile.mkdtemp(prefix="restore-bench-")
    print("# restore_bench.py, %s, %d CPUs, %s, cap %.0f s" % (
        time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), os.cpu_count(), os.uname().release, a.cap))
    print("| bans | action | tool | Restore Ban lines logged s | status says all s | action done s | "
          "banned / effect | client start returned s (exit) |")
    print("|---|---|---|---|---|---|---|---|")
    try:
        for n in [int(x) for x in a.counts.split(",")]:
            db = os.path.join(work, "bans-%d.sqlite3" % n)
            make_db(db, n)
            for action in a.actions.split(","):
                got = {}
                for key in filter(None, a.tools.split(",")):
                    name, client = tools[key]
                    r = run_one(key, client, action, n, db, a.cap, a.keep)
                    r["n"] = n
                    got[key] = r
                    print("| %d | %s | %s | %s | %s | %s | %s / %s%s | %s |" % (
                        n, action, name, fmt(r, "log_s", a.cap), fmt(r, "status_s", a.cap),
                        fmt(r, "effect_s", a.cap), r.get("banned"), r.get("effect"),
                        " (capped: %d restored)" % r["restored"] if r["capped"] else "",
                        "%.2f (%d)" % (r["client_s"], r["client_rc"]) if "client_s" in r else "-"), flush=True)
                if not a.no_floor:
                    fl = sb.shell_floor(n) if action == "iptables" else dummy_floor(n, work)
                    print("| %d | %s | floor: the %d actionban commands alone, one after the other through sh | | | "
                          "%.2f | %.2f ms per ban | |" % (n, action, n, fl, fl / n * 1e3), flush=True)
                if "python" in got and "ours" in got:
                    py, us = got["python"], got["ours"]
                    bound = ">= " if py["capped"] else ""
                    print("| %d | %s | ratio Python/ferroban | | %s%.1fx | %s%.1fx | | |" % (
                        n, action, bound, py["status_s"] / us["status_s"], bound,
                        py["effect_s"] / us["effect_s"]), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        after = sb.host_firewall()
        if after != host_before:
            print("WARNING: the host firewall changed!\n--- before\n%s--- after\n%s" % (host_before, after))
        else:
            print("\nhost firewall (iptables -S, ip6tables -S, nft list ruleset) unchanged")


if __name__ == "__main__":
    main()
