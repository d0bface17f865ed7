//! The date detector: keeps an ordered list of date templates, finds the date
//! in each line and learns which template the log uses, exactly as fail2ban's
//! `DateDetector` does (last-template fast path, distance preference and
//! template reordering), because the order decides which date wins.

use std::collections::HashSet;
use std::sync::{Arc, OnceLock};

use super::memo::MinuteMemo;
use super::strptime::YearRange;
use super::template::{DatePatternError, DateTemplate, SearchScratch, LINE_BEGIN};
use crate::filter::clock::CivilTime;
use crate::filter::failure::Stamp;
use crate::filter::matcher::Span;

/// fail2ban's default date patterns, in its order.
const DEFAULT_PATTERNS: &[&str] = &[
    r"%ExY(?P<_sep>[-/.])%m(?P=_sep)%d(?:T|  ?)%H:%M:%S(?:[.,]%f)?(?:\s*%z)?",
    r"(?:%a )?%b %d %k:%M:%S(?:\.%f)?(?: %ExY)?",
    r"(?:%a )?%b %d %ExY %k:%M:%S(?:\.%f)?",
    r"%d(?P<_sep>[-/])%m(?P=_sep)(?:%ExY|%Exy) %k:%M:%S",
    r"%d(?P<_sep>[-/])%b(?P=_sep)%ExY[ :]?%H:%M:%S(?:\.%f)?(?: %z)?",
    r"%m/%d/%ExY:%H:%M:%S",
    r"%m-%d-%ExY %k:%M:%S(?:\.%f)?",
    r"EPOCH",
    r"{^LN-BEG}%H:%M:%S",
    r"^<%m/%d/%Exy@%H:%M:%S>",
    r"%Exy%Exm%Exd  ?%H:%M:%S",
    r"%b %d, %ExY %I:%M:%S %p",
    r"^%b-%d-%Exy %k:%M:%S",
    r"%ExY%Exm%Exd(?:T|  ?)%ExH%ExM%ExS(?:[.,]%f)?(?:\s*%z)?",
    r"(?:%Z )?(?:%a )?%b %d %k:%M:%S(?:\.%f)?(?: %ExY)?",
    r"(?:%z )?(?:%a )?%b %d %k:%M:%S(?:\.%f)?(?: %ExY)?",
    r"TAI64N",
];

/// The templates built from fail2ban's default patterns, plus their
/// line-anchored twins (which come first and weigh 100). Cloning shares the
/// compiled templates.
///
/// A cheap handle: the templates are compiled on first use, so a process
/// whose filters all have their own `datepattern` never compiles them.
#[derive(Clone)]
pub struct DefaultTemplates {
    years: YearRange,
    built: Arc<OnceLock<BuiltDefaults>>,
}

struct BuiltDefaults {
    plain: Vec<Arc<DateTemplate>>,
    with_anchored: Vec<Arc<DateTemplate>>,
    /// fail2ban's pattern-cache keys of the anchored twins.
    anchored_keys: Vec<String>,
}

impl DefaultTemplates {
    /// The templates for `years`, compiled at most once per process and
    /// shared by every filter (compiling them costs megabytes and
    /// milliseconds, and a server has one filter per jail).
    pub fn shared(years: YearRange) -> DefaultTemplates {
        static CACHE: std::sync::Mutex<Vec<DefaultTemplates>> = std::sync::Mutex::new(Vec::new());
        let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(t) = cache.iter().find(|t| t.years == years) {
            return t.clone();
        }
        let t = DefaultTemplates::new(years);
        cache.push(t.clone());
        t
    }

    /// Templates of their own (not shared), compiled on first use.
    pub fn new(years: YearRange) -> DefaultTemplates {
        DefaultTemplates {
            years,
            built: Arc::new(OnceLock::new()),
        }
    }

    fn built(&self) -> &BuiltDefaults {
        self.built.get_or_init(|| BuiltDefaults::new(self.years))
    }

    fn plain(&self) -> &[Arc<DateTemplate>] {
        &self.built().plain
    }

