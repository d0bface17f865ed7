//! Our fail2ban-client and the real one, side by side against the real
//! fail2ban-server: the same output and exit status for every command,
//! including `reload` of a configuration our client compiled.

mod common;
use common::*;

/// Runs a client command against `socket`; returns (stdout, status).
fn ask(
    mut client: std::process::Command,
    conf: &str,
    socket: &str,
    args: &[&str],
) -> (String, Option<i32>) {
    client.args(["-c", conf, "-s", socket]).args(args);
    let o = run(client);
    (stdout(&o), o.status.code())
}

#[test]
fn our_client_prints_what_fail2ban_client_prints() {
    let server = ReferenceServer::start("cvs");
    let sock = server.socket();
    let sock = sock.to_str().unwrap();
    // A jail without actions, so nothing touches a firewall.
    let conf = Scratch::with_stock("cvs-conf");
    let log = conf.write("ctl.log", "");
    conf.write(
        "jail.local",
        format!(
            "[ctl]\nenabled = true\nfilter = sshd\naction =\nlogpath = {}\nmaxretry = 4\nignoreip = 127.0.0.1/8 10.0.0.1\n",
            log.display()
        ),
    );
    std::fs::remove_file(conf.path.join("jail.d/defaults-debian.conf")).unwrap();
    // The reload carries fail2ban.conf's settings too: no database under /var/lib.
    conf.write("fail2ban.local", "[Definition]\ndbfile = None\n");
    let c = conf.str();
    let (out, code) = ask(our_client(), c, sock, &["reload"]);
    assert_eq!(
        (out.trim(), code),
        ("OK", Some(0)),
        "reload failed:\n{}",
        server.log()
    );

    let read_only: &[&[&str]] = &[
        &["ping"],
        &["ping", "5"],
        &["version"],
        &["help"],
        &["echo", "a", "b"],
        &["status"],
        &["status", "ctl"],
        &["status", "ctl", "basic"],
        &["get", "ctl", "maxretry"],
        &["get", "ctl", "findtime"],
        &["get", "ctl", "bantime"],
        &["get", "ctl", "logpath"],
        &["get", "ctl", "failregex"],
        &["get", "ctl", "ignoreregex"],
        &["get", "ctl", "ignoreip"],
        &["get", "ctl", "datepattern"],
        &["get", "ctl", "journalmatch"],
        &["get", "ctl", "logencoding"],
        &["get", "ctl", "actions"],
        &["get", "ctl", "usedns"],
        &["get", "ctl", "maxlines"],
        &["get", "loglevel"],
        &["get", "logtarget"],
        &["get", "dbfile"],
        &["get", "dbpurgeage"],
        &["banned"],
        &["nonsense"],
        &["get", "nojail", "maxretry"],
        &["status", "nojail"],
        &["set", "ctl", "nonsense", "1"],
        &["get", "ctl"],
    ];
    for args in read_only {
        let theirs = ask(reference_client(), c, sock, args);
        let ours = ask(our_client(), c, sock, args);
        assert_eq!(theirs, ours, "{args:?}");
    }
    // State changes, once with each client on its own address.
    for (ip, who) in [("192.0.2.5", 0), ("192.0.2.6", 1)] {
        let client = || {
            if who == 0 {
                reference_client()
            } else {
                our_client()
            }
        };
        let steps: &[&[&str]] = &[
            &["set", "ctl", "banip", ip],
            &["get", "ctl", "banip"],
            &["banned", ip],
            &["set", "ctl", "unbanip", ip],
            &["set", "ctl", "bantime", "1h"],
            &["set", "ctl", "addignoreip", "192.0.2.77"],
            &["set", "ctl", "delignoreip", "192.0.2.77"],
        ];
        let outputs: Vec<_> = steps.iter().map(|a| ask(client(), c, sock, a)).collect();
        if who == 0 {
            std::fs::write(
                server.dir.path.join("expected"),
                format!("{outputs:?}").replace("192.0.2.5", "IP"),
            )
            .unwrap();
        } else {
            let expected = std::fs::read_to_string(server.dir.path.join("expected")).unwrap();
            assert_eq!(expected, format!("{outputs:?}").replace("192.0.2.6", "IP"));
        }
    }
    let (out, code) = ask(our_client(), c, sock, &["stop"]);
    assert_eq!((out.trim(), code), ("Shutdown successful", Some(0)));
}

#[test]
fn a_missing_server_is_reported_like_fail2ban() {
    let dir = Scratch::new("nosrv");
    let sock = dir.path.join("none.sock");
    let sock = sock.to_str().unwrap();
    let theirs = ask(reference_client(), STOCK_CONF, sock, &["status"]);
    let ours = ask(our_client(), STOCK_CONF, sock, &["status"]);
    assert_eq!(theirs, ours);
    assert_eq!(ours.1, Some(255));
}

#[test]
fn interactive_mode_prints_what_fail2ban_client_prints() {
    use std::io::Write;
    let server = ReferenceServer::start("cvs-i");
    let sock = server.socket();
    let session = |mut client: std::process::Command| {
        let mut child = client
            .args(["-s", sock.to_str().unwrap(), "-i"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"ping\necho a 'b c'\n\nstatus\nstatus nojail\nquit\n")
            .unwrap();
        let o = child.wait_with_output().unwrap();
        (
            String::from_utf8_lossy(&o.stdout).into_owned(),
            o.status.code(),
        )
    };
    let theirs = session(reference_client());
    let ours = session(our_client());
    assert_eq!(theirs, ours);
    assert!(
        ours.0.contains("fail2ban> Server replied: pong"),
        "{}",
        ours.0
    );
}
