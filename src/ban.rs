//! Active bans of one jail (fail2ban's `BanManager`), with their expiries in an
//! ordered set so the server can sleep until the next one instead of polling,
//! and the `bantime.increment` formula for repeat offenders.

use crate::failure::FailTicket;
use crate::pyexpr::{self, ExprError, Num};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// fail2ban's `Ticket.MAX_TIME`: the end of a permanent ban.
pub const MAX_TIME: i64 = 0x7FFF_FFFF_FFFF;

/// One active ban.
#[derive(Clone, Debug, PartialEq)]
pub struct BanTicket {
    pub fid: String,
    pub ip: String,
    /// Unix time the ban counts from (the last failure's time).
    pub time: f64,
    /// This ban's own length in seconds, if it differs from the jail's (-1: forever).
    pub bantime: Option<i64>,
    /// How often this address was banned (1 for the first ban).
    pub ban_count: u32,
    pub attempts: u32,
    pub matches: Vec<String>,
    pub data: Vec<(String, String)>,
    /// Restored from the database at start.
    pub restored: bool,
}

impl BanTicket {
    /// A ban from failures.
    pub fn from_failures(t: FailTicket) -> BanTicket {
        BanTicket {
            fid: t.fid,
            ip: t.ip,
            time: t.time,
            bantime: None,
            ban_count: 0,
            attempts: t.attempts,
            matches: t.matches,
            data: t.data,
            restored: false,
        }
    }

    /// A manual ban (`banip`) at `now`.
    pub fn manual(ip: &str, now: f64) -> BanTicket {
        BanTicket {
            fid: ip.to_string(),
            ip: ip.to_string(),
            time: now,
            bantime: None,
            ban_count: 0,
            attempts: 0,
            matches: Vec::new(),
            data: Vec::new(),
            restored: false,
        }
    }

    /// The ban's length given the jail's default.
    pub fn ban_time(&self, default: i64) -> i64 {
        self.bantime.unwrap_or(default)
    }

    /// When the ban ends (`MAX_TIME` for a permanent ban).
    pub fn end(&self, default: i64) -> f64 {
        match self.ban_time(default) {
            -1 => MAX_TIME as f64,
            b => self.time + b as f64,
        }
    }

    /// The end as a key of the expiry queue (milliseconds).
    fn end_key(&self, default: i64) -> (i64, String) {
        (
            (self.end(default) * 1000.0).floor() as i64,
            self.fid.clone(),
        )
    }
}

/// What `add` did.
#[derive(Clone, Debug, PartialEq)]
pub enum Added {
    /// A new ban.
    New,
    /// Already banned; the ban was made longer.
    Prolonged,
    /// Already banned, no change.
    AlreadyBanned,
    /// The ban would already be over.
    Expired,
}

/// The active bans of a jail.
#[derive(Debug, Default)]
pub struct BanManager {
    /// Each ban with its number in `order`.
    bans: HashMap<String, (u64, BanTicket)>,
    /// Banned ids in the order they were banned (fail2ban's dict order),
    /// by number: thousands of bans ending together cost a log each, not a scan.
    order: BTreeMap<u64, String>,
    next_seq: u64,
    /// (end in milliseconds, fid): the expiry queue.
    expiries: BTreeSet<(i64, String)>,
    /// The jail's bantime in seconds (-1: forever).
    ban_time: i64,
    total: u64,
}

impl BanManager {
    pub fn new(ban_time: i64) -> BanManager {
        BanManager {
            ban_time,
            ..Default::default()
        }
    }

    pub fn ban_time(&self) -> i64 {
        self.ban_time
    }

    /// Changes the jail's bantime; bans without their own length follow it.
    pub fn set_ban_time(&mut self, ban_time: i64) {
        self.ban_time = ban_time;
        self.expiries = self
            .bans
            .values()
            .map(|(_, t)| t.end_key(ban_time))
            .collect();
    }

    /// Bans since start (fail2ban's "Total banned").
    pub fn total(&self) -> u64 {
        self.total
    }

    pub fn len(&self) -> usize {
        self.bans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bans.is_empty()
    }

    pub fn contains(&self, fid: &str) -> bool {
        self.bans.contains_key(fid)
    }

