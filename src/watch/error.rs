//! The errors of log watching. Each reads as a sentence naming the file.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Why a log could not be watched.
#[derive(Debug)]
pub enum WatchError {
    /// `logencoding` names a codec we do not have.
    UnknownEncoding(String),
    /// `backend` names nothing we know.
    UnknownBackend(String),
    /// The kernel refused an inotify instance (and the backend asked for it).
    Inotify(io::Error),
    /// A file or directory could not be opened, read or watched.
    Io { path: PathBuf, source: io::Error },
    /// `journalctl` could not be started or read.
    Journal(String),
}

impl WatchError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> WatchError {
        WatchError::Io {
            path: path.into(),
            source,
        }
    }
}

impl fmt::Display for WatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WatchError::UnknownEncoding(e) => write!(f, "unknown log encoding {e:?}"),
            WatchError::UnknownBackend(b) => write!(f, "unknown backend {b:?}"),
            WatchError::Inotify(e) => write!(f, "cannot create an inotify instance: {e}"),
            WatchError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            WatchError::Journal(e) => write!(f, "cannot read the systemd journal: {e}"),
        }
    }
}

impl std::error::Error for WatchError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            WatchError::Inotify(e) | WatchError::Io { source: e, .. } => Some(e),
            _ => None,
        }
    }
}
