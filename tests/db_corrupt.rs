//! Bad files give a typed error that reads as a sentence, never a panic, and
//! the file is left byte for byte as it was (fail2ban would move it aside and
//! start afresh, losing its bans). Unreadable rows are skipped, not fatal.

mod db_common;

use db_common::*;
use ferroban::ban::BanTicket;
use ferroban::db::{BanRecord, Database, DbError, Restore};
use std::path::Path;

fn sentence(e: &DbError) {
    let s = e.to_string();
    assert!(
        s.starts_with(char::is_uppercase) && s.ends_with('.'),
        "not a sentence: {s}"
    );
}

/// Opening must fail and leave the directory as it was.
fn refused(path: &Path) -> DbError {
    let dir = path.parent().unwrap();
    let before: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    let bytes = std::fs::read(path).unwrap();
    let err = Database::open(path).expect_err("a bad file must be refused");
    sentence(&err);
    assert!(err.to_string().contains(&path.display().to_string()));
    assert_eq!(std::fs::read(path).unwrap(), bytes, "file untouched");
    let after: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(after, before, "nothing created beside it");
    err
}

/// A database with enough bans to span many pages.
fn big(path: &Path) {
    let db = Database::open(path).unwrap();
    for i in 0..400 {
        let mut t = BanTicket::manual(&format!("10.0.{}.{}", i / 250, i % 250), 1e9);
        t.matches = vec![format!("{i} {}", "x".repeat(200))];
        db.add_ban(&BanRecord::from_ticket("sshd", &t, 600))
            .unwrap();
    }
    db.close().unwrap();
}

#[test]
fn a_file_that_is_not_sqlite_is_refused() {
    let dir = Scratch::new("notdb");
    let p = dir.file("f.sqlite3");
    let junk: Vec<u8> = (0..8192u32).map(|i| (i * 7919 % 251) as u8).collect();
    std::fs::write(&p, junk).unwrap();
    let err = refused(&p);
    assert!(matches!(err, DbError::NotADatabase { .. }), "{err:?}");
}

#[test]
fn damaged_pages_are_found_at_open() {
    let dir = Scratch::new("damaged");
    let p = dir.file("f.sqlite3");
    big(&p);
    let mut bytes = std::fs::read(&p).unwrap();
    assert!(bytes.len() > 40 * 4096, "many pages: {}", bytes.len());
    // Garbage over pages 10 to 20, keeping page 1 (the schema) readable.
    for (i, b) in bytes[10 * 4096..20 * 4096].iter_mut().enumerate() {
        *b = (i * 31 % 256) as u8;
    }
    std::fs::write(&p, &bytes).unwrap();
    let err = refused(&p);
    assert!(matches!(err, DbError::Corrupt { .. }), "{err:?}");
}

#[test]
fn a_truncated_file_is_refused() {
    let dir = Scratch::new("truncated");
    let p = dir.file("f.sqlite3");
    big(&p);
    let bytes = std::fs::read(&p).unwrap();
    std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
    let err = refused(&p);
    assert!(matches!(err, DbError::Corrupt { .. }), "{err:?}");
}

#[test]
fn other_databases_and_missing_versions_are_refused() {
    let dir = Scratch::new("foreign");
    let p = dir.file("app.sqlite3");
    let c = rusqlite::Connection::open(&p).unwrap();
    c.execute_batch("CREATE TABLE users(name TEXT); INSERT INTO users VALUES('x');")
        .unwrap();
    drop(c);
    let err = refused(&p);
    assert!(
        matches!(&err, DbError::Foreign { tables, .. } if tables == &["users"]),
        "{err:?}"
    );

    let q = dir.file("noversion.sqlite3");
    Database::open(&q).unwrap().close().unwrap();
    let c = rusqlite::Connection::open(&q).unwrap();
    c.execute("DELETE FROM fail2banDb", []).unwrap();
    drop(c);
    let err = refused(&q);
    assert!(matches!(err, DbError::NoVersion { .. }), "{err:?}");
}

#[test]
fn an_empty_file_becomes_a_new_database() {
    let dir = Scratch::new("empty");
    let p = dir.file("f.sqlite3");
    std::fs::write(&p, b"").unwrap();
    let db = Database::open(&p).unwrap();
    assert_eq!(db.jail_names(None).unwrap(), Vec::<String>::new());
    db.close().unwrap();
    assert_eq!(table_rows(&p, "fail2banDb"), [["4"]]);
}

#[test]
fn a_directory_that_cannot_be_made_is_an_error() {
    let dir = Scratch::new("nodir");
    std::fs::write(dir.file("plain"), b"x").unwrap();
    let err = Database::open(dir.file("plain/sub/f.sqlite3")).unwrap_err();
    assert!(matches!(err, DbError::Directory { .. }), "{err:?}");
    sentence(&err);
}

#[test]
fn unreadable_rows_are_skipped_and_kept() {
    let dir = Scratch::new("rows");
    let p = dir.file("f.sqlite3");
    let db = Database::open(&p).unwrap();
    let mut t = BanTicket::manual("192.0.2.1", 1e9);
    t.ban_count = 1;
    db.add_ban(&BanRecord::from_ticket("sshd", &t, -1)).unwrap();
    db.close().unwrap();
    let c = rusqlite::Connection::open(&p).unwrap();
    c.execute_batch(
        "INSERT INTO bips VALUES('', 'sshd', 1000000000, -1, 1, NULL);
         INSERT INTO bips VALUES('192.0.2.2', 'sshd', 'soon', -1, 1, NULL);
         INSERT INTO bips VALUES('192.0.2.3', 'sshd', 1000000000, 'long', 'many', x'7b6e6f74');
         INSERT INTO bips VALUES('192.0.2.4', 'sshd', 1000000000.5, -1, 2, '[1, 2]');
         INSERT INTO bips VALUES('192.0.2.5', 'sshd', 9223372036854775807, 10, 1, '{}');
         INSERT INTO logs VALUES('sshd', '/var/log/auth.log', NULL, 'middle');",
    )
    .unwrap();
    drop(c);
    let db = Database::open(&p).unwrap();
    let restore = Restore::increment(600, None, 10);
    let bans = db.current_bans(Some("sshd"), 2e9, &restore).unwrap();
    let got: Vec<(&str, i64, i64, u32)> = bans
        .iter()
        .map(|b| (b.ip.as_str(), b.time_of_ban, b.ban_time, b.ban_count))
        .collect();
    // '' and a time of 'soon' are no bans; 'long' is no length, and text
    // compares above any number, so neither fail2ban's condition nor ours
    // takes it for permanent. A start at the end of time overflows nothing.
    assert_eq!(
        got,
        [
            ("192.0.2.1", 1_000_000_000, -1, 1),
            ("192.0.2.4", 1_000_000_000, -1, 2),
            ("192.0.2.5", i64::MAX, 10, 1),
        ]
    );
    assert_eq!(bans[1].matches(), Vec::<String>::new());
    let log = db.get_log("sshd", "/var/log/auth.log").unwrap().unwrap();
    assert_eq!((log.hash, log.pos), (None, 0));
    db.close().unwrap();
    assert_eq!(table_rows(&p, "bips").len(), 6, "every row still there");
    // Extreme ages do not overflow either.
    let db = Database::open(&p).unwrap();
    let purged = db.purge(2e9, i64::MAX).unwrap();
    assert_eq!((purged.bans, purged.bips), (0, 0));
    db.purge(f64::MAX, 0).unwrap();
    db.close().unwrap();
}
