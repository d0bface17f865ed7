//! One compiled filter regex (failregex, ignoreregex or prefregex): tag
//! expansion, Python-to-fancy-regex translation, compilation, and the search
//! over a line buffer that tells which buffered lines the match covered
//! (fail2ban's `Regex`/`FailRegex` classes).

use std::fmt;
use std::sync::{Arc, OnceLock};

use fancy_regex::Regex as Compiled;

use super::failure::{field_name, FieldName, Fields};
use super::lookahead;
use super::matcher::Matcher;
pub use super::matcher::{Group, Groups, Scratch, SearchAbandoned, Span};
use super::pyregex;
use super::tags;

/// Work bound for one search: beyond this many backtracking steps the
/// search is abandoned (fail2ban has no bound and can hang for minutes).
pub const BACKTRACK_LIMIT: usize = 200_000;

/// Groups that identify a failure, in the order fail2ban looks for them.
pub const FAILURE_ID_GROUPS: [&str; 4] = ["fid", "ip4", "ip6", "dns"];

/// A regex that could not be added to a filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegexError {
    Empty,
    Translate(pyregex::TranslateError),
    Compile { regex: String, reason: String },
    NoFailureId { regex: String },
}

impl fmt::Display for RegexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegexError::Empty => f.write_str("cannot add an empty regex"),
            RegexError::Translate(e) => write!(f, "{e}"),
            RegexError::Compile { regex, reason } => {
                write!(
                    f,
                    "unable to compile regular expression {regex:?}: {reason}"
                )
            }
            RegexError::NoFailureId { regex } => write!(f, "no failure-id group in {regex:?}"),
        }
    }
}

impl std::error::Error for RegexError {}

/// A compiled filter regex. Clones share the compiled program and its
/// search caches: a regex crate `Regex` clone would get caches of its own,
/// hundreds of KiB per jail once searched, so the programs sit behind `Arc`.
#[derive(Debug, Clone)]
pub struct FilterRegex {
    /// The regex after tag expansion, in Python syntax (what fail2ban shows).
    pub expanded: String,
    matcher: Matcher,
    group_names: Vec<String>,
    /// Group names (shared by every match's fields) and numbers.
    shared_names: Vec<(FieldName, usize)>,
    /// Whether no name is taken by two groups (fancy-regex allows that).
    distinct_names: bool,
    /// Numbers of the `skiplines*` groups.
    skiplines: Vec<usize>,
    /// `alt_*` groups and the field each one fills in when that is empty
    /// (interned names).
    alternates: Vec<(FieldName, FieldName)>,
    /// The pattern in fancy-regex syntax.
    translated: String,
    /// Text every match must contain: lines without it are skipped unsearched.
    required: Option<memchr::memmem::Finder<'static>>,
}

/// A literal run of at least this many characters is worth a prefilter.
const MIN_REQUIRED_LITERAL: usize = 3;

/// The longest literal every match of the Python regex `regex` must contain:
/// a run of plain characters outside any group, class or alternation.
/// `None` when there is none, or when flags could change its meaning.
pub fn required_literal(regex: &str) -> Option<String> {
    if regex.contains("(?i") || regex.contains("(?x") || regex.contains("(?u") {
        return None;
    }
    let chars: Vec<char> = regex.chars().collect();
    let mut depth = 0usize;
    let mut best = String::new();
    let mut run = String::new();
    let mut i = 0;
    let finish = |run: &mut String, best: &mut String| {
        if run.chars().count() > best.chars().count() {
            *best = run.clone();
        }
        run.clear();
    };
    while i < chars.len() {
        let c = chars[i];
        // The character (if any) this token contributes at the top level.
        let (literal, next) = match c {
            '\\' => match chars.get(i + 1) {
                Some(e) if !e.is_alphanumeric() => (Some(*e), i + 2),
                Some(_) => (None, i + 2),
                None => return None,
            },
            '[' => {
                let mut j = i + 1;
                if chars.get(j) == Some(&'^') {
                    j += 1;
                }
                if chars.get(j) == Some(&']') {
                    j += 1;
                }
                while j < chars.len() && chars[j] != ']' {
                    j += if chars[j] == '\\' { 2 } else { 1 };
                }
                (None, j + 1)
            }
            '(' => {
                depth += 1;
                (None, i + 1)
            }
            ')' => {
                depth = depth.saturating_sub(1);
                (None, i + 1)
            }
            '|' if depth == 0 => return None,
            '{' => {
                // A `{m,n}` quantifier: its digits are not text to look for.
                let mut j = i + 1;
                while j < chars.len() && (chars[j].is_ascii_digit() || chars[j] == ',') {
                    j += 1;
                }
                (
                    None,
                    if chars.get(j) == Some(&'}') {
                        j + 1
                    } else {
                        i + 1
                    },
                )
            }
            '.' | '^' | '$' | '|' | '*' | '+' | '?' | '}' => (None, i + 1),
            c => (Some(c), i + 1),
        };
        let quantifier = chars.get(next).copied();
        match literal {
            Some(l) if depth == 0 => match quantifier {
                Some('?') | Some('*') | Some('{') => finish(&mut run, &mut best),
                Some('+') => {
                    run.push(l);
                    finish(&mut run, &mut best);
                }
                _ => run.push(l),
            },
            _ => finish(&mut run, &mut best),
        }
        i = next;
    }
    finish(&mut run, &mut best);
    (best.chars().count() >= MIN_REQUIRED_LITERAL).then_some(best)
}

