//! The server's state: its settings (logging, IPv6) and, as they arrive,
//! its jails. Owned by the event loop; commands get it mutably.

use super::ServerOptions;
use crate::config::dict::Dict;
use crate::jail::Jail;
use crate::logging::ServerLog;

/// Everything a command can read or change.
pub struct State {
    /// As fail2ban keeps it: the name given, upper-cased.
    pub loglevel: String,
    pub logtarget: String,
    pub syslogsocket: String,
    pub allowipv6: String,
    /// The database (`dbfile`), shared with the jails; and when it was last purged.
    pub db: Option<crate::jail::SharedDb>,
    pub dbpurgeage: i64,
    pub last_purge: f64,
    /// Set by `stop`: the loop ends after answering.
    pub quit: bool,
    /// The jails, in the order they were added.
    pub jails: Dict<Jail>,
    /// Jails present when a reload began, not yet seen again in its stream.
    pub reloading: Option<Vec<String>>,
    /// The log watcher, once a jail has files to follow.
    pub watching: Option<super::watching::Watching>,
}

impl State {
    pub fn new(opts: &ServerOptions) -> State {
        State {
            loglevel: opts.loglevel.to_uppercase(),
            logtarget: opts.logtarget.clone(),
            syslogsocket: opts.syslogsocket.clone(),
            allowipv6: "auto".into(),
            db: None,
            dbpurgeage: 86400,
            last_purge: 0.0,
            quit: false,
            jails: Dict::new(),
            reloading: None,
            watching: None,
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

/// The clock, in Unix seconds.
pub fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl State {
    /// Stops every jail (their bans lifted, actions stopped), in reverse order of addition.
    pub fn stop_all_jails(&mut self) {
        let names: Vec<String> = self.jails.keys().map(str::to_string).collect();
        for name in names.iter().rev() {
            if let Some(mut j) = self.jails.remove(name) {
                if let Some(w) = self.watching.as_mut() {
                    w.remove(name);
                }
                j.stop();
            }
        }
    }

    /// Forgets database rows older than dbpurgeage (and vacuums), at most hourly.
    pub fn purge_db(&mut self, now: f64) {
        if now - self.last_purge < 3600.0 {
            return;
        }
        self.last_purge = now;
        if let Some(db) = &self.db {
            if let Err(e) = db.borrow().purge(now, self.dbpurgeage) {
                log::error!(target: "fail2ban.database", "Purge of the database failed: {e}");
            }
        }
    }

    /// When the next ban of any jail ends.
    pub fn next_expiry(&self) -> Option<f64> {
        self.jails
            .iter()
            .filter_map(|(_, j)| j.next_expiry())
            .reduce(f64::min)
    }

    /// Ends the bans whose time is over.
    pub fn expire(&mut self, now: f64) {
        for j in self.jails.values_mut() {
            j.expire(now);
        }
    }
}
