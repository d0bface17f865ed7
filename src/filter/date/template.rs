//! Date templates: one way of finding a date in a line (a strptime-style
//! pattern, Unix epoch, or TAI64N), built the way fail2ban's `DateTemplate`
//! classes build their regexes, word and line anchors included.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use fancy_regex::{Captures, Regex};

use super::memo::{Layout, MinuteMemo};
use super::quick::{self, Outcome};
use super::strptime::{self, DateValueError, YearRange, LONG_FIELD_CODES, SHORT_FIELD_CODES};
use crate::filter::clock::CivilTime;
use crate::filter::failure::Stamp;
use crate::filter::matcher::{Groups, Matcher, Scratch, Span};
use crate::filter::pyregex;

/// The template matches only at the beginning of a line.
pub const LINE_BEGIN: u8 = 8;
/// The template matches only at the end of a line.
pub const LINE_END: u8 = 4;
pub const WORD_BEGIN: u8 = 2;
pub const WORD_END: u8 = 1;

/// A date pattern that could not be turned into a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatePatternError {
    pub pattern: String,
    pub reason: String,
}

impl fmt::Display for DatePatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid date pattern {:?}: {}",
            self.pattern, self.reason
        )
    }
}

impl std::error::Error for DatePatternError {}

/// How the matched text becomes a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// strptime fields captured by named groups.
    Fields,
    /// A Unix time in the given capture group; `long` also takes milli/microseconds.
    Epoch {
        group: usize,
        long: bool,
    },
    Tai64n,
}

/// How a template anchors its regex.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WordBegin {
    No,
    Yes,
    /// Anchored at the start of the line (`{^LN-BEG}`).
    LineStart,
}

/// Buffers of template searches, one set per searcher (a date detector):
/// the regex crate's, whose spans hold the groups of a match, and the
/// quick programs', which remember their last search.
#[derive(Debug, Default)]
pub struct SearchScratch {
    pub regex: Scratch,
    quick: quick::Scratch,
}

/// A compiled date template.
#[derive(Debug)]
pub struct DateTemplate {
    pub name: String,
    /// The user-level pattern (`%b %d …`), for strptime-style templates.
    pub pattern: Option<String>,
    /// The Python-syntax regex, as fail2ban shows it.
    pub regex_text: String,
    pub flags: u8,
    pub weight: f64,
    /// Whether a search succeeded in this process, in any detector (the
    /// detector consults whether fail2ban's `DateTemplate.hits` is 0).
    /// Set once: no shared counter written for every line of every jail.
    matched: AtomicBool,
    kind: Kind,
    /// `regex_text` translated for the regex engines.
    translated: String,
    /// Compiled on first use: a process has dozens of default templates
    /// and searches with one or two of them.
    programs: OnceLock<Result<Programs, String>>,
}

/// The compiled regexes of a template.
#[derive(Debug)]
struct Programs {
    regex: Matcher,
    /// The regex without its word-bound lookaheads, when that leaves a
    /// regex fancy-regex runs on its linear engine; the bounds are then
    /// checked by hand (see [`DateTemplate::search`]).
    unbounded: Option<Unbounded>,
    /// Capture group index and strptime key of each named group.
    fields: Vec<(usize, String)>,
    /// The fields for the memo of minutes.
    layout: Layout,
}

/// A template regex with its word-bound lookaheads taken out.
#[derive(Debug)]
struct Unbounded {
    regex: Matcher,
    /// For line-anchored templates: the pattern of `regex`, and the same
    /// regex as a small backtracking program (see [`quick`]), compiled on
    /// first use (most templates are never searched).
    anchored: Option<(Box<str>, OnceLock<Option<quick::Program>>)>,
    word_begin: bool,
    word_end: bool,
}

impl Unbounded {
    fn quick(&self) -> Option<&quick::Program> {
        let (pattern, program) = self.anchored.as_ref()?;
        program
            .get_or_init(|| {
                // The program reproduces the regex crate's answers, so only
                // where the crate is the engine.
                self.regex
                    .is_fast()
                    .then(|| quick::Program::new(pattern, self.regex.captures_len()))
                    .flatten()
            })
            .as_ref()
    }
}

const WORD_BEGIN_LOOKAHEAD: &str = r"(?=^|\b|\W)";
const WORD_END_LOOKAHEAD: &str = r"(?=\b|\W|$)";

