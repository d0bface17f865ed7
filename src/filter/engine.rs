//! The filter engine: turns each log line into failures the way fail2ban's
//! `Filter.processLine`/`findFailure` do: date detection, the line buffer
//! for multi-line regexes, prefregex, failregex, ignoreregex, and the
//! multi-line failure-id (mlfid) merging.

use std::borrow::Cow;
use std::cell::Cell;
use std::collections::BTreeSet;
use std::sync::Arc;

use super::clock::{self, CivilTime};
use super::date::{DateDetector, DefaultTemplates};
use super::failure::{known, FailData, Failure, Fields, Stamp, TupleLine};
use super::host::{self, AddressKind};
use super::mlfid::MlfidCache;
use super::regex::{CandidateSet, FilterRegex, Scratch, FAILURE_ID_GROUPS};

/// Where "now" comes from: the system clock, or a fixed time (tests).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Clock {
    System,
    Fixed(f64),
}

impl Clock {
    pub fn now(&self) -> f64 {
        match self {
            Clock::System => clock::now_seconds(),
            Clock::Fixed(t) => *t,
        }
    }
}

/// Switches that callers of the engine set as fail2ban's callers do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MatchOptions {
    /// Try every failregex on a line instead of stopping at the first match.
    pub check_all_regex: bool,
    /// Keep hosts as matched instead of resolving names.
    pub return_raw_host: bool,
    /// Drop multi-line failures that have no host yet.
    pub ignore_pending: bool,
    /// Skip matches without a date (the server does; the tools do not).
    pub check_find_time: bool,
}

impl Default for MatchOptions {
    fn default() -> MatchOptions {
        MatchOptions {
            check_all_regex: false,
            return_raw_host: false,
            ignore_pending: true,
            check_find_time: true,
        }
    }
}

/// Everything a filter learnt from one line.
#[derive(Debug, Default)]
pub struct LineOutcome {
    pub failures: Vec<Failure>,
    /// Indexes of the ignoreregexes that matched.
    pub ignored_by: Vec<usize>,
    /// Whether the prefregex matched (when there is one).
    pub prefregex_matched: bool,
}

impl LineOutcome {
    /// Empties the outcome, keeping its buffers for the next line.
    pub fn clear(&mut self) {
        self.failures.clear();
        self.ignored_by.clear();
        self.prefregex_matched = false;
    }
}

/// Buffers [`Filter::failures_in`] reuses from line to line (taken out of
/// the filter while it runs).
#[derive(Default)]
struct LineScratch {
    /// Which failregexes can match the current text.
    candidates: Vec<bool>,
    /// The prefregex's groups.
    pre: Fields,
    /// The prefregex's `content`, which the failregexes search.
    content: String,
    /// The groups of the failregex that matched, when they are needed on
    /// their own (see [`FilterRegex::update_with_groups`]).
    groups: Fields,
    /// A failure's fields: `pre` updated with `groups`.
    fields: Fields,
    /// The multi-line failure id of the current failure.
    mlfid: String,
}

/// Which buffered lines a search of the buffer covered.
struct BufferMatch {
    /// The buffered lines the match covers; `None` for all of them (a
    /// single-line buffer, which need not be copied).
    matched: Option<Vec<TupleLine>>,
    unmatched: Vec<TupleLine>,
}

