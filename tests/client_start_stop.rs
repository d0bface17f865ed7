//! `fail2ban-client start` / `status` / `stop` with ferroban's own server,
//! as a user runs them: the server starts in the background with the
//! configuration, answers, and stops cleanly, leaving no socket behind.

mod common;
use common::*;

#[test]
fn start_status_stop_with_our_server() {
    let conf = Scratch::server_tree("startstop");
    let log = conf.write("auth.log", "");
    conf.write(
        "jail.local",
        format!(
            "[ctl]\nenabled = true\nfilter = sshd\naction =\nlogpath = {}\n",
            log.display()
        ),
    );
    assert_eq!(
        client_in(&conf, &["start"]),
        ("Server ready\n".into(), Some(0))
    );
    let pid: i32 = std::fs::read_to_string(conf.path.join("s.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(
        client_in(&conf, &["start"]).1,
        Some(255),
        "a second start is refused"
    );
    let (status, code) = client_in(&conf, &["status"]);
    assert_eq!(
        (status.as_str(), code),
        (
            "Status\n|- Number of jail:\t1\n`- Jail list:\tctl\n",
            Some(0)
        )
    );
    assert_eq!(
        client_in(&conf, &["stop"]),
        ("Shutdown successful\n".into(), Some(0))
    );
    assert!(!conf.path.join("run/s.sock").exists());
    // The daemon is gone within moments (kill with signal 0 only checks).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    // SAFETY: probing a process id read from our own server's pidfile.
    while unsafe { libc::kill(pid, 0) } == 0 && !is_zombie(pid) {
        assert!(
            std::time::Instant::now() < deadline,
            "server {pid} still running"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let server_log = std::fs::read_to_string(conf.path.join("server.log")).unwrap();
    assert!(
        server_log.contains("Jail 'ctl' started") && server_log.contains("Exiting Fail2ban"),
        "{server_log}"
    );
}

fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
        .unwrap_or(true)
}

/// Debian's unit runs `fail2ban-server -xf start`: the server reads the
/// configuration itself. Any other command makes it a client.
#[test]
fn server_started_directly_reads_the_configuration() {
    let conf = Scratch::server_tree("server-direct");
    let log = conf.write("auth.log", "");
    conf.write(
        "jail.local",
        format!(
            "[ctl]\nenabled = true\nfilter = sshd\naction =\nlogpath = {}\n",
            log.display()
        ),
    );
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_fail2ban-server"))
        .args(["-xf", "-c", conf.str(), "start"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !client_in(&conf, &["status"]).0.contains("Jail list:\tctl") {
        assert!(
            std::time::Instant::now() < deadline,
            "the server never configured itself"
        );
        assert!(server.try_wait().unwrap().is_none(), "the server exited");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // fail2ban-server with a client command acts as fail2ban-client.
    let as_client = run({
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_fail2ban-server"));
        c.args(["-c", conf.str(), "status", "ctl"]);
        c
    });
    assert!(
        stdout(&as_client).starts_with("Status for the jail: ctl"),
        "{}",
        stdout(&as_client)
    );
    assert_eq!(client_in(&conf, &["stop"]).1, Some(0));
    assert_eq!(server.wait().unwrap().code(), Some(0));
}
