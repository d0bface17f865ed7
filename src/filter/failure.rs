//! What a filter reports for a line: the failures found, with the fields
//! their regex captured (fail2ban's `[index, fid, time, data]` entries).

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

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

    /// [`full`](Self::full) into `out`, which is cleared first.
    pub fn full_into(&self, out: &mut String) {
        out.clear();
        out.reserve(self.before.len() + self.date.len() + self.after.len());
        out.push_str(&self.before);
        out.push_str(&self.date);
        out.push_str(&self.after);
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
    /// Empties the data, keeping the buffers of its fields and matches.
    pub fn clear(&mut self) {
        // Every field named: a new one must be cleared here too.
        let FailData {
            fields,
            matches,
            users,
            ip,
            nofail_matches,
            pending,
        } = self;
        fields.clear();
        matches.clear();
        *users = None;
        *ip = None;
        nofail_matches.clear();
        *pending = false;
    }

    /// Makes this the data of a new failure with `fields` and the
    /// `matched` lines, in the buffers it has (strings of its matches too).
    pub fn refill(&mut self, fields: &Fields, matched: &[TupleLine]) {
        let mut matches = std::mem::take(&mut self.matches);
        self.clear();
        self.fields.copy_from(fields, 0);
        matches.truncate(matched.len());
        for (i, line) in matched.iter().enumerate() {
            match matches.get_mut(i) {
                Some(m) => line.full_into(m),
                None => matches.push(line.full()),
            }
        }
        self.matches = matches;
    }

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
            self.fields.insert_shared(known().users, None);
        }
        let users = self.users.get_or_insert_with(BTreeSet::new);
        // A user seen before costs no copy.
        if !users.contains(user) {
            users.insert(user.to_string());
        }
    }

    /// Whether this match says "not a failure" (`<F-NOFAIL>` and friends).
    pub fn is_nofail(&self) -> bool {
        self.fields
            .get_interned(known().nofail)
            .is_some_and(|v| !v.is_empty())
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
    /// Shared with the multi-line failure-id cache, which holds the very
    /// data the failure carries on with (copied only when it changes while
    /// both hold it).
    pub data: Arc<FailData>,
}

/// Named values in insertion order, like a Python dict of match groups.
/// Names are interned (see [`field_name`]): a match copies pointers, it does
/// not allocate names or count references to them. The values sit one after
/// another in one string, so a match's fields cost one buffer, not one
/// allocation per group.
#[derive(Clone, Default)]
pub struct Fields {
    /// The values; entries hold their byte ranges. Two entries may share a
    /// range (an `alt_*` group copied to its base).
    text: String,
    entries: Vec<(FieldName, Option<(usize, usize)>)>,
    /// Bytes of `text` that overwritten or removed values left behind: the
    /// string is rebuilt when they outweigh the rest.
    dead: usize,
}

/// Dead bytes a [`Fields`] keeps before it considers rebuilding its string.
const FIELDS_DEAD_SLACK: usize = 256;

/// A field name interned by [`field_name`]: names are told apart by their
/// address, so comparing two costs no look at their text.
#[derive(Clone, Copy)]
pub struct FieldName(&'static str);

impl FieldName {
    pub fn as_str(self) -> &'static str {
        self.0
    }
}

impl PartialEq for FieldName {
    fn eq(&self, other: &FieldName) -> bool {
        std::ptr::eq(self.0, other.0)
    }
}

impl Eq for FieldName {}

impl fmt::Debug for FieldName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.0, f)
    }
}

/// The process-wide copy of a field name. Names are group names of the
/// filters read (fail2ban's tags and a filter's own `<F-…>` groups): a
/// bounded set, each kept once for the life of the process.
pub fn field_name(name: &str) -> FieldName {
    static NAMES: std::sync::Mutex<BTreeSet<&'static str>> = std::sync::Mutex::new(BTreeSet::new());
    let mut names = NAMES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(n) = names.get(name) {
        return FieldName(n);
    }
    let n: &'static str = Box::leak(name.into());
    names.insert(n);
    FieldName(n)
}

/// Interned names of the fields the engine reads for every failure: a
/// lookup by one of these compares pointers, not text.
pub(crate) struct Known {
    pub cidr: FieldName,
    pub content: FieldName,
    pub dns: FieldName,
    pub fid: FieldName,
    pub ip4: FieldName,
    pub ip6: FieldName,
    pub mlfforget: FieldName,
    pub mlfgained: FieldName,
    pub mlfid: FieldName,
    pub nofail: FieldName,
    pub user: FieldName,
    pub users: FieldName,
}

/// The [`Known`] names, interned by [`field_name`].
pub(crate) fn known() -> &'static Known {
    static KNOWN: std::sync::OnceLock<Known> = std::sync::OnceLock::new();
    KNOWN.get_or_init(|| Known {
        cidr: field_name("cidr"),
        content: field_name("content"),
        dns: field_name("dns"),
        fid: field_name("fid"),
        ip4: field_name("ip4"),
        ip6: field_name("ip6"),
        mlfforget: field_name("mlfforget"),
        mlfgained: field_name("mlfgained"),
        mlfid: field_name("mlfid"),
        nofail: field_name("nofail"),
        user: field_name("user"),
        users: field_name("users"),
    })
}

