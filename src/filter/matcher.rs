//! One compiled pattern (translated to fancy-regex syntax) and the fastest
//! correct way to search with it. Patterns the `regex` crate reads run on
//! its automata with the caller's [`Scratch`] (no allocation per search);
//! this is what fancy-regex would delegate them to anyway. ASCII texts (most
//! log lines) are searched first by our backtracking program
//! ([`backtrack::Program`]), then by a program whose Unicode classes are cut
//! to their ASCII part ([`Ascii`]) when it cannot answer; the full program
//! is compiled when a text that is not ASCII comes. Patterns that need backtracking (lookarounds,
//! conditionals, backreferences) run on fancy-regex, but when they begin
//! with a lookaround-free part, that part is first matched by the `regex`
//! crate and the backtracking VM only runs on the rest (see [`Split`]).
//! Conditionals of the rest on groups of that head are decided by the
//! head's match, and a rest that starts with alternatives a later
//! conditional tells apart is tried alternative by alternative, mostly on
//! the `regex` crate (see [`Rest`]).

use std::sync::{Arc, OnceLock};

use fancy_regex::{RegexBuilder, RegexInput};
use regex_automata::meta;
use regex_automata::util::primitives::NonMaxUsize;
use regex_syntax::hir::{self, Class, ClassUnicode, ClassUnicodeRange, Hir, HirKind, Look};

use super::backtrack::{self, Outcome};

/// Byte range of one group in the searched text, `None` if it took no part.
pub type Span = Option<(usize, usize)>;

/// A search that was abandoned because it exceeded the backtracking bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchAbandoned;

/// Per-caller search state: the group spans of the last match (by group
/// number) and the `regex` crate's buffers. Create it with
/// [`Matcher::scratch`] and use it only with that matcher.
#[derive(Debug, Clone, Default)]
pub struct Scratch {
    pub spans: Vec<Span>,
    locs: Option<regex::CaptureLocations>,
    /// Slots of the ASCII program (see [`Ascii`]).
    ascii: Option<Vec<Option<NonMaxUsize>>>,
    /// Buffers of the [`backtrack::Program`].
    backtrack: backtrack::Cache,
    /// Buffers of a [`Split`]'s prefix and rests.
    parts: PartScratch,
    /// The matcher the buffers were made for (its names' address).
    owner: usize,
}

/// Buffers for the parts of a [`Split`] search.
#[derive(Debug, Clone, Default)]
struct PartScratch {
    /// The groups of the prefix's match.
    prefix: Vec<Span>,
    /// Slots of an [`Alt`]'s head, in the `regex` crate's layout.
    slots: Vec<Option<NonMaxUsize>>,
    /// Groups of an [`Alt`]'s head found by its program.
    spans: Vec<Span>,
    cache: backtrack::Cache,
}

/// A pattern that starts with a part the `regex` crate can match: the
/// backtracking VM runs only from where that part ends. Backtracking tries
/// paths in priority order, so when the rest matches after the prefix's
/// preferred (leftmost-first) match, that combination is exactly the match
/// the VM would find alone; otherwise the VM searches the whole pattern.
///
/// Conditionals in the rest on groups of the prefix (sshd's
/// `(?P<cond_inv>invalid user )?…(?(cond_inv)…|…)`) are decided once the
/// prefix has matched: the rest is compiled once per combination of those
/// groups taking part or not, each conditional replaced by its branch.
#[derive(Debug, Clone)]
struct Split {
    prefix: regex::Regex,
    /// The prefix for ASCII texts, tried first.
    prefix_program: Option<backtrack::Program>,
    /// Groups of the prefix that conditionals of the rest test.
    conds: Vec<usize>,
    /// The rest for each combination: bit `k` of the index is set when
    /// group `conds[k]` took part in the prefix's match.
    rests: Vec<Rest>,
    /// (group in the prefix, group in the whole pattern).
    prefix_groups: Vec<(usize, usize)>,
}

/// The rest of a [`Split`] for one outcome of its conditionals.
#[derive(Debug, Clone)]
struct Rest {
    regex: fancy_regex::Regex,
    /// (group in the rest, group in the whole pattern).
    groups: Vec<(usize, usize)>,
    /// When not empty, the same rest as alternatives tried in order (see
    /// [`distribute`]), searched instead of `regex`.
    alts: Vec<Alt>,
}

/// One alternative of a distributed [`Rest`]: a head the `regex` crate
/// matches (anchored), then the backtracking VM on the tail if there is
/// one, with the same preferred-match argument as [`Split`]; when the tail
/// fails after the head's preferred match, the VM runs the whole alternative.
#[derive(Debug, Clone)]
struct Alt {
    /// `None` when the alternative begins with what only the VM runs.
    head: Option<meta::Regex>,
    /// The head for ASCII texts, tried first.
    head_program: Option<backtrack::Program>,
    /// (group in the head, group in the whole pattern).
    head_groups: Vec<(usize, usize)>,
    tail: Option<(fancy_regex::Regex, Vec<(usize, usize)>)>,
    /// The tail is `(?:(?!LIT).)*$` (sshd's `(?:(?! from ).)*$`): it
    /// matches iff the rest of the text holds neither `LIT` nor a newline,
    /// which is checked without the VM.
    avoid: Option<String>,
    /// The alternative starts with `(?P<name>(?:(?!LIT).)*?)LIT` (sshd's
    /// user of an invalid user): the group can only end where `LIT` first
    /// occurs, and the rest is matched from there. (LIT, group in the whole
    /// pattern, the rest.)
    lead: Option<(String, usize, Box<Alt>)>,
    whole: (fancy_regex::Regex, Vec<(usize, usize)>),
}

impl Split {
    /// Matches the prefix from `start`; its groups go to
    /// `scratch.parts.prefix`, and its span is returned.
    fn search_prefix(
        &self,
        text: &str,
        start: usize,
        scratch: &mut Scratch,
    ) -> Option<(usize, usize)> {
        let spans = &mut scratch.parts.prefix;
        spans.clear();
        spans.resize(self.prefix.captures_len(), None);
        if let Some(p) = self.prefix_program.as_ref().filter(|p| p.anchored_start()) {
            match p.search(text, start, true, &mut scratch.parts.cache, spans) {
                Outcome::Match(_) => return spans[0],
                Outcome::NoMatch => return None,
                Outcome::Undecided => {}
            }
        }
        let locs = scratch
            .locs
            .get_or_insert_with(|| self.prefix.capture_locations());
        let found = self.prefix.captures_read_at(locs, text, start)?;
        for (g, span) in spans.iter_mut().enumerate() {
            *span = locs.get(g);
        }
        Some((found.start(), found.end()))
    }
}

impl Rest {
    /// Matches the rest anchored at `pos`; on a match, fills its groups in
    /// `spans` and returns where it ends.
    fn search(
        &self,
        text: &str,
        pos: usize,
        parts: &mut PartScratch,
        spans: &mut [Span],
    ) -> Result<Option<usize>, SearchAbandoned> {
        if self.alts.is_empty() {
            return fancy_at(&self.regex, &self.groups, text, pos, spans);
        }
        for alt in &self.alts {
            if let Some(end) = alt.search(text, pos, parts, spans)? {
                return Ok(Some(end));
            }
        }
        Ok(None)
    }
}

