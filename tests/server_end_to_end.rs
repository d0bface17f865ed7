//! The whole chain with ferroban's own binaries: `fail2ban-client start`
//! with a Courier-style jail, failed logins appended to the log, the ban's
//! action run, `status` showing it, the ban ending by itself, and `stop`.
//! The action records to a file: no firewall is touched here.

mod common;
use common::*;
use std::io::Write;

#[test]
fn failed_logins_in_the_log_ban_and_the_ban_expires() {
    let conf = Scratch::server_tree("e2e");
    let record = conf.path.join("record");
    conf.write(
        "action.d/record.conf",
        format!(
            "[Definition]\nactionban = echo ban <ip> >> {r}\nactionunban = echo unban <ip> >> {r}\n",
            r = record.display()
        ),
    );
    conf.write(
        "filter.d/courierlogin.local",
        "[Definition]\nfailregex = LOGIN FAILED, user=\\S+, ip=\\[<HOST>\\]\n",
    );
    let log = conf.write("mail.log", "");
    conf.write(
        "jail.local",
        format!(
            "[courier]\nenabled = true\nfilter = courierlogin\naction = record\nlogpath = {}\nmaxretry = 3\nfindtime = 600\nbantime = 3\n",
            log.display()
        ),
    );
    conf.write("filter.d/courierlogin.conf", "[Definition]\nfailregex =\n");
    assert_eq!(
        client_in(&conf, &["start"]),
        ("Server ready\n".into(), Some(0))
    );
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    let fail = |ip: &str| {
        format!(
            "{} mail imapd: LOGIN FAILED, user=mallory, ip=[::ffff:{ip}], port=[32932]\n",
            ferroban::jail::time_str(unix_now())
        )
    };
    f.write_all(fail("192.0.2.1").as_bytes()).unwrap();
    f.write_all(fail("192.0.2.1").as_bytes()).unwrap();
    wait_for("two failures", || {
        client_in(&conf, &["status", "courier"])
            .0
            .contains("Total failed:\t2")
    });
    assert!(!record.exists(), "two failures change nothing");
    f.write_all(fail("192.0.2.1").as_bytes()).unwrap();
    wait_for("the ban", || {
        std::fs::read_to_string(&record).unwrap_or_default() == "ban 192.0.2.1\n"
    });
    let (status, _) = client_in(&conf, &["status", "courier"]);
    assert!(status.contains("Banned IP list:\t192.0.2.1"), "{status}");
    wait_for("the ban to expire", || {
        std::fs::read_to_string(&record).unwrap_or_default() == "ban 192.0.2.1\nunban 192.0.2.1\n"
    });
    assert_eq!(
        client_in(&conf, &["stop"]),
        ("Shutdown successful\n".into(), Some(0))
    );
    let server_log = std::fs::read_to_string(conf.path.join("server.log")).unwrap();
    for expected in [
        "[courier] Found 192.0.2.1",
        "NOTICE  [courier] Ban 192.0.2.1",
        "NOTICE  [courier] Unban 192.0.2.1",
    ] {
        assert!(
            server_log.contains(expected),
            "{expected:?} missing:\n{server_log}"
        );
    }
}

/// The classic 0.8-era Courier filter ends in `ip=\[<HOST>\]$`; Courier 5
/// appends `, port=[N]`, so the filter matches nothing. The server says so
/// once, after the first read of the log; a filter that matches stays quiet.
#[test]
fn a_filter_that_matches_nothing_is_reported_at_start() {
    let courier5 = format!(
        "{} mail imapd: LOGIN FAILED, user=mallory, ip=[::ffff:192.0.2.2], port=[32932]\n",
        ferroban::jail::time_str(unix_now() - 7200.0)
    );
    for (regex, warned) in [
        (r"LOGIN FAILED, .*, ip=\[<HOST>\]$", true),
        (r"LOGIN FAILED, .*, ip=\[<HOST>\]", false),
    ] {
        let conf = Scratch::server_tree(if warned { "deadfilter" } else { "livefilter" });
        conf.write(
            "filter.d/courierlogin.conf",
            format!("[Definition]\nfailregex = {regex}\n"),
        );
        let log = conf.write("maillog", courier5.repeat(3));
        conf.write(
            "jail.local",
            format!(
                "[courier]\nenabled = true\nfilter = courierlogin\naction =\nlogpath = {}\n",
                log.display()
            ),
        );
        assert_eq!(
            client_in(&conf, &["start"]),
            ("Server ready\n".into(), Some(0))
        );
        assert_eq!(client_in(&conf, &["stop"]).1, Some(0));
        let server_log = std::fs::read_to_string(conf.path.join("server.log")).unwrap();
        let has = server_log.contains("[courier] the filter matched none of the 3 lines");
        assert_eq!(has, warned, "{regex}:\n{server_log}");
    }
}

