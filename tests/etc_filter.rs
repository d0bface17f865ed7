//! Our filter `etc/fail2ban/filter.d/courierlogin.conf` on Courier log lines
//! we wrote: failed logins in the 0.8-era form (address last) and in
//! Courier 5's (imapd, pop3d, imapd-ssl, pop3d-ssl, with `port=[N]` after
//! an IPv4-mapped address), with short and fully qualified host names, must
//! each give their host and user; successful logins, logouts and other
//! programs must not match. Debian's `/usr/bin/fail2ban-regex` and ours
//! must report the same hosts and the same `Lines:` summary.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

const REFERENCE_REGEX: &str = "/usr/bin/fail2ban-regex";

fn our_etc() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("etc/fail2ban")
}

/// (line, Some("host user")) for a failure, None for a line that must not match.
const LINES: &[(&str, Option<&str>)] = &[
    // Courier 5.
    ("Nov 25 10:00:01 mail imapd: LOGIN FAILED, user=mallory, ip=[::ffff:192.0.2.1], port=[32932]", Some("192.0.2.1 mallory")),
    ("Nov 25 10:00:02 mail pop3d: LOGIN FAILED, user=mallory@example.org, ip=[::ffff:192.0.2.2], port=[41000]", Some("192.0.2.2 mallory@example.org")),
    ("Nov 25 10:00:03 mail.example.org imapd-ssl: LOGIN FAILED, user=eve, ip=[::ffff:192.0.2.3], port=[50122]", Some("192.0.2.3 eve")),
    ("Nov 25 10:00:04 mail pop3d-ssl[2231]: LOGIN FAILED, user=trent, ip=[::ffff:192.0.2.4], port=[1234]", Some("192.0.2.4 trent")),
    ("2026-11-25T10:00:05.123456+00:00 mx1.example.net imapd: LOGIN FAILED, user=eve, ip=[::ffff:192.0.2.5], port=[993]", Some("192.0.2.5 eve")),
    ("Nov 25 10:00:06 mail imapd: LOGIN FAILED, user=v6, ip=[2001:db8::6], port=[5000]", Some("2001:db8::6 v6")),
    ("Nov 25 10:00:07 mail imapd: LOGIN FAILED, method=PLAIN, ip=[::ffff:192.0.2.7], port=[6000]", Some("192.0.2.7 ")),
    ("Nov 25 10:00:08 imapd: LOGIN FAILED, user=nohost, ip=[::ffff:192.0.2.8], port=[6001]", Some("192.0.2.8 nohost")),
    // A user name carrying a fake address: the real one (last) is banned.
    ("Nov 25 10:00:09 mail imapd: LOGIN FAILED, user=x, ip=[203.0.113.1], port=[1], ip=[::ffff:192.0.2.9], port=[2]", Some("192.0.2.9 x")),
    // The 0.8-era form: nothing after the address.
    ("Nov 25 10:00:10 SERVER courierpop3login: LOGIN FAILED, user=USER@EXAMPLE.org, ip=[::ffff:198.51.100.10]", Some("198.51.100.10 USER@EXAMPLE.org")),
    ("Nov 25 10:00:11 mail.example.org imaplogin: LOGIN FAILED, user=bob, ip=[198.51.100.11]", Some("198.51.100.11 bob")),
    ("Nov 25 10:00:12 mail courierimaplogin[77]: LOGIN FAILED, user=carol, ip=[198.51.100.12]", Some("198.51.100.12 carol")),
    ("Nov 25 10:00:13 mail pop3login: LOGIN FAILED, user=dave, ip=[::ffff:198.51.100.13]", Some("198.51.100.13 dave")),
    // Successes and everything else.
    ("Nov 25 10:00:20 mail imapd: LOGIN, user=alice, ip=[::ffff:192.0.2.101], port=[40170], protocol=IMAP", None),
    ("Nov 25 10:00:21 mail pop3d: LOGIN, user=alice, ip=[::ffff:192.0.2.102], port=[40171], protocol=POP3", None),
    ("Nov 25 10:00:22 mail.example.org imapd-ssl: LOGIN, user=alice, ip=[::ffff:192.0.2.103], port=[40172], protocol=IMAP", None),
    ("Nov 25 10:00:23 mail pop3d-ssl: LOGOUT, user=alice, ip=[::ffff:192.0.2.104], port=[40173], top=0, retr=0, rcvd=12, sent=39, time=0, stls=1", None),
    ("Nov 25 10:00:24 mail imapd: Connection, ip=[::ffff:192.0.2.105]", None),
    ("Nov 25 10:00:25 mail imapd-ssl: DISCONNECTED, user=alice, ip=[::ffff:192.0.2.106], headers=0, body=0, rcvd=10, sent=20, time=1, starttls=1", None),
    ("Nov 25 10:00:26 SERVER courierpop3login: LOGIN, user=alice, ip=[::ffff:198.51.100.107]", None),
    ("Nov 25 10:00:27 mail postfix/smtpd[99]: warning: unknown[192.0.2.108]: SASL LOGIN authentication failed: UGFzc3dvcmQ6", None),
    ("Nov 25 10:00:28 mail sshd[1]: LOGIN FAILED, user=x, ip=[192.0.2.109]", None),
    ("Nov 25 10:00:29 mail imapd: LOGIN FAILED, user=x, ip=[::ffff:192.0.2.110]x, port=[1]", None),
];