impl Alt {
    /// Matches the alternative anchored at `pos`, as [`Rest::search`].
    fn search(
        &self,
        text: &str,
        pos: usize,
        parts: &mut PartScratch,
        spans: &mut [Span],
    ) -> Result<Option<usize>, SearchAbandoned> {
        if let Some((lit, group, next)) = &self.lead {
            // The lazy token can only end where `LIT` first occurs.
            let Some(q) = text[pos..].find(lit.as_str()).map(|q| pos + q) else {
                return Ok(None);
            };
            if text[pos..q].contains('\n') {
                return Ok(None);
            }
            let end = next.search(text, q, parts, spans)?;
            if end.is_some() {
                spans[*group] = Some((pos, q));
            }
            return Ok(end);
        }
        let Some(head) = &self.head else {
            let (whole, groups) = &self.whole;
            return fancy_at(whole, groups, text, pos, spans);
        };
        let slots = &mut parts.slots;
        slots.clear();
        slots.resize(head.group_info().slot_len(), None);
        let outcome = match &self.head_program {
            Some(p) => {
                parts.spans.clear();
                parts.spans.resize(p.groups(), None);
                p.search(text, pos, true, &mut parts.cache, &mut parts.spans)
            }
            None => Outcome::Undecided,
        };
        match outcome {
            Outcome::Match(_) => {
                for (g, span) in parts.spans.iter().enumerate() {
                    if let Some((a, b)) = *span {
                        slots[2 * g] = NonMaxUsize::new(a);
                        slots[2 * g + 1] = NonMaxUsize::new(b);
                    }
                }
            }
            Outcome::NoMatch => return Ok(None),
            Outcome::Undecided => {
                let input = regex_automata::Input::new(text)
                    .range(pos..)
                    .anchored(regex_automata::Anchored::Yes);
                if head.search_slots(&input, slots).is_none() {
                    return Ok(None);
                }
            }
        }
        let span = |g: usize| slot_span(slots, g);
        let Some((_, head_end)) = span(0) else {
            return Ok(None);
        };
        if let Some(lit) = &self.avoid {
            let after = &text[head_end..];
            if !after.contains(lit.as_str()) && !after.contains('\n') {
                for &(from, to) in &self.head_groups {
                    spans[to] = span(from);
                }
                return Ok(Some(text.len()));
            }
        } else if let Some((tail, tail_groups)) = &self.tail {
            if let Some(end) = fancy_at(tail, tail_groups, text, head_end, spans)? {
                for &(from, to) in &self.head_groups {
                    spans[to] = span(from);
                }
                return Ok(Some(end));
            }
        } else {
            for &(from, to) in &self.head_groups {
                spans[to] = span(from);
            }
            return Ok(Some(head_end));
        }
        let (whole, groups) = &self.whole;
        fancy_at(whole, groups, text, pos, spans)
    }
}

/// Matches `regex` anchored at `pos`; on a match, fills the mapped groups
/// in `spans` and returns where it ends.
fn fancy_at(
    regex: &fancy_regex::Regex,
    groups: &[(usize, usize)],
    text: &str,
    pos: usize,
    spans: &mut [Span],
) -> Result<Option<usize>, SearchAbandoned> {
    let input = RegexInput::new(text).from_pos(pos).anchored(true);
    let Some(m) = regex.captures_input(input).map_err(|_| SearchAbandoned)? else {
        return Ok(None);
    };
    for &(from, to) in groups {
        spans[to] = m.get(from).map(|g| (g.start(), g.end()));
    }
    Ok(Some(m.get(0).map_or(pos, |g| g.end())))
}

/// The same pattern compiled for texts that are pure ASCII (most log
/// lines): every Unicode class cut down to its ASCII part, word boundaries
/// made ASCII. On ASCII text it matches exactly what the full pattern
/// matches, with far smaller automata (Python's `\d`, `\w` and `\s` are
/// Unicode classes of hundreds of ranges).
///
/// Behind `Arc`: clones (one filter per jail) share the program and its
/// pool of search caches, which a `meta::Regex` clone would not.
#[derive(Debug, Clone)]
struct Ascii(Arc<meta::Regex>);

impl Ascii {
    /// The ASCII program of `pattern`, with the ASCII HIR it was built
    /// from (for the [`backtrack::Program`], so the pattern is parsed once).
    fn new(pattern: &str) -> Option<(Ascii, Hir)> {
        let hir = ascii_only(&backtrack::parse(pattern)?);
        let regex = meta::Builder::new().build_from_hir(&hir).ok()?;
        Some((Ascii(Arc::new(regex)), hir))
    }

    /// Searches an ASCII `text` from `start`, filling `spans`.
    fn search(
        &self,
        text: &str,
        start: usize,
        slots: &mut Option<Vec<Option<NonMaxUsize>>>,
        spans: &mut [Span],
    ) -> bool {
        let slots = slots.get_or_insert_with(|| vec![None; self.0.group_info().slot_len()]);
        let input = regex_automata::Input::new(text).range(start..);
        if self.0.search_slots(&input, slots).is_none() {
            return false;
        }
        for (i, span) in spans.iter_mut().enumerate() {
            *span = slot_span(slots, i);
        }
        true
    }
}

/// The span of group `g` in the regex crate's slots.
fn slot_span(slots: &[Option<NonMaxUsize>], g: usize) -> Span {
    match (
        slots.get(2 * g).copied().flatten(),
        slots.get(2 * g + 1).copied().flatten(),
    ) {
        (Some(a), Some(b)) => Some((a.get(), b.get())),
        _ => None,
    }
}

/// `hir` with its classes restricted to ASCII and its word boundaries ASCII.
pub(crate) fn ascii_only(h: &Hir) -> Hir {
    match h.kind() {
        HirKind::Class(Class::Unicode(c)) => {
            let mut c = c.clone();
            c.intersect(&ClassUnicode::new([ClassUnicodeRange::new('\0', '\x7f')]));
            Hir::class(Class::Unicode(c))
        }
        HirKind::Look(look) => Hir::look(match look {
            Look::WordUnicode => Look::WordAscii,
            Look::WordUnicodeNegate => Look::WordAsciiNegate,
            Look::WordStartUnicode => Look::WordStartAscii,
            Look::WordEndUnicode => Look::WordEndAscii,
            Look::WordStartHalfUnicode => Look::WordStartHalfAscii,
            Look::WordEndHalfUnicode => Look::WordEndHalfAscii,
            other => *other,
        }),
        HirKind::Repetition(r) => Hir::repetition(hir::Repetition {
            sub: Box::new(ascii_only(&r.sub)),
            ..r.clone()
        }),
        HirKind::Capture(c) => Hir::capture(hir::Capture {
            sub: Box::new(ascii_only(&c.sub)),
            ..c.clone()
        }),
        HirKind::Concat(v) => Hir::concat(v.iter().map(ascii_only).collect()),
        HirKind::Alternation(v) => Hir::alternation(v.iter().map(ascii_only).collect()),
        HirKind::Empty | HirKind::Literal(_) | HirKind::Class(Class::Bytes(_)) => h.clone(),
    }
}

/// The full (Unicode) program of a pattern the regex crate reads, compiled
/// on first use and shared by clones.
#[derive(Debug)]
struct Unicode {
    pattern: String,
    backtrack_limit: Option<usize>,
    compiled: OnceLock<Option<Compiled>>,
}

#[derive(Debug)]
enum Compiled {
    Regex(regex::Regex),
    /// Only if the regex crate's size limits refuse the Unicode program.
    Fancy(fancy_regex::Regex),
}

impl Unicode {
    fn get(&self) -> Option<&Compiled> {
        self.compiled
            .get_or_init(|| match regex::Regex::new(&self.pattern) {
                Ok(r) => Some(Compiled::Regex(r)),
                Err(_) => fancy(&self.pattern, self.backtrack_limit)
                    .ok()
                    .map(Compiled::Fancy),
            })
            .as_ref()
    }
}

