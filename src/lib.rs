//! ferroban: a drop-in replacement for fail2ban.
//!
//! The pipeline, as in fail2ban: the client reads the configuration tree
//! (`config`) and compiles it into a stream of commands (`stream`); the server
//! executes those commands and never reads configuration files itself. Inside
//! the server each jail watches its logs, runs every line through its filter
//! (`filter`: tags, regexes, dates), counts failures per host within findtime,
//! bans hosts that reach maxretry and runs the jail's action.d commands.

pub mod action;
pub mod ban;
pub mod cli;
pub mod client;
pub mod config;
pub mod db;
pub mod duration;
pub mod failure;
pub mod filter;
pub mod jail;
pub mod json;
pub mod logging;
pub mod protocol;
pub mod pyexpr;
pub mod server;
pub mod stream;
pub mod watch;
