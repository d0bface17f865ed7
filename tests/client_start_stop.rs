//! `fail2ban-client start` / `status` / `stop` with ferroban's own server,
//! as a user runs them: the server starts in the background with the
//! configuration, answers, and stops cleanly, leaving no socket behind.

mod common;
use common::*;

fn client(conf: &Scratch, args: &[&str]) -> (String, Option<i32>) {
    let mut c = our_client();
    c.args(["-c", conf.str()]).args(args);
    let o = run(c);
    (stdout(&o), o.status.code())
}

#[test]
fn start_status_stop_with_our_server() {
    let conf = Scratch::with_stock("startstop");
    std::fs::remove_file(conf.path.join("jail.d/defaults-debian.conf")).unwrap();
    let p = conf.path.display().to_string();
    conf.write(
        "fail2ban.local",
        format!(
            "[Definition]\nlogtarget = {p}/server.log\nsocket = {p}/run/s.sock\npidfile = {p}/s.pid\ndbfile = None\n"
        ),
    );
    let log = conf.write("auth.log", "");
    conf.write(
        "jail.local",
        format!(
            "[ctl]\nenabled = true\nfilter = sshd\naction =\nlogpath = {}\n",
            log.display()
        ),
    );
    assert_eq!(
        client(&conf, &["start"]),
        ("Server ready\n".into(), Some(0))
    );
    let pid: i32 = std::fs::read_to_string(conf.path.join("s.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(
        client(&conf, &["start"]).1,
        Some(255),
        "a second start is refused"
    );
    let (status, code) = client(&conf, &["status"]);
    assert_eq!(
        (status.as_str(), code),
        (
            "Status\n|- Number of jail:\t1\n`- Jail list:\tctl\n",
            Some(0)
        )
    );
    assert_eq!(
        client(&conf, &["stop"]),
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