#[derive(Debug, Clone)]
enum Engine {
    Fast {
        unicode: Arc<Unicode>,
        ascii: Ascii,
        /// The backtracking program for ASCII texts, tried first.
        program: Option<Arc<backtrack::Program>>,
    },
    /// Behind `Arc`, so that clones share the programs and their caches.
    Fancy {
        regex: Arc<fancy_regex::Regex>,
        split: Option<Arc<Split>>,
        /// The pattern for pure-ASCII texts (see [`asciify`]).
        ascii: Option<Arc<Matcher>>,
    },
}

/// A compiled pattern. Clones share the compiled programs.
#[derive(Debug, Clone)]
pub struct Matcher {
    engine: Engine,
    /// Named groups and their numbers.
    names: Arc<[(String, usize)]>,
    groups: usize,
}

impl Matcher {
    /// Compiles `pattern` (fancy-regex syntax); `backtrack_limit` bounds the
    /// work of one backtracking search.
    pub fn new(pattern: &str, backtrack_limit: Option<usize>) -> Result<Matcher, String> {
        Matcher::build(pattern, backtrack_limit, true)
    }

    /// [`new`](Self::new) without the prefix split: for short texts the
    /// second search costs more than the backtracking VM saves.
    pub fn unsplit(pattern: &str, backtrack_limit: Option<usize>) -> Result<Matcher, String> {
        Matcher::build(pattern, backtrack_limit, false)
    }

    fn build(
        pattern: &str,
        backtrack_limit: Option<usize>,
        try_split: bool,
    ) -> Result<Matcher, String> {
        // The regex crate reads the pattern: an ASCII program now, the full
        // Unicode one when a text that is not ASCII comes (most logs have
        // none; the Unicode classes are most of the memory and start-up time).
        if let Some((ascii, ascii_hir)) = Ascii::new(pattern) {
            let info = ascii.0.group_info();
            let groups = info.group_len(regex_automata::PatternID::ZERO);
            let names = (0..groups)
                .filter_map(|i| {
                    info.to_name(regex_automata::PatternID::ZERO, i)
                        .map(|n| (n.to_string(), i))
                })
                .collect();
            return Ok(Matcher {
                groups,
                engine: Engine::Fast {
                    unicode: Arc::new(Unicode {
                        pattern: pattern.to_string(),
                        backtrack_limit,
                        compiled: OnceLock::new(),
                    }),
                    ascii,
                    program: backtrack::Program::from_hir(&ascii_hir)
                        .filter(|p| p.groups() == groups)
                        .map(Arc::new),
                },
                names,
            });
        }
        let regex = fancy(pattern, backtrack_limit)?;
        let names: Arc<[(String, usize)]> = regex
            .capture_names()
            .enumerate()
            .filter_map(|(i, n)| n.map(|n| (n.to_string(), i)))
            .collect();
        let (split, ascii) = if try_split {
            (
                split(pattern, &names, backtrack_limit).map(Arc::new),
                asciify(pattern)
                    .and_then(|p| Matcher::build(&p, backtrack_limit, true).ok())
                    .filter(|m| m.groups == regex.captures_len() && m.names == names)
                    .map(Arc::new),
            )
        } else {
            (None, None)
        };
        Ok(Matcher {
            groups: regex.captures_len(),
            engine: Engine::Fancy {
                regex: Arc::new(regex),
                split,
                ascii,
            },
            names,
        })
    }

    /// [`backtrack::Program::first_bytes`] of the pattern (or of the part
    /// every match begins with), when known.
    pub fn first_bytes(&self) -> Option<(u128, bool)> {
        match &self.engine {
            Engine::Fast { program, .. } => program.as_ref()?.first_bytes(),
            Engine::Fancy { split, .. } => split.as_ref()?.prefix_program.as_ref()?.first_bytes(),
        }
    }

    /// Whether searches run on the `regex` crate alone.
    pub fn is_fast(&self) -> bool {
        matches!(self.engine, Engine::Fast { .. })
    }

    /// Number of groups, group 0 (the whole match) included.
    pub fn captures_len(&self) -> usize {
        self.groups
    }

    /// Named groups with their numbers, in pattern order.
    pub fn names(&self) -> &[(String, usize)] {
        &self.names
    }

    /// The number of the group called `name`.
    pub fn group_index(&self, name: &str) -> Option<usize> {
        self.names.iter().find(|(n, _)| n == name).map(|(_, i)| *i)
    }

    /// `scratch`'s spans, made this matcher's (fresh buffers if they were
    /// another's), for a caller that fills them with this matcher's groups.
    pub(crate) fn spans_in<'s>(&self, scratch: &'s mut Scratch) -> &'s mut [Span] {
        if scratch.owner != self.id() {
            *scratch = self.scratch();
        }
        &mut scratch.spans
    }

    /// A scratch buffer for searches with this matcher.
    pub fn scratch(&self) -> Scratch {
        // The other buffers are made on first use, for the engine that needs them.
        Scratch {
            spans: vec![None; self.groups],
            locs: None,
            ascii: None,
            backtrack: backtrack::Cache::default(),
            parts: PartScratch::default(),
            owner: self.id(),
        }
    }

    fn id(&self) -> usize {
        Arc::as_ptr(&self.names) as *const u8 as usize
    }

    /// Searches `text` from byte `start` (anchors see the whole text);
    /// on a match, `scratch.spans` holds the groups.
    pub fn search_into(
        &self,
        text: &str,
        start: usize,
        scratch: &mut Scratch,
    ) -> Result<bool, SearchAbandoned> {
        if start > text.len() || !text.is_char_boundary(start) {
            return Ok(false);
        }
        if let Engine::Fancy { ascii: Some(a), .. } = &self.engine {
            if text.is_ascii() {
                return a.search_into(text, start, scratch);
            }
        }
        if scratch.owner != self.id() {
            // Buffers of another pattern would have the wrong shape.
            *scratch = self.scratch();
        }
        match &self.engine {
            Engine::Fast {
                unicode,
                ascii,
                program,
            } => {
                if text.is_ascii() {
                    if let Some(p) = program {
                        match search_program(p, ascii, text, start, scratch) {
                            Outcome::Match(_) => return Ok(true),
                            Outcome::NoMatch => return Ok(false),
                            Outcome::Undecided => {}
                        }
                    }
                    return Ok(ascii.search(text, start, &mut scratch.ascii, &mut scratch.spans));
                }
                match unicode.get() {
                    Some(Compiled::Regex(r)) => {
                        let locs = scratch.locs.get_or_insert_with(|| r.capture_locations());
                        if r.captures_read_at(locs, text, start).is_none() {
                            return Ok(false);
                        }
                        for (i, span) in scratch.spans.iter_mut().enumerate() {
                            *span = locs.get(i);
                        }
                        Ok(true)
                    }
                    Some(Compiled::Fancy(r)) => {
                        let Some(m) = r
                            .captures_from_pos(text, start)
                            .map_err(|_| SearchAbandoned)?
                        else {
                            return Ok(false);
                        };
                        for (i, span) in scratch.spans.iter_mut().enumerate() {
                            *span = m.get(i).map(|g| (g.start(), g.end()));
                        }
                        Ok(true)
                    }
                    None => Err(SearchAbandoned),
                }
            }
            Engine::Fancy { regex, split, .. } => {
                if let Some(s) = split {
                    // Every match begins with a match of the prefix.
                    let Some((prefix_start, prefix_end)) = s.search_prefix(text, start, scratch)
                    else {
                        return Ok(false);
                    };
                    let prefix = &scratch.parts.prefix;
                    let which = s
                        .conds
                        .iter()
                        .enumerate()
                        .filter(|&(_, &g)| prefix.get(g).copied().flatten().is_some())
                        .fold(0, |acc, (k, _)| acc | 1 << k);
                    scratch.spans.iter_mut().for_each(|x| *x = None);
                    if let Some(end) = s.rests[which].search(
                        text,
                        prefix_end,
                        &mut scratch.parts,
                        &mut scratch.spans,
                    )? {
                        for &(from, to) in &s.prefix_groups {
                            scratch.spans[to] = scratch.parts.prefix.get(from).copied().flatten();
                        }
                        scratch.spans[0] = Some((prefix_start, end));
                        return Ok(true);
                    }
                }
                let found = regex
                    .captures_from_pos(text, start)
                    .map_err(|_| SearchAbandoned)?;
                let Some(m) = found else {
                    return Ok(false);
                };
                for (i, span) in scratch.spans.iter_mut().enumerate() {
                    *span = m.get(i).map(|g| (g.start(), g.end()));
                }
                Ok(true)
            }
        }
    }

    /// Searches `text` from `start`, returning the groups (allocates; the
    /// engine's hot paths use [`search_into`](Self::search_into)).
    pub fn captures<'t>(
        &self,
        text: &'t str,
        start: usize,
    ) -> Result<Option<Groups<'t>>, SearchAbandoned> {
        let mut scratch = self.scratch();
        Ok(self
            .search_into(text, start, &mut scratch)?
            .then(|| self.groups_of(text, scratch.spans)))
    }

    /// The groups of a match found by [`search_into`](Self::search_into).
    pub fn groups_of<'t>(&self, text: &'t str, spans: Vec<Span>) -> Groups<'t> {
        Groups {
            text,
            spans,
            names: self.names.clone(),
        }
    }
}

