//! Older schemas open and are brought to version 4 without losing a row:
//! fail2ban's own version 1 and 2 files (shipped with Debian's fail2ban as
//! test data) and a version 3 file made here with SQL, each upgraded once
//! by fail2ban and once by ours, must end with the same rows. A newer
//! schema is refused and left untouched.

mod db_common;

use db_common::*;
use ferroban::db::{Database, DbError, Restore, SCHEMA_VERSION};
use std::path::{Path, PathBuf};

const SHIPPED: &str = "/usr/lib/python3/dist-packages/fail2ban/tests/files";

const UPGRADE: &str = r#"
db = Fail2BanDb(sys.argv[1])
db.close()
"#;

const TABLES: [&str; 5] = ["fail2banDb", "jails", "logs", "bans", "bips"];

/// Copies `src` to `dir/name`.
fn copy(src: &Path, dir: &Scratch, name: &str) -> PathBuf {
    let dst = dir.file(name);
    std::fs::copy(src, &dst).unwrap();
    dst
}

fn shipped(name: &str) -> PathBuf {
    require_reference();
    let p = Path::new(SHIPPED).join(name);
    assert!(p.exists(), "{} ships with Debian's fail2ban", p.display());
    p
}

/// Upgrades one copy with fail2ban and one with ours; returns both paths
/// and our database.
fn both_upgrade(src: &Path, dir: &Scratch) -> (PathBuf, PathBuf, Database) {
    let theirs = copy(src, dir, "theirs.sqlite3");
    let ours = copy(src, dir, "ours.sqlite3");
    python(UPGRADE, &[theirs.to_str().unwrap()]);
    let db = Database::open(&ours).expect("upgrade");
    (theirs, ours, db)
}

fn count(path: &Path, table: &str) -> usize {
    table_rows(path, table).len()
}

/// The columns a table has, in order.
fn columns(path: &Path, table: &str) -> Vec<String> {
    let c = rusqlite::Connection::open(path).unwrap();
    let st = c.prepare(&format!("SELECT * FROM {table}")).unwrap();
    st.column_names().map(str::to_string).collect()
}

fn assert_same_rows(theirs: &Path, ours: &Path) {
    for t in TABLES {
        assert_eq!(columns(ours, t), columns(theirs, t), "columns of {t}");
        assert_eq!(table_rows(ours, t), table_rows(theirs, t), "rows of {t}");
    }
}

#[test]
fn version_1_upgrades_as_fail2ban_does() {
    let src = shipped("database_v1.db");
    let dir = Scratch::new("v1");
    let (theirs, ours, db) = both_upgrade(&src, &dir);
    assert_eq!(db.upgraded_from(), Some(1));
    let backup = db.backup_path().expect("a backup").to_path_buf();
    db.close().unwrap();
    assert_same_rows(&theirs, &ours);
    assert_eq!(
        table_rows(&ours, "fail2banDb"),
        [[SCHEMA_VERSION.to_string()]]
    );
    for t in ["jails", "logs", "bans"] {
        assert_eq!(count(&ours, t), count(&src, t), "no {t} row lost");
    }
    assert_eq!(count(&ours, "logs"), 3);
    // The backup is the file as it was.
    for t in ["fail2banDb", "jails", "logs", "bans"] {
        assert_eq!(table_rows(&backup, t), table_rows(&src, t), "backup of {t}");
    }
    let name = backup.file_name().unwrap().to_str().unwrap();
    assert!(
        name.starts_with("ours.sqlite3.") && name.len() == "ours.sqlite3.".len() + 15,
        "fail2ban's backup name: {name}"
    );
}

#[test]
fn version_2_upgrades_and_its_bans_restore_with_the_jail_bantime() {
    let src = shipped("database_v2.db");
    let dir = Scratch::new("v2");
    let (theirs, ours, db) = both_upgrade(&src, &dir);
    assert_eq!(db.upgraded_from(), Some(2));
    assert_same_rows(&theirs, &ours);
    assert_eq!(count(&ours, "bans"), count(&src, "bans"));
    assert_eq!(count(&ours, "bans"), 2);
    assert_eq!(count(&ours, "bips"), 2);
    assert_eq!(
        db.get_log("pam-generic", "/var/log/auth.log")
            .unwrap()
            .map(|p| p.pos),
        Some(46771)
    );

    // Version 2 bans have no length (-2): restored with the jail's bantime,
    // as fail2ban restores them from its own upgraded copy.
    let at = 1_417_596_235 + 10;
    let py = python_json(
        r#"
db = Fail2BanDb(sys.argv[1])
dump(db.getCurrentBans(jail=Jail("pam-generic", 600), forbantime=600,
                       fromtime=int(sys.argv[2]), maxmatches=10))
db.close()
"#,
        &[theirs.to_str().unwrap(), &at.to_string()],
    );
    let mine: Vec<Ban> = db
        .current_bans(Some("pam-generic"), at as f64, &Restore::jail(600, 10))
        .unwrap()
        .iter()
        .map(our_ban)
        .collect();
    let theirs: Vec<Ban> = list(&py).iter().map(py_ban).collect();
    assert_eq!(mine, theirs);
    assert_eq!(mine.len(), 1, "one of the two bans is within bantime");
    assert_eq!((mine[0].0.as_str(), mine[0].2), ("1.2.3.8", 600));
    assert_eq!(mine[0].4.len(), 3);
}

