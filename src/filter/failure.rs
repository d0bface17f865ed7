//! What a filter reports for a line: the failures found, with the fields
//! their regex captured (fail2ban's `[index, fid, time, data]` entries).

use std::collections::{BTreeMap, BTreeSet};

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
    /// Named groups that took part in the match (`user`, `ip4`, `mlfid`, …).
    pub fields: BTreeMap<String, String>,
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
        self.fields.get(name).map(String::as_str)
    }

    /// Python truthiness of a field: present and not empty.
    pub fn is_set(&self, name: &str) -> bool {
        self.get(name).is_some_and(|v| !v.is_empty())
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
    /// The time of the line, seconds since the epoch.
    pub time: Option<f64>,
    pub data: FailData,
}
