//! Remembers the time of the last minute a date detector converted: the
//! lines of a log come in runs whose dates differ only in the seconds, and
//! such a line's time is then that minute's time plus its seconds, found
//! by comparing a few bytes instead of converting the fields again.
//!
//! A remembered minute is used only for the same template, the same field
//! texts but the seconds (and fields the conversion does not read), the
//! same `now`, logtimezone and zone rules ([`ZoneCheck`]). Within one
//! minute the time grows with the seconds, unless a rule (yesterday, last
//! year) or a zone change applies to some of its seconds and not to
//! others: a minute is remembered only when its second 59 converts to
//! exactly 59 seconds after its second 0.

use std::sync::atomic::{AtomicU64, Ordering};

use super::strptime::{self, DateValueError};
use crate::filter::clock::{CivilTime, ZoneCheck};
use crate::filter::failure::Stamp;
use crate::filter::matcher::Span;

/// The strptime key of the seconds.
const SECONDS: &str = "S";

/// Where a template's fields are, for its memo: made with its regex.
#[derive(Debug)]
pub(crate) struct Layout {
    /// Unique in the process: a minute is reused by its own template only.
    id: u64,
    /// Capture groups of the fields the conversion reads, but the seconds.
    key: Box<[usize]>,
    /// Capture group of the seconds.
    seconds: Option<usize>,
}

/// Source of [`Layout::id`]s.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl Layout {
    /// The layout of a template's fields (capture group, strptime key).
    pub(crate) fn new(fields: &[(usize, String)]) -> Layout {
        Layout {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            key: fields
                .iter()
                .filter(|(_, name)| name != SECONDS && strptime::reads_field(name))
                .map(|(group, _)| *group)
                .collect(),
            seconds: fields
                .iter()
                .find(|(_, name)| name == SECONDS)
                .map(|(group, _)| *group),
        }
    }
}

/// The last minute converted (see the module comment).
#[derive(Debug, Default)]
pub struct MinuteMemo {
    /// [`Layout::id`] of its template; 0: nothing remembered.
    template: u64,
    /// Spans of the layout's key groups in the line it was made from.
    spans: Vec<Span>,
    /// The bytes of that line from the first of those spans to the end of
    /// the last, but the seconds' (`texts[0]` up to them, `texts[1]` after).
    texts: [Vec<u8>; 2],
    /// Where those texts are in the line.
    ranges: [std::ops::Range<usize>; 2],
    /// Whether the seconds were there.
    seconds: bool,
    now: Option<CivilTime>,
    default_tz: Option<i32>,
    zone: Option<ZoneCheck>,
    /// The time at second 0 of the minute.
    base: Option<Stamp>,
    /// Times answered from the memo.
    #[cfg(test)]
    pub(crate) hits: usize,
}

/// The seconds of a matched field, if it reads as 0 to 59.
fn seconds_value(text: &[u8]) -> Option<i64> {
    let value = match *text {
        [d] if d.is_ascii_digit() => i64::from(d - b'0'),
        [d, e] if d.is_ascii_digit() && e.is_ascii_digit() => {
            i64::from(d - b'0') * 10 + i64::from(e - b'0')
        }
        _ => strptime::digits_value(std::str::from_utf8(text).ok()?)?,
    };
    (0..60).contains(&value).then_some(value)
}

/// The parts of the range of `spans` that are not in `seconds`.
fn around(spans: &[Span], seconds: Span) -> [std::ops::Range<usize>; 2] {
    let lo = spans.iter().flatten().map(|s| s.0).min().unwrap_or(0);
    let hi = spans
        .iter()
        .flatten()
        .map(|s| s.1)
        .max()
        .unwrap_or(0)
        .max(lo);
    match seconds {
        Some((a, b)) if a < hi && b > lo => [lo..a.max(lo), b.min(hi)..hi],
        _ => [lo..hi, hi..hi],
    }
}