/// Python `re.sub` of fail2ban's `R_GLOB2LOCFLAGS`: `((?i)x)` becomes `(?i:x)`.
fn globals_to_local_flags(regex: &str) -> String {
    static CELL: OnceLock<Compiled> = OnceLock::new();
    let re = CELL.get_or_init(|| Compiled::new(r"(?<!\\)\((?:\?:)?(\(\?[a-z]+)\)").expect("valid"));
    re.replace_all(regex, "${1}:").into_owned()
}

impl FilterRegex {
    /// Expands tags and compiles `regex`; `multiline` when the filter buffers
    /// lines. A regex compiled before in this process (the same filter in
    /// several jails, or a jail's filter rebuilt) is shared, not compiled again.
    pub fn new(regex: &str, use_dns: &str, multiline: bool) -> Result<FilterRegex, RegexError> {
        type Key = (String, String, bool);
        static CACHE: std::sync::Mutex<Option<std::collections::HashMap<Key, FilterRegex>>> =
            std::sync::Mutex::new(None);
        let key = (regex.to_string(), use_dns.to_string(), multiline);
        if let Some(r) = CACHE
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert_with(Default::default)
            .get(&key)
        {
            return Ok(r.clone());
        }
        let compiled = Self::compile(regex, use_dns, multiline)?;
        CACHE
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert_with(Default::default)
            .insert(key, compiled.clone());
        Ok(compiled)
    }