/// A `systemd` jail reads the journal through journalctl (here a stand-in
/// script printing journal entries as `journalctl -o json` does).
#[test]
fn a_systemd_jail_bans_from_journal_entries() {
    use std::os::unix::fs::PermissionsExt;
    let conf = Scratch::server_tree("journal-jail");
    let p = conf.path.display().to_string();
    let record = conf.path.join("record");
    conf.write(
        "action.d/record.conf",
        format!(
            "[Definition]\nactionban = echo ban <ip> >> {}\n",
            record.display()
        ),
    );
    conf.write("filter.d/courierlogin.conf", "[Definition]\nfailregex = LOGIN FAILED, user=\\S+, ip=\\[<HOST>\\]\njournalmatch = _SYSTEMD_UNIT=courier-imap.service\n");
    conf.write(
        "jail.local",
        "[courier]\nenabled = true\nfilter = courierlogin\nbackend = systemd\naction = record\nmaxretry = 3\n",
    );
    let usec = (unix_now() * 1e6) as u64;
    let entries: String = (0..3)
        .map(|i| {
            format!(
                "{{\"__CURSOR\":\"c{i}\",\"__REALTIME_TIMESTAMP\":\"{}\",\"_HOSTNAME\":\"mail\",\"SYSLOG_IDENTIFIER\":\"imapd\",\"_PID\":\"7\",\"MESSAGE\":\"LOGIN FAILED, user=mallory, ip=[::ffff:192.0.2.5], port=[1]\"}}\n",
                usec + i
            )
        })
        .collect();
    conf.write("entries.json", entries);
    let script = conf.write(
        "journalctl",
        format!(
            "#!/bin/sh\necho \"$@\" > {p}/journalctl.args\ncat {p}/entries.json\nexec sleep 60\n"
        ),
    );
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut start = our_client();
    start
        .env("FERROBAN_JOURNALCTL", &script)
        .args(["-c", conf.str(), "start"]);
    let o = run(start);
    assert_eq!(stdout(&o), "Server ready\n", "{}", stderr(&o));
    wait_for("the ban from the journal", || {
        std::fs::read_to_string(&record).unwrap_or_default() == "ban 192.0.2.5\n"
    });
    let args = std::fs::read_to_string(conf.path.join("journalctl.args")).unwrap();
    assert!(
        args.contains("_SYSTEMD_UNIT=courier-imap.service"),
        "{args}"
    );
    let (status, _) = client_in(&conf, &["status", "courier"]);
    assert!(
        status.contains("Journal matches:\t_SYSTEMD_UNIT=courier-imap.service"),
        "{status}"
    );
    assert_eq!(
        client_in(&conf, &["stop"]),
        ("Shutdown successful\n".into(), Some(0))
    );
}

/// The stock recidive jail reads ferroban's own log file: our `Ban` lines
/// are fail2ban's, so a repeat offender is banned for longer.
#[test]
fn recidive_reads_our_log_and_bans_a_repeat_offender() {
    let conf = Scratch::server_tree("recidive");
    let server_log = conf.write("server.log", "");
    let record = conf.path.join("record");
    conf.write(
        "action.d/record.conf",
        format!(
            "[Definition]\nactionban = echo <name> ban <ip> >> {}\n",
            record.display()
        ),
    );
    conf.write(
        "filter.d/courierlogin.conf",
        "[Definition]\nfailregex = LOGIN FAILED, user=\\S+, ip=\\[<HOST>\\]\n",
    );
    let log = conf.write("maillog", "");
    conf.write(
        "jail.local",
        format!(
            "[courier]\nenabled = true\nfilter = courierlogin\naction = record\nlogpath = {}\nmaxretry = 1\nbantime = 1\n\n\
             [recidive]\nenabled = true\naction = record\nlogpath = {}\nmaxretry = 3\n",
            log.display(),
            server_log.display()
        ),
    );
    assert_eq!(
        client_in(&conf, &["start"]),
        ("Server ready\n".into(), Some(0))
    );
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    for round in 1..=3 {
        let line = format!(
            "{} mail imapd: LOGIN FAILED, user=mallory, ip=[::ffff:192.0.2.66], port=[1]\n",
            ferroban::jail::time_str(unix_now())
        );
        f.write_all(line.as_bytes()).unwrap();
        wait_for("a courier ban", || {
            std::fs::read_to_string(&record)
                .unwrap_or_default()
                .matches("courier ban 192.0.2.66")
                .count()
                == round
        });
        // Let the one-second ban end before the next offence.
        wait_for("the unban", || {
            std::fs::read_to_string(&server_log)
                .unwrap_or_default()
                .matches("[courier] Unban 192.0.2.66")
                .count()
                == round
        });
    }
    wait_for("recidive's ban", || {
        std::fs::read_to_string(&record)
            .unwrap_or_default()
            .contains("recidive ban 192.0.2.66")
    });
    assert_eq!(client_in(&conf, &["stop"]).1, Some(0));
}