/// Searches an ASCII `text` with `program`. For a pattern that can match
/// anywhere, the DFA of `ascii` finds where the leftmost match starts and
/// the program runs from there only.
fn search_program(
    program: &backtrack::Program,
    ascii: &Ascii,
    text: &str,
    start: usize,
    scratch: &mut Scratch,
) -> Outcome {
    let Scratch {
        spans, backtrack, ..
    } = scratch;
    if program.anchored_start() {
        return program.search(text, start, true, backtrack, spans);
    }
    let input = regex_automata::Input::new(text).range(start..);
    match ascii.0.search(&input) {
        Some(m) => program.search(text, m.start(), true, backtrack, spans),
        None => Outcome::NoMatch,
    }
}

fn fancy(pattern: &str, backtrack_limit: Option<usize>) -> Result<fancy_regex::Regex, String> {
    let mut b = RegexBuilder::new(pattern);
    if let Some(limit) = backtrack_limit {
        b.backtrack_limit(limit);
    }
    b.build().map_err(|e| e.to_string())
}

/// The groups of one match, by number and by name.
#[derive(Debug, Clone)]
pub struct Groups<'t> {
    text: &'t str,
    spans: Vec<Span>,
    names: Arc<[(String, usize)]>,
}

/// One group of a match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Group<'t> {
    text: &'t str,
    start: usize,
    end: usize,
}

impl<'t> Group<'t> {
    pub fn as_str(&self) -> &'t str {
        &self.text[self.start..self.end]
    }
    pub fn start(&self) -> usize {
        self.start
    }
    pub fn end(&self) -> usize {
        self.end
    }
    pub fn range(&self) -> std::ops::Range<usize> {
        self.start..self.end
    }
}

impl<'t> Groups<'t> {
    /// Group number `i`, if it took part in the match.
    pub fn get(&self, i: usize) -> Option<Group<'t>> {
        let (start, end) = (*self.spans.get(i)?)?;
        Some(Group {
            text: self.text,
            start,
            end,
        })
    }

    /// The group called `name`, if it took part in the match.
    pub fn name(&self, name: &str) -> Option<Group<'t>> {
        let i = self.names.iter().find(|(n, _)| n == name)?.1;
        self.get(i)
    }

    /// The searched text.
    pub fn text(&self) -> &'t str {
        self.text
    }

    /// Spans by group number.
    pub fn spans(&self) -> &[Span] {
        &self.spans
    }
}

/// Splits `pattern` into a leading part the `regex` crate accepts and the
/// rest, when that is safe and worth it (see [`Split`]).
fn split(
    pattern: &str,
    names: &[(String, usize)],
    backtrack_limit: Option<usize>,
) -> Option<Split> {
    let (flags, items) = top_level_items(pattern)?;
    let cut = items.iter().take_while(|i| !needs_backtracking(i)).count();
    let prefix: String = items[..cut].concat();
    // A short prefix rejects too few lines to pay for a second search.
    if cut == items.len() || prefix.chars().count() < 10 {
        return None;
    }
    let rest: String = items[cut..].concat();
    let prefix_pattern = format!("{flags}{prefix}");
    let prefix = regex::Regex::new(&prefix_pattern).ok()?;
    let prefix_program =
        backtrack::Program::new(&prefix_pattern).filter(|p| p.groups() == prefix.captures_len());
    let prefix_named = own_names(prefix.capture_names().collect());
    // Conditionals on groups of the prefix, decided per outcome (at most
    // four rests).
    let conds: Vec<(usize, String)> = outside_conditions(&rest)?
        .into_iter()
        .map(|name| prefix_named.iter().find(|(_, n)| *n == name).cloned())
        .collect::<Option<_>>()?;
    if conds.len() > 2 {
        return None;
    }
    let map = |own: Vec<(usize, String)>| -> Option<Vec<(usize, usize)>> {
        own.into_iter()
            .map(|(i, n)| names.iter().find(|(m, _)| *m == n).map(|(_, j)| (i, *j)))
            .collect()
    };
    let mut rests = Vec::new();
    for which in 0..1usize << conds.len() {
        let mut text = rest.clone();
        for (k, (_, name)) in conds.iter().enumerate() {
            text = decide_conditionals(&text, name, which & 1 << k != 0)?;
        }
        // The rest must not refer to groups of the prefix (numbers would be
        // renumbered, names unknown).
        if refers_outside(&text) {
            return None;
        }
        let regex = fancy(&format!("{flags}{text}"), backtrack_limit).ok()?;
        let groups = map(own_names(regex.capture_names().collect()))?;
        let mut alts = Vec::new();
        for alt in distribute(&text).unwrap_or_default() {
            let compiled = build_alt(&alt, &flags, backtrack_limit, names);
            match compiled {
                Some(a) => alts.push(a),
                None => {
                    alts.clear();
                    break;
                }
            }
        }
        rests.push(Rest {
            regex,
            groups,
            alts,
        });
    }
    let prefix_groups = map(prefix_named)?;
    // Every named group of the whole pattern must come from one of the
    // parts (a branch dropped with its groups gives up instead).
    if rests
        .iter()
        .any(|r| prefix_groups.len() + r.groups.len() != names.len())
    {
        return None;
    }
    Some(Split {
        prefix,
        prefix_program,
        conds: conds.into_iter().map(|(i, _)| i).collect(),
        rests,
        prefix_groups,
    })
}

/// Names tested by `(?(<name>)` conditionals of `rest` that `rest` does not
/// define, in order of first use; `None` for a numbered condition.
fn outside_conditions(rest: &str) -> Option<Vec<String>> {
    let defined = defined_names(rest);
    let mut out: Vec<String> = Vec::new();
    for (i, m) in rest.match_indices("(?(") {
        if rest[..i].ends_with('\\') {
            // An escaped parenthesis; `refers_outside` judges the rest.
            continue;
        }
        let after = &rest[i + m.len()..];
        let name = after.strip_prefix('<')?.split_once(">)")?.0;
        if !defined.contains(&name) && !out.iter().any(|n| n == name) {
            out.push(name.to_string());
        }
    }
    Some(out)
}