    fn compile(regex: &str, use_dns: &str, multiline: bool) -> Result<FilterRegex, RegexError> {
        let expanded = tags::expand_tags(regex, use_dns);
        if expanded.trim_start().is_empty() {
            return Err(RegexError::Empty);
        }
        let expanded = globals_to_local_flags(&expanded);
        let fast = tags::without_ipv6_lookbehind(&expanded);
        let fast = lookahead::without_decided_lookaheads(&fast).unwrap_or(fast);
        let mut translated = pyregex::translate(&fast).map_err(RegexError::Translate)?;
        if multiline {
            translated = format!("(?m){translated}");
        }
        let matcher = Matcher::new(&translated, Some(BACKTRACK_LIMIT)).map_err(|reason| {
            RegexError::Compile {
                regex: expanded.clone(),
                reason,
            }
        })?;
        let group_names: Vec<String> = matcher.names().iter().map(|(n, _)| n.clone()).collect();
        let mut alternates: Vec<(FieldName, FieldName)> = group_names
            .iter()
            .filter_map(|name| {
                let rest = name.strip_prefix("alt_").filter(|r| !r.is_empty())?;
                // fail2ban's `^alt_(.*?)(?:_\d+)?$`: a `_N` suffix is dropped.
                let base = match rest.rsplit_once('_') {
                    Some((base, n)) if !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()) => {
                        base
                    }
                    _ => rest,
                };
                Some((field_name(name), field_name(&tags::group_name_of_tag(base))))
            })
            .collect();
        alternates.sort_by_key(|(alt, _)| alt.as_str());
        // `skiplines0`, `skiplines1`… in that order.
        let skiplines = (0..)
            .map_while(|n| matcher.group_index(&format!("skiplines{n}")))
            .collect();
        let required = required_literal(&expanded)
            .map(|lit| memchr::memmem::Finder::new(lit.as_bytes()).into_owned());
        let shared_names: Vec<(FieldName, usize)> = matcher
            .names()
            .iter()
            .map(|(n, i)| (field_name(n), *i))
            .collect();
        let distinct_names = shared_names
            .iter()
            .enumerate()
            .all(|(i, (n, _))| shared_names[..i].iter().all(|(m, _)| m != n));
        Ok(FilterRegex {
            expanded,
            translated,
            shared_names,
            distinct_names,
            matcher,
            group_names,
            alternates,
            skiplines,
            required,
        })
    }

    /// Whether the regex has a group that identifies a failure.
    pub fn has_failure_id(&self) -> bool {
        self.group_names
            .iter()
            .any(|g| FAILURE_ID_GROUPS.contains(&g.as_str()) || g == "mlfid")
    }

    /// A scratch buffer for [`search_into`](Self::search_into).
    pub fn scratch(&self) -> Scratch {
        self.matcher.scratch()
    }

    /// Searches `text`; on a match `scratch.spans` holds the groups.
    pub fn search_into(&self, text: &str, scratch: &mut Scratch) -> Result<bool, SearchAbandoned> {
        if let Some(required) = &self.required {
            if required.find(text.as_bytes()).is_none() {
                return Ok(false);
            }
        }
        self.matcher.search_into(text, 0, scratch)
    }

    /// Searches `text`, returning the groups of a match.
    pub fn search<'t>(&self, text: &'t str) -> Result<Option<Groups<'t>>, SearchAbandoned> {
        let mut scratch = self.scratch();
        if !self.search_into(text, &mut scratch)? {
            return Ok(None);
        }
        Ok(Some(self.matcher.groups_of(text, scratch.spans)))
    }

    /// The named groups of a match, with the alternates merged in
    /// (fail2ban's `getGroups`). Groups that did not take part are `None`.
    pub fn groups(&self, m: &Groups<'_>) -> Fields {
        self.groups_of(m.text(), m.spans())
    }

    /// [`groups`](Self::groups) of a match found by [`search_into`](Self::search_into).
    pub fn groups_of(&self, text: &str, spans: &[Span]) -> Fields {
        let mut out = Fields::default();
        self.groups_into(text, spans, &mut out);
        out
    }

    /// [`groups_of`](Self::groups_of) into `out`, which is cleared first
    /// (a caller reuses its buffers from match to match).
    pub fn groups_into(&self, text: &str, spans: &[Span], out: &mut Fields) {
        out.clear();
        for (n, i) in &self.shared_names {
            let value = spans.get(*i).copied().flatten().map(|(a, b)| &text[a..b]);
            // fancy-regex takes a name twice: the later group's value wins.
            out.insert_shared(*n, value);
        }
        for (alt, base) in &self.alternates {
            if out.get_interned(*alt).is_some_and(|v| !v.is_empty())
                && out.get_interned(*base).is_none_or(str::is_empty)
            {
                out.copy_value(*alt, *base);
            }
        }
    }

    /// Updates `out` with the groups of a match (a Python dict update), as
    /// `out.extend_from(&self.groups_of(text, spans))` does; `scratch` holds
    /// the groups on their own when an `alt_*` group needs them.
    pub fn update_with_groups(
        &self,
        text: &str,
        spans: &[Span],
        out: &mut Fields,
        scratch: &mut Fields,
    ) {
        if !self.alternates.is_empty() {
            // An `alt_*` group looks at this regex's groups only.
            self.groups_into(text, spans, scratch);
            out.extend_from(scratch);
            return;
        }
        if self.distinct_names {
            // A name can only be among the entries `out` had already.
            let had = out.len();
            for (n, i) in &self.shared_names {
                let value = spans.get(*i).copied().flatten().map(|(a, b)| &text[a..b]);
                out.insert_among(had, *n, value);
            }
            return;
        }
        for (n, i) in &self.shared_names {
            let value = spans.get(*i).copied().flatten().map(|(a, b)| &text[a..b]);
            out.insert_shared(*n, value);
        }
    }

    /// The lines captured by `<SKIPLINES>` tags in a match.
    pub fn skipped_lines(&self, m: &Groups<'_>) -> Vec<String> {
        self.skipped_lines_of(m.text(), m.spans())
    }

    /// [`skipped_lines`](Self::skipped_lines) of a match found by [`search_into`](Self::search_into).
    pub fn skipped_lines_of(&self, text: &str, spans: &[Span]) -> Vec<String> {
        let mut joined = String::new();
        for i in &self.skiplines {
            if let Some((a, b)) = spans.get(*i).copied().flatten() {
                joined.push_str(&text[a..b]);
            }
        }
        joined.lines().map(String::from).collect()
    }
}

