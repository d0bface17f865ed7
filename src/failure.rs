//! Failure bookkeeping (fail2ban's `FailManager` and `FailTicket`): failures
//! are counted per failure id (the address, or `<F-ID>`) within findtime; a
//! ticket that reaches maxretry is handed over for banning.
//!
//! Time is the log line's time, never the clock: the manager is told `now`.

use std::collections::{BTreeMap, HashMap};

/// One failure found by a filter.
#[derive(Clone, Debug, PartialEq)]
pub struct Failure {
    /// The failure id: the address, or the `<F-ID>` value.
    pub fid: String,
    /// The address to ban (usually equal to `fid`).
    pub ip: String,
    /// Unix time of the log line.
    pub time: f64,
    /// The log lines that made the failure.
    pub matches: Vec<String>,
    /// How many attempts this failure stands for (fail2ban's `failures`; 1 normally).
    pub attempts: u32,
    /// Named values from the filter (`F-USER`, …) for the actions.
    pub data: Vec<(String, String)>,
}

/// The failures accumulated for one id.
#[derive(Clone, Debug, PartialEq)]
pub struct FailTicket {
    pub fid: String,
    pub ip: String,
    /// Time of the latest failure.
    pub time: f64,
    first_time: f64,
    /// The retry count compared with maxretry (fail2ban's `retry`).
    pub retry: u32,
    /// Attempts seen (fail2ban's `failures`).
    pub attempts: u32,
    pub matches: Vec<String>,
    pub data: Vec<(String, String)>,
}

impl FailTicket {
    fn new(f: Failure, count: u32) -> FailTicket {
        let (mut retry, mut attempts) = (f.attempts, f.attempts);
        if count > attempts {
            retry = count;
            attempts = attempts.max(1);
        }
        FailTicket {
            fid: f.fid,
            ip: f.ip,
            time: f.time,
            first_time: f.time,
            retry,
            attempts,
            matches: f.matches,
            data: f.data,
        }
    }

    /// fail2ban's `adjustTime`: when failures span more than findtime, the
    /// retry count is scaled down to the rate within one findtime.
    fn adjust_time(&mut self, time: f64, max_time: f64) {
        if time > self.time {
            if self.first_time < time - max_time {
                let span = time - self.first_time;
                self.retry = (self.retry as f64 / span * max_time).round_ties_even() as u32;
                self.first_time = time - max_time;
            }
            self.time = time;
        }
    }
}

/// Failures of one jail, by id, in arrival order.
#[derive(Debug)]
pub struct FailManager {
    /// Each ticket with its arrival number (its key in `order`).
    tickets: HashMap<String, (u64, FailTicket)>,
    /// Arrival order: removing one id costs a log, not a scan (thousands of
    /// ids fail together in an attack).
    order: BTreeMap<u64, String>,
    next_seq: u64,
    pub max_retry: u32,
    /// findtime, in seconds.
    pub max_time: f64,
    /// How many matched lines a ticket keeps (0: none).
    pub max_matches: usize,
    total: u64,
}

impl Default for FailManager {
    fn default() -> Self {
        FailManager {
            tickets: HashMap::new(),
            order: BTreeMap::new(),
            next_seq: 0,
            max_retry: 3,
            max_time: 600.0,
            max_matches: 5,
            total: 0,
        }
    }
}

impl FailManager {
    pub fn new() -> Self {
        Self::default()
    }

