//! One jail: its settings (as `set JAIL …` gives them), and the pipeline
//! log line → filter → failures within findtime → ban → actions, with bans
//! ending from the ban manager's ordered expiry queue.
//!
//! The jail owns its settings and derives the filter engine from them, so a
//! changed regex or date pattern rebuilds the engine before the next line.

pub mod ignore;
pub mod options;
pub mod status;

use crate::action::{BanInfo, JailActions};
use crate::ban::{Added, BanManager, BanTicket};
use crate::failure::{FailManager, Failure};
use crate::filter::{Filter, FilterBuilder, LineOutcome};
use crate::logging::notice;
use crate::stream::Value;
use ignore::IgnoreList;

/// A regex as given and as fail2ban shows it (tags expanded).
#[derive(Clone, Debug)]
pub struct RegexSetting {
    pub raw: String,
    pub expanded: String,
}

/// A jail and everything it counts.
pub struct Jail {
    pub name: String,
    pub backend: String,
    pub prefregex: Option<RegexSetting>,
    pub failregex: Vec<RegexSetting>,
    pub ignoreregex: Vec<RegexSetting>,
    pub usedns: String,
    pub maxlines: i64,
    pub datepattern: Option<String>,
    pub logtimezone: Option<String>,
    pub logencoding: String,
    /// (path, start at the end).
    pub logpaths: Vec<(String, bool)>,
    pub journalmatch: Vec<Vec<String>>,
    pub ignore: IgnoreList,
    pub ignoreself: bool,
    pub ignorecommand: String,
    pub ignorecache: Option<Value>,
    /// `bantime.*` options as given.
    pub bantime_extra: Vec<(String, Value)>,
    pub idle: bool,
    pub started: bool,
    pub failures: FailManager,
    pub bans: BanManager,
    pub actions: JailActions,
    engine: Option<Filter>,
    /// The last line's outcome, whose buffers the next line reuses.
    outcome: LineOutcome,
    odd_time_warned_until: f64,
    /// Lines read and lines that gave a failure (whatever their time), for
    /// the warning about a filter that matches nothing.
    pub lines_read: u64,
    pub lines_matched: u64,
    /// The server's database, where bans are stored before their actions run.
    pub db: Option<SharedDb>,
    /// Inside a batch of log lines ([`Jail::begin_batch`]), and the bans
    /// made so far that wait for its end.
    batching: bool,
    pending: Option<Batch>,
}

/// Bans made but not yet stored, logged and acted upon, in order.
#[derive(Default)]
struct Batch {
    /// The `Ban` / `already banned` log lines.
    notices: Vec<String>,
    /// The database rows of the new bans (restored bans are already there).
    records: Vec<crate::db::BanRecord>,
    /// Each new ban and whether it was restored.
    bans: Vec<(BanInfo, bool)>,
}

/// How many ban commands of one batch run at the same time. Thousands of
/// addresses failing together are banned several times faster (shell and
/// firewall tool start-ups overlap; iptables and nft serialise their own
/// changes), while a single ban runs alone, as before.
pub const BAN_WORKERS: usize = 4;

/// The database as the jails share it (one thread: the event loop's).
pub type SharedDb = std::rc::Rc<std::cell::RefCell<crate::db::Database>>;

impl Jail {
    pub fn new(name: &str, backend: &str) -> Jail {
        let mut failures = FailManager::new();
        failures.max_retry = 3;
        failures.max_time = 600.0;
        Jail {
            name: name.to_string(),
            backend: backend.to_string(),
            prefregex: None,
            failregex: Vec::new(),
            ignoreregex: Vec::new(),
            usedns: "warn".into(),
            maxlines: 1,
            datepattern: None,
            logtimezone: None,
            logencoding: "UTF-8".into(),
            logpaths: Vec::new(),
            journalmatch: Vec::new(),
            ignore: IgnoreList::default(),
            ignoreself: true,
            ignorecommand: String::new(),
            ignorecache: None,
            bantime_extra: Vec::new(),
            idle: false,
            started: false,
            failures,
            bans: BanManager::new(600),
            actions: JailActions::new(name),
            engine: None,
            outcome: LineOutcome::default(),
            odd_time_warned_until: 0.0,
            lines_read: 0,
            lines_matched: 0,
            db: None,
            batching: false,
            pending: None,
        }
    }

    /// Forgets the settings a reload sends again (regexes, log paths, ignore
    /// list, journal matches); bans and counters stay.
    pub fn reset_settings(&mut self) {
        self.prefregex = None;
        self.failregex.clear();
        self.ignoreregex.clear();
        self.logpaths.clear();
        self.journalmatch.clear();
        self.ignore = IgnoreList::default();
        self.filter_changed();
    }