    fn with_anchored(&self) -> &[Arc<DateTemplate>] {
        &self.built().with_anchored
    }

    /// Whether `key` is the pattern-cache key of an anchored default twin.
    fn is_anchored_key(&self, key: &str) -> bool {
        // Every such key starts with the marker: no need to compile for others.
        key.starts_with("{^LN-BEG}") && self.built().anchored_keys.iter().any(|k| k == key)
    }
}

impl BuiltDefaults {
    fn new(years: YearRange) -> BuiltDefaults {
        let plain: Vec<Arc<DateTemplate>> = DEFAULT_PATTERNS
            .iter()
            .map(|p| {
                Arc::new(
                    DateTemplate::from_pattern_lazy(p, years)
                        .expect("default date pattern is valid"),
                )
            })
            .collect();
        let mut anchored = Vec::new();
        let mut anchored_keys = Vec::new();
        for t in &plain {
            if t.name.starts_with("{^LN-BEG}") || t.name.starts_with('^') {
                continue;
            }
            let wrapped = format!("{{^LN-BEG}}{}", t.anchor_source());
            let twin = DateTemplate::from_pattern_lazy(&wrapped, years)
                .expect("anchored default is valid");
            if twin.name != t.name {
                anchored_keys.push(pattern_cache_key(&wrapped));
                let mut twin = twin;
                twin.weight = 100.0;
                anchored.push(Arc::new(twin));
            }
        }
        let mut with_anchored = anchored;
        with_anchored.extend(plain.iter().cloned());
        BuiltDefaults {
            plain,
            with_anchored,
            anchored_keys,
        }
    }
}

/// fail2ban's `_getAnchoredTemplate`: the template for a wrapped pattern
/// (or wrapped name, for epoch and TAI64N templates).
fn anchored_twin(
    template: &DateTemplate,
    years: YearRange,
    wrap: &dyn Fn(&str) -> String,
) -> Result<DateTemplate, DatePatternError> {
    DateTemplate::from_pattern(&wrap(template.anchor_source()), years)
}

/// The template for a user's `datepattern`. fail2ban caches templates by
/// `key` process-wide, and gives the anchored default twins weight 100: a
/// datepattern with the same key is that same object, weight included.
/// Sharing it also shares its regex caches among the jails that use it.
fn shared_template(
    pattern: &str,
    key: &str,
    years: YearRange,
    defaults: &DefaultTemplates,
) -> Result<Arc<DateTemplate>, DatePatternError> {
    type Entry = (String, YearRange, Arc<DateTemplate>);
    static CACHE: std::sync::Mutex<Vec<Entry>> = std::sync::Mutex::new(Vec::new());
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, _, t)) = cache.iter().find(|(k, y, _)| k == key && *y == years) {
        return Ok(t.clone());
    }
    let mut t = DateTemplate::from_pattern(pattern, years)?;
    if defaults.is_anchored_key(key) {
        t.weight = 100.0;
    }
    let t = Arc::new(t);
    cache.push((key.to_string(), years, t.clone()));
    Ok(t)
}

/// A template in one detector, with that detector's statistics.
struct Slot {
    template: Arc<DateTemplate>,
    hits: u64,
    last_used: f64,
    distance: usize,
}

impl Slot {
    fn weight(&self) -> f64 {
        self.hits as f64 * self.template.weight / (self.distance.max(1) as f64)
    }
}

/// Where the last date was found: byte offset and the characters around it.
#[derive(Clone, Copy)]
struct Boundary {
    pos: usize,
    before: Option<char>,
    at: Option<char>,
}

/// A date found in a line; its groups stay in the detector until the next search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateMatch {
    pub template_index: usize,
    date: (usize, usize),
}

impl DateMatch {
    /// Byte range of the date text (group 1) in the line.
    pub fn date_range(&self) -> std::ops::Range<usize> {
        self.date.0..self.date.1
    }
}