/// One pass over a text that tells which of several regexes can match it:
/// the regexes that need no backtracking engine run together as a
/// `regex::RegexSet` (one automaton), the others are always candidates.
#[derive(Debug, Clone)]
pub struct CandidateSet {
    /// Behind `Arc`: clones share the automaton and its search caches.
    set: Option<Arc<LazySet>>,
    /// For each regex: its index in the set, or `None` if it is not in it.
    slot: Vec<Option<usize>>,
    /// For each ASCII first byte of a text (and at 128, the empty text):
    /// bit `i` set when regex `i` can match it. Most failregexes begin with
    /// `^` and a word, so this one lookup rules most of them out.
    starts: Option<Box<[u64; 129]>>,
}

/// The set's automaton, built on first use: the first-byte table settles
/// most texts, and building it costs more than compiling the regexes.
#[derive(Debug)]
struct LazySet {
    patterns: Vec<String>,
    built: OnceLock<Option<regex::RegexSet>>,
}

impl LazySet {
    /// `None` when the regex crate refuses the set (every regex stays a candidate).
    fn get(&self) -> Option<&regex::RegexSet> {
        self.built
            .get_or_init(|| {
                regex::RegexSetBuilder::new(&self.patterns)
                    .dfa_size_limit(4 << 20)
                    .build()
                    .ok()
            })
            .as_ref()
    }
}

impl CandidateSet {
    /// The set for `regexes`, built once per process for the same patterns
    /// (jails sharing a filter share it, with its search caches).
    pub fn new(regexes: &[FilterRegex]) -> CandidateSet {
        static CACHE: std::sync::Mutex<
            Option<std::collections::HashMap<Vec<String>, CandidateSet>>,
        > = std::sync::Mutex::new(None);
        let key: Vec<String> = regexes.iter().map(|r| r.translated.clone()).collect();
        if let Some(c) = CACHE
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert_with(Default::default)
            .get(&key)
        {
            return c.clone();
        }
        let built = Self::build(regexes);
        CACHE
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert_with(Default::default)
            .insert(key, built.clone());
        built
    }

    fn build(regexes: &[FilterRegex]) -> CandidateSet {
        let mut patterns = Vec::new();
        let mut slot = Vec::with_capacity(regexes.len());
        for r in regexes {
            // The regex crate reads exactly the patterns fancy-regex would hand it whole.
            if r.matcher.is_fast() {
                slot.push(Some(patterns.len()));
                patterns.push(r.translated.clone());
            } else {
                slot.push(None);
            }
        }
        let set = if patterns.len() > 1 {
            Some(Arc::new(LazySet {
                patterns,
                built: OnceLock::new(),
            }))
        } else {
            slot.iter_mut().for_each(|s| *s = None);
            None
        };
        let starts = (regexes.len() <= 64).then(|| {
            let mut starts = Box::new([0u64; 129]);
            for (i, r) in regexes.iter().enumerate() {
                let (bytes, empty) = r.matcher.first_bytes().unwrap_or((u128::MAX, true));
                for (b, entry) in starts.iter_mut().enumerate() {
                    let can = if b == 128 {
                        empty
                    } else {
                        empty || (bytes >> b) & 1 != 0
                    };
                    if can {
                        *entry |= 1 << i;
                    }
                }
            }
            starts
        });
        CandidateSet { set, slot, starts }
    }

