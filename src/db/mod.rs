//! The persistent database (fail2ban's `Fail2BanDb`): an SQLite file in
//! fail2ban 1.0.2's schema (version 4), so fail2ban and ferroban can each
//! read the file the other wrote.
//!
//! What the server keeps there: the jails (`add_jail`, `del_jail`), where
//! each log was left (`get_log`, `update_log`), every ban (`add_ban`, before
//! the ban's actions run), the bans still active at start (`current_bans`),
//! and the ban history bantime.increment reads (`ban_history`). `purge`
//! drops old rows and gives the space back.
//!
//! Crash safety: the file is in WAL mode, so a crash mid-write leaves the
//! last committed state and every returned call survives the process dying.
//! Bans (and unbans) are also synced to the disk before the call returns
//! (`synchronous = FULL` for them), so they survive a power cut; log
//! positions, written far more often, are not (`NORMAL`): after a power cut
//! a few lines may be read twice. Bad files are refused with a [`DbError`],
//! never "repaired" by starting afresh as fail2ban does.
//!
//! How the server uses it:
//! - start: `Database::open(dbfile)` (see [`DbFile`]), `set_max_matches`
//!   (`dbmaxmatches`), `del_all_jails`, then per jail `add_jail`,
//!   `current_bans(Some(jail), now, &Restore::…)` to ban again (the records'
//!   `to_ticket` are marked restored: not stored again), and per log
//!   `get_log` + `LogPosition::resume_at(tail.first_line_hash())`;
//! - while running: `update_log` after reading, `ban_history` for
//!   bantime.increment, `add_ban` before a ban is logged and its actions
//!   run (after the ban manager counted it; `add_bans` for the bans of one
//!   batch of log lines, in one transaction), `bans_merged` for the `<ipmatches>`-like
//!   action tags, `del_ban` on `unbanip` (`del_bans` on `unban --all`;
//!   expiry deletes nothing), and `purge(now, dbpurgeage)` every hour as
//!   fail2ban does;
//! - jail stop: `del_jail`; server stop: `close`.
//!
//! The module knows nothing of the server: it takes names, addresses and
//! times, and converts to and from [`crate::ban::BanTicket`] on request.

mod bans;
mod error;
mod json;
mod logs;
mod purge;
mod read;
mod record;
mod schema;

pub use bans::{MergedBans, Restore};
pub use error::DbError;
pub use json::{from_json, to_json};
pub use purge::Purged;
pub use record::{round_time, BanHistory, BanRecord, JournalPosition, LogPosition, Scope};
pub use schema::VERSION as SCHEMA_VERSION;

use rusqlite::{Connection, ErrorCode, OpenFlags};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// fail2ban's default `dbfile`.
pub const DEFAULT_DBFILE: &str = "/var/lib/fail2ban/fail2ban.sqlite3";
/// The `dbfile` value for a database that lives in memory only.
pub const MEMORY: &str = ":memory:";
/// fail2ban's default `dbpurgeage` (one day).
pub const DEFAULT_PURGE_AGE: i64 = 86_400;
/// fail2ban's default `dbmaxmatches`.
pub const DEFAULT_MAX_MATCHES: usize = 10;

/// Logger name, as fail2ban's.
const LOG: &str = "fail2ban.database";

/// What a `dbfile` value asks for.
#[derive(Clone, Debug, PartialEq)]
pub enum DbFile {
    /// `None` (any case): no database.
    None,
    /// `:memory:`: a database that ends with the server.
    Memory,
    Path(PathBuf),
}

impl DbFile {
    /// Opens what the value asks for: `None` for no database.
    pub fn open(&self) -> Result<Option<Database>, DbError> {
        match self {
            DbFile::None => Ok(None),
            DbFile::Memory => Database::open(MEMORY).map(Some),
            DbFile::Path(p) => Database::open(p).map(Some),
        }
    }

    pub fn parse(value: &str) -> DbFile {
        if value.eq_ignore_ascii_case("none") {
            DbFile::None
        } else if value == MEMORY {
            DbFile::Memory
        } else {
            DbFile::Path(PathBuf::from(value))
        }
    }
}

/// An open database.
#[derive(Debug)]
pub struct Database {
    conn: Connection,
    /// As given (`get dbfile` answers with it).
    filename: String,
    max_matches: usize,
    upgraded_from: Option<i64>,
    backup: Option<PathBuf>,
}