/// Finds dates in log lines.
pub struct DateDetector {
    slots: Vec<Slot>,
    names: HashSet<String>,
    unused_time: f64,
    last_start: Boundary,
    last_end: Boundary,
    last_index: usize,
    first_unused: usize,
    /// logtimezone as minutes east of UTC.
    pub default_tz: Option<i32>,
    years: YearRange,
    /// Search buffers; after a match, `scratch.regex.spans` are its groups.
    scratch: SearchScratch,
    /// The last minute whose time was found.
    minute: MinuteMemo,
}

fn char_before(line: &str, pos: usize) -> Option<char> {
    // Mostly ASCII around a date: read as a byte.
    match pos.checked_sub(1).and_then(|p| line.as_bytes().get(p)) {
        Some(&b) if b.is_ascii() && line.is_char_boundary(pos) => Some(char::from(b)),
        _ => line.get(..pos).and_then(|s| s.chars().next_back()),
    }
}

fn char_at(line: &str, pos: usize) -> Option<char> {
    match line.as_bytes().get(pos) {
        Some(&b) if b.is_ascii() => Some(char::from(b)),
        _ => line.get(pos..).and_then(|s| s.chars().next()),
    }
}

impl DateDetector {
    pub fn new(years: YearRange) -> DateDetector {
        DateDetector {
            slots: Vec::new(),
            names: HashSet::new(),
            unused_time: 300.0,
            last_start: Boundary {
                pos: 1,
                before: None,
                at: None,
            },
            last_end: Boundary {
                pos: usize::MAX,
                before: None,
                at: None,
            },
            last_index: usize::MAX,
            first_unused: 0,
            default_tz: None,
            years,
            scratch: SearchScratch::default(),
            minute: MinuteMemo::default(),
        }
    }

    fn push(
        &mut self,
        template: Arc<DateTemplate>,
        ignore_duplicate: bool,
    ) -> Result<(), DatePatternError> {
        if !self.names.insert(template.name.clone()) {
            if ignore_duplicate {
                return Ok(());
            }
            return Err(DatePatternError {
                pattern: template.name.clone(),
                reason: format!("there is already a template with name {}", template.name),
            });
        }
        self.slots.push(Slot {
            template,
            hits: 0,
            last_used: 0.0,
            distance: 0x7fff_ffff,
        });
        Ok(())
    }

    /// Adds the default templates; `line_begin_only` keeps only the anchored ones.
    pub fn add_default_templates(&mut self, defaults: &DefaultTemplates, line_begin_only: bool) {
        let ignore = !self.slots.is_empty();
        for t in defaults.with_anchored() {
            if line_begin_only && t.flags & LINE_BEGIN == 0 {
                continue;
            }
            // Names of defaults are unique, so only a user template can clash; fail2ban skips it.
            let _ = self.push(t.clone(), ignore);
        }
    }

    /// Adds one `datepattern` entry, with fail2ban's special values
    /// (`{^LN-BEG}`, `{DEFAULT}`, `{DATE}` wrappers, `{NONE}`).
    pub fn append_pattern(
        &mut self,
        pattern: &str,
        defaults: &DefaultTemplates,
    ) -> Result<(), DatePatternError> {
        let key = pattern_cache_key(pattern);
        match key.as_str() {
            "{^LN-BEG}" => {
                self.add_default_templates(defaults, true);
                Ok(())
            }
            "{DEFAULT}" => {
                self.add_default_templates(defaults, false);
                Ok(())
            }
            "{NONE}" => {
                let t = DateTemplate::from_pattern("{UNB}^", self.years)?;
                self.push(Arc::new(t), false)
            }
            _ if key.contains("{DATE}") => {
                let ignore = !self.slots.is_empty();
                for t in defaults.plain() {
                    let wrapped = anchored_twin(t, self.years, &|s| {
                        replace_date_marker(pattern, &DateTemplate::unbound_pattern(s))
                    })?;
                    self.push(Arc::new(wrapped), ignore)?;
                }
                Ok(())
            }
            _ => {
                let t = shared_template(pattern, &key, self.years, defaults)?;
                self.push(t, false)
            }
        }
    }