impl MinuteMemo {
    /// The time of the fields of `layout` in `line` (their `spans`) when
    /// the remembered minute gives it.
    pub(crate) fn recall(
        &mut self,
        layout: &Layout,
        line: &str,
        spans: &[Span],
        now: CivilTime,
        default_tz: Option<i32>,
    ) -> Option<Stamp> {
        if self.template != layout.id || self.now != Some(now) || self.default_tz != default_tz {
            return None;
        }
        let base = self.base?;
        let bytes = line.as_bytes();
        for (group, kept) in layout.key.iter().zip(&self.spans) {
            if spans.get(*group).copied().flatten() != *kept {
                return None;
            }
        }
        // With the same spans, the fields are the same when the bytes
        // around the seconds are.
        for (range, text) in self.ranges.iter().zip(&self.texts) {
            if bytes.get(range.clone()) != Some(text) {
                return None;
            }
        }
        let seconds = layout
            .seconds
            .and_then(|group| spans.get(group).copied().flatten());
        if seconds.is_some() != self.seconds {
            return None;
        }
        let s = match seconds {
            // Seconds past 59 are not a valid time: left to the conversion.
            Some((a, b)) => seconds_value(bytes.get(a..b)?)?,
            None => 0,
        };
        if !self.zone.is_some_and(|z| z.holds()) {
            return None;
        }
        #[cfg(test)]
        {
            self.hits += 1;
        }
        Some(plus_seconds(base, s))
    }

    /// Converts `fields` (strptime key, text: the fields of `layout` in
    /// `line`, at `spans`) and remembers their minute when it may be reused.
    pub(crate) fn convert(
        &mut self,
        layout: &Layout,
        line: &str,
        spans: &[Span],
        fields: &[(&str, &str)],
        now: CivilTime,
        default_tz: Option<i32>,
    ) -> Result<Stamp, DateValueError> {
        let zone = ZoneCheck::now();
        let result = strptime::fields_to_time(fields, now, default_tz);
        self.template = 0;
        let second = fields.iter().find(|(k, _)| *k == SECONDS).map(|(_, v)| *v);
        let s = match second {
            Some(text) => seconds_value(text.as_bytes()),
            None => Some(0),
        };
        let (Ok(time), Some(s)) = (&result, s) else {
            return result;
        };
        let base = match second {
            None => Some(*time),
            Some(_) => minute_base(fields, now, default_tz),
        };
        let Some(base) = base.filter(|b| plus_seconds(*b, s) == *time) else {
            return result;
        };
        self.spans.clear();
        self.spans.extend(
            layout
                .key
                .iter()
                .map(|group| spans.get(*group).copied().flatten()),
        );
        let seconds = layout
            .seconds
            .and_then(|group| spans.get(group).copied().flatten());
        // A field around the seconds would change with them.
        if let Some((a, b)) = seconds {
            if self.spans.iter().flatten().any(|&(c, d)| c < b && a < d) {
                return result;
            }
        }
        self.ranges = around(&self.spans, seconds);
        for (range, text) in self.ranges.iter().zip(&mut self.texts) {
            let Some(bytes) = line.as_bytes().get(range.clone()) else {
                return result;
            };
            text.clear();
            text.extend_from_slice(bytes);
        }
        self.seconds = second.is_some();
        self.template = layout.id;
        self.now = Some(now);
        self.default_tz = default_tz;
        self.zone = Some(zone);
        self.base = Some(base);
        result
    }
}

/// The time at second 0 of the minute of `fields`, if every second of
/// that minute converts to that time plus the second.
fn minute_base(fields: &[(&str, &str)], now: CivilTime, default_tz: Option<i32>) -> Option<Stamp> {
    let at = |second: &'static str| {
        let with: Vec<(&str, &str)> = fields
            .iter()
            .map(|&(k, v)| (k, if k == SECONDS { second } else { v }))
            .collect();
        strptime::fields_to_time(&with, now, default_tz).ok()
    };
    let (first, last) = (at("0")?, at("59")?);
    // The time grows with the seconds, and a rule that applied to some
    // of them would move it by a day or more: equal spans mean none did.
    (plus_seconds(first, 59) == last).then_some(first)
}

