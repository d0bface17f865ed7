#!/usr/bin/env python3
"""Benchmark: ferroban's fail2ban-server beside fail2ban 1.0.2's, in one run.

Three measurements, each done for both tools with the same generated
configuration (a copy of /etc/fail2ban plus a jail.local, `dbfile = None`,
private socket/pidfile/logtarget in a temp directory):

  latency  ban latency: time from appending the third failing line for a new
           IP to the `-s IP/32` rule existing in chain f2b-bench (stock
           `iptables-multiport` action), over --ips addresses (after one
           warm-up ban that creates the chain);
  mass     time from appending 3 x --mass lines at once (--mass distinct IPs)
           to the chain holding --mass rules, and `status` then saying
           `Currently banned: N`;
  startup  start-to-ready (from `fail2ban-client start` until the last
           `Jail 'NAME' started` line is in the server's log) and the
           server's VmRSS 1 s after ready, for --jails counts of jails
           reading separate empty logs with no action; on the first
           repeat also VmRSS once it settles (unchanged for 1.5 s) after
           one non-matching line was appended to every log (each jail has
           then read something).

Every server that bans runs inside a private network namespace this script
creates (`ip netns add`, the client started through `nsenter --net=`), and
deleted at the end; the bench process itself enters that namespace (setns)
only to run `iptables -S f2b-bench`. The host's `iptables -S` and
`nft list ruleset` are compared before and after. Only processes this script
started are ended, by PID.

Must run as root. Not a test: it times, it does not judge.

Usage: compat/bench/server_bench.py [--only latency,mass,startup]
       [--ips 30] [--mass 2000] [--mass-repeat 3] [--jails 1,50,200] [--repeat 5]
       [--ours DIR-with-fail2ban-client] [--keep]
(builds ferroban with `cargo build --release` unless --ours is given).
"""

import argparse
import ctypes
import os
import shutil
import signal
import statistics
import subprocess
import sys
import re
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
STOCK = "/etc/fail2ban"
PY_CLIENT = "/usr/bin/fail2ban-client"
CLONE_NEWNET = 0x40000000
FAILREGEX = r"LOGIN FAILED, user=\S+, ip=\[<HOST>\]"

STARTED = re.compile(r"INFO +Jail '[^']+' started$", re.M)
libc = ctypes.CDLL(None, use_errno=True)


def setns(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            e = ctypes.get_errno()
            raise OSError(e, "setns(%s): %s" % (path, os.strerror(e)))
    finally:
        os.close(fd)


class InNetns:
    """Runs the with-block in network namespace `name` (this thread only)."""

    def __init__(self, name):
        self.name = name

    def __enter__(self):
        self.home = os.open("/proc/self/ns/net", os.O_RDONLY)
        setns("/run/netns/" + self.name)

    def __exit__(self, *exc):
        if libc.setns(self.home, CLONE_NEWNET) != 0:
            sys.exit("cannot return to the host network namespace")
        os.close(self.home)


def host_firewall():
    out = ""
    for argv in (["iptables", "-S"], ["ip6tables", "-S"], ["nft", "list", "ruleset"]):
        try:
            out += subprocess.run(argv, capture_output=True, text=True).stdout
        except FileNotFoundError:
            pass
    return out


def now_str():
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime())


def fail_line(ip):
    return "%s mail imapd: LOGIN FAILED, user=mallory, ip=[%s], port=[32932]\n" % (now_str(), ip)