    /// Which regexes may match `text` (`true` for those outside the set),
    /// into `out` (one entry per regex; `scratch` is reused between calls).
    pub fn candidates_into(&self, text: &str, scratch: &mut Vec<bool>, out: &mut Vec<bool>) {
        out.clear();
        let starting = match (&self.starts, text.as_bytes().first()) {
            (Some(starts), Some(&b)) if b < 128 => starts[usize::from(b)],
            (Some(starts), None) => starts[128],
            _ => u64::MAX,
        };
        // Past 64 regexes there is no table: every one is a candidate.
        out.extend(
            (0..self.slot.len()).map(|i| starting.checked_shr(i as u32).is_none_or(|s| s & 1 != 0)),
        );
        // The set pays for itself only when it can rule out four regexes or more.
        let in_set = self
            .slot
            .iter()
            .zip(out.iter())
            .filter(|(s, may)| s.is_some() && **may)
            .count();
        let set = match in_set >= 4 {
            true => self.set.as_ref().and_then(|s| s.get()),
            false => None,
        };
        if let Some(set) = set {
            scratch.clear();
            scratch.resize(set.len(), false);
            set.matches_read_at(scratch, text, 0);
            for (may, s) in out.iter_mut().zip(&self.slot) {
                if let Some(i) = s {
                    *may &= scratch[*i];
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_come_from_the_first_byte_table_then_the_set_past_64_regexes_too() {
        let many: Vec<FilterRegex> = (0..70)
            .map(|i| {
                FilterRegex::new(&format!(r"^x{i} from <F-ID>\S+</F-ID>$"), "yes", false).unwrap()
            })
            .collect();
        let (mut scratch, mut out) = (Vec::new(), Vec::new());
        CandidateSet::new(&many).candidates_into("y1 from 1.2.3.4", &mut scratch, &mut out);
        // No first-byte table past 64 regexes: the set decides alone.
        assert_eq!(out, vec![false; 70]);
        CandidateSet::new(&many).candidates_into("x1 from 1.2.3.4", &mut scratch, &mut out);
        let kept: Vec<usize> = (0..70).filter(|&i| out[i]).collect();
        assert_eq!(kept, vec![1]);
        let few = &many[..3];
        CandidateSet::new(few).candidates_into("y1 from 1.2.3.4", &mut scratch, &mut out);
        assert_eq!(out, vec![false; 3]);
        CandidateSet::new(few).candidates_into("x1 from 1.2.3.4", &mut scratch, &mut out);
        assert_eq!(out, vec![true; 3]);
    }

    #[test]
    fn host_groups_are_found() {
        let r = FilterRegex::new(
            r"^Failed for <HOST> user <F-USER>\S+</F-USER>$",
            "yes",
            false,
        )
        .unwrap();
        assert!(r.has_failure_id());
        let m = r
            .search("Failed for ::ffff:10.0.0.1 user bob")
            .unwrap()
            .unwrap();
        let g = r.groups(&m);
        assert_eq!(g.get("ip4"), Some("10.0.0.1"), "{g:?}");
        assert_eq!(g.get("user"), Some("bob"), "{g:?}");
        assert!(g.iter().any(|(k, v)| k == "ip6" && v.is_none()), "{g:?}");
    }

    #[test]
    fn alternate_groups_fill_the_base_field() {
        let r = FilterRegex::new(
            r"^(?:u=<F-USER>\w+</F-USER>|n=<F-ALT_USER>\w+</F-ALT_USER>) <HOST>$",
            "no",
            false,
        )
        .unwrap();
        let m = r.search("n=eve 1.2.3.4").unwrap().unwrap();
        assert_eq!(r.groups(&m).get("user"), Some("eve"));
        // Like fail2ban, only a `_N` suffix is dropped: ALT_USER1 fills `user1`.
        let r =
            FilterRegex::new(r"^n=<F-ALT_USER1>\w+</F-ALT_USER1> <HOST>$", "no", false).unwrap();
        let m = r.search("n=eve 1.2.3.4").unwrap().unwrap();
        assert_eq!(r.groups(&m).get("user1"), Some("eve"));
    }

    #[test]
    fn required_literals_are_safe() {
        assert_eq!(
            required_literal(r"^\s*LOGIN FAILED, (?:x|y)* ip=\[<HOST>\]"),
            Some("LOGIN FAILED, ".into())
        );
        assert_eq!(required_literal(r"abcd?e"), Some("abc".into()));
        assert_eq!(required_literal(r"a|bcdef"), None);
        assert_eq!(required_literal(r"(?i)abcdef"), None);
        assert_eq!(required_literal(r"x[abc]yz"), None);
        assert_eq!(required_literal(r"foo\.bar+s"), Some("foo.bar".into()));
        assert_eq!(required_literal(r"(abc|def)gh"), None);
        assert_eq!(required_literal(r"^[a-z\-]{3,15}\(\S*"), None);
        assert_eq!(required_literal(r"x{2,3}abcd"), Some("abcd".into()));
    }

    #[test]
    fn global_flags_become_local() {
        let r = FilterRegex::new(r"^x((?i)abc) <HOST>$", "no", false).unwrap();
        assert!(r.search("xABC 1.2.3.4").unwrap().is_some());
        assert!(r.search("XABC 1.2.3.4").unwrap().is_none());
    }

    #[test]
    fn errors_name_the_regex() {
        assert_eq!(
            FilterRegex::new("  ", "no", false).unwrap_err(),
            RegexError::Empty
        );
        let e = FilterRegex::new("(unclosed <HOST>", "no", false).unwrap_err();
        assert!(e.to_string().contains("(unclosed"), "{e}");
    }
}
