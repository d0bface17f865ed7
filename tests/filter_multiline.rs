//! Multi-line matching (maxlines buffers, `<SKIPLINES>`, mlfid with
//! `<F-NOFAIL>`/`<F-MLFFORGET>`) and the bound on catastrophic backtracking.
//!
//! The log lines are ours; the expected failures were recorded by running
//! fail2ban 1.0.2's `fail2ban-regex -r -o row` on them (and are re-checked
//! against it in `tests/regex_differential.rs` style when it is installed).

use ferroban::filter::{Failure, Filter, FilterBuilder, MatchOptions};

const CONN_LOG: &[&str] = &[
    "Jan  3 10:00:01 gate app[7]: conn 11 open from 192.0.2.10",
    "Jan  3 10:00:02 gate app[7]: conn 12 open from 192.0.2.20",
    "Jan  3 10:00:03 gate app[7]: conn 11 user alice bad password",
    "Jan  3 10:00:04 gate app[7]: conn 12 user bob logged in",
    "Jan  3 10:00:05 gate app[7]: conn 11 user alice bad password",
    "Jan  3 10:00:06 gate app[7]: conn 11 closed",
    "Jan  3 10:00:07 gate app[7]: noise line",
    "Jan  3 10:00:08 gate app[7]: session 5 start",
    "Jan  3 10:00:09 gate app[7]: something unrelated",
    "Jan  3 10:00:10 gate app[7]: session 5 rejected for 192.0.2.30",
];

/// fail2ban-regex -o's settings: first matching regex wins, pending ids dropped.
fn out_mode(builder: &FilterBuilder) -> Filter {
    let mut f = builder.build().expect("filter builds");
    f.options = MatchOptions {
        check_all_regex: false,
        return_raw_host: true,
        ignore_pending: true,
        check_find_time: false,
    };
    f
}

fn run(filter: &mut Filter, lines: &[&str]) -> Vec<Failure> {
    lines
        .iter()
        .flat_map(|l| filter.process_line(l).failures)
        .filter(|f| !f.data.is_nofail())
        .collect()
}

#[test]
fn mlfid_carries_host_and_users_across_lines() {
    let mut b = FilterBuilder::new();
    b.prefregex(r"^\s*\S+ app\[\d+\]: conn <F-MLFID>\d+</F-MLFID> <F-CONTENT>.+</F-CONTENT>$")
        .add_failregex(r"^open from <ADDR>$")
        .add_failregex(r"^user <F-USER>\S+</F-USER> bad password$")
        .add_failregex(r"^user <F-USER>\S+</F-USER> <F-NOFAIL>logged in</F-NOFAIL>$")
        .add_failregex(r"^closed<F-MLFFORGET>$</F-MLFFORGET>$");
    let mut f = out_mode(&b);
    let found = run(&mut f, CONN_LOG);
    let summary: Vec<(Option<&str>, Option<&str>, Option<&str>)> = found
        .iter()
        .map(|f| (f.id.as_deref(), f.data.get("mlfid"), f.data.get("user")))
        .collect();
    // Recorded from fail2ban 1.0.2 (-r -o row).
    assert_eq!(
        summary,
        vec![
            (Some("192.0.2.10"), Some("11"), None),
            (Some("192.0.2.20"), Some("12"), None),
            (Some("192.0.2.10"), Some("11"), Some("alice")),
            (Some("192.0.2.10"), Some("11"), Some("alice")),
            (Some("192.0.2.10"), Some("11"), Some("alice")),
        ]
    );
    let users: Vec<String> = found[2].data.users.iter().flatten().cloned().collect();
    assert_eq!(users, vec!["alice".to_string()]);
    // Each failure of the connection carries only its own line (-o msg).
    assert_eq!(found[4].data.matches, vec![CONN_LOG[5].to_string()]);
}

