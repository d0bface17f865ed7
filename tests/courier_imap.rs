//! The classic scenario for real: Debian's Courier IMAP (courier-imap,
//! courier-authdaemon, a userdb user) on port 143 in a private network
//! namespace, logging through a private rsyslogd (a private /dev/log in a
//! private mount namespace) to a mail.log that ferroban's server tails with
//! the classic jail (`iptables[name=Courier, port=143, protocol=tcp]`, 3
//! failures in 600 s) and our shipped courierlogin filter. An attacker and
//! an innocent client each have a namespace of their own, wired to the
//! server by veth pairs. Two failed IMAP LOGINs leave the attacker in; the
//! third gets its new connections refused within a second while the
//! innocent client still logs in; `status` shows the ban; `unbanip` lets the
//! attacker back; a second ban ends by itself after bantime (20 s); `stop`
//! leaves no f2b rule. Nothing on the host changes: Courier's and
//! rsyslog's configuration, sockets and logs are private copies in a
//! scratch directory, and every daemon lives in a PID namespace that dies
//! with the process holding it.
//!
//! Skipped (with the reason printed) only when not root or when Courier or
//! rsyslog is not installed (`.ci/run` installs them).

mod common;
use common::netns::*;
use common::*;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The server's end of the attacker's link, and of the innocent client's.
const SERVER_FOR_ATTACKER: &str = "10.143.1.1:143";
const SERVER_FOR_INNOCENT: &str = "10.143.2.1:143";
const ATTACKER: &str = "10.143.1.2";
const USER: &str = "alice";
const PASSWORD: &str = "correct-horse";
const JAIL: &str = "courierlogin";
const BANTIME: u64 = 20;

/// Everything the scenario runs besides the test's own tools.
const TOOLS: &[&str] = &[
    "unshare",
    "nsenter",
    "ip",
    "iptables",
    "rsyslogd",
    "userdbpw",
    "makeuserdb",
    "maildirmake",
    "/usr/sbin/courierlogger",
    "/usr/sbin/couriertcpd",
    "/usr/lib/courier/courier-authlib/authdaemond",
    "/usr/lib/courier/courier/imaplogin",
    "/usr/bin/imapd",
    "/etc/courier/authdaemonrc",
    "/etc/courier/imapd",
];

fn why_skip() -> Option<String> {
    if !is_root() {
        return Some("needs root for namespaces (CI runs as root)".into());
    }
    let missing: Vec<&str> = TOOLS.iter().copied().filter(|t| !have_tool(t)).collect();
    (!missing.is_empty()).then(|| {
        format!(
            "missing {} (apt-get install --no-install-recommends courier-imap rsyslog iptables)",
            missing.join(", ")
        )
    })
}

/// Makes the server's mount namespace private: a /dev of its own with only
/// the usual character devices and /dev/log pointing at rsyslog's socket in
/// the scratch directory, a copy of /etc/courier with the userdb user, and
/// /run/courier (authdaemond's socket) in the scratch directory. `$1` is
/// the scratch directory, `$2` the user's line without the password hash,
/// `$3` the password.
const MOUNT_SETUP: &str = r#"set -e
T=$1
mount --make-rprivate /
mkdir -p "$T/olddev" "$T/etc-courier" "$T/run-courier/authdaemon"
mount --rbind /dev "$T/olddev"
mount -t tmpfs -o mode=755 ferroban-dev /dev
for n in null zero full random urandom tty; do
    [ -e "$T/olddev/$n" ] || continue
    touch "/dev/$n"
    mount --bind "$T/olddev/$n" "/dev/$n"
done
ln -s "$T/dev-log" /dev/log
cp -a /etc/courier/. "$T/etc-courier/"
mount --bind "$T/etc-courier" /etc/courier
mount -t tmpfs -o mode=755 ferroban-run /run
mkdir /run/courier
mount --bind "$T/run-courier" /run/courier
sed -i 's/^authmodulelist=.*/authmodulelist="authuserdb"/' /etc/courier/authdaemonrc
hash=$(printf '%s\n%s\n' "$3" "$3" | userdbpw -md5)
printf '%s|imappw=%s\n' "$2" "$hash" > /etc/courier/userdb
chmod 600 /etc/courier/userdb
makeuserdb
"#;