/// Makes a version 3 file from fail2ban's version 2 one: `bans` gains its
/// length and count (what version 3 added), without `bips`.
fn make_v3(dir: &Scratch) -> PathBuf {
    let p = copy(&shipped("database_v2.db"), dir, "v3.sqlite3");
    let c = rusqlite::Connection::open(&p).unwrap();
    c.execute_batch(
        "BEGIN;
         ALTER TABLE bans RENAME TO bans_v2;
         CREATE TABLE bans(jail TEXT NOT NULL, ip TEXT, timeofban INTEGER NOT NULL,
             bantime INTEGER NOT NULL, bancount INTEGER NOT NULL default 1, data JSON,
             FOREIGN KEY(jail) REFERENCES jails(name));
         INSERT INTO bans SELECT jail, ip, timeofban, 3600, 2, data FROM bans_v2;
         DROP TABLE bans_v2;
         CREATE INDEX bans_jail_timeofban_ip ON bans(jail, timeofban);
         CREATE INDEX bans_jail_ip ON bans(jail, ip);
         CREATE INDEX bans_ip ON bans(ip);
         INSERT INTO bans VALUES('pam-generic', '1.2.3.8', 1417600000, 7200, 3, '{\"failures\": 4}');
         UPDATE fail2banDb SET version = 3;
         COMMIT;",
    )
    .unwrap();
    p
}

#[test]
fn version_3_upgrades_and_bips_keeps_the_latest_ban() {
    let dir = Scratch::new("v3");
    let src = make_v3(&dir);
    let (theirs, ours, db) = both_upgrade(&src, &dir);
    assert_eq!(db.upgraded_from(), Some(3));
    assert_same_rows(&theirs, &ours);
    assert_eq!(count(&ours, "bans"), 3, "every ban kept");
    let latest = table_rows(&ours, "bips");
    assert_eq!(latest.len(), 2);
    assert_eq!(
        latest[1][..5],
        ["1.2.3.8", "pam-generic", "1417600000", "7200", "3"]
    );
    let h = db
        .ban_history("1.2.3.8", ferroban::db::Scope::Jail("pam-generic"))
        .unwrap()
        .unwrap();
    assert_eq!(
        (h.ban_count, h.time_of_ban, h.ban_time),
        (3, 1_417_600_000, 7200)
    );
}

#[test]
fn rows_fail2ban_would_choke_on_are_kept() {
    // A ban without an address cannot go to bips (which needs one), and a
    // log of a jail missing from `jails` breaks the foreign key: fail2ban's
    // upgrade gives up on the first ("Failed to fully update"). Ours keeps
    // both rows and upgrades.
    let dir = Scratch::new("odd");
    let src = make_v3(&dir);
    let c = rusqlite::Connection::open(&src).unwrap();
    // Bundled SQLite enforces foreign keys by default; the odd row needs
    // them off, as an old fail2ban had them.
    c.execute_batch(
        "PRAGMA foreign_keys = OFF;
         INSERT INTO bans VALUES('pam-generic', NULL, 1417600001, 600, 1, NULL);
         INSERT INTO logs VALUES('vanished', '/var/log/x.log', 'abc', 7);",
    )
    .unwrap();
    drop(c);
    let before: Vec<_> = ["jails", "logs", "bans"]
        .iter()
        .map(|t| table_rows(&src, t))
        .collect();
    let db = Database::open(&src).expect("upgrade");
    assert_eq!(db.upgraded_from(), Some(3));
    db.close().unwrap();
    let after: Vec<_> = ["jails", "logs", "bans"]
        .iter()
        .map(|t| table_rows(&src, t))
        .collect();
    assert_eq!(after, before);
    assert_eq!(count(&src, "bips"), 2);
}

#[test]
fn a_newer_schema_is_refused_and_left_untouched() {
    let dir = Scratch::new("newer");
    let path = dir.file("f.sqlite3");
    Database::open(&path).unwrap().close().unwrap();
    let c = rusqlite::Connection::open(&path).unwrap();
    c.execute("UPDATE fail2banDb SET version = 5", []).unwrap();
    drop(c);
    let bytes = std::fs::read(&path).unwrap();
    let err = Database::open(&path).unwrap_err();
    assert!(
        matches!(
            err,
            DbError::NewerVersion {
                found: 5,
                supported: 4,
                ..
            }
        ),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("schema version 5") && msg.ends_with('.'),
        "{msg}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), bytes, "file untouched");
    assert_eq!(
        std::fs::read_dir(&dir.0).unwrap().count(),
        1,
        "no backup, no WAL"
    );
}