/// A configured filter for one jail. Build it with [`FilterBuilder`](super::FilterBuilder).
pub struct Filter {
    pub(crate) prefregex: Option<FilterRegex>,
    pub(crate) failregex: Vec<FilterRegex>,
    pub(crate) ignoreregex: Vec<FilterRegex>,
    pub(crate) maxlines: usize,
    pub(crate) use_dns: String,
    pub(crate) dates: DateDetector,
    pub(crate) defaults: DefaultTemplates,
    fail_candidates: CandidateSet,
    /// Search buffers of the prefregex, failregexes and ignoreregexes.
    pref_scratch: Option<Scratch>,
    fail_scratch: Vec<Scratch>,
    ignore_scratch: Vec<Scratch>,
    set_scratch: Vec<bool>,
    /// Buffers each line's search reuses (boxed: taken out and put back
    /// for every line).
    line_scratch: Option<Box<LineScratch>>,
    pub options: MatchOptions,
    pub clock: Clock,
    /// Whether the line comes from a log already read to its end once
    /// (fail2ban's `inOperation`): an undated line then happens "now".
    pub in_operation: bool,
    buffer: Vec<TupleLine>,
    /// The last line of a single-line filter, whose strings the next line reuses.
    spare: Vec<TupleLine>,
    /// The data of a failure that its caller gave back (a reused outcome)
    /// and nothing else holds: the next failure without mlfid reuses it.
    spare_data: Option<Arc<FailData>>,
    last_date: Option<Stamp>,
    last_time_text: String,
    mlfid_cache: MlfidCache,
    abandoned_reported: Cell<bool>,
    no_date_reported: bool,
}

impl Filter {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn assemble(
        prefregex: Option<FilterRegex>,
        failregex: Vec<FilterRegex>,
        ignoreregex: Vec<FilterRegex>,
        maxlines: usize,
        use_dns: String,
        dates: DateDetector,
        defaults: DefaultTemplates,
        clock: Clock,
    ) -> Filter {
        Filter {
            fail_candidates: CandidateSet::new(&failregex),
            pref_scratch: prefregex.as_ref().map(FilterRegex::scratch),
            fail_scratch: failregex.iter().map(FilterRegex::scratch).collect(),
            ignore_scratch: ignoreregex.iter().map(FilterRegex::scratch).collect(),
            set_scratch: Vec::new(),
            line_scratch: None,
            prefregex,
            failregex,
            ignoreregex,
            maxlines,
            use_dns,
            dates,
            defaults,
            options: MatchOptions::default(),
            clock,
            in_operation: false,
            buffer: Vec::new(),
            spare: Vec::new(),
            spare_data: None,
            last_date: None,
            last_time_text: String::new(),
            mlfid_cache: MlfidCache::default(),
            abandoned_reported: Cell::new(false),
            no_date_reported: false,
        }
    }

    pub fn failregex(&self) -> &[FilterRegex] {
        &self.failregex
    }

    pub fn ignoreregex(&self) -> &[FilterRegex] {
        &self.ignoreregex
    }

    pub fn prefregex(&self) -> Option<&FilterRegex> {
        self.prefregex.as_ref()
    }

    pub fn maxlines(&self) -> usize {
        self.maxlines
    }

    pub fn date_detector(&self) -> &DateDetector {
        &self.dates
    }

    /// The lines currently buffered for multi-line matching.
    pub fn buffer(&self) -> &[TupleLine] {
        &self.buffer
    }

    /// Processes one line (without its line terminator), finding its date.
    pub fn process_line(&mut self, line: &str) -> LineOutcome {
        let mut outcome = LineOutcome::default();
        self.process_line_into(line, &mut outcome);
        outcome
    }

