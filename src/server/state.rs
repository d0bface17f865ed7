//! The server's state: its settings (logging, IPv6) and, as they arrive,
//! its jails. Owned by the event loop; commands get it mutably.

use super::ServerOptions;
use crate::logging::ServerLog;

/// Everything a command can read or change.
pub struct State {
    /// As fail2ban keeps it: the name given, upper-cased.
    pub loglevel: String,
    pub logtarget: String,
    pub syslogsocket: String,
    pub allowipv6: String,
    /// Set by `stop`: the loop ends after answering.
    pub quit: bool,
}

impl State {
    pub fn new(opts: &ServerOptions) -> State {
        State {
            loglevel: opts.loglevel.to_uppercase(),
            logtarget: opts.logtarget.clone(),
            syslogsocket: opts.syslogsocket.clone(),
            allowipv6: "auto".into(),
            quit: false,
        }
    }

    /// Makes the logger follow `loglevel` and `logtarget`.
    pub fn apply_logging(&self, log: &ServerLog) -> Result<(), String> {
        let level =
            crate::config::fail2ban::log_level(&self.loglevel).map_err(|e| e.to_string())?;
        log.set_level(level);
        log.set_target(&self.logtarget).map_err(|e| {
            format!(
                "Unable to log to {}: {e}",
                crate::stream::str_repr(&self.logtarget)
            )
        })
    }
}
