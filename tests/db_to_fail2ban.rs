//! A database ours wrote is read by Debian's fail2ban (`Fail2BanDb`): the
//! same current bans, ban lists, history, jails and log positions, with no
//! upgrade and no backup on its side. And a ban is in the file as soon as
//! `add_ban` returns: another process sees it while ours still runs, and it
//! survives our process dying right after.

mod db_common;

use db_common::*;
use ferroban::ban::BanTicket;
use ferroban::db::{BanRecord, Database, Restore};
use ferroban::watch::FileTail;
use std::path::Path;

const READ: &str = r#"
from fail2ban.server.filter import FileContainer
path, now, authlog = sys.argv[1], int(sys.argv[2]), sys.argv[3]
MyTime.setTime(now)
db = Fail2BanDb(path)
sshd, postfix = Jail("sshd", 600), Jail("postfix", 3600)
dump({
    "all": db.getCurrentBans(fromtime=now, correctBanTime=False),
    "sshd": db.getCurrentBans(jail=sshd, forbantime=600, fromtime=now, maxmatches=10),
    "bans_sshd": db.getBans(jail=sshd),
    "bans_postfix": db.getBans(jail=postfix),
    "history": [list(r) for r in db.getBan("192.0.2.1", overalljails=True)],
    "log": db.addLog(sshd, FileContainer(authlog, "utf-8")),
    "journal": db.getJournalPos(sshd, "systemd-journal"),
    "jails": [r[0] for r in rows(db, "SELECT name FROM jails WHERE enabled = 1 ORDER BY name")],
    "version": rows(db, "SELECT version FROM fail2banDb"),
})
db.close()
"#;

/// Only reads, as a second process would while ours runs.
const PEEK: &str = r#"
path, now = sys.argv[1], int(sys.argv[2])
db = Fail2BanDb(path)
dump(db.getCurrentBans(fromtime=now, correctBanTime=False))
db.close()
"#;

fn ticket(ip: &str, time: f64, bantime: Option<i64>, matches: &[&str]) -> BanTicket {
    let mut t = BanTicket::manual(ip, time);
    t.bantime = bantime;
    t.ban_count = 1;
    t.attempts = matches.len() as u32;
    t.matches = matches.iter().map(|m| m.to_string()).collect();
    t
}

/// Writes the scenario; returns the database (still open) and the auth log.
fn write(dir: &Scratch, now: i64) -> (Database, std::path::PathBuf) {
    // A directory that does not exist yet, as /var/lib/fail2ban on a new host.
    let path = dir.file("lib/fail2ban/fail2ban.sqlite3");
    let mut db = Database::open(&path).expect("create a new database");
    db.set_max_matches(4);
    db.add_jail("sshd").unwrap();
    db.add_jail("postfix").unwrap();
    db.add_jail("gone").unwrap();
    db.del_jail("gone").unwrap();
    let n = now as f64;
    for (jail, t, default) in [
        (
            "sshd",
            ticket("192.0.2.1", n - 100.0, None, &["a", "b", "c"]),
            600,
        ),
        (
            "sshd",
            ticket("192.0.2.9", n - 100_000.0, Some(-1), &["x"]),
            600,
        ),
        ("sshd", ticket("192.0.2.8", n - 5000.0, None, &["old"]), 600),
        (
            "postfix",
            ticket("192.0.2.1", n - 50.0, Some(3600), &["p"]),
            3600,
        ),
    ] {
        db.add_ban(&BanRecord::from_ticket(jail, &t, default))
            .unwrap();
    }
    let lines: Vec<String> = (0..15).map(|i| format!("é line {i} \"quoted\"")).collect();
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    let mut alice = ticket("198.51.100.7", n - 10.0, None, &lines);
    alice.fid = "alice".into();
    alice.ban_count = 2;
    alice.data = vec![("user".into(), "alice".into())];
    db.add_ban(&BanRecord::from_ticket("postfix", &alice, 3600))
        .unwrap();

    let auth = dir.file("auth.log");
    std::fs::write(&auth, "Nov 25 10:00:00 host sshd[1]: one\ntwo\n").unwrap();
    let tail = FileTail::builder().open(&auth).unwrap();
    let len = std::fs::metadata(&auth).unwrap().len();
    db.update_log(
        "sshd",
        auth.to_str().unwrap(),
        Some(tail.first_line_hash()),
        len,
    )
    .unwrap();
    db.update_journal(
        "sshd",
        "systemd-journal",
        n - 5.5,
        Some("2026-11-25T10:00:00"),
    )
    .unwrap();
    (db, auth)
}