/// Python's `\w` for one character.
fn is_word(c: Option<char>) -> bool {
    c.is_some_and(|c| c.is_alphanumeric() || c == '_')
}

/// The characters before and at byte `pos` of `text` (read as bytes
/// where those are ASCII, as they mostly are around a date).
fn chars_around(text: &str, pos: usize) -> (Option<char>, Option<char>) {
    let bytes = text.as_bytes();
    let before = match pos.checked_sub(1).map(|p| bytes.get(p)) {
        None => None,
        Some(Some(&b)) if b.is_ascii() => Some(char::from(b)),
        Some(_) => text[..pos].chars().next_back(),
    };
    let after = match bytes.get(pos) {
        Some(&b) if b.is_ascii() => Some(char::from(b)),
        _ => text[pos..].chars().next(),
    };
    (before, after)
}

/// `(?=^|\b|\W)` at byte `pos` of `text`.
fn word_begin_holds(text: &str, pos: usize) -> bool {
    let (before, after) = chars_around(text, pos);
    pos == 0 || is_word(before) != is_word(after) || (after.is_some() && !is_word(after))
}

/// `(?=\b|\W|$)` at byte `pos` of `text`.
fn word_end_holds(text: &str, pos: usize) -> bool {
    let (before, after) = chars_around(text, pos);
    is_word(before) != is_word(after) || after.is_none_or(|c| !is_word(Some(c)))
}

/// Python `re.compile` of the helper expressions fail2ban applies to patterns.
fn helper(cell: &'static OnceLock<Regex>, python: &str) -> &'static Regex {
    cell.get_or_init(|| {
        let translated = pyregex::translate(python).expect("built-in helper regex translates");
        Regex::new(&translated).expect("built-in helper regex compiles")
    })
}

macro_rules! helper_regex {
    ($name:ident, $re:expr) => {
        fn $name() -> &'static Regex {
            static CELL: OnceLock<Regex> = OnceLock::new();
            helper(&CELL, $re)
        }
    };
}

helper_regex!(re_grouped, r"(?<!(?:\(\?))(?<!\\)\((?!\?)");
helper_regex!(re_group, r"^((?:\(\?\w+\))?\^?(?:\(\?\w+\))?)(.*?)(\$?)$");
helper_regex!(re_global_flags, r"((?:^|(?!<\\))\(\?[a-z]+\))");
helper_regex!(
    re_no_word_bound_begin,
    r"^\(*(?:\(\?\w+\))?(?:\^|\(*\*\*|\((?:\?:)?\^)"
);
helper_regex!(re_no_word_bound_end, r"(?<!\\)(?:\$\)?|\\b|\\s|\*\*\)*)$");
helper_regex!(
    re_del_word_bounds,
    r"^\(*(?:\(\?\w+\))?\(*\*\*|(?<!\\)\*\*\)*$"
);
helper_regex!(
    re_line_bound_begin,
    r"^(?:\(\?\w+\))?(?:\^|\((?:\?:)?\^(?!\|))"
);
helper_regex!(re_line_bound_end, r"(?<![\\\|])(?:\$\)?)$");
helper_regex!(re_alpha_pattern, r"(?<!\%)\%[aAbBpc]");
helper_regex!(re_epoch_pattern, r"(?i)(?<!\\)\{L?EPOCH\}");
helper_regex!(re_start_anchor_bound, r"^\((?:\?:)?\^\|\\b\|\\W\)");
helper_regex!(re_end_anchor_bound, r"\(\?=\\b\|\\W\|\$\)$");

fn found(re: &Regex, text: &str) -> bool {
    re.is_match(text).unwrap_or(false)
}

impl DateTemplate {
    /// The template fail2ban builds for a `datepattern` value or a default
    /// pattern (`_getPatternTemplate`): EPOCH, LEPOCH, TAI64N or strptime style.
    pub fn from_pattern(pattern: &str, years: YearRange) -> Result<DateTemplate, DatePatternError> {
        let t = DateTemplate::from_pattern_lazy(pattern, years)?;
        if let Err(reason) = t.programs() {
            return Err(DatePatternError {
                pattern: pattern.to_string(),
                reason: reason.clone(),
            });
        }
        Ok(t)
    }