    /// [`process_line`](Self::process_line) into `outcome`, which is
    /// cleared first (a caller reuses its buffers from line to line).
    pub fn process_line_into(&mut self, line: &str, outcome: &mut LineOutcome) {
        // Before the search: the last line's failures give back their hold
        // on the mlfid cache's data, which this line may update.
        for f in outcome.failures.drain(..) {
            if self.spare_data.is_none() && Arc::strong_count(&f.data) == 1 {
                self.spare_data = Some(f.data);
            }
        }
        outcome.clear();
        if self.dates.is_empty() {
            self.dates.add_default_templates(&self.defaults, false);
        }
        let mut no_date = false;
        let mut date = None;
        // The clock is read once per line: the system time (template use,
        // mlfid cache) and "now" as this filter's clock sees it.
        let real_now = clock::now_seconds();
        let now = match self.clock {
            Clock::System => real_now,
            Clock::Fixed(t) => t,
        };
        let tuple = match self.dates.match_time(line, real_now) {
            Some(m) => {
                let range = m.date_range();
                let tuple = self.line_tuple(
                    &line[..range.start],
                    &line[range.clone()],
                    &line[range.end..],
                );
                if !tuple.date.is_empty() {
                    let now_civil = CivilTime::from_local_seconds(now.floor() as i64);
                    date = self.dates.time_of(line, &m, now_civil);
                    match date {
                        Some(d) => {
                            self.last_time_text.clone_from(&tuple.date);
                            self.last_date = Some(d);
                        }
                        None => log::error!("findFailure failed to parse timeText: {}", tuple.date),
                    }
                    tuple
                } else if self.last_date.is_some_and(|d| d.seconds() > now - 60.0) {
                    date = self.last_date;
                    TupleLine {
                        before: String::new(),
                        date: self.last_time_text.clone(),
                        after: line.to_string(),
                    }
                } else {
                    date = Some(Stamp::Float(now));
                    tuple
                }
            }
            None => self.line_tuple("", "", line),
        };
        let mut tuple = tuple;
        if date.is_none() {
            no_date = true;
            if self.last_date.is_some_and(|d| d.seconds() > now - 60.0) {
                tuple = TupleLine {
                    before: String::new(),
                    date: self.last_time_text.clone(),
                    after: line.to_string(),
                };
                date = self.last_date;
            } else if self.options.check_find_time && self.in_operation {
                date = Some(Stamp::Float(now));
            }
        }
        self.find_failure(tuple, date, no_date, real_now, outcome);
    }

    /// Processes a line whose date is already known (journal entries).
    pub fn process_dated_line(&mut self, tuple: TupleLine, date: Stamp) -> LineOutcome {
        self.last_time_text.clone_from(&tuple.date);
        self.last_date = Some(date);
        let mut outcome = LineOutcome::default();
        self.find_failure(tuple, Some(date), false, clock::now_seconds(), &mut outcome);
        outcome
    }

    fn buffer_text(&self, lines: &[TupleLine]) -> String {
        if self.maxlines <= 1 && lines.len() == 1 {
            // Python matches `line + "\n"` where `$` also matches before that
            // final newline; without the newline, fancy-regex's `$` agrees.
            return lines[0].without_date();
        }
        let mut s = String::new();
        for l in lines {
            s.push_str(&l.before);
            s.push_str(&l.after);
            s.push('\n');
        }
        s
    }

    /// fail2ban's `Regex.search`; the groups of a match stay in the regex's
    /// scratch for [`buffer_match`](Self::buffer_match). A runaway search is
    /// reported once per filter and counts as no match.
    fn search(&mut self, which: RegexRef, text: &str) -> bool {
        let (regex, scratch) = match which {
            RegexRef::Pref => match (self.prefregex.as_ref(), self.pref_scratch.as_mut()) {
                (Some(r), Some(s)) => (r, s),
                _ => return false,
            },
            RegexRef::Fail(i) => (&self.failregex[i], &mut self.fail_scratch[i]),
            RegexRef::Ignore(i) => (&self.ignoreregex[i], &mut self.ignore_scratch[i]),
        };
        match regex.search_into(text, scratch) {
            Ok(found) => found,
            Err(_) => {
                if !self.abandoned_reported.replace(true) {
                    log::warn!(
                        "Regex search abandoned after too much backtracking (regex {:?}); such lines are treated as not matching",
                        regex.expanded
                    );
                }
                false
            }
        }
    }