/// With a database, bans survive a restart: `stop` lifts them (the rows
/// stay), the next `start` restores them ("Restore Ban") and runs the action
/// again; a manual unban removes the row for good.
#[test]
fn bans_survive_a_restart_through_the_database() {
    let conf = Scratch::server_tree("db-restart");
    let p = conf.path.display().to_string();
    conf.write("fail2ban.local", format!(
        "[Definition]\nlogtarget = {p}/server.log\nsocket = {p}/run/s.sock\npidfile = {p}/s.pid\ndbfile = {p}/f2b.sqlite3\n"
    ));
    let record = conf.path.join("record");
    conf.write(
        "action.d/record.conf",
        format!("[Definition]\nactionban = echo ban <ip> >> {r}\nactionunban = echo unban <ip> >> {r}\n", r = record.display()),
    );
    conf.write(
        "filter.d/courierlogin.conf",
        "[Definition]\nfailregex = LOGIN FAILED, user=\\S+, ip=\\[<HOST>\\]\n",
    );
    let log = conf.write("maillog", "");
    conf.write(
        "jail.local",
        format!("[courier]\nenabled = true\nfilter = courierlogin\naction = record\nlogpath = {}\nmaxretry = 3\nbantime = 3600\n", log.display()),
    );
    assert_eq!(
        client_in(&conf, &["start"]),
        ("Server ready\n".into(), Some(0))
    );
    assert_eq!(
        client_in(&conf, &["get", "dbfile"]).0,
        format!("Current database file is:\n`- {p}/f2b.sqlite3\n")
    );
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    for _ in 0..3 {
        f.write_all(courier_failure(unix_now(), "192.0.2.9").as_bytes())
            .unwrap();
    }
    wait_for("the ban", || {
        std::fs::read_to_string(&record).unwrap_or_default() == "ban 192.0.2.9\n"
    });
    assert_eq!(client_in(&conf, &["stop"]).1, Some(0));
    assert_eq!(
        std::fs::read_to_string(&record).unwrap(),
        "ban 192.0.2.9\nunban 192.0.2.9\n"
    );
    assert_eq!(
        client_in(&conf, &["start"]),
        ("Server ready\n".into(), Some(0))
    );
    wait_for("the restored ban", || {
        std::fs::read_to_string(&record).unwrap_or_default()
            == "ban 192.0.2.9\nunban 192.0.2.9\nban 192.0.2.9\n"
    });
    assert!(
        conf.server_log()
            .contains("NOTICE  [courier] Restore Ban 192.0.2.9"),
        "{}",
        conf.server_log()
    );
    assert!(client_in(&conf, &["status", "courier"])
        .0
        .contains("Banned IP list:\t192.0.2.9"));
    assert_eq!(
        client_in(&conf, &["set", "courier", "unbanip", "192.0.2.9"]).0,
        "1\n"
    );
    assert_eq!(client_in(&conf, &["stop"]).1, Some(0));
    assert_eq!(client_in(&conf, &["start"]).1, Some(0));
    assert!(
        client_in(&conf, &["status", "courier"])
            .0
            .contains("Banned IP list:\t\n"),
        "an unbanned address is not restored"
    );
    assert_eq!(client_in(&conf, &["stop"]).1, Some(0));
}
