//! The errors of the persistent database. Each reads as a sentence naming the
//! file, so the server can log it as it is; none of them is ever a panic, and
//! none is answered by deleting or recreating the file (fail2ban "repairs" a
//! broken database by starting a new one, which loses every ban in it).

use std::fmt;
use std::path::PathBuf;

/// Why the database could not be opened or used.
#[derive(Debug)]
pub enum DbError {
    /// The file (or its directory) could not be created, opened or read.
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    /// The file exists but is not an SQLite database at all.
    NotADatabase { path: PathBuf },
    /// SQLite's own check found damaged pages.
    Corrupt { path: PathBuf, detail: String },
    /// An SQLite database with tables, but not fail2ban's.
    Foreign { path: PathBuf, tables: Vec<String> },
    /// fail2ban's tables without a schema version.
    NoVersion { path: PathBuf },
    /// A schema written by a newer fail2ban (or ferroban) than this one.
    NewerVersion {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    /// An older schema that could not be brought forward; the file is left as
    /// it was (the upgrade is one transaction).
    Upgrade {
        path: PathBuf,
        from: i64,
        source: rusqlite::Error,
    },
    /// The database's directory could not be created.
    Directory {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The backup taken before an upgrade could not be written.
    Backup {
        path: PathBuf,
        source: rusqlite::Error,
    },
    /// A query or update failed; `what` says which operation.
    Query {
        what: &'static str,
        source: rusqlite::Error,
    },
}

impl DbError {
    pub(crate) fn query(what: &'static str) -> impl Fn(rusqlite::Error) -> DbError + Copy {
        move |source| DbError::Query { what, source }
    }
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DbError::Open { path, source } => write!(
                f,
                "Cannot open the database {}: {source}.",
                path.display()
            ),
            DbError::NotADatabase { path } => write!(
                f,
                "The file {} is not an SQLite database; it was left untouched.",
                path.display()
            ),
            DbError::Corrupt { path, detail } => write!(
                f,
                "The database {} is damaged ({detail}); it was left untouched.",
                path.display()
            ),
            DbError::Foreign { path, tables } => write!(
                f,
                "The database {} is not a fail2ban database (it has the tables {}); it was left untouched.",
                path.display(),
                tables.join(", ")
            ),
            DbError::NoVersion { path } => write!(
                f,
                "The database {} has fail2ban's tables but no schema version; it was left untouched.",
                path.display()
            ),
            DbError::NewerVersion {
                path,
                found,
                supported,
            } => write!(
                f,
                "The database {} has schema version {found}, newer than the version {supported} this program knows; it was left untouched.",
                path.display()
            ),
            DbError::Upgrade { path, from, source } => write!(
                f,
                "Cannot upgrade the database {} from schema version {from}: {source}; it was left as it was.",
                path.display()
            ),
            DbError::Directory { path, source } => write!(
                f,
                "Cannot create the directory {} for the database: {source}.",
                path.display()
            ),
            DbError::Backup { path, source } => write!(
                f,
                "Cannot write the backup {} before upgrading the database: {source}.",
                path.display()
            ),
            DbError::Query { what, source } => {
                write!(f, "The database failed to {what}: {source}.")
            }
        }
    }
}

impl std::error::Error for DbError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DbError::Open { source, .. }
            | DbError::Upgrade { source, .. }
            | DbError::Backup { source, .. }
            | DbError::Query { source, .. } => Some(source),
            DbError::Directory { source, .. } => Some(source),
            _ => None,
        }
    }
}
