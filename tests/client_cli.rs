//! fail2ban-client's configuration-free options against the real client:
//! `--str2sec` (time abbreviations) with fail2ban's output and status.

mod common;
use common::*;

#[test]
fn str2sec_matches_fail2ban() {
    for value in [
        "10m",
        "1h",
        "1d12h",
        "0d 1h 30m",
        "1hour+30min",
        "1w",
        "-1",
        "600",
        "1year-6mo",
        "6 months",
        "1mo",
        "1.5h",
        "2 * 3m",
        "2d 3",
        "1 2 3",
        "xyz",
        "1/0",
        "",
        "3600s",
        "1 day",
        "2weeks",
    ] {
        let mut theirs = reference_client();
        theirs.args(["--str2sec", value]);
        let mut ours = our_client();
        ours.args(["--str2sec", value]);
        let (t, o) = (run(theirs), run(ours));
        assert_eq!(stdout(&t), stdout(&o), "--str2sec {value:?}");
        assert_eq!(t.status.code(), o.status.code(), "--str2sec {value:?}");
    }
}