/// `pattern` with every `(?(<name>)yes|no)` replaced by `(?:yes)` when
/// `present`, else by `(?:no)`; `None` when the syntax is not understood.
fn decide_conditionals(pattern: &str, name: &str, present: bool) -> Option<String> {
    let marker = format!("(?(<{name}>)");
    let mut text = pattern.to_string();
    while let Some(at) = text.find(&marker) {
        let chars: Vec<char> = text[at + marker.len()..].chars().collect();
        // The branches end at the `)` closing the conditional; `|` at
        // depth 0 separates them.
        let (bars, j) = top_level_bars(&chars)?;
        if j == chars.len() {
            return None;
        }
        let bar = bars.first().copied();
        let body: String = chars[..j].iter().collect();
        let rest: String = chars[j + 1..].iter().collect();
        let (yes, no) = match bar {
            Some(b) => (
                chars[..b].iter().collect::<String>(),
                chars[b + 1..j].iter().collect::<String>(),
            ),
            None => (body, String::new()),
        };
        let branch = if present { yes } else { no };
        text = format!("{}(?:{branch}){rest}", &text[..at]);
    }
    Some(text)
}

/// A rest that begins with a group of alternatives, one of which defines
/// a group that a conditional later in the rest tests (sshd's
/// `(?P<user>(?P<cond_user>\S+)|[^:]+) from …(?(cond_user): |…)`), as the
/// list of its alternatives, each followed by what comes after with the
/// conditional decided: `(A|B)C` tries A then C, then B then C, so it is
/// `AC|BC` in that order. Most of each alternative is then regular.
/// Only ASCII-class patterns (the [`asciify`] twin), so the Unicode
/// programs stay lazy; `None` when the shape does not fit.
fn distribute(rest: &str) -> Option<Vec<String>> {
    if rest.contains("\\p{") || rest.contains("\\P{") {
        return None;
    }
    let (flags, items) = top_level_items(rest)?;
    if !flags.is_empty() {
        return None;
    }
    let (first, after) = items.split_first()?;
    let after: String = after.concat();
    let (open, inner) = if let Some(x) = first.strip_prefix("(?:") {
        ("(?:".to_string(), x)
    } else if let Some(x) = first.strip_prefix("(?P<") {
        let (name, x) = x.split_once('>')?;
        (format!("(?P<{name}>"), x)
    } else {
        return None;
    };
    // No quantifier on the group.
    let inner = inner.strip_suffix(')')?;
    let branches = top_level_branches(inner)?;
    if branches.len() < 2 {
        return None;
    }
    // The tested name: defined in exactly one branch, nowhere else.
    let after_defined = defined_names(&after);
    let tested = outside_conditions(&after)?;
    let name = tested.iter().find(|n| {
        branches
            .iter()
            .filter(|b| defined_names(b).contains(&n.as_str()))
            .count()
            == 1
            && !after_defined.contains(&n.as_str())
    })?;
    let mut out = Vec::new();
    for b in &branches {
        let present = defined_names(b).contains(&name.as_str());
        let decided = decide_conditionals(&after, name, present)?;
        out.push(format!("{open}{b}){decided}"));
    }
    Some(out)
}

/// `s` without the `(?:…)` groups that enclose all of it.
fn unwrap_groups(mut s: &str) -> &str {
    while let Some(inner) = s.strip_prefix("(?:").and_then(|x| x.strip_suffix(')')) {
        // Only when the first group closes at the very end.
        match top_level_items(s) {
            Some((f, items)) if f.is_empty() && items.len() == 1 && items[0] == s => s = inner,
            _ => break,
        }
    }
    s
}

/// One alternative of a distributed rest (see [`Alt`]); `None` when its
/// groups cannot all be mapped.
fn build_alt(
    alt: &str,
    flags: &str,
    backtrack_limit: Option<usize>,
    names: &[(String, usize)],
) -> Option<Alt> {
    let whole = fancy(&format!("{flags}{alt}"), backtrack_limit).ok()?;
    let whole_groups = map_names(names, own_names(whole.capture_names().collect()))?;
    let (_, items) = top_level_items(alt)?;
    let cut = items.iter().take_while(|i| !needs_backtracking(i)).count();
    if let Some(lead) = lazy_lead(&items, flags) {
        let (name, lit) = lead;
        let group = names.iter().find(|(n, _)| *n == name).map(|(_, i)| *i)?;
        let next = build_alt(&items[1..].concat(), flags, backtrack_limit, names)?;
        return Some(Alt {
            head: None,
            head_program: None,
            head_groups: Vec::new(),
            tail: None,
            avoid: None,
            lead: Some((lit, group, Box::new(next))),
            whole: (whole, whole_groups),
        });
    }
    if cut == 0 {
        // Nothing regular up front: the VM runs the alternative.
        return Some(Alt {
            head: None,
            head_program: None,
            head_groups: Vec::new(),
            tail: None,
            avoid: None,
            lead: None,
            whole: (whole, whole_groups),
        });
    }
    let head_pattern = format!("{flags}{}", items[..cut].concat());
    let head_hir = backtrack::parse(&head_pattern)?;
    let head = meta::Builder::new().build_from_hir(&head_hir).ok()?;
    let info = head.group_info();
    let head_program = backtrack::Program::from_hir(&ascii_only(&head_hir))
        .filter(|p| p.groups() == info.group_len(regex_automata::PatternID::ZERO));
    let head_groups = map_names(
        names,
        own_names(
            (0..info.group_len(regex_automata::PatternID::ZERO))
                .map(|i| info.to_name(regex_automata::PatternID::ZERO, i))
                .collect(),
        ),
    )?;
    let tail = if cut < items.len() {
        let tail = fancy(
            &format!("{flags}{}", items[cut..].concat()),
            backtrack_limit,
        )
        .ok()?;
        let tail_groups = map_names(names, own_names(tail.capture_names().collect()))?;
        Some((tail, tail_groups))
    } else {
        None
    };
    // Every group of the alternative must come from head or tail.
    let split_len = head_groups.len() + tail.as_ref().map_or(0, |t| t.1.len());
    let avoid = flags
        .is_empty()
        .then(|| avoided_literal(&items[cut..].concat()))
        .flatten();
    (split_len == whole_groups.len()).then_some(Alt {
        head: Some(head),
        head_program,
        head_groups,
        tail,
        avoid,
        lead: None,
        whole: (whole, whole_groups),
    })
}

/// (group, name) of the named groups among `names` (by group number).
fn own_names(names: Vec<Option<&str>>) -> Vec<(usize, String)> {
    names
        .into_iter()
        .enumerate()
        .filter_map(|(i, n)| n.map(|n| (i, n.to_string())))
        .collect()
}

/// (group in the own pattern, group in the whole pattern) of the
/// named groups in `own`; `None` if one is not in `names`.
fn map_names(names: &[(String, usize)], own: Vec<(usize, String)>) -> Option<Vec<(usize, usize)>> {
    own.into_iter()
        .map(|(i, n)| names.iter().find(|(m, _)| *m == n).map(|(_, j)| (i, *j)))
        .collect()
}

/// (NAME, LIT) when `items` start with `(?P<NAME>(?:(?!LIT).)*?)` and go on
/// with `LIT` (plain letters, digits and spaces), without global flags.
fn lazy_lead(items: &[String], flags: &str) -> Option<(String, String)> {
    if !flags.is_empty() {
        return None;
    }
    let (first, rest) = items.split_first()?;
    let (name, body) = first.strip_prefix("(?P<")?.split_once('>')?;
    let lit = unwrap_groups(body.strip_suffix(')')?)
        .strip_prefix("(?:(?!")?
        .strip_suffix(").)*?")?;
    let plain = !lit.is_empty() && lit.chars().all(|c| c.is_ascii_alphanumeric() || c == ' ');
    (plain && rest.concat().starts_with(lit)).then(|| (name.to_string(), lit.to_string()))
}