    /// [`from_pattern`](Self::from_pattern) with the regexes compiled on
    /// first use (for patterns known to compile: fail2ban's defaults).
    pub(crate) fn from_pattern_lazy(
        pattern: &str,
        years: YearRange,
    ) -> Result<DateTemplate, DatePatternError> {
        let key = if pattern.contains('%') {
            pattern.to_string()
        } else {
            pattern.to_uppercase()
        };
        if key.contains("EPOCH") {
            if found(re_epoch_pattern(), pattern) {
                return DateTemplate::epoch(Some(pattern), key.contains("LEPOCH"), WordBegin::No);
            }
            match key.as_str() {
                "EPOCH" => return DateTemplate::epoch(None, false, WordBegin::No),
                "{^LN-BEG}EPOCH" | "^EPOCH" => {
                    return DateTemplate::epoch(None, false, WordBegin::LineStart)
                }
                "LEPOCH" => return DateTemplate::epoch(None, true, WordBegin::No),
                "{^LN-BEG}LEPOCH" | "^LEPOCH" => {
                    return DateTemplate::epoch(None, true, WordBegin::LineStart)
                }
                _ => {}
            }
        }
        match key.as_str() {
            "TAI64N" => DateTemplate::tai64n(WordBegin::No),
            "{^LN-BEG}TAI64N" | "^TAI64N" => DateTemplate::tai64n(WordBegin::LineStart),
            _ => DateTemplate::strptime(pattern, years),
        }
    }

    fn strptime(pattern: &str, years: YearRange) -> Result<DateTemplate, DatePatternError> {
        let error = |reason: String| DatePatternError {
            pattern: pattern.to_string(),
            reason,
        };
        let mut body = pattern;
        let (mut word_begin, mut word_end) = (WordBegin::Yes, true);
        if let Some(rest) = body.strip_prefix("{UNB}") {
            body = rest;
            word_begin = WordBegin::No;
            word_end = false;
        }
        if word_begin != WordBegin::No {
            if let Some(rest) = body.strip_prefix("{^LN-BEG}") {
                body = rest;
                word_begin = WordBegin::LineStart;
            }
        }
        let (name, regex) = substitute_fields(body, years).map_err(error)?;
        let regex = if found(re_alpha_pattern(), body) {
            format!("(?iu){regex}")
        } else {
            regex
        };
        let mut template =
            DateTemplate::build(name, regex, word_begin, word_end, Kind::Fields).map_err(error)?;
        template.pattern = Some(pattern.to_string());
        Ok(template)
    }

    fn epoch(
        pattern: Option<&str>,
        long: bool,
        begin: WordBegin,
    ) -> Result<DateTemplate, DatePatternError> {
        let epoch_re = if long {
            r"\d{10,11}(?:\d{3}(?:\.\d{1,6}|\d{3})?)?"
        } else {
            r"\d{10,11}\b(?:\.\d{3,6})?"
        };
        let default_name = if long { "LongEpoch" } else { "Epoch" };
        let built = match (pattern, begin) {
            (Some(p), _) => {
                let inner = re_epoch_pattern().replace_all(p, format!("({epoch_re})").as_str());
                DateTemplate::build(p.to_string(), format!("({inner})"), WordBegin::Yes, true, Kind::Epoch { group: 2, long })
            }
            (None, WordBegin::LineStart) => DateTemplate::build(
                default_name.to_string(),
                format!(r"((?P<square>(?<=^\[))?{epoch_re})(?(square)(?=\]))"),
                WordBegin::LineStart,
                true,
                Kind::Epoch { group: 1, long },
            ),
            (None, _) => DateTemplate::build(
                default_name.to_string(),
                r"((?:^|(?P<square>(?<=^\[))|(?P<selinux>(?<=\baudit\()))%s)(?:(?(selinux)(?=:\d+\)))|(?(square)(?=\])))".replace("%s", epoch_re),
                WordBegin::No,
                true,
                Kind::Epoch { group: 1, long },
            ),
        };
        built.map_err(|reason| DatePatternError {
            pattern: pattern.unwrap_or(default_name).to_string(),
            reason,
        })
    }

    fn tai64n(begin: WordBegin) -> Result<DateTemplate, DatePatternError> {
        DateTemplate::build(
            "TAI64N".into(),
            "@[0-9a-f]{24}".into(),
            begin,
            true,
            Kind::Tai64n,
        )
        .map_err(|reason| DatePatternError {
            pattern: "TAI64N".into(),
            reason,
        })
    }