    pub fn get(&self, fid: &str) -> Option<&BanTicket> {
        self.bans.get(fid).map(|(_, t)| t)
    }

    /// Adds a ban at `now`. A ban of a banned address may prolong it, as in
    /// fail2ban (the later end wins, counted from the new failure).
    pub fn add(&mut self, mut ticket: BanTicket, now: f64) -> Added {
        let end = ticket.end(self.ban_time);
        if end < now {
            return Added::Expired;
        }
        if let Some((_, old)) = self.bans.get_mut(&ticket.fid) {
            let old_end = old.end_key(self.ban_time);
            if end <= old.end(self.ban_time) {
                return Added::AlreadyBanned;
            }
            let mut bt = ticket.ban_time(self.ban_time);
            if bt != -1 {
                let diff = ticket.time - old.time;
                if diff > 0.0 {
                    bt += diff as i64;
                }
            }
            old.bantime = Some(bt);
            let new_end = old.end_key(self.ban_time);
            self.expiries.remove(&old_end);
            self.expiries.insert(new_end);
            return Added::Prolonged;
        }
        ticket.ban_count += 1;
        self.total += 1;
        let seq = self.next_seq;
        self.next_seq += 1;
        self.order.insert(seq, ticket.fid.clone());
        self.expiries.insert(ticket.end_key(self.ban_time));
        self.bans.insert(ticket.fid.clone(), (seq, ticket));
        Added::New
    }

    /// When the next ban ends, for the timer.
    pub fn next_expiry(&self) -> Option<f64> {
        self.expiries.first().map(|(end, _)| *end as f64 / 1000.0)
    }

    /// Removes and returns the bans that ended before `now` (fail2ban unbans
    /// when `now > end`).
    pub fn take_expired(&mut self, now: f64) -> Vec<BanTicket> {
        let mut out = Vec::new();
        while let Some((end, fid)) = self.expiries.first().cloned() {
            if now * 1000.0 <= end as f64 {
                break;
            }
            self.expiries.pop_first();
            if let Some((seq, t)) = self.bans.remove(&fid) {
                self.order.remove(&seq);
                out.push(t);
            }
        }
        out
    }

    /// Removes one ban (`unbanip`).
    pub fn remove(&mut self, fid: &str) -> Option<BanTicket> {
        let (seq, t) = self.bans.remove(fid)?;
        self.order.remove(&seq);
        self.expiries.remove(&t.end_key(self.ban_time));
        Some(t)
    }

    /// Removes every ban (stop, `unban --all`).
    pub fn flush(&mut self) -> Vec<BanTicket> {
        self.expiries.clear();
        let order = std::mem::take(&mut self.order);
        order
            .values()
            .filter_map(|f| self.bans.remove(f).map(|(_, t)| t))
            .collect()
    }

    /// The banned ids in the order they were banned (as `get JAIL banned`).
    pub fn ids_in_order(&self) -> Vec<&str> {
        self.order.values().map(String::as_str).collect()
    }

    /// The banned ids, ordered by the end of their ban (as `get JAIL banip`);
    /// bans ending together stay in ban order, as fail2ban's stable sort
    /// of its ban dict leaves them.
    pub fn ids_by_end(&self) -> Vec<&BanTicket> {
        let mut out: Vec<&BanTicket> = self.order.values().filter_map(|f| self.get(f)).collect();
        out.sort_by(|a, b| a.end(self.ban_time).total_cmp(&b.end(self.ban_time)));
        out
    }
}

/// `bantime.increment`: the length of a repeat offender's ban.
#[derive(Clone, Debug, PartialEq)]
pub struct BanTimeIncrement {
    pub factor: String,
    pub formula: Option<String>,
    pub multipliers: Vec<i64>,
    pub max_time: Option<i64>,
    pub rnd_time: Option<i64>,
}

/// fail2ban's default formula.
pub const DEFAULT_FORMULA: &str = "ban.Time * (1<<(ban.Count if ban.Count<20 else 20)) * banFactor";

impl Default for BanTimeIncrement {
    fn default() -> Self {
        BanTimeIncrement {
            factor: "1".into(),
            formula: None,
            multipliers: Vec::new(),
            max_time: None,
            rnd_time: None,
        }
    }
}

