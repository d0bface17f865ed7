//! Log watching: following log files the way fail2ban's file backends do
//! (`auto`, `polling`, `pyinotify`), and the systemd journal (`systemd`).
//!
//! - [`FileTail`]: one file: head/tail start, complete lines only, decoding
//!   with `logencoding`, over-long lines skipped, rotation by rename+create
//!   and by copytruncate without losing or re-reading lines, the position
//!   and first-line hash fail2ban's database keeps.
//! - [`Watcher`]: the files of every jail behind one inotify instance (or
//!   polled), shaped for the server's single `poll(2)` loop.
//! - [`journal`]: the journal through `journalctl -o json`, entries formatted
//!   as fail2ban's `filtersystemd` formats them.

pub mod backend;
pub mod encoding;
pub mod error;
pub mod inotify;
pub mod journal;
mod reader;
pub mod sha1;
pub mod tail;
pub mod watcher;

pub use backend::Backend;
pub use encoding::Encoding;
pub use error::WatchError;
pub use tail::{
    FileTail, FileTailBuilder, StartAt, DEFAULT_MAX_LINE, DEFAULT_READ_BUDGET, DEFAULT_RETIRE_IDLE,
};
pub use watcher::{FileId, FileOptions, JailId, Lines, Watcher, WatcherBuilder};
