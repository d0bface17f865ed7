//! Values from log lines (user names, matched lines, ticket ids, filter
//! captures) must never be executed, whatever they contain: each test runs
//! real commands through /bin/sh with hostile values and checks that a
//! marker file is not created and that the value arrives intact.

mod common;

use ferroban::action::{ActionBuilder, BanInfo};
use ferroban::stream::Value;
use std::path::Path;

/// Payloads that would create `marker` if a shell ever parsed them.
fn payloads(marker: &Path) -> Vec<String> {
    let m = marker.display();
    vec![
        format!("$(touch {m})"),
        format!("`touch {m}`"),
        format!("';touch {m};'"),
        format!("\";touch {m};\""),
        format!("x; touch {m}"),
        format!("x && touch {m}"),
        format!("x | touch {m}"),
        format!("x\ntouch {m}"),
        format!("x\rtouch {m}"),
        format!("<br>touch {m}"),
        format!("${{IFS}}touch${{IFS}}{m}"),
        format!("\\\"; touch {m} #"),
        format!("x' ; touch {m} ; echo '"),
        format!("a > {m}"),
    ]
}

fn action(dir: &Path, ban: &str) -> ferroban::action::Action {
    let mut b = ActionBuilder::new("sshd", "esc");
    b.option("actionban", ban)
        .option("actionunban", ban)
        .option("out", dir.join("out").display().to_string());
    b.build().unwrap()
}

#[test]
fn hostile_captures_and_matches_never_run() {
    let tmp = common::Scratch::new("action-escape-1");
    let marker = tmp.path.join("marker");
    let out = tmp.path.join("out");
    // Quoted and unquoted uses, as real actions have them.
    let mut a = action(
        &tmp.path,
        "printf '%s|%s|%s|%s|%s\\n' \"<F-USER>\" \"<matches>\" \"<ipjailmatches>\" \"<fid>\" \"<F-ID>\" >> <out>; \
         echo <F-USER> <matches> <ipmatches> <F-*> <raw-ticket> > /dev/null",
    );
    for p in payloads(&marker) {
        let _ = std::fs::remove_file(&out);
        let mut info = BanInfo::new("192.0.2.9", 1.0, 600)
            .with_data("user", p.as_str())
            .with_data("fid", p.as_str());
        info.matches = vec![p.clone(), format!("second {p}")];
        a.ban(&info)
            .unwrap_or_else(|e| panic!("ban with {p:?}: {e}"));
        assert!(!marker.exists(), "{p:?} was executed");
        let got = std::fs::read_to_string(&out).unwrap();
        let want = format!("{p}|{p}\nsecond {p}|{p}\nsecond {p}|192.0.2.9|{p}\n",);
        assert_eq!(got, want, "{p:?} did not arrive intact");
    }
}

#[test]
fn hostile_ticket_ids_never_run() {
    let tmp = common::Scratch::new("action-escape-2");
    let marker = tmp.path.join("marker");
    let out = tmp.path.join("out");
    let mut a = action(
        &tmp.path,
        "printf '%s\\n' \"<ip>\" \"<fid>\" > <out>; echo <ip> > /dev/null",
    );
    for p in payloads(&marker) {
        let info = BanInfo::new(&p, 1.0, 600);
        assert_eq!(info.family, None);
        a.ban(&info)
            .unwrap_or_else(|e| panic!("ban with {p:?}: {e}"));
        a.unban(&info).unwrap();
        assert!(!marker.exists(), "{p:?} was executed");
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            format!("{p}\n{p}\n")
        );
    }
}

#[test]
fn matches_as_a_property_are_backslash_escaped() {
    // fail2ban's escapeTag path: `matches` set as a property of the action
    // is substituted statically, escaped character by character.
    let tmp = common::Scratch::new("action-escape-3");
    let marker = tmp.path.join("marker");
    let out = tmp.path.join("out");
    for p in payloads(&marker) {
        // `\r` is escaped as the two characters `\r` by fail2ban, so the
        // shell sees `r`: the value is changed, but still not executed.
        let mut b = ActionBuilder::new("sshd", "esc");
        b.option("actionban", "printf '%s\\n' <matches> > <out>")
            .option("out", out.display().to_string())
            .option("matches", Value::str(p.as_str()));
        let mut a = b.build().unwrap();
        let _ = a.ban(&BanInfo::new("192.0.2.1", 1.0, 600));
        assert!(!marker.exists(), "{p:?} was executed");
    }
}

#[test]
fn values_without_metacharacters_are_pasted_as_fail2ban_does() {
    let tmp = common::Scratch::new("action-escape-4");
    let mut a = action(&tmp.path, "echo <F-USER> <failures>");
    let info = BanInfo::new("192.0.2.1", 1.0, 600).with_data("user", "plain-user");
    let cmd = a.command_for("<actionban>", &info).unwrap();
    assert!(cmd.vars().is_empty());
    assert_eq!(cmd.script(), "echo plain-user 0");
    let hostile = BanInfo::new("192.0.2.1", 1.0, 600).with_data("user", "$(x)");
    let cmd = a.command_for("<actionban>", &hostile).unwrap();
    assert_eq!(cmd.script(), "echo $f2bV_F_user 0");
    assert_eq!(cmd.sh_args()[0], "f2bV_F_user=$0 \necho $f2bV_F_user 0");
    assert_eq!(cmd.sh_args()[1], "$(x)");
}