impl Fields {
    fn value(&self, range: Option<(usize, usize)>) -> Option<&str> {
        range.map(|(a, b)| &self.text[a..b])
    }

    fn position(&self, name: &str) -> Option<usize> {
        self.entries.iter().position(|(k, _)| k.0 == name)
    }

    fn position_interned(&self, name: FieldName) -> Option<usize> {
        self.entries.iter().position(|(k, _)| *k == name)
    }

    /// Makes `self` a copy of `other`, with room for `more` entries, in
    /// the buffers `self` has (exactly sized when it has none).
    pub fn copy_from(&mut self, other: &Fields, more: usize) {
        self.text.clear();
        self.text.reserve_exact(other.text.len());
        self.text.push_str(&other.text);
        self.entries.clear();
        self.entries.reserve_exact(other.entries.len() + more);
        self.entries.extend_from_slice(&other.entries);
        self.dead = other.dead;
    }

    /// Empties the fields, keeping their buffers for reuse.
    pub fn clear(&mut self) {
        self.text.clear();
        self.entries.clear();
        self.dead = 0;
    }

    /// The number of entries (`None` values included).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The value of `name`, if present and not `None`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.lookup(name).flatten()
    }

    /// [`get`](Self::get) by an interned name.
    pub fn get_interned(&self, name: FieldName) -> Option<&str> {
        let pos = self.position_interned(name)?;
        self.value(self.entries[pos].1)
    }

    /// The entry of `name`: `None` when absent, `Some(None)` for a `None` value.
    pub fn lookup(&self, name: &str) -> Option<Option<&str>> {
        let pos = self.position(name)?;
        Some(self.value(self.entries[pos].1))
    }

    /// Sets `name`, keeping its position when it exists (Python dict semantics).
    pub fn insert(&mut self, name: &str, value: Option<&str>) {
        match self.position(name) {
            Some(pos) => self.set_at(pos, value),
            None => self.push(field_name(name), value),
        }
    }

    /// [`insert`](Self::insert) with an interned name.
    pub fn insert_shared(&mut self, name: FieldName, value: Option<&str>) {
        match self.position_interned(name) {
            Some(pos) => self.set_at(pos, value),
            None => self.push(name, value),
        }
    }

    /// [`insert_shared`](Self::insert_shared) for a caller that knows
    /// `name` is not among the entries after the first `first`.
    pub(crate) fn insert_among(&mut self, first: usize, name: FieldName, value: Option<&str>) {
        match self.entries[..first].iter().position(|(k, _)| *k == name) {
            Some(pos) => self.set_at(pos, value),
            None => self.push(name, value),
        }
    }

    /// Sets `to` to the value of `from`, if present (no copy of the text).
    pub fn copy_value(&mut self, from: FieldName, to: FieldName) {
        let Some(from) = self.position_interned(from) else {
            return;
        };
        let range = self.entries[from].1;
        match self.position_interned(to) {
            Some(pos) => {
                self.forget(pos);
                self.entries[pos].1 = range;
            }
            None => self.entries.push((to, range)),
        }
    }

    fn push(&mut self, name: FieldName, value: Option<&str>) {
        let range = value.map(|v| self.append(v));
        self.entries.push((name, range));
    }

    fn append(&mut self, v: &str) -> (usize, usize) {
        let start = self.text.len();
        self.text.push_str(v);
        (start, self.text.len())
    }

    fn set_at(&mut self, pos: usize, value: Option<&str>) {
        // Merging a multi-line failure sets mostly the values it already has.
        if self.value(self.entries[pos].1) == value {
            return;
        }
        self.forget(pos);
        self.entries[pos].1 = value.map(|v| self.append(v));
        self.compact_if_wasteful();
    }

    /// Counts the value at `pos` as dead (it is about to be replaced or dropped).
    fn forget(&mut self, pos: usize) {
        if let Some((a, b)) = self.entries[pos].1 {
            self.dead += b - a;
        }
    }

    fn compact_if_wasteful(&mut self) {
        if self.dead > FIELDS_DEAD_SLACK && self.dead * 2 > self.text.len() {
            // `dead` can overcount a range two entries shared.
            let mut text = String::with_capacity(self.text.len().saturating_sub(self.dead));
            for (_, range) in &mut self.entries {
                if let Some((a, b)) = *range {
                    let start = text.len();
                    text.push_str(&self.text[a..b]);
                    *range = Some((start, text.len()));
                }
            }
            self.text = text;
            self.dead = 0;
        }
    }

    /// Removes `name`, returning its value.
    pub fn remove(&mut self, name: &str) -> Option<String> {
        let pos = self.position(name)?;
        let value = self.value(self.entries[pos].1).map(String::from);
        self.remove_at(pos);
        value
    }

    /// Removes `name`, telling whether its value was set and not empty
    /// (Python's truthiness of `dict.pop(name, None)`).
    pub fn remove_is_set(&mut self, name: FieldName) -> bool {
        let Some(pos) = self.position_interned(name) else {
            return false;
        };
        let set = matches!(self.entries[pos].1, Some((a, b)) if b > a);
        self.remove_at(pos);
        set
    }

    fn remove_at(&mut self, pos: usize) {
        self.forget(pos);
        self.entries.remove(pos);
        self.compact_if_wasteful();
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, Option<&str>)> + '_ {
        self.entries.iter().map(|(k, v)| (k.0, self.value(*v)))
    }

    /// The entries with their interned names.
    pub fn iter_shared(&self) -> impl Iterator<Item = (FieldName, Option<&str>)> {
        self.entries.iter().map(|(k, v)| (*k, self.value(*v)))
    }

    /// Sets every entry of `other` (later entries win).
    pub fn extend_from(&mut self, other: &Fields) {
        if self.entries.is_empty() {
            // Reuses this one's buffers.
            self.text.clone_from(&other.text);
            self.entries.clone_from(&other.entries);
            self.dead = other.dead;
            return;
        }
        self.entries.reserve(other.entries.len());
        for (k, v) in other.iter_shared() {
            self.insert_shared(k, v);
        }
    }
}