    /// Ends a reload: actions the new configuration dropped are stopped.
    pub fn finish_reload(&mut self) {
        let (removed, errors) = self.actions.end_reload();
        for (name, e) in errors {
            log::error!(target: "fail2ban.actions", "Failed to reload jail '{}' action '{name}': {e}", self.name);
        }
        for mut a in removed {
            if let Err(e) = a.stop() {
                log::error!(target: "fail2ban.actions", "Failed to stop jail '{}' action '{}': {e}", self.name, a.name());
            }
        }
    }

    /// The filter settings as a builder for the engine.
    fn builder(&self) -> FilterBuilder {
        let mut b = FilterBuilder::new();
        b.usedns(&self.usedns);
        if let Some(p) = &self.prefregex {
            b.prefregex(&p.raw);
        }
        for r in &self.failregex {
            b.add_failregex(&r.raw);
        }
        for r in &self.ignoreregex {
            b.add_ignoreregex(&r.raw);
        }
        let _ = b.maxlines(&self.maxlines.to_string());
        if let Some(d) = &self.datepattern {
            b.datepattern(d);
        }
        if let Some(z) = &self.logtimezone {
            let _ = b.logtimezone(z);
        }
        b
    }

    /// Marks the engine out of date after a filter setting changed.
    pub fn filter_changed(&mut self) {
        self.engine = None;
    }

    fn engine(&mut self) -> Option<&mut Filter> {
        if self.engine.is_none() {
            match self.builder().build() {
                Ok(f) => self.engine = Some(f),
                Err(e) => {
                    log::error!(target: "fail2ban.filter", "[{}] {e}", self.name);
                    return None;
                }
            }
        }
        self.engine.as_mut()
    }

    /// Whether `ip` must never be banned, logging why as fail2ban does.
    pub fn is_ignored(&self, ip: &str) -> bool {
        let own = || ignore::normalise(ip).is_some_and(|a| ignore::own_addresses().contains(&a));
        let by = if self.ignore.contains(ip) {
            "ip"
        } else if self.ignoreself && own() {
            "ignoreself rule"
        } else if ignore::command_says_ignore(&self.ignorecommand, ip) {
            "command"
        } else {
            return false;
        };
        log::info!(target: "fail2ban.filter", "[{}] Ignore {ip} by {by}", self.name);
        true
    }

    /// Runs one log line through the jail: failures are counted, and bans
    /// made when maxretry is reached. `now` is the clock. `in_operation` is
    /// false while a file is first read: then entries older than findtime are
    /// skipped (written while nobody watched); afterwards a time more than
    /// 60 s away from now is taken as now, as fail2ban does.
    pub fn process_line(&mut self, line: &str, now: f64, in_operation: bool) {
        if self.idle {
            return;
        }
        let mut outcome = std::mem::take(&mut self.outcome);
        let Some(engine) = self.engine() else {
            self.outcome = outcome;
            return;
        };
        engine.in_operation = in_operation;
        engine.process_line_into(line, &mut outcome);
        self.count_failures(&outcome, line, now, in_operation);
        self.outcome = outcome;
    }

    /// Counts the failures one line gave, banning what became due.
    fn count_failures(&mut self, outcome: &LineOutcome, line: &str, now: f64, in_operation: bool) {
        self.lines_read += 1;
        if !outcome.failures.is_empty() {
            self.lines_matched += 1;
        }
        for f in &outcome.failures {
            let Some(id) = f.id.clone() else { continue };
            let ip = f.data.ip.clone().unwrap_or_else(|| id.clone());
            if self.is_ignored(&ip) {
                continue;
            }
            let mut time = f.time.map_or(now, |t| t.seconds());
            if in_operation {
                if (time - now).abs() > 60.0 {
                    self.warn_odd_time_once(time - now, line);
                    time = now;
                }
            } else if time < now - self.failures.max_time {
                continue;
            }
            time = time.min(now);
            log::info!(target: "fail2ban.filter", "[{}] Found {ip} - {}", self.name, time_str(time));
            let data = f
                .data
                .fields
                .iter()
                .filter_map(|(k, v)| v.map(|v| (k.to_string(), v.to_string())))
                .collect();
            let retry = self.failures.add_failure(
                Failure {
                    fid: id.clone(),
                    ip,
                    time,
                    matches: f.data.matches.clone(),
                    attempts: 1,
                    data,
                },
                1,
            );
            // As fail2ban's processLineAndAdd: only this id can have become
            // due, so only its ticket is taken (no scan of every failing id).
            if retry >= self.failures.max_retry {
                if let Some(ticket) = self.failures.to_ban(Some(&id)) {
                    self.ban(BanTicket::from_failures(ticket), now);
                }
            }
        }
    }

