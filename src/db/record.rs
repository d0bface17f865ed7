//! The rows the server reads and writes: a ban as stored in `bans`/`bips`,
//! the bantime.increment history of an address, a log's stored position,
//! and the conversions between a stored ban and the server's [`BanTicket`].

use crate::ban::BanTicket;
use crate::stream::Value;

/// One ban as fail2ban stores it.
#[derive(Clone, Debug, PartialEq)]
pub struct BanRecord {
    pub jail: String,
    /// The failure id (fail2ban stores `ticket.getID()`, the address unless
    /// the filter set `<F-ID>`; the address then is `data["ip"]`).
    pub ip: String,
    /// Unix time the ban counts from, in whole seconds.
    pub time_of_ban: i64,
    /// Length in seconds; -1 is permanent, -2 "unknown" (rows upgraded from
    /// schema 2, which did not store it).
    pub ban_time: i64,
    /// How often the address was banned, this ban included.
    pub ban_count: u32,
    /// The ticket's data dict: `matches`, `failures`, and what the filter
    /// captured.
    pub data: Value,
}

/// What `ban_history` returns for bantime.increment.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BanHistory {
    pub ban_count: u32,
    /// The latest ban's start.
    pub time_of_ban: i64,
    /// The latest ban's length (summed over jails for `Scope::AllJails`, as
    /// fail2ban does).
    pub ban_time: i64,
}

/// Where a log was left: the hash of its first line when it was last read
/// (fail2ban's `firstlinemd5`, in fact a SHA-1 under Python 3) and the byte
/// offset reached.
#[derive(Clone, Debug, PartialEq)]
pub struct LogPosition {
    pub hash: Option<String>,
    pub pos: u64,
}

impl LogPosition {
    /// Where to resume reading a file whose first line now hashes to
    /// `current_hash`: the stored offset when it is the same file, `None`
    /// (read from the start) when it was rotated or replaced.
    pub fn resume_at(&self, current_hash: &str) -> Option<u64> {
        (self.hash.as_deref() == Some(current_hash)).then_some(self.pos)
    }
}

/// Where a journal was left (fail2ban stores the time of the last entry in
/// `lastfilepos` and its ISO form in `firstlinemd5`).
#[derive(Clone, Debug, PartialEq)]
pub struct JournalPosition {
    pub iso: Option<String>,
    pub time: f64,
}

/// Whose history `ban_history` reads (`bantime.overalljails`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Scope<'a> {
    Jail(&'a str),
    AllJails,
}

/// Python's `int(round(x))`: halves go to the even neighbour.
pub fn round_time(t: f64) -> i64 {
    t.round_ties_even() as i64
}

impl BanRecord {
    /// The row for a ban the server just made. `jail_ban_time` stands in for
    /// a ticket without its own length, as `ticket.getBanTime(jail bantime)`.
    pub fn from_ticket(jail: &str, t: &BanTicket, jail_ban_time: i64) -> BanRecord {
        let mut data = vec![
            (
                Value::str("matches"),
                Value::List(t.matches.iter().map(Value::str).collect()),
            ),
            (Value::str("failures"), Value::Int(t.attempts.into())),
        ];
        if t.ip != t.fid {
            data.push((Value::str("ip"), Value::str(&t.ip)));
        }
        for (k, v) in &t.data {
            if !data.iter().any(|(old, _)| old.as_str() == Some(k)) {
                data.push((Value::str(k), Value::str(v)));
            }
        }
        BanRecord {
            jail: jail.to_string(),
            ip: t.fid.clone(),
            time_of_ban: round_time(t.time),
            ban_time: t.ban_time(jail_ban_time),
            ban_count: t.ban_count,
            data: Value::Dict(data),
        }
    }