/// Maps SQLite's verdict on a file to the error that names it.
fn classify(path: &Path, e: rusqlite::Error) -> DbError {
    match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => DbError::NotADatabase { path: path.into() },
        Some(ErrorCode::DatabaseCorrupt) => DbError::Corrupt {
            path: path.into(),
            detail: e.to_string(),
        },
        _ => DbError::Open {
            path: path.into(),
            source: e,
        },
    }
}

impl Database {
    /// Opens `file` (`:memory:` for a database in memory), creating it (and
    /// its directory) when missing and upgrading an older fail2ban schema
    /// after a backup copy `FILE.YYYYmmdd-HHMMSS`, as fail2ban names it.
    pub fn open(file: impl AsRef<Path>) -> Result<Database, DbError> {
        let path = file.as_ref();
        let memory = path.as_os_str() == MEMORY;
        let conn = if memory {
            Connection::open_in_memory().map_err(|e| classify(path, e))?
        } else {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|source| DbError::Directory {
                    path: dir.into(),
                    source,
                })?;
            }
            Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_WRITE
                    | OpenFlags::SQLITE_OPEN_CREATE
                    | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(|e| classify(path, e))?
        };
        let mut db = Database {
            conn,
            filename: path.to_string_lossy().into_owned(),
            max_matches: DEFAULT_MAX_MATCHES,
            upgraded_from: None,
            backup: None,
        };
        db.prepare(path, memory)?;
        Ok(db)
    }

    fn prepare(&mut self, path: &Path, memory: bool) -> Result<(), DbError> {
        let c = &self.conn;
        let fail = |e| classify(path, e);
        // fail2ban itself may hold the file for a moment (a backup, a
        // `fail2ban-client` run against a copy); wait instead of failing.
        c.busy_timeout(Duration::from_secs(10)).map_err(fail)?;
        // The first read of the header: a file that is not SQLite fails here.
        let tables = schema::table_names(c).map_err(fail)?;
        if !memory {
            // A damaged page may sit anywhere; finding it now gives one clear
            // error instead of failures later in the middle of a ban. The
            // file is small (purged), so the check is cheap.
            let problems: Vec<String> = c
                .prepare("PRAGMA quick_check(5)")
                .and_then(|mut st| {
                    st.query_map([], |r| r.get::<_, String>(0))?
                        .collect::<rusqlite::Result<_>>()
                })
                .map_err(fail)?;
            if problems.first().map(String::as_str) != Some("ok") {
                return Err(DbError::Corrupt {
                    path: path.into(),
                    detail: problems.join("; "),
                });
            }
        }
        // Decide before writing anything, so a refused file stays untouched.
        let version = if tables.is_empty() {
            None
        } else if !tables.iter().any(|t| t == "fail2banDb") {
            return Err(DbError::Foreign {
                path: path.into(),
                tables,
            });
        } else {
            match schema::stored_version(c).map_err(fail)? {
                None => return Err(DbError::NoVersion { path: path.into() }),
                Some(v) if v > schema::VERSION => {
                    return Err(DbError::NewerVersion {
                        path: path.into(),
                        found: v,
                        supported: schema::VERSION,
                    })
                }
                Some(v) => Some(v),
            }
        };
        // WAL: a writer never leaves a half-written page in the main file,
        // and a commit is safe from a process crash once it returns. NORMAL
        // skips the sync per commit; bans ask for FULL (`durably`). fail2ban
        // opening the file later switches it back to its own journal mode,
        // harmlessly.
        if !memory {
            c.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
                .map_err(fail)?;
        }
        c.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON")
            .map_err(fail)?;
        match version {
            None => schema::create(c).map_err(fail)?,
            Some(schema::VERSION) => {}
            Some(from) => {
                if !memory {
                    self.backup = Some(self.take_backup(path)?);
                }
                schema::upgrade(&self.conn, from).map_err(|source| DbError::Upgrade {
                    path: path.into(),
                    from,
                    source,
                })?;
                log::warn!(target: LOG, "Database updated from '{from}' to '{}'", schema::VERSION);
                self.upgraded_from = Some(from);
            }
        }
        Ok(())
    }

    /// Copies the file before an upgrade. `VACUUM INTO` reads through
    /// SQLite, so the copy includes what is still only in the WAL.
    fn take_backup(&self, path: &Path) -> Result<PathBuf, DbError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let mut name = path.as_os_str().to_owned();
        name.push(".");
        name.push(schema::backup_suffix(now));
        let backup = PathBuf::from(name);
        // fail2ban keeps an existing backup of the same second too.
        if !backup.exists() {
            self.conn
                .execute("VACUUM INTO ?1", [backup.to_string_lossy()])
                .map_err(|source| DbError::Backup {
                    path: backup.clone(),
                    source,
                })?;
            log::info!(target: LOG, "  Database backup created: {}", backup.display());
        }
        Ok(backup)
    }

    /// Runs `f` with every commit synced to the disk before it returns: a
    /// ban stored before its action runs must survive a power cut too.
    pub(crate) fn durably<T>(
        &self,
        f: impl FnOnce() -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        self.conn.execute_batch("PRAGMA synchronous = FULL")?;
        let result = f();
        let restored = self.conn.execute_batch("PRAGMA synchronous = NORMAL");
        let value = result?;
        restored.map(|()| value)
    }

    /// The file name as given to `open`.
    pub fn filename(&self) -> &str {
        &self.filename
    }

    /// The schema version the file had, when `open` upgraded it.
    pub fn upgraded_from(&self) -> Option<i64> {
        self.upgraded_from
    }

    /// The copy taken before an upgrade.
    pub fn backup_path(&self) -> Option<&Path> {
        self.backup.as_deref()
    }

    /// `dbmaxmatches`: how many log lines a stored ban keeps (0: none).
    pub fn max_matches(&self) -> usize {
        self.max_matches
    }

    pub fn set_max_matches(&mut self, n: usize) {
        self.max_matches = n;
    }

    /// Adds a jail, or enables it again.
    pub fn add_jail(&self, name: &str) -> Result<(), DbError> {
        self.conn
            .execute(
                "INSERT INTO jails(name, enabled) VALUES(?1, 1)
                 ON CONFLICT(name) DO UPDATE SET enabled = 1 WHERE enabled != 1",
                [name],
            )
            .map_err(DbError::query("add a jail"))?;
        Ok(())
    }

    /// Marks a jail disabled; its rows stay until `purge` finds them old.
    pub fn del_jail(&self, name: &str) -> Result<(), DbError> {
        self.conn
            .execute("UPDATE jails SET enabled = 0 WHERE name = ?1", [name])
            .map_err(DbError::query("disable a jail"))?;
        Ok(())
    }

    /// Marks every jail disabled (fail2ban does it when the database is set,
    /// before the jails of the new configuration are added).
    pub fn del_all_jails(&self) -> Result<(), DbError> {
        self.conn
            .execute("UPDATE jails SET enabled = 0", [])
            .map_err(DbError::query("disable the jails"))?;
        Ok(())
    }

    /// The jail names, all or only the enabled (or disabled) ones, sorted.
    pub fn jail_names(&self, enabled: Option<bool>) -> Result<Vec<String>, DbError> {
        let what = DbError::query("list the jails");
        let mut st = self
            .conn
            .prepare("SELECT name FROM jails WHERE ?1 IS NULL OR (enabled != 0) = ?1 ORDER BY name")
            .map_err(&what)?;
        let rows = st
            .query_map([enabled], |r| r.get::<_, String>(0))
            .map_err(&what)?;
        rows.collect::<rusqlite::Result<_>>().map_err(what)
    }

    /// Closes the connection; in WAL mode the last close folds the WAL into
    /// the file, leaving one file as fail2ban expects.
    pub fn close(self) -> Result<(), DbError> {
        self.conn.close().map_err(|(_, source)| DbError::Query {
            what: "close",
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sync_level(db: &Database) -> i64 {
        db.conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn bans_are_synced_and_the_rest_is_not() {
        let dir = std::env::temp_dir().join(format!("ferroban-db-sync-{}", std::process::id()));
        let db = Database::open(dir.join("f.sqlite3")).unwrap();
        let mode: String = db
            .conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        assert_eq!(sync_level(&db), 1, "NORMAL");
        let inside = db.durably(|| Ok(sync_level(&db))).unwrap();
        assert_eq!(inside, 2, "FULL while a ban is stored");
        assert_eq!(sync_level(&db), 1);
        let failed: rusqlite::Result<()> = db.durably(|| Err(rusqlite::Error::QueryReturnedNoRows));
        assert!(failed.is_err());
        assert_eq!(sync_level(&db), 1, "restored after a failure too");
        db.close().unwrap();
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn dbfile_values() {
        assert_eq!(DbFile::parse("None"), DbFile::None);
        assert_eq!(DbFile::parse("NONE"), DbFile::None);
        assert_eq!(DbFile::parse(":memory:"), DbFile::Memory);
        assert_eq!(
            DbFile::parse(DEFAULT_DBFILE),
            DbFile::Path(DEFAULT_DBFILE.into())
        );
        assert!(DbFile::None.open().unwrap().is_none());
        let db = DbFile::Memory.open().unwrap().unwrap();
        assert_eq!(db.filename(), ":memory:");
    }
}