    /// The buffered lines the last successful [`search`](Self::search) of a
    /// failregex on `text` covered, and those it did not.
    fn buffer_match(&self, index: usize, text: &str, org: &[TupleLine]) -> BufferMatch {
        let regex = &self.failregex[index];
        let spans = &self.fail_scratch[index].spans;
        if org.len() <= 1 {
            return BufferMatch {
                matched: None,
                unmatched: Vec::new(),
            };
        }
        let whole = spans[0].map(|(a, b)| a..b).unwrap_or(0..0);
        // Python: rindex("\n", 0, start + 1) and index("\n", end - 1), on characters.
        let line_start = if text[whole.start..].starts_with('\n') {
            whole.start + 1
        } else {
            text[..whole.start].rfind('\n').map(|p| p + 1).unwrap_or(0)
        };
        let line_end = if whole.end == 0 || text[..whole.end].ends_with('\n') {
            if whole.end == 0 {
                text.len()
            } else {
                whole.end
            }
        } else {
            text[whole.end..]
                .find('\n')
                .map(|p| whole.end + p + 1)
                .unwrap_or(text.len())
        };
        let count1 = text[..line_start].matches('\n').count().min(org.len());
        let count2 = text[..line_end]
            .matches('\n')
            .count()
            .min(org.len())
            .max(count1);
        let mut matched: Vec<TupleLine> = org[count1..count2].to_vec();
        let mut unmatched: Vec<TupleLine> = org[..count1].to_vec();
        let mut n = 0;
        for skipped in regex.skipped_lines_of(text, spans) {
            if let Some(k) = matched[n.min(matched.len())..]
                .iter()
                .position(|l| l.without_date() == skipped)
            {
                unmatched.push(matched.remove(n + k));
                n += k;
            }
        }
        unmatched.extend_from_slice(&org[count2..]);
        BufferMatch {
            matched: Some(matched),
            unmatched,
        }
    }

    /// fail2ban's `_ignoreLine`: the index of the last ignoreregex that matched.
    fn ignore_line(
        &mut self,
        text: &str,
        fail: Option<&BufferMatch>,
        org: &[TupleLine],
        outcome: &mut LineOutcome,
    ) -> Option<usize> {
        let own_text = match fail {
            Some(f) if self.maxlines > 1 => {
                Some(self.buffer_text(f.matched.as_deref().unwrap_or(org)))
            }
            _ => None,
        };
        let text = own_text.as_deref().unwrap_or(text);
        let mut found = None;
        for i in 0..self.ignoreregex.len() {
            if self.search(RegexRef::Ignore(i), text) {
                found = Some(i);
                outcome.ignored_by.push(i);
                if !self.options.check_all_regex || self.maxlines > 1 {
                    if let Some(f) = fail {
                        self.buffer = f.unmatched.clone();
                    }
                }
                if !self.options.check_all_regex {
                    break;
                }
            }
        }
        found
    }

    fn find_failure(
        &mut self,
        tuple: TupleLine,
        date: Option<Stamp>,
        no_date: bool,
        real_now: f64,
        outcome: &mut LineOutcome,
    ) {
        if self.maxlines > 1 {
            self.buffer.push(tuple);
            if self.buffer.len() > self.maxlines {
                let excess = self.buffer.len() - self.maxlines;
                self.buffer.drain(..excess);
            }
            let org = self.buffer.clone();
            self.failures_in(&org, date, no_date, real_now, outcome);
        } else {
            // A single-line buffer is only read: the line is kept aside
            // instead, and the next line reuses it and its strings.
            self.buffer.clear();
            let mut org = std::mem::take(&mut self.spare);
            org.clear();
            org.push(tuple);
            self.failures_in(&org, date, no_date, real_now, outcome);
            self.spare = org;
        }
    }

    /// A line split around its date, in the strings of the last line when
    /// they are free.
    fn line_tuple(&mut self, before: &str, date: &str, after: &str) -> TupleLine {
        let mut t = self.spare.pop().unwrap_or_default();
        for (s, v) in [
            (&mut t.before, before),
            (&mut t.date, date),
            (&mut t.after, after),
        ] {
            s.clear();
            s.push_str(v);
        }
        t
    }

    /// fail2ban's `findFailure` on the buffered lines `org`. Kept out of
    /// line: profiles show the filter's work (outside date detection) as
    /// this function.
    #[inline(never)]
    fn failures_in(
        &mut self,
        org: &[TupleLine],
        date: Option<Stamp>,
        no_date: bool,
        real_now: f64,
        outcome: &mut LineOutcome,
    ) {
        let mut scratch = self.line_scratch.take().unwrap_or_default();
        self.failures_with(org, date, no_date, real_now, outcome, &mut scratch);
        self.line_scratch = Some(scratch);
    }