impl PartialEq for Fields {
    /// Equal entries in the same order (the string's layout does not count).
    fn eq(&self, other: &Fields) -> bool {
        self.iter().eq(other.iter())
    }
}

impl fmt::Debug for Fields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_keep_python_dict_order_and_values() {
        let mut f = Fields::default();
        f.insert("a", Some("1"));
        f.insert("b", None);
        f.insert("c", Some(""));
        f.insert("a", Some("one"));
        assert_eq!(
            f.iter().collect::<Vec<_>>(),
            [("a", Some("one")), ("b", None), ("c", Some(""))]
        );
        assert_eq!(f.lookup("b"), Some(None));
        assert_eq!(f.lookup("x"), None);
        assert!(
            !f.remove_is_set(field_name("c")),
            "an empty value is not set"
        );
        assert!(f.remove_is_set(field_name("a")));
        assert_eq!(f.iter().collect::<Vec<_>>(), [("b", None)]);
        assert_eq!(f.remove("b"), None);
        assert!(f.is_empty());
    }

    #[test]
    fn fields_update_copy_and_compare_by_entries() {
        let mut a = Fields::default();
        a.insert("mlfid", Some("m"));
        a.insert("user", Some("u"));
        let mut b = Fields::default();
        b.insert("user", None);
        b.insert("ip4", Some("192.0.2.1"));
        a.extend_from(&b);
        assert_eq!(
            a.iter().collect::<Vec<_>>(),
            [
                ("mlfid", Some("m")),
                ("user", None),
                ("ip4", Some("192.0.2.1"))
            ]
        );
        a.copy_value(field_name("ip4"), field_name("host"));
        a.copy_value(field_name("absent"), field_name("mlfid"));
        assert_eq!(a.get("host"), Some("192.0.2.1"));
        assert_eq!(a.get("mlfid"), Some("m"));
        // Equal entries are equal fields, whatever their strings hold.
        let mut c = Fields::default();
        c.copy_from(&a, 1);
        assert_eq!(c, a);
        c.insert("user", Some("x"));
        c.insert("user", None);
        assert_eq!(c, a);
        c.insert("user", Some("x"));
        assert_ne!(c, a);
    }

    #[test]
    fn fields_rebuild_their_string_when_mostly_dead() {
        let mut f = Fields::default();
        f.insert("keep", Some("k"));
        f.insert("alias", Some("shared"));
        f.copy_value(field_name("alias"), field_name("other"));
        for i in 0..1000 {
            f.insert("v", Some(&format!("value number {i}")));
        }
        assert!(f.text.len() < 4 * FIELDS_DEAD_SLACK, "{}", f.text.len());
        assert_eq!(
            f.iter().collect::<Vec<_>>(),
            [
                ("keep", Some("k")),
                ("alias", Some("shared")),
                ("other", Some("shared")),
                ("v", Some("value number 999")),
            ]
        );
    }

    #[test]
    fn refill_reuses_a_data_as_a_new_failure() {
        let mut old = FailData::default();
        old.fields.insert("user", Some("old"));
        old.add_user("old");
        old.ip = Some("192.0.2.9".into());
        old.matches = vec!["a".into(), "b".into()];
        old.pending = true;
        let mut fields = Fields::default();
        fields.insert("ip4", Some("192.0.2.1"));
        let line = TupleLine {
            before: "x ".into(),
            date: "Jan  1".into(),
            after: " y".into(),
        };
        old.refill(&fields, std::slice::from_ref(&line));
        let fresh = FailData {
            fields,
            matches: vec!["x Jan  1 y".into()],
            ..FailData::default()
        };
        assert_eq!(old, fresh);
    }
}