/// `LIT` when `tail` is `(?:(?!LIT).)*$` (in redundant `(?:…)` groups, as
/// [`decide_conditionals`] leaves it) with `LIT` plain letters, digits and
/// spaces.
fn avoided_literal(tail: &str) -> Option<String> {
    let body = unwrap_groups(unwrap_groups(tail).strip_suffix('$')?);
    let lit = body.strip_prefix("(?:(?!")?.strip_suffix(").)*")?;
    (!lit.is_empty() && lit.chars().all(|c| c.is_ascii_alphanumeric() || c == ' '))
        .then(|| lit.to_string())
}

/// The top-level `|`-separated branches of `inner` (the inside of a group).
fn top_level_branches(inner: &str) -> Option<Vec<String>> {
    let chars: Vec<char> = inner.chars().collect();
    let (bars, end) = top_level_bars(&chars)?;
    if end != chars.len() {
        // A `)` closes a group opened before `inner`.
        return None;
    }
    let mut out = Vec::with_capacity(bars.len() + 1);
    let mut start = 0;
    for bar in bars.into_iter().chain([end]) {
        out.push(chars[start..bar].iter().collect());
        start = bar + 1;
    }
    Some(out)
}

/// The `|` at depth 0 in `chars`, up to the first `)` that closes a group
/// opened before `chars` (its index) or the end (`chars.len()`); `None`
/// when an escape or class does not end, or a group is left open.
fn top_level_bars(chars: &[char]) -> Option<(Vec<usize>, usize)> {
    let (mut j, mut depth, mut bars) = (0, 0usize, Vec::new());
    while j < chars.len() {
        match chars[j] {
            '\\' => {
                j = escape_end(chars, j)?;
                continue;
            }
            '[' => {
                j = class_end(chars, j)?;
                continue;
            }
            '(' => depth += 1,
            ')' if depth == 0 => return Some((bars, j)),
            ')' => depth -= 1,
            '|' if depth == 0 => bars.push(j),
            _ => {}
        }
        j += 1;
    }
    (depth == 0).then_some((bars, chars.len()))
}

/// Names of the groups `piece` defines.
fn defined_names(piece: &str) -> Vec<&str> {
    piece
        .match_indices("(?P<")
        .chain(piece.match_indices("(?<"))
        .filter_map(|(i, m)| {
            let name_start = i + m.len();
            let len = piece[name_start..].find('>')?;
            Some(&piece[name_start..name_start + len])
        })
        .collect()
}

/// Whether a piece of pattern uses what only the backtracking VM has
/// (lookarounds, conditionals, atomic groups, backreferences, `\G`, `\K`).
fn needs_backtracking(piece: &str) -> bool {
    if ["(?=", "(?!", "(?<=", "(?<!", "(?(", "(?>", "(?P=", "(?~"]
        .iter()
        .any(|m| piece.contains(m))
    {
        return true;
    }
    let bytes = piece.as_bytes();
    let mut i = 0;
    while i + 1 < bytes.len() {
        if bytes[i] == b'\\' {
            let n = bytes[i + 1];
            if n.is_ascii_digit() && n != b'0' || matches!(n, b'k' | b'g' | b'G' | b'K') {
                return true;
            }
            i += 2;
        } else {
            i += 1;
        }
    }
    false
}

/// Whether `rest` has a backreference or conditional naming a group it does
/// not define itself, or one by number.
fn refers_outside(rest: &str) -> bool {
    let defined = defined_names(rest);
    let bytes = rest.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'\\' && i + 1 < bytes.len() {
            let n = bytes[i + 1];
            // A numbered backreference (escapes are pairs, so an escaped
            // backslash followed by a digit is a false alarm, which is safe).
            if n.is_ascii_digit() || n == b'k' || n == b'g' {
                return true;
            }
        }
    }
    for marker in ["(?P=", "(?("] {
        for (i, m) in rest.match_indices(marker) {
            let start = i + m.len();
            let Some(len) = rest[start..].find([')', '<', '>']) else {
                return true;
            };
            let mut name = &rest[start..start + len];
            if name.is_empty() {
                // `(?(<name>)` form.
                let inner = &rest[start + 1..];
                name = inner.split('>').next().unwrap_or("");
            }
            if name.is_empty() || name.chars().all(|c| c.is_ascii_digit()) {
                return true;
            }
            if !defined.contains(&name) {
                return true;
            }
        }
    }
    false
}

/// The leading global flags (`(?m)`, `(?iu)`…) of a pattern and its
/// top-level items (an atom with its quantifier). `None` when the top level
/// has an alternation or the syntax is not understood.
fn top_level_items(pattern: &str) -> Option<(String, Vec<String>)> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    let mut flags = String::new();
    // Leading `(?flags)` groups apply to everything after them.
    while chars.get(i) == Some(&'(') && chars.get(i + 1) == Some(&'?') {
        let mut j = i + 2;
        while j < chars.len() && chars[j].is_ascii_alphabetic() {
            j += 1;
        }
        if j == i + 2 || chars.get(j) != Some(&')') {
            break;
        }
        flags.extend(&chars[i..=j]);
        i = j + 1;
    }
    let mut items = Vec::new();
    while i < chars.len() {
        let start = i;
        match chars[i] {
            '|' => return None,
            ')' => return None,
            '\\' => {
                i = escape_end(&chars, i)?;
            }
            '[' => {
                i = class_end(&chars, i)?;
            }
            '(' => {
                let mut depth = 0usize;
                let mut j = i;
                loop {
                    let c = *chars.get(j)?;
                    match c {
                        '\\' => {
                            j = escape_end(&chars, j)?;
                            continue;
                        }
                        '[' => {
                            j = class_end(&chars, j)?;
                            continue;
                        }
                        '(' => depth += 1,
                        ')' => {
                            depth -= 1;
                            if depth == 0 {
                                j += 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                    j += 1;
                }
                // A flag group in the middle changes what follows: give up.
                let text: String = chars[i..j].iter().collect();
                if text.starts_with("(?") && !text.starts_with("(?:") && !text.starts_with("(?P<") {
                    let head: String = text
                        .chars()
                        .skip(2)
                        .take_while(|c| c.is_ascii_alphabetic())
                        .collect();
                    if text[2 + head.len()..].starts_with(')') {
                        return None;
                    }
                }
                i = j;
            }
            _ => i += 1,
        }
        // Quantifier.
        match chars.get(i) {
            Some('*') | Some('+') | Some('?') => i += 1,
            Some('{') => {
                let mut j = i + 1;
                while j < chars.len() && (chars[j].is_ascii_digit() || chars[j] == ',') {
                    j += 1;
                }
                if chars.get(j) == Some(&'}') && j > i + 1 {
                    i = j + 1;
                }
            }
            _ => {}
        }
        if i > start
            && matches!(chars.get(i), Some('?') | Some('+'))
            && matches!(
                chars.get(i - 1),
                Some('*') | Some('+') | Some('?') | Some('}')
            )
        {
            i += 1;
        }
        items.push(chars[start..i].iter().collect());
    }
    Some((flags, items))
}

/// `pattern` (fancy-regex syntax, as [`pyregex`](super::pyregex) writes it)
/// for texts that are pure ASCII: Python's `\w`, `\s` and `\d`, which the
/// translation spells as Unicode classes, become their ASCII parts. On ASCII
/// text the result matches exactly what `pattern` matches. `None` when
/// nothing would change.
fn asciify(pattern: &str) -> Option<String> {
    const WORD: &str = r"\p{L}\p{N}_";
    const SPACE: &str = r"\s\x1c-\x1f";
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len());
    let mut changed = false;
    let mut i = 0;
    let mut in_class = false;
    let at = |i: usize, s: &str| {
        s.chars()
            .enumerate()
            .all(|(k, c)| chars.get(i + k) == Some(&c))
    };
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' {
            if at(i, WORD) {
                out.push_str("a-zA-Z0-9_");
                i += WORD.chars().count();
                changed = true;
                continue;
            }
            if at(i, SPACE) {
                out.push_str(r"\t\n\x0B\x0C\r \x1c-\x1f");
                i += SPACE.chars().count();
                changed = true;
                continue;
            }
            if chars.get(i + 1) == Some(&'d') {
                out.push_str(if in_class { "0-9" } else { "[0-9]" });
                i += 2;
                changed = true;
                continue;
            }
            let end = escape_end(&chars, i)?;
            out.extend(&chars[i..end]);
            i = end;
            continue;
        }
        if in_class {
            // Nested classes (`[[:alpha:]]`) are left alone: give up.
            if c == '[' {
                return None;
            }
            if c == ']' {
                in_class = false;
            }
            out.push(c);
            i += 1;
            continue;
        }
        if c == '[' {
            in_class = true;
            out.push(c);
            i += 1;
            if chars.get(i) == Some(&'^') {
                out.push('^');
                i += 1;
            }
            if chars.get(i) == Some(&']') {
                out.push(']');
                i += 1;
            }
            continue;
        }
        out.push(c);
        i += 1;
    }
    changed.then_some(out)
}