impl BanTimeIncrement {
    /// The ban length for the `count`-th previous ban of an address whose
    /// normal ban is `ban_time` seconds (`random` in [0, 1) for rndtime).
    pub fn ban_time(&self, ban_time: i64, count: u32, random: f64) -> Result<f64, ExprError> {
        let factor = pyexpr::eval(&self.factor, &())?;
        let t = if self.multipliers.is_empty() {
            let names = |n: &str| match n {
                "ban.Time" => Some(Num::Int(ban_time)),
                "ban.Count" => Some(Num::Int(count as i64)),
                "banFactor" => Some(factor),
                _ => None,
            };
            let v = pyexpr::eval(self.formula.as_deref().unwrap_or(DEFAULT_FORMULA), &names)?;
            v.as_f64().max(ban_time as f64)
        } else {
            let i = (count as usize).min(self.multipliers.len() - 1);
            ban_time as f64 * factor.as_f64() * self.multipliers[i] as f64
        };
        let t = match self.max_time {
            Some(m) => t.min(m as f64),
            None => t,
        };
        Ok(match self.rnd_time {
            Some(r) => t + random * r as f64,
            None => t,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket(ip: &str, time: f64) -> BanTicket {
        BanTicket::manual(ip, time)
    }

    #[test]
    fn bans_expire_in_order_of_their_end() {
        let mut m = BanManager::new(600);
        assert_eq!(m.add(ticket("192.0.2.1", 1000.0), 1000.0), Added::New);
        let mut long = ticket("192.0.2.2", 1000.0);
        long.bantime = Some(60);
        assert_eq!(m.add(long, 1000.0), Added::New);
        assert_eq!(m.next_expiry(), Some(1060.0));
        assert!(
            m.take_expired(1060.0).is_empty(),
            "unban only after the end"
        );
        let gone = m.take_expired(1061.0);
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].ip, "192.0.2.2");
        assert_eq!(m.next_expiry(), Some(1600.0));
        assert_eq!(m.take_expired(1601.0).len(), 1);
        assert!(m.is_empty());
        assert_eq!(m.total(), 2);
    }

    #[test]
    fn rebanning_prolongs_and_permanent_bans_never_expire() {
        let mut m = BanManager::new(600);
        m.add(ticket("192.0.2.1", 1000.0), 1000.0);
        assert_eq!(
            m.add(ticket("192.0.2.1", 1000.0), 1000.0),
            Added::AlreadyBanned
        );
        assert_eq!(m.add(ticket("192.0.2.1", 1100.0), 1100.0), Added::Prolonged);
        assert_eq!(m.next_expiry(), Some(1700.0));
        let mut forever = ticket("192.0.2.3", 1000.0);
        forever.bantime = Some(-1);
        m.add(forever, 1000.0);
        assert_eq!(m.take_expired(1e12).len(), 1);
        assert!(m.contains("192.0.2.3"));
        assert!(m.remove("192.0.2.3").is_some());
        assert_eq!(m.next_expiry(), None);
    }

    #[test]
    fn changing_the_jail_bantime_moves_expiries() {
        let mut m = BanManager::new(600);
        m.add(ticket("192.0.2.1", 0.0), 0.0);
        m.set_ban_time(60);
        assert_eq!(m.next_expiry(), Some(60.0));
        assert_eq!(m.add(ticket("192.0.2.9", 0.0), 100.0), Added::Expired);
    }

    #[test]
    fn increment_formula_multipliers_and_max() {
        let inc = BanTimeIncrement::default();
        assert_eq!(inc.ban_time(600, 1, 0.0), Ok(1200.0));
        assert_eq!(inc.ban_time(600, 3, 0.0), Ok(4800.0));
        let capped = BanTimeIncrement {
            max_time: Some(3600),
            ..Default::default()
        };
        assert_eq!(capped.ban_time(600, 5, 0.0), Ok(3600.0));
        let mult = BanTimeIncrement {
            multipliers: vec![1, 2, 4, 8],
            factor: "2".into(),
            ..Default::default()
        };
        assert_eq!(mult.ban_time(100, 9, 0.0), Ok(1600.0));
        let rnd = BanTimeIncrement {
            rnd_time: Some(100),
            ..Default::default()
        };
        assert_eq!(rnd.ban_time(600, 0, 0.5), Ok(650.0));
    }
}