    /// fail2ban's `DateTemplate.setRegex`: adds word or line anchors and the
    /// outer group, then compiles.
    fn build(
        mut name: String,
        regex: String,
        word_begin: WordBegin,
        word_end: bool,
        kind: Kind,
    ) -> Result<DateTemplate, String> {
        let mut regex = regex.trim().to_string();
        let global_flags = re_global_flags()
            .captures(regex.as_str())
            .ok()
            .flatten()
            .map(|c| {
                (
                    c.get(0).map(|m| m.range()).unwrap_or(0..0),
                    c[1].to_string(),
                )
            });
        if let Some((range, _)) = &global_flags {
            regex.replace_range(range.clone(), "");
        }
        let bound_begin = word_begin != WordBegin::No && !found(re_no_word_bound_begin(), &regex);
        let bound_end = word_end && !found(re_no_word_bound_end(), &regex);
        if !found(re_grouped(), &regex) {
            regex = re_group().replace(&regex, "${1}(${2})${3}").into_owned();
        }
        let mut flags = 0;
        if bound_begin {
            if word_begin == WordBegin::LineStart {
                flags |= LINE_BEGIN;
                regex = format!(r"^(?:\W{{0,2}})?{regex}");
                if !name.starts_with("{^LN-BEG}") {
                    name = format!("{{^LN-BEG}}{name}");
                }
            } else {
                flags |= WORD_BEGIN;
                regex = format!(r"(?=^|\b|\W){regex}");
            }
        }
        if bound_end {
            flags |= WORD_END;
            regex.push_str(r"(?=\b|\W|$)");
        }
        if flags & LINE_BEGIN == 0 && found(re_line_bound_begin(), &regex) {
            flags |= LINE_BEGIN;
        }
        if flags & LINE_END == 0 && found(re_line_bound_end(), &regex) {
            flags |= LINE_END;
        }
        regex = re_del_word_bounds()
            .replace_all(&regex, |c: &Captures<'_, str>| c[0].replace("**", ""))
            .into_owned();
        if let Some((_, gf)) = global_flags {
            regex = format!("{gf}{regex}");
        }
        let translated = pyregex::translate(&regex).map_err(|e| e.to_string())?;
        Ok(DateTemplate {
            name,
            pattern: None,
            regex_text: regex,
            flags,
            weight: 1.0,
            matched: AtomicBool::new(false),
            kind,
            translated,
            programs: OnceLock::new(),
        })
    }

    /// The compiled regexes (compiling them on first use).
    fn programs(&self) -> Result<&Programs, &String> {
        self.programs
            .get_or_init(|| {
                let regex = Matcher::unsplit(&self.translated, None)?;
                let fields: Vec<(usize, String)> =
                    regex.names().iter().map(|(n, i)| (*i, n.clone())).collect();
                Ok(Programs {
                    unbounded: Self::unbounded(&self.regex_text, self.flags),
                    layout: Layout::new(&fields),
                    fields,
                    regex,
                })
            })
            .as_ref()
    }

    /// The regex without the word-bound lookaheads fail2ban adds, if the rest
    /// needs no backtracking engine.
    fn unbounded(regex: &str, flags: u8) -> Option<Unbounded> {
        let (global, body) = match regex.strip_prefix("(?iu)") {
            Some(rest) => ("(?iu)", rest),
            None => ("", regex),
        };
        let word_begin = flags & WORD_BEGIN != 0;
        let word_end = flags & WORD_END != 0;
        let body = if word_begin {
            body.strip_prefix(WORD_BEGIN_LOOKAHEAD)?
        } else {
            body
        };
        let body = if word_end {
            body.strip_suffix(WORD_END_LOOKAHEAD)?
        } else {
            body
        };
        let core = format!("{global}{body}");
        let translated = pyregex::translate(&core).ok()?;
        // Only worth it when nothing else needs the backtracking engine.
        if ["(?=", "(?!", "(?<", "(?(", "(?P="]
            .iter()
            .any(|f| core.contains(f))
        {
            return None;
        }
        let regex = Matcher::unsplit(&translated, None).ok()?;
        let anchored = (flags & LINE_BEGIN != 0).then(|| (translated.into(), OnceLock::new()));
        Some(Unbounded {
            regex,
            anchored,
            word_begin,
            word_end,
        })
    }

    /// Searches `line[..end]` from byte `start` (Python's `search(line, pos, endpos)`).
    pub fn search<'t>(&self, line: &'t str, start: usize, end: usize) -> Option<Groups<'t>> {
        let mut scratch = SearchScratch::default();
        let matcher = self.search_into(line, start, end, &mut scratch)?;
        Some(matcher.groups_of(line, scratch.regex.spans))
    }

    /// [`search`](Self::search) into `scratch`; returns the matcher whose
    /// groups `scratch.spans` holds.
    pub fn search_into(
        &self,
        line: &str,
        start: usize,
        end: usize,
        scratch: &mut SearchScratch,
    ) -> Option<&Matcher> {
        let end = end.min(line.len());
        if start > end || !line.is_char_boundary(end) || !line.is_char_boundary(start) {
            return None;
        }
        let text = &line[..end];
        let programs = self.programs().ok()?;
        let SearchScratch {
            regex: scratch,
            quick,
        } = scratch;
        let full = |scratch: &mut Scratch| {
            programs
                .regex
                .search_into(text, start, scratch)
                .unwrap_or(false)
                .then_some(&programs.regex)
        };
        let found = match &programs.unbounded {
            Some(u) => {
                // Anchored at 0: from anywhere else it is the crate's call.
                let quick = match u.quick() {
                    Some(q) if start == 0 => q.search(text, u.regex.spans_in(scratch), quick),
                    _ => Outcome::Undecided,
                };
                let core = match quick {
                    Outcome::Match(_) => true,
                    Outcome::NoMatch => false,
                    Outcome::Undecided => {
                        u.regex.search_into(text, start, scratch).unwrap_or(false)
                    }
                };
                if core {
                    // The leftmost, highest-priority core match is Python's answer
                    // when the bounds hold there; otherwise let the full regex decide.
                    let (a, b) = scratch.spans[0].unwrap_or((0, 0));
                    if (!u.word_begin || word_begin_holds(text, a))
                        && (!u.word_end || word_end_holds(text, b))
                    {
                        Some(&u.regex)
                    } else {
                        full(scratch)
                    }
                } else {
                    // Without its core the whole template cannot match.
                    None
                }
            }
            None => full(scratch),
        };
        // Read before written: the flag's cache line stays shared.
        if found.is_some() && !self.matched.load(Ordering::Relaxed) {
            self.matched.store(true, Ordering::Relaxed);
        }
        found
    }

    /// The time of a match of this template (group spans in `line`), in
    /// seconds since the epoch; `memo` remembers the last minute converted.
    pub fn time_of(
        &self,
        line: &str,
        spans: &[Span],
        now: CivilTime,
        default_tz: Option<i32>,
        memo: &mut MinuteMemo,
    ) -> Result<Stamp, DateValueError> {
        let get = |i: usize| spans.get(i).copied().flatten().map(|(a, b)| &line[a..b]);
        match self.kind {
            Kind::Fields => {
                let programs = self.programs().map_err(|e| DateValueError(e.clone()))?;
                // Most lines are answered by the last minute.
                if let Some(time) = memo.recall(&programs.layout, line, spans, now, default_tz) {
                    return Ok(time);
                }
                let fields = &programs.fields;
                let found = fields
                    .iter()
                    .filter_map(|(i, name)| get(*i).map(|v| (name.as_str(), v)));
                let layout = &programs.layout;
                // Templates have a handful of fields: no allocation per line.
                let mut inline = [("", ""); 16];
                if fields.len() <= inline.len() {
                    let mut n = 0;
                    for field in found {
                        inline[n] = field;
                        n += 1;
                    }
                    memo.convert(layout, line, spans, &inline[..n], now, default_tz)
                } else {
                    let all = found.collect::<Vec<_>>();
                    memo.convert(layout, line, spans, &all, now, default_tz)
                }
            }
            Kind::Epoch { group, long } => {
                let v = get(group).unwrap_or("");
                let value: f64 = v
                    .parse()
                    .map_err(|_| DateValueError(format!("bad epoch {v:?}")))?;
                if long && v.len() >= 13 {
                    if v.len() >= 16 && !v.contains('.') {
                        return Ok(Stamp::Float(value / 1_000_000.0));
                    }
                    return Ok(Stamp::Float(value / 1000.0));
                }
                Ok(Stamp::Float(value))
            }
            Kind::Tai64n => {
                let v = get(1).unwrap_or("");
                let hex = v.get(2..17).unwrap_or("");
                i64::from_str_radix(hex, 16)
                    .map(Stamp::Int)
                    .map_err(|_| DateValueError(format!("bad TAI64N {v:?}")))
            }
        }
    }

    /// The regex-crate matcher of the template's core and its quick
    /// program, when it has one (for comparing the two in tests).
    #[cfg(test)]
    pub(crate) fn quick_parts(&self) -> Option<(&Matcher, &quick::Program)> {
        let u = self.programs().ok()?.unbounded.as_ref()?;
        Some((&u.regex, u.quick()?))
    }

    /// Whether a search succeeded so far in this process.
    pub fn has_matched(&self) -> bool {
        self.matched.load(Ordering::Relaxed)
    }

    /// Whether the template is anchored at a line boundary.
    pub fn is_line_anchored(&self) -> bool {
        self.flags & (LINE_BEGIN | LINE_END) != 0
    }

    /// The pattern without fail2ban's bound markers (`DateTemplate.unboundPattern`).
    pub fn unbound_pattern(pattern: &str) -> String {
        let p = pattern.strip_prefix("{UNB}").unwrap_or(pattern);
        let p = p.strip_prefix("{^LN-BEG}").unwrap_or(p);
        let p = re_start_anchor_bound().replace(p, "").into_owned();
        re_end_anchor_bound().replace(&p, "").into_owned()
    }

    /// What fail2ban wraps to get the line-anchored twin of this template.
    pub fn anchor_source(&self) -> &str {
        self.pattern.as_deref().unwrap_or(&self.name)
    }
}

