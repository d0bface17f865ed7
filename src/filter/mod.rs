//! The filter engine shared by the server and `fail2ban-regex`: fail2ban's
//! regex tags and Python regex dialect, date detection, multi-line buffers,
//! and failure extraction, configured from command-stream options.

pub mod backtrack;
pub mod builder;
pub mod clock;
pub mod date;
pub mod engine;
pub mod failure;
pub mod host;
pub mod lookahead;
pub mod matcher;
mod mlfid;
pub mod pyregex;
pub mod regex;
pub mod tags;

pub use builder::{apply_command, FilterBuilder, FilterConfigError};
pub use engine::{Clock, Filter, LineOutcome, MatchOptions};
pub use failure::{field_name, FailData, Failure, FieldName, Fields, Stamp, TupleLine};
pub mod tool;
