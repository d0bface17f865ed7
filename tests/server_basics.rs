//! ferroban's fail2ban-server without jails, against the real one: the same
//! answers to the real fail2ban-client and to ours, the socket's permissions,
//! stale sockets, signals, and random or truncated requests.

mod common;
use common::*;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Our fail2ban-server in the foreground on a private socket, killed by PID when dropped.
struct OurServer {
    dir: Scratch,
    child: Option<Child>,
}

impl OurServer {
    fn start(name: &str, extra: &[&str]) -> OurServer {
        let dir = Scratch::new(name);
        let sock = dir.path.join("run/s.sock");
        dir.write(
            "fail2ban.conf",
            format!(
                "[Definition]\nloglevel = INFO\nlogtarget = {}\nsocket = {}\npidfile = {}\ndbfile = None\n",
                dir.path.join("server.log").display(),
                sock.display(),
                dir.path.join("s.pid").display()
            ),
        );
        dir.write("jail.conf", "[DEFAULT]\n");
        let child = Command::new(env!("CARGO_BIN_EXE_fail2ban-server"))
            .args(["-f", "-c", dir.str()])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut s = OurServer {
            dir,
            child: Some(child),
        };
        s.wait_ready();
        s
    }

    fn socket(&self) -> PathBuf {
        self.dir.path.join("run/s.sock")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path.join("server.log")).unwrap_or_default()
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while UnixStream::connect(self.socket()).is_err() {
            assert!(
                self.child.as_mut().unwrap().try_wait().unwrap().is_none(),
                "server exited: {}",
                self.log()
            );
            assert!(
                Instant::now() < deadline,
                "server never listened: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for the server to exit; its status.
    fn wait_exit(&mut self) -> Option<i32> {
        let child = self.child.as_mut().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                self.child = None;
                return status.code();
            }
            assert!(
                Instant::now() < deadline,
                "server did not exit: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn pid(&self) -> i32 {
        self.child.as_ref().unwrap().id() as i32
    }
}

impl Drop for OurServer {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn ask(mut client: Command, socket: &std::path::Path, args: &[&str]) -> (String, Option<i32>) {
    client.arg("-s").arg(socket).args(args);
    let o = run(client);
    (stdout(&o), o.status.code())
}

const COMMANDS: &[&[&str]] = &[
    &["ping"],
    &["ping", "3"],
    &["echo", "a", "b c"],
    &["version"],
    &["status"],
    &["status", "sshd"],
    &["status", "sshd", "basic"],
    &["get", "loglevel"],
    &["set", "loglevel", "debug"],
    &["get", "loglevel"],
    &["get", "dbfile"],
    &["get", "dbpurgeage"],
    &["get", "dbmaxmatches"],
    &["get", "sshd", "maxretry"],
    &["get", "sshd", "nonsense"],
    &["set", "sshd", "bantime", "1h"],
    &["set", "sshd", "nonsense", "1"],
    &["set", "sshd", "bantime.increment", "true"],
    &["banned"],
    &["banned", "192.0.2.1", "192.0.2.2"],
    &["stop", "sshd"],
    &["nonsense"],
    &["get"],
    &["start", "nojail"],
];

#[test]
fn answers_like_the_real_server_to_both_clients() {
    let reference = ReferenceServer::start("srv-ref");
    let ours = OurServer::start("srv-ours", &[]);
    for args in COMMANDS {
        let expected = ask(reference_client(), &reference.socket(), args);
        assert_eq!(
            expected,
            ask(reference_client(), &ours.socket(), args),
            "python client, {args:?}"
        );
        assert_eq!(
            expected,
            ask(our_client(), &ours.socket(), args),
            "our client, {args:?}"
        );
    }
}

#[test]
fn socket_is_private_and_stop_cleans_up() {
    let mut s = OurServer::start("srv-perm", &[]);
    let mode = std::fs::metadata(s.socket()).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let dir_mode = std::fs::metadata(s.dir.path.join("run"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(dir_mode, 0o700);
    let pid = std::fs::read_to_string(s.dir.path.join("s.pid")).unwrap();
    assert_eq!(pid.trim(), s.pid().to_string());
    assert_eq!(
        ask(our_client(), &s.socket(), &["stop"]),
        ("Shutdown successful\n".into(), Some(0))
    );
    assert_eq!(s.wait_exit(), Some(0));
    assert!(!s.socket().exists() && !s.dir.path.join("s.pid").exists());
    assert!(s.log().contains("Exiting Fail2ban"), "{}", s.log());
}

#[test]
fn sigterm_stops_and_a_second_server_is_refused() {
    let mut s = OurServer::start("srv-sig", &[]);
    // A second server on the same socket must not take it over.
    let second = Command::new(env!("CARGO_BIN_EXE_fail2ban-server"))
        .args(["-f", "-x", "-c", s.dir.str()])
        .output()
        .unwrap();
    assert_eq!(second.status.code(), Some(255));
    assert_eq!(ask(our_client(), &s.socket(), &["ping"]).1, Some(0));
    // SAFETY: a signal to the child we started.
    unsafe { libc::kill(s.pid(), libc::SIGTERM) };
    assert_eq!(s.wait_exit(), Some(0));
    assert!(!s.socket().exists());
}

#[test]
fn a_stale_socket_needs_x() {
    let dir = Scratch::new("srv-stale");
    let sock = dir.path.join("run/s.sock");
    std::fs::create_dir_all(sock.parent().unwrap()).unwrap();
    drop(std::os::unix::net::UnixListener::bind(&sock).unwrap());
    dir.write(
        "conf/fail2ban.conf",
        "[Definition]\nloglevel = INFO\ndbfile = None\n",
    );
    let conf = dir.path.join("conf");
    let conf = conf.to_str().unwrap().to_string();
    let refused = Command::new(env!("CARGO_BIN_EXE_fail2ban-server"))
        .args([
            "-f",
            "--logtarget",
            "STDERR",
            "-s",
            sock.to_str().unwrap(),
            "-p",
        ])
        .arg(dir.path.join("p"))
        .args(["-c", &conf])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(255), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("already running"),
        "{}",
        stderr(&refused)
    );
    let mut s = OurServer {
        child: Some(
            Command::new(env!("CARGO_BIN_EXE_fail2ban-server"))
                .args([
                    "-f",
                    "-x",
                    "--logtarget",
                    "STDERR",
                    "-s",
                    sock.to_str().unwrap(),
                    "-p",
                ])
                .arg(dir.path.join("p"))
                .args(["-c", &conf])
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        ),
        dir,
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while ask(our_client(), &sock, &["ping"]).1 != Some(0) {
        assert!(
            Instant::now() < deadline,
            "-x did not take over the stale socket"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    ask(our_client(), &sock, &["stop"]);
    assert_eq!(s.wait_exit(), Some(0));
}

/// A small xorshift generator: reproducible random bytes without a crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn random_and_truncated_requests_get_error_replies() {
    let s = OurServer::start("srv-fuzz", &[]);
    let valid = ferroban::protocol::encode(
        &ferroban::stream::Value::List(vec!["set".into(), "loglevel".into(), "INFO".into()]),
        5,
    )
    .unwrap();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for i in 0..500 {
        let mut body: Vec<u8> = match i % 3 {
            0 => (0..rng.next() % 200).map(|_| rng.next() as u8).collect(),
            1 => valid[..(rng.next() as usize % valid.len())].to_vec(),
            _ => {
                let mut v = valid.clone();
                let at = rng.next() as usize % v.len();
                v[at] = rng.next() as u8;
                v
            }
        };
        // The terminator inside random bytes would split the request; that is fine too.
        body.extend_from_slice(ferroban::protocol::END);
        let mut c = UnixStream::connect(s.socket()).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        c.write_all(&body).unwrap();
        let mut reply = Vec::new();
        let mut buf = [0u8; 4096];
        while !reply.ends_with(ferroban::protocol::END) {
            let n = c.read(&mut buf).expect("the server answers within 5 s");
            assert!(n > 0, "connection closed without an answer to request {i}");
            reply.extend_from_slice(&buf[..n]);
        }
        let decoded =
            ferroban::protocol::decode_reply(&reply[..reply.len() - ferroban::protocol::END.len()]);
        assert!(decoded.is_ok(), "request {i}: undecodable reply");
    }
    assert_eq!(
        ask(our_client(), &s.socket(), &["ping"]),
        ("Server replied: pong\n".into(), Some(0))
    );
}

/// A configuration with one jail (no firewall: its action appends to a file).
fn jail_tree(name: &str, log: &std::path::Path, record: &std::path::Path) -> Scratch {
    let conf = Scratch::with_stock(name);
    std::fs::remove_file(conf.path.join("jail.d/defaults-debian.conf")).unwrap();
    conf.write("fail2ban.local", "[Definition]\ndbfile = None\n");
    conf.write(
        "action.d/record.conf",
        format!(
            "[Definition]\nactionstart = echo start <name> >> {r}\nactionstop = echo stop <name> >> {r}\n\
             actionban = echo ban <ip> <failures> >> {r}\nactionunban = echo unban <ip> >> {r}\n",
            r = record.display()
        ),
    );
    conf.write(
        "jail.local",
        format!(
            "[ctl]\nenabled = true\nfilter = sshd\naction = record\nlogpath = {}\nmaxretry = 3\nfindtime = 10m\nbantime = 1h\n\
             ignoreip = 127.0.0.1/8 10.0.0.1\n",
            log.display()
        ),
    );
    conf
}

#[test]
fn jails_answer_like_the_real_server() {
    let scratch = Scratch::new("srv-jail-files");
    let log = scratch.write("auth.log", "");
    let (rec_ref, rec_ours) = (scratch.path.join("ref.rec"), scratch.path.join("ours.rec"));
    let reference = ReferenceServer::start("srv-jail-ref");
    let ours = OurServer::start("srv-jail-ours", &[]);
    let conf_ref = jail_tree("srv-jail-conf-ref", &log, &rec_ref);
    let conf_ours = jail_tree("srv-jail-conf-ours", &log, &rec_ours);
    for (sock, conf) in [(reference.socket(), &conf_ref), (ours.socket(), &conf_ours)] {
        let mut c = our_client();
        c.args(["-c", conf.str()]);
        assert_eq!(ask(c, &sock, &["reload"]), ("OK\n".into(), Some(0)));
    }
    let steps: &[&[&str]] = &[
        &["status"],
        &["status", "ctl"],
        &["get", "ctl", "maxretry"],
        &["get", "ctl", "findtime"],
        &["get", "ctl", "bantime"],
        &["get", "ctl", "failregex"],
        &["get", "ctl", "prefregex"],
        &["get", "ctl", "ignoreip"],
        &["get", "ctl", "logpath"],
        &["get", "ctl", "datepattern"],
        &["get", "ctl", "usedns"],
        &["get", "ctl", "maxlines"],
        &["get", "ctl", "actions"],
        &["set", "ctl", "maxretry", "5"],
        &["set", "ctl", "findtime", "20m"],
        &["set", "ctl", "bantime", "2h"],
        &["set", "ctl", "banip", "192.0.2.1", "192.0.2.2"],
        &["set", "ctl", "banip", "192.0.2.1"],
        &["get", "ctl", "banned"],
        &["get", "ctl", "banned", "192.0.2.1", "192.0.2.9"],
        &["banned"],
        &["banned", "192.0.2.1", "192.0.2.9"],
        &["set", "ctl", "unbanip", "192.0.2.2"],
        &["set", "ctl", "unbanip", "--report-absent", "192.0.2.9"],
        &["status", "ctl"],
        &["unban", "--all"],
        &["status", "ctl", "cymru"],
        &["set", "ctl", "idle", "on"],
        &["set", "ctl", "idle", "off"],
        &["stop", "ctl"],
        &["status"],
    ];
    for args in steps {
        let expected = ask(our_client(), &reference.socket(), args);
        assert_eq!(
            expected,
            ask(our_client(), &ours.socket(), args),
            "{args:?}"
        );
    }
    // Reloads, each server with its own copy of the configuration.
    let reloads: &[&[&str]] = &[
        &["reload", "ctl"],
        &["status"],
        &["reload", "--if-exists", "nojail"],
        &["reload", "nojail"],
        &["reload", "--unban", "--all"],
        &["reload", "--restart", "ctl"],
        &["status", "ctl"],
    ];
    for args in reloads {
        let with_conf = |conf: &Scratch| {
            let mut c = our_client();
            c.args(["-c", conf.str()]);
            c
        };
        let expected = ask(with_conf(&conf_ref), &reference.socket(), args);
        assert_eq!(
            expected,
            ask(with_conf(&conf_ours), &ours.socket(), args),
            "{args:?}"
        );
    }
    // Our actions ran like the reference's.
    let read = |p: &std::path::Path| std::fs::read_to_string(p).unwrap_or_default();
    assert_eq!(read(&rec_ref), read(&rec_ours));
    assert!(
        read(&rec_ours).contains("ban 192.0.2.1"),
        "{}",
        read(&rec_ours)
    );
}

#[test]
fn logs_to_the_systemd_journal() {
    let dir = Scratch::new("srv-journal");
    let journal = dir.path.join("journal.sock");
    let sink = std::os::unix::net::UnixDatagram::bind(&journal).unwrap();
    sink.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let sock = dir.path.join("s.sock");
    let mut child = Command::new(env!("CARGO_BIN_EXE_fail2ban-server"))
        .env("FERROBAN_JOURNAL_SOCKET", &journal)
        .args([
            "-f",
            "--async",
            "--logtarget",
            "SYSTEMD-JOURNAL",
            "--loglevel",
            "INFO",
            "-s",
        ])
        .arg(&sock)
        .arg("-p")
        .arg(dir.path.join("p"))
        .args(["-c", "/etc/fail2ban"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut buf = vec![0u8; 65536];
    let n = sink.recv(&mut buf).expect("a journal entry within 5 s");
    let entry = String::from_utf8_lossy(&buf[..n]).into_owned();
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        entry.contains("MESSAGE=") && entry.contains("PRIORITY=6\n"),
        "{entry:?}"
    );
    assert!(entry.contains("LOGGER=fail2ban.server\n"), "{entry:?}");
    assert!(entry.contains("SYSLOG_IDENTIFIER=fail2ban\n"), "{entry:?}");
}