/// Replaces `%X` field codes: returns the template name and the Python regex.
fn substitute_fields(pattern: &str, years: YearRange) -> Result<(String, String), String> {
    let mut name = String::new();
    let mut regex = String::new();
    let mut rest = pattern;
    while let Some(pos) = rest.find('%') {
        name.push_str(&rest[..pos]);
        regex.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        let code = LONG_FIELD_CODES
            .iter()
            .find(|c| after.starts_with(**c))
            .map(|c| c.to_string())
            .or_else(|| {
                after
                    .chars()
                    .next()
                    .filter(|c| *c == '%' || SHORT_FIELD_CODES.contains(*c))
                    .map(String::from)
            })
            .ok_or_else(|| {
                format!(
                    "may be an invalid format or unescaped percent char at {:?}",
                    &rest[pos..]
                )
            })?;
        name.push_str(&strptime::field_display_name(&code));
        regex.push_str(&strptime::field_regex(&code, years).unwrap_or_default());
        rest = &after[code.len()..];
    }
    name.push_str(rest);
    regex.push_str(rest);
    Ok((name, regex))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regexes_are_built_like_fail2ban() {
        let t = DateTemplate::from_pattern("%Y-%m-%d %H:%M:%S", YearRange::server(2026)).unwrap();
        assert_eq!(t.name, "Year-Month-Day 24hour:Minute:Second");
        assert_eq!(
            t.regex_text,
            r"(?=^|\b|\W)((?P<Y>\d{4})-(?P<m>0?[1-9]|1[0-2])-(?P<d>[1-2]\d|[0 ]?[1-9]|3[0-1]) (?P<H>[0-1]?\d|2[0-3]):(?P<M>[0-5]?\d):(?P<S>[0-5]?\d|6[0-1]))(?=\b|\W|$)"
        );
        let t = DateTemplate::from_pattern("{^LN-BEG}%H:%M:%S", YearRange::server(2026)).unwrap();
        assert_eq!(t.name, "{^LN-BEG}24hour:Minute:Second");
        assert!(t.flags & LINE_BEGIN != 0);
        let t =
            DateTemplate::from_pattern("^%b-%d-%Exy %k:%M:%S", YearRange::server(2026)).unwrap();
        assert!(t.regex_text.starts_with("(?iu)^("), "{}", t.regex_text);
    }

    #[test]
    fn bad_pattern_is_reported() {
        let e = DateTemplate::from_pattern("%Q", YearRange::server(2026)).unwrap_err();
        assert!(e.to_string().contains("%Q"), "{e}");
    }
}