    /// Failures counted since start (fail2ban's "Total failed").
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Ids currently failing (fail2ban's "Currently failed").
    pub fn size(&self) -> usize {
        self.tickets.len()
    }

    /// Adds a failure worth `count` retries (1 normally; more for repeat
    /// offenders seen again); returns the id's retry count.
    pub fn add_failure(&mut self, f: Failure, count: u32) -> u32 {
        self.total += 1;
        let max_time = self.max_time;
        let max_matches = self.max_matches;
        let retry = match self.tickets.get_mut(&f.fid) {
            Some((_, t)) => {
                let attempt = if f.attempts == 0 { 1 } else { f.attempts };
                t.adjust_time(f.time, max_time);
                t.retry += count;
                t.attempts += attempt;
                if max_matches > 0 {
                    t.matches.extend(f.matches);
                    if t.matches.len() > max_matches {
                        t.matches.drain(..t.matches.len() - max_matches);
                    }
                } else {
                    t.matches.clear();
                }
                t.data.extend(f.data);
                t.retry
            }
            None => {
                let fid = f.fid.clone();
                let mut t = FailTicket::new(f, count);
                if max_matches == 0 {
                    t.matches.clear();
                }
                let retry = t.retry;
                let seq = self.next_seq;
                self.next_seq += 1;
                self.tickets.insert(fid.clone(), (seq, t));
                self.order.insert(seq, fid);
                retry
            }
        };
        retry
    }

    /// Forgets failures older than findtime before `now`.
    pub fn cleanup(&mut self, now: f64) {
        let limit = now - self.max_time;
        self.tickets.retain(|_, (_, t)| t.time > limit);
        let tickets = &self.tickets;
        self.order.retain(|_, fid| tickets.contains_key(fid));
    }

    /// Forgets one id's failures.
    pub fn remove(&mut self, fid: &str) {
        self.take(fid);
    }

    fn take(&mut self, fid: &str) -> Option<FailTicket> {
        let (seq, t) = self.tickets.remove(fid)?;
        self.order.remove(&seq);
        Some(t)
    }

    /// Takes a ticket that reached maxretry: `fid`'s if given and failing,
    /// else the first in arrival order.
    pub fn to_ban(&mut self, fid: Option<&str>) -> Option<FailTicket> {
        let ready = |t: &FailTicket| t.retry >= self.max_retry;
        let found = match fid.and_then(|f| self.tickets.get_key_value(f)) {
            Some((f, (_, t))) => ready(t).then(|| f.clone()),
            None => self
                .order
                .values()
                .find(|f| self.tickets.get(*f).is_some_and(|(_, t)| ready(t)))
                .cloned(),
        }?;
        self.take(&found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(ip: &str, time: f64) -> Failure {
        Failure {
            fid: ip.into(),
            ip: ip.into(),
            time,
            matches: vec![format!("line at {time}")],
            attempts: 1,
            data: vec![],
        }
    }

    #[test]
    fn third_failure_within_findtime_is_banned() {
        let mut m = FailManager::new();
        assert_eq!(m.add_failure(failure("192.0.2.1", 100.0), 1), 1);
        assert_eq!(m.add_failure(failure("192.0.2.1", 200.0), 1), 2);
        assert!(m.to_ban(None).is_none());
        assert_eq!(m.add_failure(failure("192.0.2.1", 300.0), 1), 3);
        let t = m.to_ban(None).expect("banned");
        assert_eq!(
            (t.ip.as_str(), t.attempts, t.matches.len()),
            ("192.0.2.1", 3, 3)
        );
        assert_eq!(m.size(), 0);
        assert_eq!(m.total(), 3);
    }

    #[test]
    fn failures_spread_over_more_than_findtime_are_scaled_down() {
        let mut m = FailManager::new();
        m.add_failure(failure("192.0.2.1", 0.0), 1);
        m.add_failure(failure("192.0.2.1", 500.0), 1);
        // 3 failures over 1200 s with findtime 600: rate gives round(3/1200*600) = 2 (after +1).
        let r = m.add_failure(failure("192.0.2.1", 1200.0), 1);
        assert_eq!(r, 2);
        assert!(m.to_ban(None).is_none());
    }

    #[test]
    fn cleanup_forgets_old_failures_and_matches_are_capped() {
        let mut m = FailManager::new();
        m.max_matches = 2;
        for t in 0..3 {
            m.add_failure(failure("192.0.2.9", t as f64), 1);
        }
        m.add_failure(failure("192.0.2.8", 1000.0), 1);
        m.cleanup(1000.0);
        assert_eq!(m.size(), 1);
        let t = m.to_ban(Some("192.0.2.8"));
        assert!(t.is_none(), "one failure is not enough");
    }
}