    /// The templates in their current order.
    pub fn templates(&self) -> impl Iterator<Item = &DateTemplate> {
        self.slots.iter().map(|s| s.template.as_ref())
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Finds the date in `line` (fail2ban's `matchTime`); `now` (seconds
    /// since the epoch) marks the winning template as used.
    pub fn match_time(&mut self, line: &str, now: f64) -> Option<DateMatch> {
        let count = self.slots.len();
        // The winning template, with the groups of its match when they are
        // not in `self.scratch` (a candidate kept while others were tried).
        let mut matched: Option<(usize, Option<Vec<Span>>)> = None;
        let mut best: Option<(Vec<Span>, usize, usize, usize)> = None;
        let mut skip_in_search = usize::MAX;
        let i = self.last_index;
        if i < count {
            let template = &self.slots[i].template;
            let found = if template.is_line_anchored() {
                skip_in_search = i;
                template
                    .search_into(line, 0, line.len(), &mut self.scratch)
                    .is_some()
            } else {
                let (start, end) = (self.last_start, self.last_end);
                let start_ok = char_before(line, start.pos) == start.before
                    || (char_at(line, start.pos) == start.at
                        && !start.at.is_some_and(char::is_alphanumeric));
                let end_ok = char_at(line, end.pos) == end.at
                    || (char_before(line, end.pos) == end.before
                        && !end.before.is_some_and(char::is_alphanumeric));
                if start_ok && end_ok {
                    template
                        .search_into(line, start.pos, end.pos, &mut self.scratch)
                        .is_some()
                } else {
                    skip_in_search = i;
                    template
                        .search_into(line, 0, line.len(), &mut self.scratch)
                        .is_some()
                }
            };
            if found {
                let (ws, we) = self.scratch.regex.spans[0].unwrap_or((0, 0));
                if count == 1
                    || template.is_line_anchored()
                    || (ws == self.last_start.pos && we == self.last_end.pos)
                {
                    matched = Some((i, None));
                } else {
                    best = Some((self.scratch.regex.spans.clone(), ws, we, i));
                }
            }
        }
        if matched.is_none() {
            let mut idx = 0;
            while idx < count {
                if idx == skip_in_search {
                    idx += 1;
                    continue;
                }
                let template = &self.slots[idx].template;
                if template
                    .search_into(line, 0, line.len(), &mut self.scratch)
                    .is_some()
                {
                    let (distance, end) = self.scratch.regex.spans[0].unwrap_or((0, 0));
                    if idx + 1 >= count || template.is_line_anchored() {
                        matched = Some((idx, None));
                        break;
                    }
                    if distance == 0
                        && self.slots[idx].hits > 0
                        && !self.slots[idx + 1].template.has_matched()
                    {
                        matched = Some((idx, None));
                        break;
                    }
                    if distance > self.slots[idx].distance || distance > self.last_start.pos {
                        if best.as_ref().is_none_or(|b| distance < b.1) {
                            best = Some((self.scratch.regex.spans.clone(), distance, end, idx));
                        }
                        idx += 1;
                        continue;
                    }
                    matched = Some((idx, None));
                    break;
                }
                idx += 1;
            }
            if matched.is_none() {
                if let Some((spans, _, _, idx)) = best {
                    matched = Some((idx, Some(spans)));
                }
            }
        }
        let (i, kept) = matched?;
        if let Some(spans) = kept {
            self.scratch.regex.spans = spans;
        }
        let whole = self.scratch.regex.spans[0].unwrap_or((0, 0));
        let date = self
            .scratch
            .regex
            .spans
            .get(1)
            .copied()
            .flatten()
            .unwrap_or((0, 0));
        let slot = &mut self.slots[i];
        slot.hits += 1;
        slot.last_used = now;
        slot.distance = whole.0;
        if self.first_unused == i {
            self.first_unused += 1;
        }
        self.last_start = Boundary {
            pos: whole.0,
            before: char_before(line, whole.0),
            at: char_at(line, whole.0),
        };
        self.last_end = Boundary {
            pos: whole.1,
            before: char_before(line, whole.1),
            at: char_at(line, whole.1),
        };
        let mut index = i;
        if i != 0 && i != self.last_index {
            index = self.reorder(i);
        }
        self.last_index = index;
        Some(DateMatch {
            template_index: index,
            date,
        })
    }

    /// The time of the date [`match_time`](Self::match_time) just found in
    /// `line`, or `None` when the text is not a valid time.
    pub fn time_of(&mut self, line: &str, m: &DateMatch, now: CivilTime) -> Option<Stamp> {
        self.slots[m.template_index]
            .template
            .time_of(
                line,
                &self.scratch.regex.spans,
                now,
                self.default_tz,
                &mut self.minute,
            )
            .ok()
    }

    /// How often the template at `index` won in this detector.
    pub fn hits(&self, index: usize) -> u64 {
        self.slots[index].hits
    }

    /// The detector's weight of the template at `index` (hits, template weight, distance).
    pub fn weight(&self, index: usize) -> f64 {
        self.slots[index].weight()
    }

    /// The template at `index`.
    pub fn template(&self, index: usize) -> &DateTemplate {
        &self.slots[index].template
    }

    /// Moves a template that keeps winning towards the front (`_reorderTemplate`).
    fn reorder(&mut self, num: usize) -> usize {
        let weight = self.slots[num].weight();
        let untime = self.slots[num].last_used - self.unused_time;
        let mut pos = if self.first_unused < num {
            self.first_unused
        } else {
            num / 2
        };
        let movable = |slots: &[Slot], pos: usize| {
            weight > slots[pos].weight() || untime > slots[pos].last_used
        };
        if !movable(&self.slots, pos) {
            if pos == num - 1 {
                return num;
            }
            pos = num - 1;
            if !movable(&self.slots, pos) {
                return num;
            }
        }
        let slot = self.slots.remove(num);
        self.slots.insert(pos, slot);
        while self.first_unused < self.slots.len() && self.slots[self.first_unused].hits > 0 {
            self.first_unused += 1;
        }
        pos
    }
}

/// fail2ban's `DD_patternCache` key of a pattern.
fn pattern_cache_key(pattern: &str) -> String {
    if pattern.contains('%') {
        pattern.to_string()
    } else {
        pattern.to_uppercase()
    }
}

/// Replaces every unescaped `{DATE}` (any case) in `pattern` by `date`.
fn replace_date_marker(pattern: &str, date: &str) -> String {
    let mut out = String::new();
    let mut i = 0;
    let bytes = pattern.as_bytes();
    while i < pattern.len() {
        if pattern[i..].len() >= 6
            && pattern[i..i + 6].eq_ignore_ascii_case("{DATE}")
            && (i == 0 || bytes[i - 1] != b'\\')
        {
            out.push_str(date);
            i += 6;
        } else {
            let c = pattern[i..].chars().next().unwrap_or(' ');
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::clock;

    #[test]
    fn default_templates_find_syslog_and_iso_dates() {
        let defaults = DefaultTemplates::new(YearRange::server(2026));
        let mut d = DateDetector::new(YearRange::server(2026));
        d.add_default_templates(&defaults, false);
        let m = d
            .match_time("Jan  3 10:11:12 host sshd[1]: x", clock::now_seconds())
            .unwrap();
        assert_eq!(m.date_range(), 0..15);
        let m = d
            .match_time("prefix 2024-02-29 01:02:03 rest", clock::now_seconds())
            .unwrap();
        assert_eq!(
            &"prefix 2024-02-29 01:02:03 rest"[m.date_range()],
            "2024-02-29 01:02:03"
        );
    }

    #[test]
    fn date_marker_wraps_defaults() {
        let defaults = DefaultTemplates::new(YearRange::server(2026));
        let mut d = DateDetector::new(YearRange::server(2026));
        d.append_pattern(r"^\[{DATE}\]", &defaults).unwrap();
        assert_eq!(d.len(), 17);
        assert!(d
            .match_time("[2024-01-02 03:04:05] x", clock::now_seconds())
            .is_some());
    }
}
