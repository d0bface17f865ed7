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
//! Crash safety: the file is in WAL mode with `synchronous = FULL`, so a
//! call that returned has reached the disk, and a crash mid-write leaves the
//! last committed state. Bad files are refused with a [`DbError`], never
//! "repaired" by starting afresh as fail2ban does.
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

pub use bans::Restore;
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
        // and FULL makes every commit durable before the call returns (the
        // server stores a ban before its action runs). fail2ban opening the
        // file later switches it back to its own journal mode, harmlessly.
        if !memory {
            c.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
                .map_err(fail)?;
        }
        c.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON")
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