/// `stamp` plus `seconds`, of the same kind.
fn plus_seconds(stamp: Stamp, seconds: i64) -> Stamp {
    match stamp {
        Stamp::Int(t) => Stamp::Int(t + seconds),
        // Whole seconds below 2^53: exact.
        Stamp::Float(t) => Stamp::Float(t + seconds as f64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::date::strptime::YearRange;
    use crate::filter::date::template::{DateTemplate, SearchScratch};

    fn civil(year: i32, month: u32, day: u32, hour: u32, minute: u32, second: u32) -> CivilTime {
        CivilTime {
            year,
            month,
            day,
            hour,
            minute,
            second,
        }
    }

    fn template(pattern: &str) -> DateTemplate {
        DateTemplate::from_pattern(pattern, YearRange::server(2026)).unwrap()
    }

    /// The time of the date of `template` in `line` through `memo`, and
    /// whether the memo answered; checked against a conversion without one.
    fn time(
        template: &DateTemplate,
        memo: &mut MinuteMemo,
        line: &str,
        now: CivilTime,
        tz: Option<i32>,
    ) -> (Option<Stamp>, bool) {
        let mut scratch = SearchScratch::default();
        template
            .search_into(line, 0, line.len(), &mut scratch)
            .unwrap_or_else(|| panic!("no date in {line:?}"));
        let spans = &scratch.regex.spans;
        let hits = memo.hits;
        let got = template.time_of(line, spans, now, tz, memo).ok();
        let fresh = template
            .time_of(line, spans, now, tz, &mut MinuteMemo::default())
            .ok();
        assert_eq!(got, fresh, "{line:?} at {now:?}, zone {tz:?}");
        (got, memo.hits > hits)
    }

    fn year_of(stamp: Option<Stamp>) -> i32 {
        CivilTime::from_utc_seconds(stamp.unwrap().seconds() as i64).year
    }

    #[test]
    fn seconds_of_a_remembered_minute_are_added_to_it() {
        let t = template("%b %d %H:%M:%S");
        let mut memo = MinuteMemo::default();
        let now = civil(2005, 8, 14, 12, 0, 0);
        let answered: Vec<bool> = [
            "Aug 14 09:59:58",
            "Aug 14 09:59:59",
            "Aug 14 10:00:00",
            "Aug 14 10:00:01",
            "Aug 14 10:00:3",
            // Another field: another minute.
            "Aug 15 10:00:02",
            "Aug 15 10:00:02",
        ]
        .iter()
        .map(|line| time(&t, &mut memo, line, now, Some(0)).1)
        .collect();
        assert_eq!(answered, [false, true, false, true, true, false, true]);
        // Local times (no zone) too.
        assert!(!time(&t, &mut memo, "Aug 15 10:00:04", now, None).1);
        assert!(time(&t, &mut memo, "Aug 15 10:00:05", now, None).1);
        // Microseconds are not read: they do not make another minute.
        let t = template("%H:%M:%S.%f");
        assert!(!time(&t, &mut memo, "10:00:01.123", now, Some(0)).1);
        assert!(time(&t, &mut memo, "10:00:02.456", now, Some(0)).1);
    }

    #[test]
    fn another_now_zone_or_template_is_another_minute() {
        let t = template("%b %d %H:%M:%S");
        let mut memo = MinuteMemo::default();
        let line = "Jan  1 00:00:05";
        // The year of a date without one depends on now.
        let (before, _) = time(&t, &mut memo, line, civil(2005, 12, 31, 12, 0, 0), Some(0));
        let (after, hit) = time(&t, &mut memo, line, civil(2006, 1, 1, 0, 10, 0), Some(0));
        assert!(!hit);
        assert_eq!((year_of(before), year_of(after)), (2005, 2006));
        let now = civil(2006, 1, 1, 0, 10, 0);
        let (east, hit) = time(&t, &mut memo, line, now, Some(60));
        assert!(!hit);
        assert_eq!(after.unwrap().seconds() - east.unwrap().seconds(), 3600.0);
        // The same texts read by templates with other fields.
        let (dm, md) = (template("%d/%m %H:%M:%S"), template("%m/%d %H:%M:%S"));
        let (first, _) = time(&dm, &mut memo, "05/06 10:00:01", now, Some(0));
        let (second, hit) = time(&md, &mut memo, "05/06 10:00:02", now, Some(0));
        assert!(!hit);
        assert_ne!(first.unwrap().seconds() + 1.0, second.unwrap().seconds());
    }

    #[test]
    fn a_minute_split_by_a_rule_is_not_remembered() {
        let mut memo = MinuteMemo::default();
        // A day ahead of now by up to 30 seconds is this year, by more the last.
        let t = template("%b %d %H:%M:%S");
        let now = civil(2005, 8, 14, 10, 0, 30);
        let years: Vec<(i32, bool)> = [
            "Aug 15 10:00:10",
            "Aug 15 10:00:45",
            "Aug 15 10:00:20",
            "Aug 15 10:00:50",
        ]
        .iter()
        .map(|line| {
            let (stamp, hit) = time(&t, &mut memo, line, now, Some(0));
            (year_of(stamp), hit)
        })
        .collect();
        assert_eq!(
            years,
            [(2005, false), (2004, false), (2005, false), (2004, false)]
        );
        // A time of day after now is yesterday's.
        let t = template("%H:%M:%S");
        let days: Vec<(u32, bool)> = ["10:00:10", "10:00:45", "10:00:20"]
            .iter()
            .map(|line| {
                let (stamp, hit) = time(&t, &mut memo, line, now, Some(0));
                let day = CivilTime::from_utc_seconds(stamp.unwrap().seconds() as i64).day;
                (day, hit)
            })
            .collect();
        assert_eq!(days, [(14, false), (13, false), (14, false)]);
    }

    #[test]
    fn seconds_past_59_are_not_added() {
        let t = template("%b %d %H:%M:%S");
        let mut memo = MinuteMemo::default();
        let now = civil(2005, 8, 14, 12, 0, 0);
        assert!(time(&t, &mut memo, "Aug 14 10:00:59", now, Some(0))
            .0
            .is_some());
        assert_eq!(
            time(&t, &mut memo, "Aug 14 10:00:60", now, Some(0)),
            (None, false)
        );
        assert!(time(&t, &mut memo, "Aug 14 10:00:58", now, Some(0))
            .0
            .is_some());
    }

    /// Runs `test` in a child process of this test binary with `TZ` set:
    /// the zone is process-wide.
    fn in_zone(test: &str, zone: &str) {
        if std::env::var_os("FERROBAN_MEMO_CHILD").is_some() {
            return;
        }
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", test, "--test-threads=1", "--nocapture"])
            .env("FERROBAN_MEMO_CHILD", "1")
            .env("TZ", zone)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("1 passed"),
            "{text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn child() -> bool {
        std::env::var_os("FERROBAN_MEMO_CHILD").is_some()
    }

    /// Central European rules without a zone file: summer time from the
    /// last Sunday of March 02:00 to the last Sunday of October 03:00.
    const CET: &str = "CET-1CEST,M3.5.0,M10.5.0/3";

    #[test]
    fn local_times_across_summer_time_changes_match_the_conversion() {
        in_zone(
            "filter::date::memo::tests::local_times_across_summer_time_changes_match_the_conversion",
            CET,
        );
        if !child() {
            return;
        }
        crate::filter::clock::init_timezone();
        let t = template("%Y-%m-%d %H:%M:%S");
        let mut memo = MinuteMemo::default();
        let now = civil(2026, 1, 1, 0, 0, 0);
        let mut hits = 0;
        let mut times = Vec::new();
        // Each second from 01:58 to 03:02 on both days of change.
        for day in ["2025-03-30", "2025-10-26"] {
            for minute in 0..65 {
                let (h, m) = (1 + (58 + minute) / 60, (58 + minute) % 60);
                for s in 0..60 {
                    let line = format!("{day} {h:02}:{m:02}:{s:02}");
                    let (stamp, hit) = time(&t, &mut memo, &line, now, None);
                    hits += usize::from(hit);
                    times.push(stamp.unwrap().seconds());
                }
            }
        }
        assert!(hits > 7000, "{hits}");
        // The rules did apply: from 01:59:59 to 03:00:00 is one second in
        // March (02:xx is skipped), and two hours and a second in October
        // (02:xx is lived twice).
        let at = |day: usize, minute: usize, s: usize| times[day * 3900 + minute * 60 + s];
        assert_eq!(at(0, 62, 0) - at(0, 1, 59), 1.0);
        assert_eq!(at(1, 62, 0) - at(1, 1, 59), 7201.0);
    }

    #[test]
    fn a_zone_reloaded_is_a_new_minute() {
        in_zone(
            "filter::date::memo::tests::a_zone_reloaded_is_a_new_minute",
            "UTC",
        );
        if !child() {
            return;
        }
        crate::filter::clock::init_timezone();
        let t = template("%Y-%m-%d %H:%M:%S");
        let mut memo = MinuteMemo::default();
        let now = civil(2026, 1, 1, 0, 0, 0);
        let (utc, _) = time(&t, &mut memo, "2025-01-01 00:00:05", now, None);
        assert!(time(&t, &mut memo, "2025-01-01 00:00:06", now, None).1);
        std::env::set_var("TZ", CET);
        crate::filter::clock::init_timezone();
        let (cet, hit) = time(&t, &mut memo, "2025-01-01 00:00:05", now, None);
        assert!(!hit);
        assert_eq!(utc.unwrap().seconds() - cet.unwrap().seconds(), 3600.0);
    }
}