/// authdaemond as Debian's script starts it, but in the foreground.
const AUTHDAEMOND: &str = "set -a; . /etc/courier/authdaemonrc; \
    exec /usr/sbin/courierlogger -name=authdaemond /usr/lib/courier/courier-authlib/authdaemond";

/// couriertcpd on port 143 as /usr/lib/courier/imapd starts it, in the
/// foreground, its errors (the login lines) sent to syslog as `imapd`.
const IMAPD: &str = "set -a; . /etc/courier/imapd-ssl; . /etc/courier/imapd; IMAP_STARTTLS=NO; \
    exec /usr/sbin/courierlogger -name=imapd /usr/sbin/couriertcpd -address=0 \
    -maxprocs=40 -maxperip=20 -nodnslookup -noidentlookup 143 \
    /usr/lib/courier/courier/imaplogin /usr/bin/imapd Maildir";

/// The server's namespaces (network, mount and PID) and the daemons in
/// them. Killing the holder kills every process in its PID namespace.
struct CourierHost {
    holder: Holder,
    daemons: Vec<Child>,
}

impl CourierHost {
    fn new() -> CourierHost {
        let holder = Holder::spawn(
            Command::new("unshare").args([
                "--pid",
                "--fork",
                "--kill-child",
                "--net",
                "--mount",
                "--propagation",
                "private",
                "sleep",
                "3600",
            ]),
            &["net", "mnt"],
        );
        CourierHost {
            holder,
            daemons: Vec::new(),
        }
    }

    /// `sh -c script args…` in all three of the server's namespaces.
    fn sh(&self, script: &str, args: &[&str]) -> Command {
        let pid = self.holder.pid();
        let mut c = Command::new("nsenter");
        c.arg(format!("--net={}", ns_path(pid, "net")))
            .arg(format!("--mount={}", ns_path(pid, "mnt")))
            .arg(format!("--pid={}", ns_path(pid, "pid_for_children")))
            .args(["sh", "-c", script, "sh"])
            .args(args);
        c
    }

    /// Starts a daemon in the foreground, its output in `log`.
    fn daemon(&mut self, script: &str, log: &Path) {
        let out = std::fs::File::create(log).unwrap();
        let child = self
            .sh(script, &[])
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("nsenter runs");
        self.daemons.push(child);
    }
}

impl Drop for CourierHost {
    fn drop(&mut self) {
        // The holder first: its PID namespace, with every daemon, goes with
        // it. Each nsenter then reaps its daemon and exits; killing nsenter
        // first would leave the daemon a zombie nobody reaps.
        let _ = self.holder.0.kill();
        let _ = self.holder.0.wait();
        let deadline = Instant::now() + Duration::from_secs(10);
        for d in &mut self.daemons {
            while d.try_wait().is_ok_and(|s| s.is_none()) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = d.kill();
            let _ = d.wait();
        }
    }
}

/// A new TCP connection to `addr` and Courier's greeting, or the error.
fn greet(addr: &str) -> std::io::Result<BufReader<TcpStream>> {
    greet_within(addr, Duration::from_secs(15))
}

fn greet_within(addr: &str, wait: Duration) -> std::io::Result<BufReader<TcpStream>> {
    let addr: SocketAddr = addr.parse().unwrap();
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(3))?;
    s.set_read_timeout(Some(wait))?;
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line)?;
    if line.starts_with("* OK") {
        Ok(r)
    } else {
        Err(std::io::Error::other(format!("greeting {line:?}")))
    }
}

/// An IMAP LOGIN on a greeted connection: Courier's tagged answer.
fn login_on(mut r: BufReader<TcpStream>, user: &str, password: &str) -> std::io::Result<String> {
    r.get_mut()
        .write_all(format!("a1 LOGIN {user} {password}\r\n").as_bytes())?;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Err(std::io::Error::other("connection closed"));
        }
        if line.starts_with("a1 ") {
            let _ = r.get_mut().write_all(b"a2 LOGOUT\r\n");
            return Ok(line.trim_end().to_string());
        }
    }
}

