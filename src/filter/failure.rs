//! What a filter reports for a line: the failures found, with the fields
//! their regex captured (fail2ban's `[index, fid, time, data]` entries).

use std::collections::BTreeSet;
use std::fmt;

use crate::stream::float_repr;

/// A log line split around its date: text before, date text, text after.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TupleLine {
    pub before: String,
    pub date: String,
    pub after: String,
}

impl TupleLine {
    /// A line with no date found in it.
    pub fn undated(line: &str) -> TupleLine {
        TupleLine {
            after: line.to_string(),
            ..TupleLine::default()
        }
    }

    /// The line without its date: what the regexes are matched against.
    pub fn without_date(&self) -> String {
        let mut s = String::with_capacity(self.before.len() + self.after.len());
        s.push_str(&self.before);
        s.push_str(&self.after);
        s
    }

    /// The whole line as it was read.
    pub fn full(&self) -> String {
        let mut s = String::with_capacity(self.before.len() + self.date.len() + self.after.len());
        s.push_str(&self.before);
        s.push_str(&self.date);
        s.push_str(&self.after);
        s
    }
}

/// The data of one failure: captured fields and what fail2ban adds to them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FailData {
    /// Named groups in regex order, `None` where a group took no part
    /// (fail2ban's group dict, which `-o row` prints).
    pub fields: Fields,
    /// The matched log lines.
    pub matches: Vec<String>,
    /// Every user seen for a multi-line failure id.
    pub users: Option<BTreeSet<String>>,
    /// The host, when the failure id is something else (`<F-ID>` with `<HOST>`).
    pub ip: Option<String>,
    pub(crate) nofail_matches: Vec<String>,
    pub(crate) pending: bool,
}

impl FailData {
    /// A captured field.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields.get(name)
    }

    /// Python truthiness of a field: present and not empty.
    pub fn is_set(&self, name: &str) -> bool {
        self.get(name).is_some_and(|v| !v.is_empty())
    }

    /// Adds a user to `users`, creating the set (and its place among the
    /// fields, which `-o row` shows) on first use, as fail2ban's `_updateUsers`.
    pub fn add_user(&mut self, user: &str) {
        if self.users.is_none() {
            self.fields.insert_shared("users", None);
        }
        self.users
            .get_or_insert_with(BTreeSet::new)
            .insert(user.to_string());
    }

    /// Whether this match says "not a failure" (`<F-NOFAIL>` and friends).
    pub fn is_nofail(&self) -> bool {
        self.is_set("nofail")
    }
}

/// One failure found by a failregex.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// Index of the failregex that matched.
    pub regex_index: usize,
    /// The failure id (normally the host); `None` for a multi-line failure
    /// still waiting for its host.
    pub id: Option<String>,
    /// The time of the line.
    pub time: Option<Stamp>,
    pub data: FailData,
}

/// Named values in insertion order, like a Python dict of match groups.
/// Names are interned (see [`field_name`]): a match copies pointers, it does
/// not allocate names or count references to them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fields(Vec<(&'static str, Option<String>)>);

/// The process-wide copy of a field name. Names are group names of the
/// filters read (fail2ban's tags and a filter's own `<F-…>` groups): a
/// bounded set, each kept once for the life of the process.
pub fn field_name(name: &str) -> &'static str {
    static NAMES: std::sync::Mutex<BTreeSet<&'static str>> = std::sync::Mutex::new(BTreeSet::new());
    let mut names = NAMES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(n) = names.get(name) {
        return n;
    }
    let n: &'static str = Box::leak(name.into());
    names.insert(n);
    n
}

impl Fields {
    /// The value of `name`, if present and not `None`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| *k == name)
            .and_then(|(_, v)| v.as_deref())
    }

    /// Sets `name`, keeping its position when it exists (Python dict semantics).
    pub fn insert(&mut self, name: &str, value: Option<String>) {
        match self.0.iter_mut().find(|(k, _)| *k == name) {
            Some((_, v)) => *v = value,
            None => self.0.push((field_name(name), value)),
        }
    }

    /// [`insert`](Self::insert) with an interned name.
    pub fn insert_shared(&mut self, name: &'static str, value: Option<String>) {
        match self.0.iter_mut().find(|(k, _)| *k == name) {
            Some((_, v)) => *v = value,
            None => self.0.push((name, value)),
        }
    }

    /// Removes `name`, returning its value.
    pub fn remove(&mut self, name: &str) -> Option<String> {
        let pos = self.0.iter().position(|(k, _)| *k == name)?;
        self.0.remove(pos).1
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        self.0.iter().map(|(k, v)| (*k, v.as_deref()))
    }

    /// The entries with their interned names.
    pub fn iter_shared(&self) -> impl Iterator<Item = (&'static str, Option<&str>)> {
        self.0.iter().map(|(k, v)| (*k, v.as_deref()))
    }

    /// Sets every entry of `other` (later entries win), moving its values.
    pub fn extend_from(&mut self, other: Fields) {
        if self.0.is_empty() {
            *self = other;
            return;
        }
        self.0.reserve(other.0.len());
        for (k, v) in other.0 {
            match self.0.iter_mut().find(|(name, _)| *name == k) {
                Some((_, old)) => *old = v,
                None => self.0.push((k, v)),
            }
        }
    }
}

/// A failure time as fail2ban computes it: `time.mktime` gives a float,
/// `calendar.timegm` (zone known) and TAI64N an integer. The distinction
/// shows in `fail2ban-regex -o row`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stamp {
    Int(i64),
    Float(f64),
}

impl Stamp {
    pub fn seconds(self) -> f64 {
        match self {
            Stamp::Int(i) => i as f64,
            Stamp::Float(f) => f,
        }
    }
}

impl fmt::Display for Stamp {
    /// Python's `repr`/`str` of the value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stamp::Int(i) => write!(f, "{i}"),
            Stamp::Float(x) => f.write_str(&float_repr(*x)),
        }
    }
}