#[test]
fn fail2ban_reads_what_we_wrote() {
    let dir = Scratch::new("to");
    let now = now();
    let (db, auth) = write(&dir, now);
    let path = dir.file("lib/fail2ban/fail2ban.sqlite3");
    let restore_all = Restore {
        for_ban_time: None,
        max_ban_time: None,
        unknown_ban_time: 600,
        max_matches: 10,
    };
    let ours_all: Vec<Ban> = db
        .current_bans(None, now as f64, &restore_all)
        .unwrap()
        .iter()
        .map(our_ban)
        .collect();
    let ours_sshd: Vec<Ban> = db
        .current_bans(Some("sshd"), now as f64, &Restore::jail(600, 10))
        .unwrap()
        .iter()
        .map(our_ban)
        .collect();
    db.close().unwrap();
    let files: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(files, ["fail2ban.sqlite3"], "closing leaves one file");

    let py = python_json(
        READ,
        &[
            path.to_str().unwrap(),
            &now.to_string(),
            auth.to_str().unwrap(),
        ],
    );
    let theirs = |k: &str| -> Vec<Ban> { list(get(&py, k)).iter().map(py_ban).collect() };
    assert_eq!(theirs("all"), ours_all);
    assert_eq!(theirs("sshd"), ours_sshd);
    let ips: Vec<String> = ours_all.iter().map(|b| b.0.clone()).collect();
    assert_eq!(ips, ["192.0.2.1", "192.0.2.9", "alice"]);
    let alice = &ours_all[2];
    assert_eq!((alice.2, alice.3, alice.5), (3600, 2, 15));
    assert_eq!(
        alice.4,
        (11..15)
            .map(|i| format!("é line {i} \"quoted\""))
            .collect::<Vec<_>>(),
        "dbmaxmatches 4 kept the last four lines"
    );
    assert_eq!(ours_sshd.len(), 1, "permanent but older than bantime");

    let bans =
        |k: &str| -> Vec<(String, i64)> { theirs(k).into_iter().map(|b| (b.0, b.1)).collect() };
    assert_eq!(
        bans("bans_sshd"),
        [
            ("192.0.2.1".to_string(), now - 100),
            ("192.0.2.8".to_string(), now - 5000),
            ("192.0.2.9".to_string(), now - 100_000)
        ]
    );
    assert_eq!(
        bans("bans_postfix"),
        [
            ("192.0.2.1".to_string(), now - 50),
            ("alice".to_string(), now - 10)
        ]
    );
    let alice_data = get(&list(get(&py, "bans_postfix"))[1], "data");
    assert_eq!(text(get(alice_data, "ip")), "198.51.100.7");
    assert_eq!(text(get(alice_data, "user")), "alice");

    let hist = list(get(&py, "history"));
    let h = list(&hist[0]);
    assert_eq!(
        (int(&h[0]), int(&h[1]), int(&h[2])),
        (2, now - 50, 4200),
        "two bans, the latest, lengths summed"
    );
    assert_eq!(
        int(get(&py, "log")),
        std::fs::metadata(&auth).unwrap().len() as i64
    );
    match get(&py, "journal") {
        ferroban::stream::Value::Float(t) => assert_eq!(*t, now as f64 - 5.5),
        other => panic!("journal time {other:?}"),
    }
    let jails: Vec<String> = list(get(&py, "jails")).iter().map(text).collect();
    assert_eq!(jails, ["postfix", "sshd"]);
    assert_eq!(table_rows(&path, "fail2banDb"), [["4"]]);
    let files = std::fs::read_dir(path.parent().unwrap()).unwrap().count();
    assert_eq!(files, 1, "fail2ban neither upgraded nor backed up our file");

    // And back: fail2ban's visit left the file as ours reads it.
    let db = Database::open(&path).unwrap();
    assert_eq!(db.upgraded_from(), None);
    let again: Vec<Ban> = db
        .current_bans(None, now as f64, &restore_all)
        .unwrap()
        .iter()
        .map(our_ban)
        .collect();
    assert_eq!(again, ours_all);
}