#[test]
fn skiplines_match_across_the_buffer() {
    let mut b = FilterBuilder::new();
    b.maxlines("3").expect("valid maxlines");
    b.add_failregex(
        r"session (?P<sid>\d+) start<SKIPLINES>.*session (?P=sid) rejected for <HOST>$",
    );
    let mut f = out_mode(&b);
    let found = run(&mut f, CONN_LOG);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id.as_deref(), Some("192.0.2.30"));
    assert_eq!(
        found[0].data.get("skiplines0"),
        Some(" gate app[7]: something unrelated\n")
    );
    // The skipped line is not part of the failure's matches.
    assert_eq!(
        found[0].data.matches,
        vec![CONN_LOG[7].to_string(), CONN_LOG[9].to_string()]
    );
}

#[test]
fn catastrophic_backtracking_is_bounded_and_the_filter_goes_on() {
    // fail2ban's courier-auth failregex; Python needs minutes on such a line.
    let mut b = FilterBuilder::new();
    b.add_failregex(
        r"LOGIN FAILED, (?:(?!ip=)(?:user=<F-USER>[^,]*</F-USER>|\w+=[^,]*), )*ip=\[<HOST>\]",
    );
    let mut f = out_mode(&b);
    let evil = format!(
        "Jan  3 10:00:01 mx imapd: LOGIN FAILED, {}, ip=[x",
        vec!["user=a"; 60].join(", ")
    );
    assert!(run(&mut f, &[&evil, &evil]).is_empty());
    let good = "Jan  3 10:00:02 mx imapd: LOGIN FAILED, user=mallory, ip=[::ffff:192.0.2.2]";
    let found = run(&mut f, &[good]);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id.as_deref(), Some("192.0.2.2"));
    assert_eq!(found[0].data.get("user"), Some("mallory"));
}

#[test]
fn multibyte_text_at_match_boundaries_is_handled() {
    let mut b = FilterBuilder::new();
    b.maxlines("2").expect("valid maxlines");
    b.add_failregex(r"ü from <HOST>\nä");
    let mut f = out_mode(&b);
    let found = run(
        &mut f,
        &[
            "Jan  3 10:00:01 gate app[7]: grüße ü from 192.0.2.9",
            "ä Jan  3 10:00:02 gate app[7]: ünïcödé",
        ],
    );
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id.as_deref(), Some("192.0.2.9"));
    assert_eq!(found[0].data.matches.len(), 2);
}

/// A caller reusing one outcome for every line (as fail2ban-regex does) gets
/// the failures a fresh outcome per line gets: data given back is reused
/// only when nothing else holds it.
#[test]
fn a_reused_outcome_finds_the_same_failures() {
    let mut b = FilterBuilder::new();
    b.prefregex(r"^\s*\S+ app\[\d+\]: conn <F-MLFID>\d+</F-MLFID> <F-CONTENT>.+</F-CONTENT>$")
        .add_failregex(r"^open from <ADDR>$")
        .add_failregex(r"^user <F-USER>\S+</F-USER> bad password$")
        .add_failregex(r"^user <F-USER>\S+</F-USER> <F-NOFAIL>logged in</F-NOFAIL>$")
        .add_failregex(r"^closed<F-MLFFORGET>$</F-MLFFORGET>$");
    let mut plain = FilterBuilder::new();
    plain
        .add_failregex(r"conn <F-ID>\d+</F-ID> user <F-USER>\S+</F-USER> bad password")
        .add_failregex(r"(?:open from|rejected for) <ADDR>$");
    for builder in [&b, &plain] {
        let mut fresh = out_mode(builder);
        let mut reusing = out_mode(builder);
        let mut outcome = ferroban::filter::LineOutcome::default();
        let mut found = 0;
        for line in CONN_LOG.iter().chain(CONN_LOG) {
            let want = format!("{:?}", fresh.process_line(line).failures);
            reusing.process_line_into(line, &mut outcome);
            assert_eq!(format!("{:?}", outcome.failures), want, "{line}");
            found += outcome.failures.len();
        }
        assert!(found >= 4, "{found}");
    }
}
