//! Purging removes what fail2ban's purge removes (old bans; addresses long
//! past their last ban unless permanent; disabled jails left without bans,
//! with their logs), and the vacuum after it makes the file small again.

mod db_common;

use db_common::*;
use ferroban::ban::BanTicket;
use ferroban::db::{BanRecord, Database, DEFAULT_PURGE_AGE};
use std::path::Path;

const PURGE: &str = r#"
path, now = sys.argv[1], int(sys.argv[2])
MyTime.setTime(now)
db = Fail2BanDb(path)
db.purge()
db.close()
"#;

const DAY: i64 = 86_400;

fn ban(db: &Database, jail: &str, ip: &str, time: i64, bantime: i64, lines: usize) {
    let mut t = BanTicket::manual(ip, time as f64);
    t.ban_count = 1;
    t.bantime = Some(bantime);
    t.matches = (0..lines)
        .map(|i| format!("{ip} line {i} {}", "x".repeat(300)))
        .collect();
    db.add_ban(&BanRecord::from_ticket(jail, &t, 600)).unwrap();
}

fn size(p: &Path) -> u64 {
    std::fs::metadata(p).unwrap().len()
}

#[test]
fn purge_matches_fail2ban_and_the_file_shrinks() {
    let dir = Scratch::new("purge");
    let ours = dir.file("ours.sqlite3");
    let now = now();
    let db = Database::open(&ours).unwrap();
    db.add_jail("sshd").unwrap();
    db.add_jail("retired").unwrap();
    // The bulk: old, ordinary bans that both tables forget.
    for i in 0..1500 {
        let ip = format!("10.{}.{}.{}", i / 65536, i / 256 % 256, i % 256);
        ban(&db, "sshd", &ip, now - 10 * DAY, 600, 10);
    }
    ban(&db, "sshd", "192.0.2.1", now - 100, 600, 1); // recent: stays
    ban(&db, "sshd", "192.0.2.2", now - 30 * DAY, -1, 1); // permanent: its bips row stays
    ban(&db, "sshd", "192.0.2.3", now - 2 * DAY, DAY, 1); // 3 x bantime not over: bips stays
    ban(&db, "retired", "192.0.2.4", now - 10 * DAY, 600, 1);
    db.update_log("retired", "/var/log/retired.log", Some("h"), 10)
        .unwrap();
    db.update_log("sshd", "/var/log/auth.log", Some("h"), 20)
        .unwrap();
    db.del_jail("retired").unwrap();
    db.close().unwrap();

    let theirs = dir.file("theirs.sqlite3");
    std::fs::copy(&ours, &theirs).unwrap();
    let before = size(&ours);
    assert!(before > 4_000_000, "a big file to start with: {before}");

    let db = Database::open(&ours).unwrap();
    let purged = db.purge(now as f64, DEFAULT_PURGE_AGE).unwrap();
    assert_eq!(purged.bans, 1503);
    assert_eq!(purged.bips, 1501);
    assert_eq!(purged.jails, 1);
    assert!(purged.vacuumed);
    // The WAL was folded in and truncated: the main file is already small
    // while the database is open.
    assert!(size(&ours) < before / 20, "{} -> {}", before, size(&ours));
    let again = db.purge(now as f64, DEFAULT_PURGE_AGE).unwrap();
    assert_eq!((again.bans, again.bips, again.jails), (0, 0, 0));
    assert!(!again.vacuumed, "nothing freed, nothing to vacuum");
    db.close().unwrap();
    assert!(size(&ours) < before / 20, "{} -> {}", before, size(&ours));

    python(PURGE, &[theirs.to_str().unwrap(), &now.to_string()]);
    for t in ["jails", "logs", "bans", "bips"] {
        assert_eq!(
            table_rows(&ours, t),
            table_rows(&theirs, t),
            "{t} after purge"
        );
    }
    let bips: Vec<String> = table_rows(&ours, "bips")
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
    assert_eq!(bips, ["192.0.2.1", "192.0.2.2", "192.0.2.3"]);
    let logs: Vec<String> = table_rows(&ours, "logs")
        .into_iter()
        .map(|r| r[1].clone())
        .collect();
    assert_eq!(
        logs,
        ["/var/log/auth.log"],
        "the retired jail's log went with it"
    );
    assert!(size(&ours) < size(&theirs) / 10, "fail2ban does not vacuum");
}