    /// [`failures_in`](Self::failures_in) with the filter's line buffers.
    fn failures_with(
        &mut self,
        org: &[TupleLine],
        date: Option<Stamp>,
        no_date: bool,
        real_now: f64,
        outcome: &mut LineOutcome,
        s: &mut LineScratch,
    ) {
        let k = known();
        let raw_default = self.use_dns == "raw" || self.options.return_raw_host;
        let default_kind = if raw_default {
            AddressKind::Raw
        } else {
            AddressKind::Any
        };
        let check_all = self.options.check_all_regex;
        // The text the regexes see; a single undated-prefix line is borrowed.
        let mut text: Cow<'_, str> = match org {
            [only] if self.maxlines <= 1 && only.before.is_empty() => Cow::Borrowed(&only.after),
            _ => Cow::Owned(self.buffer_text(org)),
        };

        if !self.ignoreregex.is_empty()
            && (self.ignoreregex.len() as isize) < self.failregex.len() as isize - 2
            && self.ignore_line(&text, None, org, outcome).is_some()
        {
            return;
        }

        s.pre.clear();
        if self.prefregex.is_some() {
            if !self.search(RegexRef::Pref, &text) {
                return;
            }
            outcome.prefregex_matched = true;
            if let Some((regex, scratch)) = self.prefregex.as_ref().zip(self.pref_scratch.as_ref())
            {
                regex.groups_into(&text, &scratch.spans, &mut s.pre);
            }
            s.content.clear();
            if let Some(content) = s.pre.lookup(k.content.as_str()) {
                s.content.push_str(content.unwrap_or_default());
                s.pre.remove_is_set(k.content);
            }
            if !s.content.is_empty() {
                // The failregexes see only the content, as the single line of
                // the buffer (a multi-line buffer's text ends in a newline).
                if self.maxlines > 1 {
                    self.buffer = vec![TupleLine::undated(&s.content)];
                    text = Cow::Owned(self.buffer_text(&self.buffer));
                } else {
                    text = Cow::Borrowed(&s.content);
                }
            }
        }