fn login(addr: &str, user: &str, password: &str) -> std::io::Result<String> {
    login_on(greet(addr)?, user, password)
}

/// Whether a new connection to `addr` is refused (the REJECT rule's ICMP
/// port-unreachable). A connection the ban cuts before the greeting is not
/// counted as refused: the next attempt will be.
fn refused(addr: &str) -> bool {
    match greet_within(addr, Duration::from_millis(300)) {
        Ok(_) => false,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionRefused,
    }
}

/// Polls `f` every 20 ms until it holds or `limit` passes: how long it took.
fn within(limit: Duration, mut f: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    loop {
        if f() {
            return Some(start.elapsed());
        }
        if start.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn classic_courier_jail_against_a_real_courier_imap() {
    if let Some(why) = why_skip() {
        eprintln!("SKIPPED courier_imap: {why}");
        return;
    }
    let host_before = host_rules();
    // Declared first, so it is removed last, after every namespace is gone.
    let t = Scratch::new("courier-imap");
    let tp = t.str().to_string();

    // The mail user: uid/gid nobody, a Maildir in the scratch directory.
    let home = t.path.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let made = run({
        let mut c = Command::new("maildirmake");
        c.arg(home.join("Maildir"));
        c
    });
    assert!(made.status.success(), "maildirmake: {}", stderr(&made));
    let chown = run({
        let mut c = Command::new("chown");
        c.args(["-R", "65534:65534"]).arg(&home);
        c
    });
    assert!(chown.status.success(), "chown: {}", stderr(&chown));
    let user_line = format!(
        "{USER}\tuid=65534|gid=65534|home={h}|mail={h}/Maildir",
        h = home.display()
    );

    let mut server = CourierHost::new();
    let setup = run(server.sh(MOUNT_SETUP, &[&tp, &user_line, PASSWORD]));
    assert!(
        setup.status.success(),
        "mount namespace setup: {}{}",
        stdout(&setup),
        stderr(&setup)
    );
    let attacker = Holder::new_net();
    let innocent = Holder::new_net();
    server.holder.run(&["ip", "link", "set", "lo", "up"]);
    veth(
        &server.holder,
        "to-attacker",
        "10.143.1.1/24",
        &attacker,
        "eth0",
        "10.143.1.2/24",
    );
    veth(
        &server.holder,
        "to-innocent",
        "10.143.2.1/24",
        &innocent,
        "eth0",
        "10.143.2.2/24",
    );

    // Syslog: a private rsyslogd, rate limiting off, mail.* to mail.log.
    let mail_log = t.write("mail.log", "");
    std::fs::create_dir_all(t.path.join("rsyslog")).unwrap();
    t.write(
        "rsyslog.conf",
        format!(
            "global(workDirectory=\"{tp}/rsyslog\")\n\
             module(load=\"imuxsock\" SysSock.Name=\"{tp}/dev-log\" SysSock.RateLimit.Interval=\"0\")\n\
             mail.* action(type=\"omfile\" file=\"{tp}/mail.log\")\n"
        ),
    );
    server.daemon(
        &format!("exec rsyslogd -n -f {tp}/rsyslog.conf -i {tp}/rsyslogd.pid"),
        &t.path.join("rsyslogd.out"),
    );
    let out = |name: &str| std::fs::read_to_string(t.path.join(name)).unwrap_or_default();
    wait_for("rsyslogd's socket", || t.path.join("dev-log").exists());
    server.daemon(AUTHDAEMOND, &t.path.join("authdaemond.out"));
    wait_for("authdaemond's socket", || {
        t.path.join("run-courier/authdaemon/socket").exists()
    });
    server.daemon(IMAPD, &t.path.join("imapd.out"));
    let reached = within(Duration::from_secs(15), || {
        innocent.in_net(|| greet(SERVER_FOR_INNOCENT).is_ok())
    });
    assert!(
        reached.is_some(),
        "Courier never answered on port 143:\n{}{}{}",
        out("imapd.out"),
        out("authdaemond.out"),
        out("rsyslogd.out")
    );
    let ok = innocent.in_net(|| login(SERVER_FOR_INNOCENT, USER, PASSWORD));
    assert!(
        ok.as_ref().is_ok_and(|r| r.starts_with("a1 OK")),
        "the userdb user logs in before anything else: {ok:?}\n{}",
        out("mail.log")
    );

    // ferroban: our shipped tree, the classic jail, bantime 20 s.
    let conf = Scratch::new("courier-imap-conf");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("etc/fail2ban"),
        &conf.path,
    );
    let p = conf.str().to_string();
    conf.write(
        "fail2ban.local",
        format!(
            "[Definition]\nlogtarget = {p}/server.log\nsocket = {p}/run/s.sock\n\
             pidfile = {p}/s.pid\ndbfile = {p}/fail2ban.sqlite3\n"
        ),
    );
    conf.write(
        "jail.local",
        format!(
            "[{JAIL}]\nenabled = true\naction = iptables[name=Courier, port=143, protocol=tcp]\n\
             logpath = {}\nmaxretry = 3\nfindtime = 600\nbantime = {BANTIME}\n",
            mail_log.display()
        ),
    );
    let start = Command::new("nsenter")
        .arg(format!("--net={}", ns_path(server.holder.pid(), "net")))
        .arg(env!("CARGO_BIN_EXE_fail2ban-client"))
        .args(["-c", &p, "start"])
        .output()
        .unwrap();
    assert!(
        start.status.success(),
        "{}{}",
        stdout(&start),
        stderr(&start)
    );
    let mut guard = StopOnDrop::ours(&conf);
    let rules = || server.holder.run(&["iptables", "-S"]);
    let status = || client_in(&conf, &["status", JAIL]).0;
    let show = || format!("{}\n{}\n{}", rules(), out("mail.log"), conf.server_log());
    assert!(
        !rules().contains("f2b-"),
        "nothing before a ban:\n{}",
        show()
    );
    let failed_lines = || {
        std::fs::read_to_string(&mail_log)
            .unwrap_or_default()
            .lines()
            .filter(|l| {
                l.contains(&format!(
                    "LOGIN FAILED, user={USER}, ip=[::ffff:{ATTACKER}], port=["
                ))
            })
            .count()
    };
    let attack = |n: usize| -> Vec<std::thread::JoinHandle<std::io::Result<String>>> {
        (0..n)
            .map(|_| attacker.spawn_in_net(|| login(SERVER_FOR_ATTACKER, USER, "wrong")))
            .collect()
    };

    // Two failed logins (Courier answers NO after 5 s).
    for h in attack(2) {
        let r = h.join().unwrap();
        assert!(
            r.as_ref().is_ok_and(|r| r.starts_with("a1 NO")),
            "a wrong password is refused: {r:?}"
        );
    }
    wait_for("two failures in the jail", || {
        status().contains("Total failed:\t2")
    });
    assert!(status().contains("Currently banned:\t0"), "{}", status());
    // Still allowed in: a new connection is greeted; the third failure on it.
    let third = attacker
        .in_net(|| greet(SERVER_FOR_ATTACKER))
        .unwrap_or_else(|e| panic!("two failures must not ban: {e}\n{}", show()));
    let third = std::thread::spawn(move || login_on(third, USER, "wrong"));
    wait_for("Courier's third LOGIN FAILED line", || failed_lines() == 3);
    let ban_took = within(Duration::from_secs(1), || {
        attacker.in_net(|| refused(SERVER_FOR_ATTACKER))
    });
    println!("third failure logged -> attacker refused: {ban_took:?}");
    assert!(
        ban_took.is_some(),
        "the attacker must be refused within 1 s of the third failure:\n{}",
        show()
    );
    let banned_at = Instant::now();
    let r = rules();
    assert!(
        r.contains(&format!(
            "-A f2b-Courier -s {ATTACKER}/32 -j REJECT --reject-with icmp-port-unreachable"
        )) && r.contains("-A INPUT -p tcp -m tcp --dport 143 -j f2b-Courier"),
        "{r}"
    );
    let ok = innocent.in_net(|| login(SERVER_FOR_INNOCENT, USER, PASSWORD));
    assert!(
        ok.as_ref().is_ok_and(|r| r.starts_with("a1 OK")),
        "the innocent client still logs in: {ok:?}\n{}",
        show()
    );
    let s = status();
    assert!(
        s.contains("Currently banned:\t1")
            && s.contains(&format!("Banned IP list:\t{ATTACKER}"))
            && s.contains("Total failed:\t3"),
        "{s}"
    );
    assert!(
        banned_at.elapsed() < Duration::from_secs(BANTIME / 2),
        "the checks above must end well before the ban does"
    );

    // A manual unban lets the attacker back in at once.
    let (out_unban, code) = client_in(&conf, &["set", JAIL, "unbanip", ATTACKER]);
    assert_eq!(code, Some(0), "{out_unban}");
    let back = within(Duration::from_secs(1), || {
        attacker.in_net(|| greet(SERVER_FOR_ATTACKER).is_ok())
    });
    println!("unbanip -> attacker greeted: {back:?}");
    assert!(back.is_some(), "unbanip must restore access:\n{}", show());
    assert!(status().contains("Currently banned:\t0"), "{}", status());
    // Courier still answers the third login (NO, 5 s after it), the ban
    // notwithstanding: only packets from the attacker are rejected.
    let r = third.join().unwrap();
    assert!(
        r.as_ref().is_ok_and(|r| r.starts_with("a1 NO")),
        "the third wrong password is refused: {r:?}"
    );

    // Banned again by three more failures; the ban ends by itself.
    let again = attack(3);
    wait_for("three more LOGIN FAILED lines", || failed_lines() == 6);
    let reban = within(Duration::from_secs(1), || {
        attacker.in_net(|| refused(SERVER_FOR_ATTACKER))
    });
    assert!(reban.is_some(), "three new failures ban again:\n{}", show());
    let rebanned_at = Instant::now();
    for h in again {
        let _ = h.join().unwrap();
    }
    let expired = within(Duration::from_secs(BANTIME + 15), || {
        attacker.in_net(|| !refused(SERVER_FOR_ATTACKER))
    });
    let lasted = rebanned_at.elapsed();
    println!("second ban lasted {lasted:?} (bantime {BANTIME} s)");
    assert!(
        expired.is_some(),
        "the ban must expire by itself:\n{}",
        show()
    );
    assert!(
        lasted >= Duration::from_secs(BANTIME - 3),
        "the ban ended early: {lasted:?}"
    );
    assert!(!rules().contains(&format!("{ATTACKER}/32")), "{}", rules());
    let ok = attacker.in_net(|| login(SERVER_FOR_ATTACKER, USER, PASSWORD));
    assert!(
        ok.as_ref().is_ok_and(|r| r.starts_with("a1 OK")),
        "after the ban the address works again: {ok:?}"
    );

    guard.stop();
    let r = rules();
    assert!(
        r.contains("-P INPUT ACCEPT") && !r.contains("f2b"),
        "stop leaves no f2b rule behind:\n{r}"
    );
    let log = conf.server_log();
    for expected in [
        format!("NOTICE  [{JAIL}] Ban {ATTACKER}"),
        format!("NOTICE  [{JAIL}] Unban {ATTACKER}"),
    ] {
        assert_eq!(
            log.matches(&expected).count(),
            2,
            "{expected:?} twice:\n{log}"
        );
    }
    assert!(!log.contains("ERROR"), "an action failed:\n{log}");
    drop(guard);
    drop(attacker);
    drop(innocent);
    drop(server);
    assert_eq!(
        host_before,
        host_rules(),
        "the host firewall must not change"
    );
}