    /// `bantime.increment`: a repeat offender (per the database's history)
    /// is banned for longer, by the jail's factor, formula or multipliers.
    fn increment_ban_time(&self, ticket: &mut BanTicket) {
        let extra = |k: &str| {
            self.bantime_extra
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
        };
        if extra("increment") != Some(Value::Bool(true)) {
            return;
        }
        let Some(db) = &self.db else { return };
        let base = self.bans.ban_time();
        if base <= 0 {
            return;
        }
        let overall = extra("overalljails") == Some(Value::Bool(true));
        let scope = if overall {
            crate::db::Scope::AllJails
        } else {
            crate::db::Scope::Jail(&self.name)
        };
        let Ok(Some(history)) = db.borrow().ban_history(&ticket.fid, scope) else {
            return;
        };
        if history.ban_count == 0 {
            return;
        }
        let text = |k: &str| extra(k).map(|v| crate::config::tags::py_str(&v));
        let int = |k: &str| match extra(k) {
            Some(Value::Int(i)) => Some(i),
            _ => None,
        };
        let inc = crate::ban::BanTimeIncrement {
            factor: text("factor").unwrap_or_else(|| "1".into()),
            formula: text("formula"),
            multipliers: text("multipliers")
                .map(|m| {
                    m.split_whitespace()
                        .filter_map(|x| x.parse().ok())
                        .collect()
                })
                .unwrap_or_default(),
            max_time: int("maxtime"),
            rnd_time: int("rndtime"),
        };
        // A little randomness for rndtime without a crate: the clock's nanoseconds.
        let random = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| f64::from(d.subsec_nanos()) / 1e9);
        match inc.ban_time(base, history.ban_count, random) {
            Ok(t) => {
                let t = t as i64;
                log::info!(target: "fail2ban.observer",
                    "[{}] IP {} is bad: {} # last {} - incr {} to {}",
                    self.name, ticket.fid, history.ban_count, time_str(history.time_of_ban as f64), base, t);
                ticket.bantime = Some(t);
                ticket.ban_count = history.ban_count;
            }
            Err(e) => {
                log::error!(target: "fail2ban.observer", "[{}] bantime.formula: {e}", self.name)
            }
        }
    }

    /// fail2ban's warning for a log whose times are far from the clock (once a day).
    fn warn_odd_time_once(&mut self, delta: f64, line: &str) {
        let now = crate::server::state::now();
        if now < self.odd_time_warned_until {
            return;
        }
        self.odd_time_warned_until = now + 24.0 * 3600.0;
        let kind = if (-3300.0..0.0).contains(&delta) {
            "latency"
        } else {
            "timezone"
        };
        log::warn!(target: "fail2ban.filter",
            "[{}] Detected a log entry {}s {} the current time in operation mode. This looks like a {kind} problem. Treating such entries as if they just happened.",
            self.name, delta.abs() as i64, if delta < 0.0 { "before" } else { "after" });
        log::warn!(target: "fail2ban.filter", "[{}] Please check a jail for a timing issue. Line with odd timestamp: {line}", self.name);
    }

    /// How many of `lines` the filter finds a failure in (nothing is counted
    /// or banned): for reports about a filter against an existing log.
    pub fn count_matches<'a>(&mut self, lines: impl Iterator<Item = &'a str>) -> (u64, u64) {
        let Some(engine) = self.engine() else {
            return (0, 0);
        };
        let (mut read, mut matched) = (0, 0);
        for line in lines {
            read += 1;
            if !engine.process_line(line).failures.is_empty() {
                matched += 1;
            }
        }
        (read, matched)
    }

    /// After the first full read of a jail's logs: a filter that matched none
    /// of their lines protects nothing, silently, so say it once.
    pub fn warn_if_filter_matches_nothing(&self) {
        if self.lines_read > 0 && self.lines_matched == 0 {
            log::warn!(target: "fail2ban.filter",
                "[{}] the filter matched none of the {} lines already in the jail's log file(s): check its failregex against what the service logs today",
                self.name, self.lines_read);
        }
    }

    /// Bans a ticket (from failures, or `banip`); true for a new ban.
    pub fn ban(&mut self, mut ticket: BanTicket, now: f64) -> bool {
        let ip = ticket.ip.clone();
        let restored = ticket.restored;
        if !restored && !self.bans.contains(&ticket.fid) {
            self.increment_ban_time(&mut ticket);
        }
        let fid = ticket.fid.clone();
        let mut batch = self.pending.take().unwrap_or_default();
        let new = match self.bans.add(ticket, now) {
            Added::New => {
                let prefix = if restored { "Restore " } else { "" };
                batch
                    .notices
                    .push(format!("[{}] {prefix}Ban {ip}", self.name));
                if let (Some(_), false, Some(t)) = (&self.db, restored, self.bans.get(&fid)) {
                    batch.records.push(crate::db::BanRecord::from_ticket(
                        &self.name,
                        t,
                        self.bans.ban_time(),
                    ));
                }
                batch.bans.push((self.ban_info(&ip), restored));
                true
            }
            Added::Prolonged | Added::AlreadyBanned => {
                batch
                    .notices
                    .push(format!("[{}] {ip} already banned", self.name));
                false
            }
            Added::Expired => false,
        };
        if self.batching {
            self.pending = Some(batch);
        } else {
            self.finish_bans(batch);
        }
        new
    }

    /// From now until [`Jail::end_batch`], new bans wait (their storing,
    /// log lines and actions), so that the bans of one batch of log lines
    /// are stored in one transaction and their actions run together.
    pub fn begin_batch(&mut self) {
        self.batching = true;
    }

    /// Finishes the bans made since [`Jail::begin_batch`].
    pub fn end_batch(&mut self) {
        self.batching = false;
        if let Some(batch) = self.pending.take() {
            self.finish_bans(batch);
        }
    }

    /// Stores the bans (before they are logged and before their actions
    /// run: a crash at any point cannot lose a ban the log reports), logs
    /// them, and runs their actions.
    fn finish_bans(&mut self, batch: Batch) {
        if let (Some(db), false) = (&self.db, batch.records.is_empty()) {
            if let Err(e) = db.borrow().add_bans(&batch.records) {
                for r in &batch.records {
                    log::error!(target: "fail2ban.actions", "[{}] cannot store the ban of {}: {e}", self.name, r.ip);
                }
            }
        }
        for n in &batch.notices {
            notice("fail2ban.actions", n);
        }
        self.run_ban_actions(&batch.bans);
    }

    /// Each action bans the addresses (all of one action's before the next
    /// action's), its commands up to [`BAN_WORKERS`] at a time; restored
    /// bans skip `norestored` actions.
    fn run_ban_actions(&mut self, bans: &[(BanInfo, bool)]) {
        if bans.is_empty() {
            return;
        }
        for a in self.actions.iter_mut() {
            let infos: Vec<&BanInfo> = bans
                .iter()
                .filter(|(_, restored)| !(*restored && a.norestored()))
                .map(|(info, _)| info)
                .collect();
            for (info, r) in infos.iter().zip(a.ban_many(&infos, BAN_WORKERS)) {
                if let Err(e) = r {
                    log::error!(target: "fail2ban.actions", "Failed to execute ban jail '{}' action '{}' info '{}': {e}", self.name, a.name(), info.ip);
                }
            }
        }
    }

    fn ban_info(&self, fid: &str) -> BanInfo {
        let t = self.bans.get(fid);
        let bantime = self.bans.ban_time();
        let mut info = BanInfo::new(
            fid,
            t.map_or(0.0, |t| t.time),
            t.map_or(bantime, |t| t.ban_time(bantime)),
        );
        if let Some(t) = t {
            info.failures = t.attempts as u64;
            info.matches = t.matches.clone();
            info.bancount = t.ban_count as u64;
            info.ticket_bantime = t.bantime;
            info.data = t
                .data
                .iter()
                .map(|(k, v)| (k.clone(), Value::str(v.as_str())))
                .collect();
        }
        info.jail_banned = self.bans.len() as u64;
        info.jail_banned_total = self.bans.total();
        info.jail_found = self.failures.size() as u64;
        info.jail_found_total = self.failures.total();
        info
    }

    /// Removes a ban and runs the unban actions.
    pub fn unban(&mut self, fid: &str) -> bool {
        let info = self.ban_info(fid);
        let Some(_) = self.bans.remove(fid) else {
            return false;
        };
        if let Some(db) = &self.db {
            if let Err(e) = db.borrow().del_ban(&self.name, fid) {
                log::error!(target: "fail2ban.actions", "[{}] cannot remove the ban of {fid} from the database: {e}", self.name);
            }
        }
        self.run_unban(info);
        true
    }

    fn run_unban(&mut self, info: BanInfo) {
        notice(
            "fail2ban.actions",
            &format!("[{}] Unban {}", self.name, info.ip),
        );
        for a in self.actions.iter_mut() {
            if let Err(e) = a.unban(&info) {
                log::error!(target: "fail2ban.actions", "Failed to execute unban jail '{}' action '{}' info '{}': {e}", self.name, a.name(), info.ip);
            }
        }
    }

    /// Ends the bans whose time is over: all logged, then each action
    /// unbans them, up to [`BAN_WORKERS`] commands at a time (thousands of
    /// bans made together also end together).
    pub fn expire(&mut self, now: f64) {
        let bantime = self.bans.ban_time();
        let infos: Vec<BanInfo> = self
            .bans
            .take_expired(now)
            .into_iter()
            .map(|t| {
                let mut info = BanInfo::new(&t.fid, t.time, t.ban_time(bantime));
                info.failures = t.attempts as u64;
                info.matches = t.matches;
                info
            })
            .collect();
        if infos.is_empty() {
            return;
        }
        for info in &infos {
            notice(
                "fail2ban.actions",
                &format!("[{}] Unban {}", self.name, info.ip),
            );
        }
        let refs: Vec<&BanInfo> = infos.iter().collect();
        for a in self.actions.iter_mut() {
            for (info, r) in refs.iter().zip(a.unban_many(&refs, BAN_WORKERS)) {
                if let Err(e) = r {
                    log::error!(target: "fail2ban.actions", "Failed to execute unban jail '{}' action '{}' info '{}': {e}", self.name, a.name(), info.ip);
                }
            }
        }
    }

    /// When the next ban ends.
    pub fn next_expiry(&self) -> Option<f64> {
        self.bans.next_expiry()
    }

    /// Starts the jail: actions whose start is not deferred to the first ban.
    pub fn start(&mut self) {
        for a in self.actions.iter_mut() {
            if let Err(e) = a.start() {
                log::error!(target: "fail2ban.actions", "Failed to start jail '{}' action '{}': {e}", self.name, a.name());
            }
        }
        self.started = true;
        self.restore_bans();
        log::info!(target: "fail2ban.jail", "Jail '{}' started", self.name);
    }

    /// fail2ban's `restoreCurrentBans`: the jail's bans still active in the
    /// database are banned again ("Restore Ban"), except by `norestored` actions.
    fn restore_bans(&mut self) {
        let Some(db) = self.db.clone() else { return };
        let now = crate::server::state::now();
        let records = {
            let db = db.borrow();
            if let Err(e) = db.add_jail(&self.name) {
                log::error!(target: "fail2ban.jail", "[{}] cannot register the jail in the database: {e}", self.name);
            }
            let restore = crate::db::Restore::jail(self.bans.ban_time(), db.max_matches());
            db.current_bans(Some(&self.name), now, &restore)
        };
        match records {
            Ok(records) => {
                // Restored together: their actions run as one batch.
                self.begin_batch();
                for r in records {
                    self.ban(r.to_ticket(), now);
                }
                self.end_batch();
            }
            Err(e) => {
                log::error!(target: "fail2ban.jail", "[{}] cannot read its bans from the database: {e}", self.name)
            }
        }
    }

    /// Stops the jail: every ban is lifted (flushed where the action can),
    /// then the actions are stopped.
    pub fn stop(&mut self) {
        let bantime = self.bans.ban_time();
        let all = self.bans.flush();
        for t in &all {
            notice(
                "fail2ban.actions",
                &format!("[{}] Unban {}", self.name, t.ip),
            );
        }
        for a in self.actions.iter_mut() {
            let flushed = a.has_flush() && a.flush().unwrap_or(false);
            if !flushed {
                for t in &all {
                    let info = BanInfo::new(&t.fid, t.time, t.ban_time(bantime));
                    if let Err(e) = a.unban(&info) {
                        log::error!(target: "fail2ban.actions", "Failed to execute unban jail '{}' action '{}' info '{}': {e}", self.name, a.name(), t.ip);
                    }
                }
            }
            if let Err(e) = a.stop() {
                log::error!(target: "fail2ban.actions", "Failed to stop jail '{}' action '{}': {e}", self.name, a.name());
            }
        }
        self.started = false;
        if let Some(db) = &self.db {
            if let Err(e) = db.borrow().del_jail(&self.name) {
                log::error!(target: "fail2ban.jail", "[{}] cannot disable the jail in the database: {e}", self.name);
            }
        }
        log::info!(target: "fail2ban.jail", "Jail '{}' stopped", self.name);
    }
}

/// fail2ban's `MyTime.time2str`: local time, `YYYY-MM-DD HH:MM:SS`.
pub fn time_str(t: f64) -> String {
    crate::filter::clock::CivilTime::from_local_seconds(t.floor() as i64).format(' ')
}