    /// A ticket for the server to ban again at start, marked as restored so
    /// it is not stored a second time.
    pub fn to_ticket(&self) -> BanTicket {
        let mut data = Vec::new();
        let mut ip = None;
        for (k, v) in self.entries() {
            match (k, v) {
                ("matches" | "failures", _) => {}
                ("ip", Value::Str(s)) => ip = Some(s.clone()),
                (k, Value::Str(s)) => data.push((k.to_string(), s.clone())),
                (_, Value::None) => {}
                (k, other) => data.push((k.to_string(), super::json::to_json(other))),
            }
        }
        BanTicket {
            fid: self.ip.clone(),
            ip: ip.unwrap_or_else(|| self.ip.clone()),
            time: self.time_of_ban as f64,
            bantime: Some(self.ban_time),
            ban_count: self.ban_count,
            attempts: self.failures(),
            matches: self.matches(),
            data,
            restored: true,
        }
    }

    fn entries(&self) -> impl Iterator<Item = (&str, &Value)> {
        let items: &[(Value, Value)] = match &self.data {
            Value::Dict(items) => items,
            _ => &[],
        };
        items.iter().filter_map(|(k, v)| Some((k.as_str()?, v)))
    }

    fn get(&self, key: &str) -> Option<&Value> {
        self.entries().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// The stored log lines (only the text ones).
    pub fn matches(&self) -> Vec<String> {
        self.get("matches")
            .and_then(Value::as_list)
            .map(|l| {
                l.iter()
                    .filter_map(|m| m.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// `data["failures"]`, 1 when absent (as `FailTicket` reads it).
    pub fn failures(&self) -> u32 {
        match self.get("failures") {
            Some(Value::Int(n)) => (*n).clamp(0, u32::MAX.into()) as u32,
            Some(Value::Float(x)) if x.is_finite() => x.clamp(0.0, u32::MAX as f64) as u32,
            _ => 1,
        }
    }

    /// The dbmaxmatches rule: keep the last `max` matches; with 0 the
    /// `matches` key goes altogether (fail2ban deletes it rather than storing
    /// an empty list).
    pub fn limit_matches(&mut self, max: usize) {
        let Value::Dict(items) = &mut self.data else {
            return;
        };
        if max == 0 {
            items.retain(|(k, _)| k.as_str() != Some("matches"));
            return;
        }
        for (k, v) in items.iter_mut() {
            if k.as_str() == Some("matches") {
                if let Value::List(l) = v {
                    if l.len() > max {
                        l.drain(..l.len() - max);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket() -> BanTicket {
        BanTicket {
            fid: "alice".into(),
            ip: "192.0.2.7".into(),
            time: 1000.5,
            bantime: None,
            ban_count: 2,
            attempts: 3,
            matches: vec!["a".into(), "b".into(), "c".into()],
            data: vec![("user".into(), "alice".into())],
            restored: false,
        }
    }

    #[test]
    fn a_ticket_goes_to_a_row_and_back() {
        let r = BanRecord::from_ticket("sshd", &ticket(), 600);
        assert_eq!(r.ip, "alice");
        assert_eq!(r.time_of_ban, 1000, "Python rounds halves to even");
        assert_eq!(r.ban_time, 600);
        assert_eq!(
            super::super::json::to_json(&r.data),
            r#"{"matches": ["a", "b", "c"], "failures": 3, "ip": "192.0.2.7", "user": "alice"}"#
        );
        let t = r.to_ticket();
        assert_eq!((t.fid.as_str(), t.ip.as_str()), ("alice", "192.0.2.7"));
        assert_eq!(t.bantime, Some(600));
        assert_eq!((t.ban_count, t.attempts), (2, 3));
        assert_eq!(t.matches, ["a", "b", "c"]);
        assert_eq!(t.data, [("user".to_string(), "alice".to_string())]);
        assert!(t.restored);
    }

    #[test]
    fn dbmaxmatches_keeps_the_last_matches_or_drops_the_key() {
        let mut r = BanRecord::from_ticket("sshd", &ticket(), 600);
        r.limit_matches(2);
        assert_eq!(r.matches(), ["b", "c"]);
        r.limit_matches(0);
        assert!(r.get("matches").is_none());
        assert_eq!(r.failures(), 3);
    }

    #[test]
    fn resume_only_in_the_same_file() {
        let p = LogPosition {
            hash: Some("abc".into()),
            pos: 42,
        };
        assert_eq!(p.resume_at("abc"), Some(42));
        assert_eq!(p.resume_at("def"), None);
    }
}
