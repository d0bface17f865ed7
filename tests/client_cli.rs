//! fail2ban-client's configuration-free options against the real client:
//! `--str2sec` (time abbreviations) with fail2ban's output and status, `-V`,
//! and the layout of `-h`.

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

#[test]
fn short_version_is_fail2bans_for_scripts() {
    for (theirs, ours) in [
        (reference_client(), our_client()),
        (
            std::process::Command::new("/usr/bin/fail2ban-server"),
            std::process::Command::new(env!("CARGO_BIN_EXE_fail2ban-server")),
        ),
    ] {
        let (mut theirs, mut ours) = (theirs, ours);
        theirs.arg("-V");
        ours.arg("-V");
        let (t, o) = (run(theirs), run(ours));
        assert_eq!(stdout(&t), stdout(&o));
        assert_eq!(t.status.code(), o.status.code());
    }
    let mut ours = our_client();
    ours.arg("--version");
    assert!(stdout(&run(ours)).starts_with("Fail2Ban v1.0.2 "));
}

#[test]
fn help_has_fail2bans_layout() {
    // The same usage line, option column and command rows (our wording).
    let mut theirs = reference_client();
    theirs.arg("-h");
    let mut ours = our_client();
    ours.arg("-h");
    let (t, o) = (stdout(&run(theirs)), stdout(&run(ours)));
    assert_eq!(t.lines().next(), o.lines().next());
    let options = |s: &str| -> Vec<String> {
        s.lines()
            .filter(|l| l.starts_with("    -"))
            .map(|l| l.trim_start().split("  ").next().unwrap_or("").to_string())
            .collect()
    };
    assert_eq!(options(&t), options(&o));
    let commands = |s: &str| -> Vec<String> {
        s.lines()
            .skip_while(|l| *l != "Command:")
            .filter(|l| l.starts_with("    ") && !l.starts_with("     "))
            // The command column is 41 wide; a description may follow one space.
            .map(|l| l.get(4..45).unwrap_or(&l[4..]).trim_end().to_string())
            .collect()
    };
    assert!(commands(&t).len() > 90);
    assert_eq!(commands(&t), commands(&o));
}