/// Index just after the escape starting at `i`.
fn escape_end(chars: &[char], i: usize) -> Option<usize> {
    let next = *chars.get(i + 1)?;
    let mut j = i + 2;
    if matches!(next, 'p' | 'P' | 'x' | 'u') && chars.get(j) == Some(&'{') {
        while *chars.get(j)? != '}' {
            j += 1;
        }
        j += 1;
    } else if next == 'x' {
        j += 2;
    }
    Some(j.min(chars.len()))
}

/// Index just after the character class starting at `i`.
fn class_end(chars: &[char], i: usize) -> Option<usize> {
    let mut j = i + 1;
    if chars.get(j) == Some(&'^') {
        j += 1;
    }
    if chars.get(j) == Some(&']') {
        j += 1;
    }
    let mut depth = 1;
    while depth > 0 {
        match *chars.get(j)? {
            '\\' => {
                j = escape_end(chars, j)?;
                continue;
            }
            '[' => {
                // A nested class or `[:name:]`.
                depth += 1;
            }
            ']' => depth -= 1,
            _ => {}
        }
        j += 1;
    }
    Some(j)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans(m: &Matcher, text: &str) -> Option<Vec<Span>> {
        let mut s = m.scratch();
        m.search_into(text, 0, &mut s).unwrap().then_some(s.spans)
    }

    /// The group spans of fancy-regex's backtracker on the whole pattern:
    /// what every faster path must reproduce.
    fn backtracker_spans(whole: &fancy_regex::Regex, text: &str) -> Option<Vec<Span>> {
        whole.captures(text).unwrap().map(|c| {
            (0..c.len())
                .map(|i| c.get(i).map(|g| (g.start(), g.end())))
                .collect()
        })
    }

    #[test]
    fn fast_patterns_match_like_the_backtracker() {
        let patterns = [
            r"^(?:\S+\s+)?(?:imapd|pop3d)(?:-ssl)?:\s+LOGIN FAILED, (?:(?:user=(?P<user>[^,]*)|\w+=[^,]*), )*ip=\[(?P<ip>[^\]]*)\]",
            r"^x*(?:ab|a)+b?c? for (?P<u>.*) from (\S+)( via \S+)?\s*$",
            r"(?m)^(?:aa|a)a* end (?P<n>\d+)",
            // The group's optional `\]?` takes a `\]` the rest needs.
            r"^\w+ ip=\[(?P<ip>\[?[\d.:]+\]?)\]",
            // Groups around group-free items.
            r"^(?P<m>\w+ (?:\w+\[\d+\])?: )(?:error: )?(?P<c>.)",
        ];
        let texts = [
            "mx imapd: LOGIN FAILED, user=a, ip=[1.2.3.4]",
            "mx imapd-ssl: LOGIN FAILED, method=x, user=b, ip=[::1], port=[2]",
            "imapd: LOGIN FAILED, ip=[1.2.3.4]",
            "imapd: LOGIN FAILED, user=a, x",
            "xxababc for bob from 1.2.3.4 via z  ",
            "ab for bob from 1.2.3.4 from 5.6.7.8",
            "aab for  from x",
            "b for a from b",
            "zz\naaa end 12",
            "a end 1\naa end 2",
            "aaaa end x",
            "mx ip=[1.2.3.4]",
            "mx ip=[[::1]]",
            "mx ip=[1.2.3.4] ip=[5]",
            "gate sshd[12]: error: x",
            "gate : error: ",
            "gate sshd[1]: y",
        ];
        for pattern in patterns {
            let m = Matcher::new(pattern, None).unwrap();
            assert!(
                matches!(
                    &m.engine,
                    Engine::Fast {
                        program: Some(_),
                        ..
                    }
                ),
                "{pattern} has no program"
            );
            let whole = fancy_regex::Regex::new(pattern).unwrap();
            for text in texts {
                assert_eq!(
                    spans(&m, text),
                    backtracker_spans(&whole, text),
                    "{pattern} on {text:?}"
                );
            }
        }
    }

    #[test]
    fn plain_patterns_run_on_the_regex_crate() {
        let m = Matcher::new(r"^a(?P<x>\d+)b", None).unwrap();
        assert!(m.is_fast());
        assert_eq!(spans(&m, "a12b"), Some(vec![Some((0, 4)), Some((1, 3))]));
        assert_eq!(spans(&m, "xa12b"), None);
        // Unicode digits are digits, as in Python (the full program).
        assert_eq!(
            spans(&m, "a\u{661}\u{662}b"),
            Some(vec![Some((0, 6)), Some((1, 5))])
        );
    }

    #[test]
    fn split_patterns_match_like_the_backtracker() {
        let pattern = r"^(?:\S+\s+)?LOGIN FAILED, (?:(?!ip=)(?:user=(?P<user>[^,]*)|\w+=[^,]*), )*ip=\[(?P<ip>[^\]]+)\]";
        let m = Matcher::new(pattern, Some(100_000)).unwrap();
        let Engine::Fancy { split, .. } = &m.engine else {
            panic!("lookahead needs fancy-regex")
        };
        assert!(split.is_some());
        let whole = fancy(pattern, None).unwrap();
        for line in [
            "imapd: LOGIN FAILED, user=bob, ip=[1.2.3.4]",
            "imapd: LOGIN FAILED, method=PLAIN, ip=[1.2.3.4], ip=[5.6.7.8]",
            "imapd: LOGIN FAILED, ip=[1.2.3.4]",
            "x y LOGIN FAILED, ip=[1.2.3.4]",
            "LOGIN FAILED, user=a, user=b",
            "nothing here",
        ] {
            assert_eq!(spans(&m, line), backtracker_spans(&whole, line), "{line}");
        }
    }

    #[test]
    fn conditionals_on_the_prefix_are_decided_per_outcome() {
        let pattern =
            r"^abcdefghijk(?P<a>x)?(?P<u>(?P<b>y)|(?(<a>)z+?|w+))(?=q)(?(<b>)q|(?:(?!r).)*$)";
        let m = Matcher::new(pattern, None).unwrap();
        let Engine::Fancy { split, .. } = &m.engine else {
            panic!("conditional needs fancy-regex")
        };
        let s = split.as_ref().expect("split");
        assert_eq!(s.rests.len(), 2);
        // `(?P<u>(?P<b>y)|…)…(?(<b>)…)` is distributed in both rests.
        assert!(s.rests.iter().all(|r| r.alts.len() == 2));
        let whole = fancy(pattern, None).unwrap();
        for line in [
            "abcdefghijkxyq",
            "abcdefghijkyq",
            "abcdefghijkxzzq",
            "abcdefghijkxzzqr",
            "abcdefghijkwwq",
            "abcdefghijkwwqr",
            "abcdefghijkzq",
            "abcdefghijkxwq",
            "abcdefghijk",
        ] {
            assert_eq!(spans(&m, line), backtracker_spans(&whole, line), "{line}");
        }
        assert_eq!(
            decide_conditionals(r"a(?(<n>)b(c|d)|[|)]e)f(?(<n>)g)", "n", false),
            Some(r"a(?:[|)]e)f(?:)".to_string())
        );
        assert_eq!(
            decide_conditionals(r"a(?(<n>)b(c|d)|[|)]e)f(?(<n>)g)", "n", true),
            Some(r"a(?:b(c|d))f(?:g)".to_string())
        );
    }

    #[test]
    fn sshd_failed_pattern_matches_like_the_backtracker() {
        // sshd's `^Failed …` failregex as the ASCII twin spells it.
        let pattern = r"^Failed (?:(?P<nofail>publickey)|[^\t\n\x0B\x0C\r \x1c-\x1f]+) for (?P<cond_inv>invalid user )?(?P<user>(?P<cond_user>[^\t\n\x0B\x0C\r \x1c-\x1f]+)|(?(<cond_inv>)(?:(?! from ).)*?|[^:]+)) from (?:\[?(?:(?:::f{4,6}:)?(?P<ip4>(?:[0-9]{1,3}\.){3}[0-9]{1,3})|(?P<ip6>(?:[0-9a-fA-F]{1,4}::?|::){1,7}(?:[0-9a-fA-F]{1,4}|:)))\]?|(?P<dns>[a-zA-Z0-9_\-.^_]*[a-zA-Z0-9_]))(?: (?:port [0-9]+|on [^\t\n\x0B\x0C\r \x1c-\x1f]+)){0,2}(?: ssh[0-9]*)?(?(<cond_user>): |(?:(?:(?! from ).)*)$)";
        let m = Matcher::new(pattern, Some(100_000)).unwrap();
        let Engine::Fancy { split, .. } = &m.engine else {
            panic!("conditionals need fancy-regex")
        };
        let s = split.as_ref().expect("split");
        assert!(s.rests.iter().all(|r| r.alts.len() == 2));
        assert_eq!(s.rests[0].alts[1].avoid.as_deref(), Some(" from "));
        // With `invalid user `, the user is `(?:(?! from ).)*?`.
        assert!(s.rests[1].alts[1].lead.is_some());
        assert_eq!(
            avoided_literal("(?:(?:(?:(?! from ).)*)$)").as_deref(),
            Some(" from ")
        );
        assert_eq!(avoided_literal("(?:(?! from ).)*"), None);
        assert_eq!(avoided_literal("(?:(?!a.).)*$"), None);
        assert_eq!(avoided_literal("(?:(?!a).)*$x"), None);
        let whole = fancy(pattern, None).unwrap();
        for line in [
            "Failed password for root from 1.2.3.4 port 22 ssh2",
            "Failed password for invalid user root from 1.2.3.4 port 22 ssh2",
            "Failed publickey for git from 1.2.3.4 port 22 ssh2: RSA SHA256:x",
            "Failed password for invalid user a from b from 1.2.3.4 port 22 ssh2",
            "Failed password for a b c from 1.2.3.4 port 22 ssh2",
            "Failed password for a from 1.2.3.4 port 22 ssh2 from 5.6.7.8",
            "Failed password for a b from 1.2.3.4 port 22 ssh2 x from 5.6.7.8",
            "Failed password for root from ::ffff:1.2.3.4 port 22 on eth0 ssh2",
            "Failed password for root from host.example.org",
            "Failed password for ro:ot from 1.2.3.4 port 22",
            "Failed password for invalid user  from 1.2.3.4",
            "Failed password for  from  from 1.2.3.4",
            "Failed none for root from 1.2.3.4 x",
            "Failed password for root",
            "Failed password for a from 1.2.3.4 port 22 x\ny",
            "Failed password for a from 1.2.3.4 port 22 x from",
            "Failed password for a from 1.2.3.4 port 22 x from y",
            "Failed password for invalid user a b from 1.2.3.4 port 22 ssh2",
            "Failed password for invalid user a\nb from 1.2.3.4 port 22 ssh2",
            "Failed password for invalid user a from x from 1.2.3.4 port 22 ssh2",
            "Failed password for invalid user a from 1.2.3.4 port 22 x from y",
            "Failed password for invalid user  from 1.2.3.4 from 5.6.7.8",
            "Failed password for invalid user a b from 1.2.3.4: x",
            "Failed password for invalid user a from",
        ] {
            assert_eq!(spans(&m, line), backtracker_spans(&whole, line), "{line}");
        }
    }

    #[test]
    fn ascii_variants_match_like_the_full_pattern_on_ascii_text() {
        assert_eq!(
            asciify(r"^[\p{L}\p{N}_]+[^\s\x1c-\x1f]\d[\d.]"),
            Some(r"^[a-zA-Z0-9_]+[^\t\n\x0B\x0C\r \x1c-\x1f][0-9][0-9.]".to_string())
        );
        assert_eq!(asciify(r"a\\d"), None);
        let pattern = r"^(?P<u>[\p{L}\p{N}_]+)(?=[\s\x1c-\x1f])[\s\x1c-\x1f]+(?P<n>\d+)(?!x)";
        let m = Matcher::new(pattern, None).unwrap();
        let Engine::Fancy { ascii, .. } = &m.engine else {
            panic!("lookaheads need fancy-regex")
        };
        assert!(ascii.is_some());
        let whole = fancy(pattern, None).unwrap();
        for line in ["bob 12", "bob\x1c 7x", "b_1\t\t99", "bob", "é 1"] {
            assert_eq!(spans(&m, line), backtracker_spans(&whole, line), "{line:?}");
        }
    }

    #[test]
    fn content_tails_match_like_the_full_pattern() {
        let pattern = r"^(?P<pre>(?:\S+\s+)?(?:x\[\d+\]:)?\s*)(?:error: )?(?P<content>.+)$";
        let m = Matcher::new(pattern, None).unwrap();
        let Engine::Fast {
            program: Some(_), ..
        } = &m.engine
        else {
            panic!("the pattern has a program")
        };
        let full = regex::Regex::new(pattern).unwrap();
        for line in [
            "a x[1]: error: y",
            "a b",
            "a ",
            "",
            "x[1]: ",
            "é x[2]: z",
            "a\nb",
        ] {
            let expected = full.captures(line).map(|c| {
                (0..c.len())
                    .map(|i| c.get(i).map(|g| (g.start(), g.end())))
                    .collect::<Vec<_>>()
            });
            assert_eq!(spans(&m, line), expected, "{line:?}");
        }
    }

    #[test]
    fn items_are_found_at_the_top_level() {
        let (flags, items) = top_level_items(r"(?m)^a+(?:b|c){2,3}[)(]\d*?x").unwrap();
        assert_eq!(flags, "(?m)");
        assert_eq!(items, vec!["^", "a+", "(?:b|c){2,3}", "[)(]", r"\d*?", "x"]);
        assert!(top_level_items("a|b").is_none());
    }
}
