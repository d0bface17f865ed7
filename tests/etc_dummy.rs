//! Our `action.d/dummy.conf` for real, with ferroban's server and with
//! Debian's fail2ban 1.0.2: the courierlogin jail of our tree with
//! `action = dummy[target=FILE]` creates FILE when the jail starts, appends
//! `+ADDRESS` at the ban (third failure) and `-ADDRESS` when the ban
//! expires, and removes FILE when the jail stops. No firewall is touched.

mod common;
use common::*;
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn wait_for(what: &str, mut f: impl FnMut() -> bool, show: impl Fn() -> String) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}:\n{}",
            show()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn dummy_records_ban_and_unban(client: &str, name: &str) {
    let conf = Scratch::new(name);
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("etc/fail2ban"),
        &conf.path,
    );
    let p = conf.path.display().to_string();
    conf.write(
        "fail2ban.local",
        format!("[Definition]\nlogtarget = {p}/server.log\nsocket = {p}/run/s.sock\npidfile = {p}/s.pid\ndbfile = None\n"),
    );
    let log = conf.write("mail.log", "");
    let target = conf.path.join("bans");
    conf.write(
        "jail.local",
        format!(
            "[courierlogin]\nenabled = true\nlogpath = {}\nbantime = 3\naction = dummy[target={}]\n",
            log.display(),
            target.display()
        ),
    );
    let cli = |args: &[&str]| {
        let o = Command::new(client)
            .args(["-c", conf.str()])
            .args(args)
            .output()
            .unwrap();
        (stdout(&o), o.status.success())
    };
    let server_log = || std::fs::read_to_string(conf.path.join("server.log")).unwrap_or_default();
    let started = cli(&["start"]);
    assert!(started.1, "{}", started.0);
    struct Stop<'a>(&'a dyn Fn(&[&str]) -> (String, bool));
    impl Drop for Stop<'_> {
        fn drop(&mut self) {
            let _ = (self.0)(&["stop"]);
        }
    }
    let stop = Stop(&cli);
    let recorded = || std::fs::read_to_string(&target).ok();
    wait_for("the jail to start", || recorded().is_some(), server_log);
    assert_eq!(recorded().unwrap(), "", "dummy starts with an empty file");

    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    let mut fail = |ip: &str| {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let line = format!(
            "{} mail pop3d-ssl: LOGIN FAILED, user=mallory, ip=[::ffff:{ip}], port=[41000]\n",
            ferroban::jail::time_str(t)
        );
        f.write_all(line.as_bytes()).unwrap();
    };
    fail("192.0.2.1");
    fail("192.0.2.1");
    wait_for(
        "two failures",
        || {
            cli(&["status", "courierlogin"])
                .0
                .contains("Total failed:\t2")
        },
        server_log,
    );
    assert_eq!(recorded().unwrap(), "", "two failures change nothing");
    fail("192.0.2.1");
    wait_for(
        "the ban",
        || recorded().as_deref() == Some("+192.0.2.1\n"),
        server_log,
    );
    wait_for(
        "the ban to expire",
        || recorded().as_deref() == Some("+192.0.2.1\n-192.0.2.1\n"),
        server_log,
    );
    drop(stop);
    assert!(!target.exists(), "stop removes the file");
    assert!(!server_log().contains("ERROR"), "{}", server_log());
}

#[test]
fn dummy_with_our_server() {
    dummy_records_ban_and_unban(env!("CARGO_BIN_EXE_fail2ban-client"), "etc-dummy");
}

#[test]
fn dummy_under_fail2ban() {
    require_reference();
    dummy_records_ban_and_unban(REFERENCE_CLIENT, "etc-dummy-ref");
}
