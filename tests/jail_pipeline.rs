//! One jail end to end in the library: log lines → filter → failures within
//! findtime → ban → actions (a recording shell action) → expiry → unban.

mod common;
use common::*;
use ferroban::jail::{time_str, Jail};
use ferroban::stream::Value;

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn set(j: &mut Jail, option: &str, args: &[&str]) {
    let args: Vec<Value> = args.iter().map(|a| Value::str(*a)).collect();
    j.set(option, &args, false, now())
        .unwrap_or_else(|e| panic!("set {option}: {e:?}"));
}

fn jail(record: &std::path::Path) -> Jail {
    let mut j = Jail::new("courier", "polling");
    set(
        &mut j,
        "addfailregex",
        &[r"LOGIN FAILED, user=\S+, ip=\[<HOST>\]"],
    );
    set(&mut j, "maxretry", &["3"]);
    set(&mut j, "findtime", &["600"]);
    set(&mut j, "bantime", &["2"]);
    set(&mut j, "ignoreself", &["false"]);
    set(&mut j, "addaction", &["rec"]);
    let r = record.display();
    set(
        &mut j,
        "action",
        &[
            "rec",
            "actionban",
            &format!("echo ban <ip> <failures> >> {r}"),
        ],
    );
    set(
        &mut j,
        "action",
        &["rec", "actionunban", &format!("echo unban <ip> >> {r}")],
    );
    j
}

fn line(t: f64, ip: &str) -> String {
    format!(
        "{} mail imapd: LOGIN FAILED, user=mallory, ip=[::ffff:{ip}], port=[32932]",
        time_str(t)
    )
}

#[test]
fn third_failure_bans_and_the_ban_expires() {
    let dir = Scratch::new("jail-pipeline");
    let record = dir.path.join("record");
    let mut j = jail(&record);
    j.start();
    let t = now();
    j.process_line(&line(t, "192.0.2.1"), t, true);
    j.process_line(&line(t, "192.0.2.1"), t, true);
    j.process_line(&line(t, "192.0.2.9"), t, true);
    assert!(j.bans.is_empty(), "two failures change nothing");
    j.process_line(&line(t, "192.0.2.1"), t, true);
    assert!(j.bans.contains("192.0.2.1"));
    assert!(!j.bans.contains("192.0.2.9"));
    assert_eq!(
        std::fs::read_to_string(&record).unwrap(),
        "ban 192.0.2.1 3\n"
    );
    j.expire(t + 1.0);
    assert!(j.bans.contains("192.0.2.1"), "not before bantime");
    j.expire(t + 3.0);
    assert!(j.bans.is_empty());
    assert_eq!(
        std::fs::read_to_string(&record).unwrap(),
        "ban 192.0.2.1 3\nunban 192.0.2.1\n"
    );
}

#[test]
fn old_entries_are_skipped_on_first_read_and_taken_as_now_later() {
    let dir = Scratch::new("jail-times");
    let mut j = jail(&dir.path.join("record"));
    let t = now();
    for _ in 0..3 {
        j.process_line(&line(t - 3600.0, "192.0.2.2"), t, false);
    }
    assert_eq!(
        j.failures.total(),
        0,
        "entries older than findtime are skipped on the first read"
    );
    for _ in 0..3 {
        j.process_line(&line(t - 3600.0, "192.0.2.2"), t, true);
    }
    assert!(
        j.bans.contains("192.0.2.2"),
        "in operation an odd time counts as now"
    );
}

#[test]
fn ignored_addresses_are_never_banned() {
    let dir = Scratch::new("jail-ignore");
    let mut j = jail(&dir.path.join("record"));
    set(&mut j, "addignoreip", &["192.0.2.0/24"]);
    let t = now();
    for _ in 0..5 {
        j.process_line(&line(t, "192.0.2.3"), t, true);
    }
    assert!(j.bans.is_empty());
    assert_eq!(j.failures.total(), 0);
}

#[test]
fn bantime_increment_lengthens_a_repeat_offenders_ban() {
    let dir = Scratch::new("jail-increment");
    let db = ferroban::db::Database::open(dir.path.join("f2b.sqlite3")).unwrap();
    let mut j = jail(&dir.path.join("record"));
    j.db = Some(std::rc::Rc::new(std::cell::RefCell::new(db)));
    set(&mut j, "bantime", &["600"]);
    set(&mut j, "bantime.increment", &["true"]);
    set(&mut j, "bantime.maxtime", &["1h"]);
    j.start();
    let ban = |j: &mut Jail| {
        let args = [Value::str("192.0.2.50")];
        j.set("banip", &args, false, now()).unwrap();
        j.bans.get("192.0.2.50").unwrap().ban_time(600)
    };
    assert_eq!(ban(&mut j), 600, "a first ban is the plain bantime");
    assert!(j.unban("192.0.2.50"));
    // The unban removed the row: history comes from bans still recorded.
    assert_eq!(ban(&mut j), 600);
    j.expire(now() + 10_000.0);
    assert_eq!(ban(&mut j), 1200, "the second recorded ban doubles");
    j.expire(now() + 20_000.0);
    assert_eq!(ban(&mut j), 2400);
    j.expire(now() + 30_000.0);
    assert_eq!(ban(&mut j), 3600, "bantime.maxtime caps it");
}