fn regex(tool: &str, args: &[&str]) -> String {
    let o = Command::new(tool)
        .args(args)
        .output()
        .expect("fail2ban-regex runs");
    assert!(
        o.status.success(),
        "{tool} {args:?}: {}{}",
        stdout(&o),
        stderr(&o)
    );
    stdout(&o)
}

fn ours() -> &'static str {
    env!("CARGO_BIN_EXE_fail2ban-regex")
}

fn filter_file() -> String {
    our_etc()
        .join("filter.d/courierlogin.conf")
        .display()
        .to_string()
}

fn expected_hosts() -> String {
    LINES
        .iter()
        .filter_map(|(_, e)| *e)
        .map(|e| format!("{e}\n"))
        .collect()
}

fn lines_summary(report: &str) -> String {
    report
        .lines()
        .find(|l| l.starts_with("Lines: "))
        .unwrap_or_else(|| panic!("no Lines: summary in\n{report}"))
        .to_string()
}

#[test]
fn both_tools_report_the_same_hosts_and_summary() {
    require_reference();
    let dir = Scratch::new("etc-filter");
    let log = dir.write(
        "mail.log",
        LINES
            .iter()
            .map(|(l, _)| format!("{l}\n"))
            .collect::<String>(),
    );
    let log = log.to_str().unwrap();
    let file = filter_file();
    let etc = our_etc().display().to_string();
    let template = "<ip> <F-USER>";

    // By file, and by name under -c: the same hosts and users, in order.
    let reference = regex(REFERENCE_REGEX, &["-o", template, log, &file]);
    assert_eq!(
        reference,
        expected_hosts(),
        "the reference disagrees with the expectations"
    );
    assert_eq!(regex(ours(), &["-o", template, log, &file]), reference);
    let by_name = regex(
        REFERENCE_REGEX,
        &["-c", &etc, "-o", template, log, "courierlogin"],
    );
    assert_eq!(by_name, reference);
    assert_eq!(
        regex(ours(), &["-c", &etc, "-o", template, log, "courierlogin"]),
        reference
    );

    // The summaries agree, and count what we expect.
    let matched = LINES.iter().filter(|(_, e)| e.is_some()).count();
    let expected = format!(
        "Lines: {} lines, 0 ignored, {matched} matched, {} missed",
        LINES.len(),
        LINES.len() - matched
    );
    let reference = lines_summary(&regex(REFERENCE_REGEX, &[log, &file]));
    assert_eq!(reference, expected);
    assert_eq!(lines_summary(&regex(ours(), &[log, &file])), reference);
}

#[test]
fn each_failure_matches_and_each_other_line_does_not() {
    let file = filter_file();
    for (line, expected) in LINES {
        let got = regex(ours(), &["-o", "<ip> <F-USER>", line, &file]);
        match expected {
            Some(e) => assert_eq!(got, format!("{e}\n"), "{line}"),
            None => assert_eq!(got, "", "{line} must not match"),
        }
    }
}