        // Which failregexes can match the current text.
        let mut may_match_valid = false;
        // Set when the buffer changed and the text must be made from it again.
        let mut stale = false;
        for index in 0..self.failregex.len() {
            if stale {
                text = Cow::Owned(self.buffer_text(&self.buffer));
                stale = false;
                may_match_valid = false;
            }
            if !may_match_valid {
                self.fail_candidates.candidates_into(
                    &text,
                    &mut self.set_scratch,
                    &mut s.candidates,
                );
                may_match_valid = true;
            }
            if !s.candidates[index] || !self.search(RegexRef::Fail(index), &text) {
                continue;
            }
            let mut found = self.buffer_match(index, &text, org);
            if !self.ignoreregex.is_empty()
                && self
                    .ignore_line(&text, Some(&found), org, outcome)
                    .is_some()
            {
                stale = true;
                if !check_all {
                    break;
                }
                continue;
            }
            if no_date {
                if !self.no_date_reported {
                    self.no_date_reported = true;
                    log::warn!("Found a match but no valid date/time found for {:?}. Please try setting a custom date pattern (see man page jail.conf(5)).", org.last().map(|l| l.full()).unwrap_or_default());
                }
                if date.is_none() && self.options.check_find_time {
                    continue;
                }
            }
            if !check_all || self.maxlines > 1 {
                self.buffer = std::mem::take(&mut found.unmatched);
                stale = true;
            }
            // The prefregex's groups updated with the failregex's (a dict update).
            s.fields.clear();
            s.fields.extend_from(&s.pre);
            self.failregex[index].update_with_groups(
                &text,
                &self.fail_scratch[index].spans,
                &mut s.fields,
                &mut s.groups,
            );
            let matched = found.matched.as_deref().unwrap_or(org);
            let mlfid = match s.fields.get_interned(k.mlfid) {
                Some(m) => {
                    s.mlfid.clear();
                    s.mlfid.push_str(m);
                    Some(s.mlfid.as_str())
                }
                None => None,
            };
            let mut keep_cached = false;
            let mut fail = if let Some(mlfid) = mlfid {
                let (merged, cached) = self.merge_failure(mlfid, &mut s.fields, matched, real_now);
                keep_cached = cached;
                if merged.is_nofail() && !check_all {
                    if keep_cached {
                        self.mlfid_cache.update_if_present(mlfid, &merged);
                    }
                    return;
                }
                merged
            } else {
                let mut data = self.spare_data.take().unwrap_or_default();
                Arc::make_mut(&mut data).refill(&s.fields, matched);
                data
            };
            let mut raw = raw_default;
            let mut kind = default_kind;
            let cidr = fail
                .fields
                .get_interned(k.cidr)
                .filter(|c| !c.is_empty())
                .and_then(|c| c.parse::<u32>().ok());
            let mut fid = fail.fields.get_interned(k.fid);
            let ip = if let Some(ip) = fail.fields.get_interned(k.ip4) {
                kind = cidr.map(AddressKind::Prefix).unwrap_or(AddressKind::V4);
                raw = true;
                Some(ip)
            } else if let Some(ip) = fail.fields.get_interned(k.ip6) {
                kind = cidr.map(AddressKind::Prefix).unwrap_or(AddressKind::V6);
                raw = true;
                Some(ip)
            } else if let Some(dns) = fail.fields.get_interned(k.dns) {
                Some(dns)
            } else {
                if fid.is_none() && mlfid.is_none() {
                    fid = FAILURE_ID_GROUPS.iter().find_map(|g| fail.get(g));
                    if fid.is_none() {
                        log::error!(
                            "No group found in {text:?} using {:?}",
                            self.failregex[index].expanded
                        );
                        continue;
                    }
                }
                raw = true;
                fid
            };
            // The ids (and the host, when the id is something else), made
            // while the data is only read.
            let (ids, host) = match ip {
                None => (Ids::Pending, None),
                Some(ip) if raw => match fid {
                    Some(f) if f != ip => (
                        Ids::One(host::normalize(f, default_kind)),
                        Some(host::normalize(ip, kind)),
                    ),
                    _ => (Ids::One(host::normalize(ip, kind)), None),
                },
                Some(ip) => (Ids::Many(host::text_to_ips(ip, &self.use_dns)), None),
            };
            if let Some(h) = host {
                Arc::make_mut(&mut fail).ip = Some(h);
            }
            if let Ids::Pending = ids {
                Arc::make_mut(&mut fail).pending = true;
                if !check_all && self.options.ignore_pending {
                    if let Some(m) = mlfid.filter(|_| keep_cached) {
                        self.mlfid_cache.update_if_present(m, &fail);
                    }
                    return;
                }
            }
            if let Some(m) = mlfid.filter(|_| keep_cached) {
                self.mlfid_cache.update_if_present(m, &fail);
            }
            let failure = |id, data| Failure {
                regex_index: index,
                id,
                time: date,
                data,
            };
            match ids {
                Ids::Pending => outcome.failures.push(failure(None, fail)),
                Ids::One(id) => outcome.failures.push(failure(Some(id), fail)),
                Ids::Many(ids) => outcome.failures.extend(
                    ids.into_iter()
                        .map(|id| failure(Some(id), Arc::clone(&fail))),
                ),
            }
            if !check_all {
                break;
            }
        }
    }

    /// fail2ban's `_mergeFailure`: combines this match's `fields` with what
    /// earlier lines of the same multi-line failure id said. Returns the
    /// merged data and whether it is (still) the cached entry for `mlfid`.
    fn merge_failure(
        &mut self,
        mlfid: &str,
        fields: &mut Fields,
        matched: &[TupleLine],
        now: f64,
    ) -> (Arc<FailData>, bool) {
        const NOFAIL: u8 = 1;
        const FORGET: u8 = 2;
        const CACHED_NOFAIL: u8 = 4;
        const GAINED: u8 = 8;
        let k = known();
        let is_set =
            |fields: &Fields, name| fields.get_interned(name).is_some_and(|v| !v.is_empty());
        let cached = self.mlfid_cache.take(mlfid, now);
        // How many users the multi-line failure has seen so far.
        let mut users = 0;
        let mut flags = 0u8;
        if is_set(fields, k.mlfgained) {
            flags |= GAINED | NOFAIL;
            if !is_set(fields, k.nofail) {
                fields.copy_value(k.mlfgained, k.nofail);
            }
        } else if is_set(fields, k.nofail) {
            flags |= NOFAIL;
        }
        if fields.remove_is_set(k.mlfforget) {
            flags |= FORGET;
        }
        let user = fields.get_interned(k.user).filter(|u| !u.is_empty());
        let mut is_cached_entry = false;
        let mut merged = match cached {
            Some(mut shared) => {
                // Copied only if a failure of an earlier line still holds it.
                let g = Arc::make_mut(&mut shared);
                if let Some(u) = user {
                    g.add_user(u);
                }
                users = g.users.as_ref().map_or(0, BTreeSet::len);
                if g.fields.remove_is_set(k.nofail) {
                    flags |= CACHED_NOFAIL;
                }
                if g.fields.remove_is_set(k.mlfgained) {
                    flags |= CACHED_NOFAIL;
                }
                if flags & GAINED != 0 {
                    g.pending = false;
                }
                if flags & CACHED_NOFAIL == 0 && !g.pending {
                    g.matches.clear();
                }
                for (k, v) in fields.iter_shared() {
                    if let Some(v) = v {
                        g.fields.insert_shared(k, Some(v));
                    }
                }
                if flags & FORGET != 0 {
                    self.mlfid_cache.unset(mlfid);
                } else {
                    is_cached_entry = true;
                }
                shared
            }
            None => {
                // The merged data is stored by the caller (`is_cached_entry`).
                // A new entry takes the buffers of the one it evicts when no
                // failure holds that one any more.
                let evicted = if flags & FORGET == 0 {
                    self.mlfid_cache.reserve(mlfid, now)
                } else {
                    None
                };
                let mut data = evicted
                    .filter(|old| Arc::strong_count(old) == 1)
                    .unwrap_or_default();
                let fail = Arc::make_mut(&mut data);
                fail.clear();
                // With room for the users entry (`add_user`).
                fail.fields.copy_from(fields, 1);
                if flags & FORGET == 0 {
                    if let Some(u) = user {
                        fail.add_user(u);
                    }
                    users = fail.users.as_ref().map_or(0, BTreeSet::len);
                    is_cached_entry = true;
                }
                data
            }
        };
        let m = Arc::make_mut(&mut merged);
        let was_pending = std::mem::take(&mut m.pending);
        if was_pending || users > 1 {
            m.fields.remove_is_set(k.nofail);
            m.fields.remove_is_set(k.mlfgained);
            flags &= !(GAINED | NOFAIL);
        }
        if flags & NOFAIL == 0 {
            // matches = nofail_matches + matches (+ this match), in the
            // buffer `matches` already has when there is nothing before it.
            if !m.nofail_matches.is_empty() {
                let mut all = std::mem::take(&mut m.nofail_matches);
                all.append(&mut m.matches);
                m.matches = all;
            }
            if flags & GAINED == 0 {
                m.matches.extend(matched.iter().map(TupleLine::full));
            }
        } else if flags & (NOFAIL | FORGET) == NOFAIL {
            m.nofail_matches.extend(matched.iter().map(TupleLine::full));
        }
        // The caller stores the data in the cache once it is final
        // (fail2ban's cache holds the very dict the failure carries on with).
        (merged, is_cached_entry)
    }
}

/// The failure ids of one match.
enum Ids {
    /// A multi-line failure still waiting for its host.
    Pending,
    One(String),
    /// A host name's addresses.
    Many(Vec<String>),
}

#[derive(Clone, Copy)]
enum RegexRef {
    Pref,
    Fail(usize),
    Ignore(usize),
}
