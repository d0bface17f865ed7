#!/usr/bin/env python3
"""Writes deterministic benchmark logs of our own invention: sshd (auth.log
style) and Courier IMAP/POP3 (mail.log style), with realistic noise around
the failures. Usage: gen_logs.py OUTDIR [LINES]"""

import os
import random
import sys


def ip(rng):
    return "%d.%d.%d.%d" % (rng.choice((192, 198, 203, 45, 61, 185)), rng.randrange(256), rng.randrange(256), rng.randrange(1, 255))


def stamp(i):
    # One line every ~2.6 s, starting Jan 1, so dates run over the whole year.
    t = i * 2.6
    months = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
    day = int(t // 86400)
    month = min(day // 31, 11)
    return "%s %2d %02d:%02d:%02d" % (months[month], day % 28 + 1, t // 3600 % 24, t // 60 % 60, t % 60)


USERS = ("root", "admin", "test", "oracle", "ubuntu", "git", "postgres", "user", "pi", "deploy")


def sshd_line(rng, i):
    pid = rng.randrange(1000, 65000)
    host = "gate"
    r = rng.random()
    a = ip(rng)
    port = rng.randrange(1024, 65535)
    u = rng.choice(USERS)
    if r < 0.18:
        return "%s %s sshd[%d]: Failed password for %s from %s port %d ssh2" % (stamp(i), host, pid, u, a, port)
    if r < 0.30:
        return "%s %s sshd[%d]: Failed password for invalid user %s from %s port %d ssh2" % (stamp(i), host, pid, u, a, port)
    if r < 0.40:
        return "%s %s sshd[%d]: Invalid user %s from %s port %d" % (stamp(i), host, pid, u, a, port)
    if r < 0.48:
        return "%s %s sshd[%d]: Connection closed by authenticating user %s %s port %d [preauth]" % (stamp(i), host, pid, u, a, port)
    if r < 0.56:
        return "%s %s sshd[%d]: Received disconnect from %s port %d:11: Bye Bye [preauth]" % (stamp(i), host, pid, a, port)
    if r < 0.62:
        return "%s %s sshd[%d]: Accepted publickey for deploy from %s port %d ssh2: ED25519 SHA256:abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG" % (stamp(i), host, pid, a, port)
    if r < 0.68:
        return "%s %s sshd[%d]: pam_unix(sshd:session): session opened for user deploy(uid=1000) by (uid=0)" % (stamp(i), host, pid)
    if r < 0.72:
        return "%s %s sshd[%d]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=%s  user=%s" % (stamp(i), host, pid, a, u)
    if r < 0.80:
        return "%s %s CRON[%d]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)" % (stamp(i), host, pid)
    if r < 0.88:
        return "%s %s systemd[1]: Started Session %d of User deploy." % (stamp(i), host, pid)
    if r < 0.94:
        return "%s %s kernel: [%d.%06d] [UFW BLOCK] IN=eth0 OUT= SRC=%s DST=10.0.0.2 PROTO=TCP SPT=%d DPT=23" % (stamp(i), host, pid, pid, a, port)
    return "%s %s sshd[%d]: Disconnected from invalid user %s %s port %d [preauth]" % (stamp(i), host, pid, u, a, port)


def courier_line(rng, i):
    pid = rng.randrange(1000, 65000)
    host = "mx"
    a = ip(rng)
    port = rng.randrange(1024, 65535)
    u = rng.choice(USERS) + "@example.org"
    d = rng.choice(("imapd", "pop3d", "imapd-ssl", "pop3d-ssl"))
    r = rng.random()
    if r < 0.30:
        return "%s %s %s: LOGIN FAILED, user=%s, ip=[::ffff:%s], port=[%d]" % (stamp(i), host, d, u, a, port)
    if r < 0.38:
        return "%s %s %s: LOGIN FAILED, method=PLAIN, ip=[::ffff:%s]" % (stamp(i), host, d, a)
    if r < 0.55:
        return "%s %s %s: Connection, ip=[::ffff:%s]" % (stamp(i), host, d, a)
    if r < 0.70:
        return "%s %s %s: Disconnected, ip=[::ffff:%s], time=%d, starttls=1" % (stamp(i), host, d, a, rng.randrange(10))
    if r < 0.80:
        return "%s %s %s: LOGIN, user=%s, ip=[::ffff:%s], port=[%d], protocol=IMAP" % (stamp(i), host, d, u, a, port)
    if r < 0.90:
        return "%s %s postfix/smtpd[%d]: connect from unknown[%s]" % (stamp(i), host, pid, a)
    return "%s %s %s: LOGOUT, user=%s, ip=[::ffff:%s], headers=0, body=0, rcvd=42, sent=512, time=3, starttls=1" % (stamp(i), host, d, u, a)


def main():
    outdir = sys.argv[1]
    lines = int(sys.argv[2]) if len(sys.argv) > 2 else 1000000
    os.makedirs(outdir, exist_ok=True)
    for name, make in (("sshd.log", sshd_line), ("courier.log", courier_line)):
        rng = random.Random(20261125)
        with open(os.path.join(outdir, name), "w") as f:
            for i in range(lines):
                f.write(make(rng, i) + "\n")


if __name__ == "__main__":
    main()