class Server:
    """One fail2ban server (either tool) on a generated configuration."""

    def __init__(self, tool, client, jail_local, tag, netns=False, keep=False):
        self.tool, self.client, self.keep = tool, client, keep
        self.dir = tempfile.mkdtemp(prefix="fbench-%s-%s-" % (tag, tool))
        self.conf = os.path.join(self.dir, "conf")
        shutil.copytree(STOCK, self.conf, symlinks=True)
        deb = os.path.join(self.conf, "jail.d", "defaults-debian.conf")
        if os.path.exists(deb):
            os.remove(deb)
        self.log = os.path.join(self.dir, "server.log")
        self.pidfile = os.path.join(self.dir, "s.pid")
        self.sock = os.path.join(self.dir, "run", "s.sock")
        self.write("fail2ban.local",
                   "[Definition]\nloglevel = INFO\nlogtarget = %s\nsocket = %s\npidfile = %s\ndbfile = None\n"
                   % (self.log, self.sock, self.pidfile))
        self.write("filter.d/bench.conf",
                   "[Definition]\nfailregex = %s\ndatepattern = ^%%%%Y-%%%%m-%%%%d %%%%H:%%%%M:%%%%S\n" % FAILREGEX)
        self.write("jail.local", jail_local(self.dir))
        self.netns = None
        if netns:
            self.netns = "fbench-%s-%d" % (tool, os.getpid())
            subprocess.check_call(["ip", "netns", "add", self.netns])
        self.pid = None

    def write(self, rel, text):
        p = os.path.join(self.conf, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(text)

    def cmd(self, *args, check=True, timeout=120):
        argv = [self.client, "-c", self.conf] + list(args)
        if self.netns and args and args[0] == "start":
            argv = ["nsenter", "--net=/run/netns/" + self.netns] + argv
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise RuntimeError("%s: %s failed (%d):\n%s%s\n--- server log tail:\n%s"
                               % (self.tool, " ".join(argv), r.returncode, r.stdout, r.stderr, self.log_tail()))
        return r

    def log_tail(self, n=30):
        try:
            with open(self.log, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return "(no log)"

    def start(self):
        r = self.cmd("start")
        with open(self.pidfile) as f:
            self.pid = int(f.read().strip())
        return r

    def rss_kib(self):
        with open("/proc/%d/status" % self.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def stop(self):
        if self.pid is not None:
            try:
                self.cmd("stop", check=False, timeout=120)
            except subprocess.TimeoutExpired:
                pass
            deadline = time.time() + 60
            while os.path.exists("/proc/%d" % self.pid) and time.time() < deadline:
                time.sleep(0.05)
            if os.path.exists("/proc/%d" % self.pid):
                print("WARNING: %s server %d did not stop; sending SIGTERM" % (self.tool, self.pid))
                os.kill(self.pid, signal.SIGTERM)
                time.sleep(2)
                if os.path.exists("/proc/%d" % self.pid):
                    os.kill(self.pid, signal.SIGKILL)
            self.pid = None
        if self.netns:
            subprocess.call(["ip", "netns", "del", self.netns])
            self.netns = None
        if not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            print("kept %s" % self.dir)


def ban_jail(logpath):
    return ("[bench]\nenabled = true\nfilter = bench\nbackend = auto\nlogpath = %s\n"
            "action = iptables-multiport[name=bench, port=\"143\", protocol=tcp]\n"
            "maxretry = 3\nfindtime = 600\nbantime = 3600\n" % logpath)


def chain_rules():
    r = subprocess.run(["iptables", "-S", "f2b-bench"], capture_output=True, text=True)
    return r.stdout if r.returncode == 0 else ""


def pct(xs, p):
    xs = sorted(xs)
    k = (len(xs) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def start_ban_server(tool, client, keep, tag):
    logpath = [None]

    def jl(d):
        logpath[0] = os.path.join(d, "mail.log")
        open(logpath[0], "w").close()
        return ban_jail(logpath[0])

    s = Server(tool, client, jl, tag, netns=True, keep=keep)
    s.start()
    deadline = time.time() + 30
    while "Jail 'bench' started" not in s.log_tail(200):
        if time.time() > deadline:
            raise RuntimeError("%s: jail did not start:\n%s" % (tool, s.log_tail()))
        time.sleep(0.01)
    time.sleep(0.5)  # let the watcher settle on the file
    fd = os.open(logpath[0], os.O_WRONLY | os.O_APPEND)
    return s, fd


def wait_rule(ip, timeout=30):
    """Polls the chain until `-s IP/32` is in it; returns (seconds, polls)."""
    needle = "-s %s/32 " % ip
    t0 = time.perf_counter()
    polls = 0
    while True:
        polls += 1
        if needle in chain_rules():
            return time.perf_counter(), polls
        if time.perf_counter() - t0 > timeout:
            raise RuntimeError("no rule for %s after %ss" % (ip, timeout))


def bench_latency(tool, client, n, keep):
    s, fd = start_ban_server(tool, client, keep, "lat")
    try:
        with InNetns(s.netns):
            # Warm-up: the first ban also creates the chain (actionstart).
            res = {}
            warm = "198.51.100.1"
            os.write(fd, (fail_line(warm) * 2).encode())
            time.sleep(0.3)
            os.write(fd, fail_line(warm).encode())
            t0 = time.perf_counter()
            t1, _ = wait_rule(warm)
            res["first"] = t1 - t0
            # Cost of one poll (spawning iptables -S), for the resolution.
            p0 = time.perf_counter()
            for _ in range(20):
                chain_rules()
            res["poll"] = (time.perf_counter() - p0) / 20
            lat = []
            for i in range(1, n + 1):
                ip = "203.0.113.%d" % i
                os.write(fd, fail_line(ip).encode())
                os.write(fd, fail_line(ip).encode())
                time.sleep(0.3)
                line = fail_line(ip).encode()
                os.write(fd, line)
                t0 = time.perf_counter()
                t1, _ = wait_rule(ip)
                lat.append(t1 - t0)
                time.sleep(0.05)
            res["lat"] = lat
            rules = chain_rules()
            res["rules"] = sum(1 for l in rules.splitlines() if l.startswith("-A f2b-bench -s "))
        st = s.cmd("status", "bench").stdout
        res["status"] = [l.strip(" |-`") for l in st.splitlines() if "Currently banned" in l]
        return res
    finally:
        os.close(fd)
        s.stop()


def bench_mass(tool, client, n, keep, timeout):
    s, fd = start_ban_server(tool, client, keep, "mass")
    ips = ["10.%d.%d.%d" % (20 + k // 65536, (k // 256) % 256, k % 256) for k in range(1, n + 1)]
    res = {}
    try:
        with InNetns(s.netns):
            data = "".join(fail_line(ip) for _ in range(3) for ip in ips).encode()
            t0 = time.perf_counter()
            os.write(fd, data)
            count = 0
            half = None
            while True:
                rules = chain_rules()
                count = sum(1 for l in rules.splitlines() if l.startswith("-A f2b-bench -s "))
                el = time.perf_counter() - t0
                if half is None and count >= n // 2:
                    half = el
                if count >= n or el > timeout:
                    break
                time.sleep(0.2)  # listing a long chain competes with the bans
            res["rules_time"] = el
            res["half_time"] = half
            res["rules"] = count
        # `status` once the chain is complete.
        deadline = time.time() + 60
        while True:
            st = s.cmd("status", "bench").stdout
            banned = [l.split(":", 1)[1].strip() for l in st.splitlines() if "Currently banned" in l]
            if (banned and banned[0] == str(n)) or time.time() > deadline:
                break
            time.sleep(0.2)
        res["status_time"] = time.perf_counter() - t0
        res["banned"] = banned[0] if banned else "?"
        res["rss"] = s.rss_kib()
        return res
    finally:
        os.close(fd)
        t = time.perf_counter()
        s.stop()
        res["stop_time"] = time.perf_counter() - t


def shell_floor(n):
    """Seconds to run the stock actionban for n IPs one after the other, each
    as `sh -c 'iptables -w -I f2b-bench 1 -s IP -j REJECT ...'` (what both
    servers run per ban), in a fresh private namespace: the cost of the
    commands alone."""
    name = "fbench-floor-%d" % os.getpid()
    subprocess.check_call(["ip", "netns", "add", name])
    try:
        with InNetns(name):
            subprocess.check_call(["iptables", "-w", "-N", "f2b-bench"])
            subprocess.check_call(["iptables", "-w", "-I", "INPUT", "-p", "tcp", "-m", "multiport",
                                   "--dports", "143", "-j", "f2b-bench"])
            t0 = time.perf_counter()
            for k in range(1, n + 1):
                ip = "10.%d.%d.%d" % (20 + k // 65536, (k // 256) % 256, k % 256)
                subprocess.check_call(["sh", "-c", "iptables -w -I f2b-bench 1 -s %s -j REJECT "
                                       "--reject-with icmp-port-unreachable" % ip])
            return time.perf_counter() - t0
    finally:
        subprocess.call(["ip", "netns", "del", name])


def startup_jails(n, backend):
    def jl(d):
        logs = os.path.join(d, "logs")
        os.makedirs(logs, exist_ok=True)
        out = []
        for k in range(1, n + 1):
            p = os.path.join(logs, "j%d.log" % k)
            open(p, "w").close()
            out.append("[bench%d]\nenabled = true\nfilter = bench\nbackend = %s\nlogpath = %s\naction =\n"
                       % (k, backend, p))
        return "\n".join(out)
    return jl


def bench_startup(tool, client, n, backend, keep, feed=False, timeout=60):
    """Returns (ready s, client-return s, VmRSS KiB, VmRSS KiB once settled
    after one non-matching line was appended to every log if feed, problem
    or None)."""
    s = Server(tool, client, startup_jails(n, backend), "start%d" % n, keep=keep)
    try:
        t0 = time.perf_counter()
        r = s.cmd("start", check=False, timeout=timeout)
        t_client = time.perf_counter() - t0
        try:
            with open(s.pidfile) as f:
                s.pid = int(f.read().strip())
        except (OSError, ValueError):
            pass
        if r.returncode != 0:
            return None, t_client, None, None, "client start exited %d: %s" % (
                r.returncode, (r.stdout + r.stderr).strip().splitlines()[-1:] or "")
        want = n
        ready = None
        got, last, last_t = 0, -1, time.perf_counter()
        while time.perf_counter() - t0 < timeout:
            try:
                with open(s.log, errors="replace") as f:
                    got = len(STARTED.findall(f.read()))
            except OSError:
                got = 0
            if got >= want:
                ready = time.perf_counter() - t0
                break
            if got != last:
                last, last_t = got, time.perf_counter()
            elif time.perf_counter() - last_t > 5:
                break  # no progress for 5 s: some jails will not start
            time.sleep(0.001)
        if ready is None:
            errs = [l for l in s.log_tail(400).splitlines() if "ERROR" in l]
            return None, t_client, None, None, "only %d of %d jails started; first error: %s" % (
                got, n, errs[0].split(": ", 1)[-1] if errs else "none logged")
        time.sleep(1.0)
        rss = s.rss_kib()
        fed = None
        if feed:
            for k in range(1, n + 1):
                with open(os.path.join(s.dir, "logs", "j%d.log" % k), "a") as f:
                    f.write("%s mail imapd: connection from 192.0.2.1\n" % now_str())
            # Wait until VmRSS has not changed for 1.5 s (at most 60 s).
            fed, same, t_fed = s.rss_kib(), 0, time.time()
            while same < 3 and time.time() - t_fed < 60:
                time.sleep(0.5)
                now = s.rss_kib()
                same = same + 1 if now == fed else 0
                fed = now
        return ready, t_client, rss, fed, None
    finally:
        s.stop()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--only", default="latency,mass,startup")
    p.add_argument("--ips", type=int, default=30)
    p.add_argument("--mass", type=int, default=2000)
    p.add_argument("--mass-repeat", type=int, default=3)
    p.add_argument("--mass-timeout", type=float, default=600)
    p.add_argument("--jails", default="1,50,200")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--ours", help="directory holding ferroban's fail2ban-client and fail2ban-server")
    p.add_argument("--keep", action="store_true", help="keep the temp directories")
    a = p.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root (network namespaces, iptables)")
    for tool in ("ip", "nsenter", "iptables", PY_CLIENT):
        if not shutil.which(tool):
            sys.exit("%s is needed" % tool)

    ours = a.ours
    if not ours:
        target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
        subprocess.check_call(["cargo", "build", "--release", "--bin", "fail2ban-client",
                               "--bin", "fail2ban-server"], cwd=ROOT)
        ours = os.path.join(target, "release")
    ours = os.path.join(os.path.abspath(ours), "fail2ban-client")
    tools = (("fail2ban 1.0.2", "python", PY_CLIENT), ("ferroban", "ours", ours))
    only = a.only.split(",")

    host_before = host_firewall()
    print("# server_bench.py, %s, %d CPUs, %s" % (time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                                                 os.cpu_count(), os.uname().release))
    try:
        if "latency" in only:
            print("\n## Ban latency (third failing line -> iptables rule), %d new IPs, iptables-multiport" % a.ips)
            print("| tool | first ban (creates chain) ms | p50 ms | p90 ms | max ms | one poll ms | rules | status |")
            print("|---|---|---|---|---|---|---|---|")
            got = {}
            for name, key, client in tools:
                r = bench_latency(key, client, a.ips, a.keep)
                got[key] = r
                print("| %s | %.1f | %.1f | %.1f | %.1f | %.1f | %d | %s |" % (
                    name, r["first"] * 1e3, pct(r["lat"], .5) * 1e3, pct(r["lat"], .9) * 1e3,
                    max(r["lat"]) * 1e3, r["poll"] * 1e3, r["rules"], "; ".join(r["status"])), flush=True)
            print("p50 ratio (Python / ferroban): %.1fx; p90 ratio %.1fx" % (
                pct(got["python"]["lat"], .5) / pct(got["ours"]["lat"], .5),
                pct(got["python"]["lat"], .9) / pct(got["ours"]["lat"], .9)))
        if "mass" in only:
            print("\n## Mass ban: %d IPs x 3 lines appended at once (%d rounds, tools alternating)" % (a.mass, a.mass_repeat))
            print("| round | tool | half the rules s | all %d rules s | status says %d s | Currently banned | RSS after MiB | stop s |" % (a.mass, a.mass))
            print("|---|---|---|---|---|---|---|---|")
            got = {"python": [], "ours": [], "floor": []}
            for rnd in range(1, a.mass_repeat + 1):
                for name, key, client in tools:
                    r = bench_mass(key, client, a.mass, a.keep, a.mass_timeout)
                    got[key].append(r["rules_time"])
                    print("| %d | %s | %.2f | %.2f | %.2f | %s | %.1f | %.2f |" % (
                        rnd, name, r["half_time"] or float("nan"), r["rules_time"], r["status_time"], r["banned"],
                        r["rss"] / 1024.0, r["stop_time"]), flush=True)
                fl = shell_floor(a.mass)
                got["floor"].append(fl)
                print("| %d | floor: the %d actionban commands alone, one after the other through sh | | %.2f | | | | |"
                      % (rnd, a.mass, fl), flush=True)
            py, us, fl = (statistics.median(got[k]) for k in ("python", "ours", "floor"))
            print("median all-rules time: fail2ban 1.0.2 %.2f s, ferroban %.2f s, ratio (Python / ferroban) %.2fx; "
                  "commands alone %.2f s (%.1f ms per ban)" % (py, us, py / us, fl, fl / a.mass * 1e3))
        if "startup" in only:
            print("\n## Start-to-ready and RSS, jails on separate empty logs, no action (median of %d)" % a.repeat)
            print("| jails | tool | backend | ready s (median) | min | client returned s | VmRSS MiB (median) | VmRSS MiB after 1 line per log | note |")
            print("|---|---|---|---|---|---|---|---|---|")
            for n in [int(x) for x in a.jails.split(",")]:
                row = {}
                for name, key, client in tools:
                    backends = ["auto"]
                    for backend in backends:
                        readies, clients, rsss, problem, fed = [], [], [], None, None
                        for i in range(a.repeat):
                            ready, tc, rss, fed_i, problem = bench_startup(key, client, n, backend, a.keep, feed=(i == 0))
                            if problem:
                                break
                            readies.append(ready); clients.append(tc); rsss.append(rss)
                            fed = fed if fed_i is None else fed_i
                        if problem:
                            print("| %d | %s | %s | - | - | %.2f | - | - | FAILED: %s |" % (n, name, backend, tc, problem), flush=True)
                            if backend == "auto" and key == "python":
                                backends.append("polling")
                            continue
                        row[key] = (statistics.median(readies), statistics.median(rsss))
                        print("| %d | %s | %s | %.3f | %.3f | %.3f | %.1f | %.1f | |" % (
                            n, name, backend, statistics.median(readies), min(readies),
                            statistics.median(clients), statistics.median(rsss) / 1024.0, fed / 1024.0), flush=True)
                if "python" in row and "ours" in row:
                    print("| %d | ratio Python/ferroban | | %.1fx | | | %.1fx | | |" % (
                        n, row["python"][0] / row["ours"][0], row["python"][1] / row["ours"][1]), flush=True)
    finally:
        after = host_firewall()
        if after != host_before:
            print("WARNING: the host firewall changed!\n--- before\n%s--- after\n%s" % (host_before, after))
        else:
            print("\nhost firewall (iptables -S, ip6tables -S, nft list ruleset) unchanged")


if __name__ == "__main__":
    main()