#[test]
fn a_ban_is_visible_to_another_process_once_add_ban_returns() {
    let dir = Scratch::new("visible");
    let now = now();
    let (db, _) = write(&dir, now);
    let path = dir.file("lib/fail2ban/fail2ban.sqlite3");
    let peek = || -> Vec<String> {
        let v = python_json(PEEK, &[path.to_str().unwrap(), &now.to_string()]);
        list(&v).iter().map(|t| py_ban(t).0).collect()
    };
    assert_eq!(peek(), ["192.0.2.1", "192.0.2.9", "alice"]);
    let t = ticket("203.0.113.4", now as f64, None, &["new"]);
    db.add_ban(&BanRecord::from_ticket("sshd", &t, 600))
        .unwrap();
    // Our connection is still open: the ban is on disk, not in our cache.
    assert_eq!(peek(), ["192.0.2.1", "192.0.2.9", "203.0.113.4", "alice"]);
    db.del_ban("sshd", "203.0.113.4").unwrap();
    assert_eq!(peek(), ["192.0.2.1", "192.0.2.9", "alice"]);
    db.close().unwrap();
}

/// Set for the child of `a_ban_survives_the_process_dying`: the file to ban in.
const CRASH_ENV: &str = "FERROBAN_DB_CRASH_FILE";

/// Stores a ban and checks it through a second connection; as the child of
/// `a_ban_survives_the_process_dying` it aborts instead, right after
/// `add_ban` returned, without closing anything.
#[test]
fn crash_child() {
    let scratch;
    let path = match std::env::var_os(CRASH_ENV) {
        Some(p) => std::path::PathBuf::from(p),
        None => {
            scratch = Scratch::new("crash-child");
            scratch.file("f.sqlite3")
        }
    };
    let db = Database::open(&path).unwrap();
    db.add_jail("sshd").unwrap();
    let t = ticket("192.0.2.77", now() as f64, Some(-1), &["boom"]);
    db.add_ban(&BanRecord::from_ticket("sshd", &t, 600))
        .unwrap();
    if std::env::var_os(CRASH_ENV).is_some() {
        std::process::abort();
    }
    let other = Database::open(&path).unwrap();
    assert_eq!(other.bans(Some("sshd"), None).unwrap().len(), 1);
}

#[test]
fn a_ban_survives_the_process_dying() {
    let dir = Scratch::new("crash");
    let path = dir.file("f.sqlite3");
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["crash_child", "--exact", "--nocapture", "--test-threads=1"])
        .env(CRASH_ENV, &path)
        .output()
        .unwrap();
    assert!(!out.status.success(), "the child must have died");
    assert!(
        Path::new(&format!("{}-wal", path.display())).exists(),
        "the child died with the WAL still there"
    );
    let db = Database::open(&path).unwrap();
    let bans = db.bans(None, None).unwrap();
    assert_eq!(bans.len(), 1, "the ban stored before the crash is there");
    assert_eq!((bans[0].ip.as_str(), bans[0].ban_time), ("192.0.2.77", -1));
    let current = db
        .current_bans(
            Some("sshd"),
            now() as f64,
            &Restore::increment(600, None, 10),
        )
        .unwrap();
    assert_eq!(current.len(), 1);
}

#[test]
fn the_data_column_holds_the_bytes_fail2ban_writes() {
    let dir = Scratch::new("bytes");
    let theirs = dir.file("theirs.sqlite3");
    python(
        r#"
db = Fail2BanDb(sys.argv[1])
j = Jail("sshd", 600)
db.addJail(j)
t = BanTicket("192.0.2.50", 1700000000, ["é \"a\"\\", "b\tc"], data={"user": "root"})
t.setAttempt(2)
t.setBanCount(1, always=True)
db.addBan(j, t)
db.close()
"#,
        &[theirs.to_str().unwrap()],
    );
    let ours = dir.file("ours.sqlite3");
    let db = Database::open(&ours).unwrap();
    let mut t = ticket("192.0.2.50", 1_700_000_000.0, None, &["é \"a\"\\", "b\tc"]);
    t.attempts = 2;
    t.data = vec![("user".into(), "root".into())];
    db.add_ban(&BanRecord::from_ticket("sshd", &t, 600))
        .unwrap();
    db.close().unwrap();
    let row = |p: &Path| -> (String, Vec<u8>) {
        let c = rusqlite::Connection::open(p).unwrap();
        c.query_row("SELECT typeof(data), data FROM bips", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap()
    };
    let (kind, bytes) = row(&ours);
    assert_eq!(kind, "blob", "fail2ban under Python 3 stores bytes");
    assert_eq!((kind, bytes), row(&theirs));
    for t in ["bans", "bips"] {
        assert_eq!(table_rows(&ours, t), table_rows(&theirs, t), "{t}");
    }
}
