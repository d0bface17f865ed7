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
