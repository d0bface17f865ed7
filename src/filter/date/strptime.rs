//! fail2ban's strptime: the regex for each `%` field code (its `timeRE`) and
//! the conversion of matched fields into a Unix time (`reGroupDictStrptime`),
//! including the year rules for dates without a year and the zone rules.

use crate::filter::clock::{days_from_civil, CivilTime};
use crate::filter::failure::Stamp;

/// Zone abbreviations fail2ban knows, with their offsets in hours.
const TZ_TABLE: &[(f64, &str)] = &[
    (-12.0, "Y"),
    (-11.0, "X NUT SST"),
    (-10.0, "W CKT HAST HST TAHT TKT"),
    (-9.0, "V AKST GAMT GIT HADT HNY"),
    (-8.0, "U AKDT CIST HAY HNP PST PT"),
    (-7.0, "T HAP HNR MST PDT"),
    (-6.0, "S CST EAST GALT HAR HNC MDT"),
    (-5.0, "R CDT COT EASST ECT EST ET HAC HNE PET"),
    (-4.0, "Q AST BOT CLT COST EDT FKT GYT HAE HNA PYT"),
    (
        -3.0,
        "P ADT ART BRT CLST FKST GFT HAA PMST PYST SRT UYT WGT",
    ),
    (-2.0, "O BRST FNT PMDT UYST WGST"),
    (-1.0, "N AZOT CVT EGT"),
    (0.0, "Z EGST GMT UTC WET WT"),
    (1.0, "A CET DFT WAT WEDT WEST"),
    (2.0, "B CAT CEDT CEST EET SAST WAST"),
    (3.0, "C EAT EEDT EEST IDT MSK"),
    (4.0, "D AMT AZT GET GST KUYT MSD MUT RET SAMT SCT"),
    (
        5.0,
        "E AMST AQTT AZST HMT MAWT MVT PKT TFT TJT TMT UZT YEKT",
    ),
    (6.0, "F ALMT BIOT BTT IOT KGT NOVT OMST YEKST"),
    (7.0, "G CXT DAVT HOVT ICT KRAT NOVST OMSST THA WIB"),
    (
        8.0,
        "H ACT AWST BDT BNT CAST HKT IRKT KRAST MYT PHT SGT ULAT WITA WST",
    ),
    (9.0, "I AWDT IRKST JST KST PWT TLT WDT WIT YAKT"),
    (10.0, "K AEST ChST PGT VLAT YAKST YAPT"),
    (11.0, "L AEDT LHDT MAGT NCT PONT SBT VLAST VUT"),
    (
        12.0,
        "M ANAST ANAT FJT GILT MAGST MHT NZST PETST PETT TVT WFT",
    ),
    (13.0, "FJST NZDT"),
    (11.5, "NFT"),
    (10.5, "ACDT LHST"),
    (9.5, "ACST"),
    (6.5, "CCT MMT"),
    (5.75, "NPT"),
    (5.5, "SLT"),
    (4.5, "AFT IRDT"),
    (3.5, "IRST"),
    (-2.5, "HAT NDT"),
    (-3.5, "HNT NST NT"),
    (-4.5, "HLV VET"),
    (-9.5, "MART MIT"),
];

fn abbreviation_offset_minutes(abbr: &str) -> Option<i32> {
    if abbr.is_empty() {
        return Some(0);
    }
    TZ_TABLE
        .iter()
        .find(|(_, names)| names.split(' ').any(|n| n == abbr))
        .map(|(hours, _)| (hours * 60.0) as i32)
}

/// A zone given as `[ABBR][+-]hh[[:]mm]` (fail2ban's `validateTimeZone`),
/// as an offset in minutes east of UTC. `None` when fail2ban would reject it.
pub fn zone_offset_minutes(zone: &str) -> Option<i32> {
    let abbr_len = zone
        .char_indices()
        .take_while(|(_, c)| c.is_ascii_uppercase())
        .count();
    if abbr_len == 2 || abbr_len > 5 {
        return None;
    }
    let (abbr, offset) = zone.split_at(abbr_len);
    let base = abbreviation_offset_minutes(abbr)?;
    if offset.is_empty() {
        return Some(base);
    }
    let sign = match offset.as_bytes()[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let digits = &offset[1..];
    // Slicing below is by byte; Python would also read non-ASCII digits, we refuse them.
    if !digits.is_ascii() {
        return None;
    }
    let (hours, minutes) = match digits.len() {
        2 => (digits, "0"),
        4 => (&digits[..2], &digits[2..]),
        5 if digits.as_bytes()[2] == b':' => (&digits[..2], &digits[3..]),
        _ => return None,
    };
    if !hours.starts_with(['0', '1'])
        || !(hours.chars().chain(minutes.chars())).all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let hours: i32 = hours.parse().ok()?;
    let minutes: i32 = minutes.parse().ok()?;
    // fail2ban adds a two-digit offset without its sign for the hours-only form.
    if digits.len() == 2 {
        return Some(base + offset.parse::<i32>().ok()? * 60);
    }
    Some(base + sign * (hours * 60 + minutes))
}

/// The regex fail2ban substitutes for the field code `key` (`%key`).
pub fn field_regex(key: &str, years: YearRange) -> Option<String> {
    let r = match key {
        "a" => "(?P<a>mon|tue|wed|thu|fri|sat|sun)",
        "A" => "(?P<A>wednesday|thursday|saturday|tuesday|monday|friday|sunday)",
        "b" => "(?P<b>jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)",
        "B" => "(?P<B>september|february|november|december|january|october|august|march|april|june|july|may)",
        "c" => r"(?P<a>mon|tue|wed|thu|fri|sat|sun)\s+(?P<b>jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)\s+(?P<d>3[0-1]|[1-2]\d|0[1-9]|[1-9]| [1-9])\s+(?P<H>2[0-3]|[0-1]\d|\d):(?P<M>[0-5]\d|\d):(?P<S>6[0-1]|[0-5]\d|\d)\s+(?P<Y>\d\d\d\d)",
        "d" => r"(?P<d>[1-2]\d|[0 ]?[1-9]|3[0-1])",
        "f" => r"(?P<f>[0-9]{1,6})",
        "G" => r"(?P<G>\d\d\d\d)",
        "H" => r"(?P<H>[0-1]?\d|2[0-3])",
        "I" => r"(?P<I>1[0-2]|0[1-9]|[1-9])",
        "j" => r"(?P<j>36[0-6]|3[0-5]\d|[1-2]\d\d|0[1-9]\d|00[1-9]|[1-9]\d|0[1-9]|[1-9])",
        "k" => r" ?(?P<H>[0-2]?\d)",
        "l" => r" ?(?P<I>1?\d)",
        "m" => r"(?P<m>0?[1-9]|1[0-2])",
        "M" => r"(?P<M>[0-5]?\d)",
        "p" => r"(?P<p>am|pm)",
        "S" => r"(?P<S>[0-5]?\d|6[0-1])",
        "u" => r"(?P<u>[1-7])",
        "U" => r"(?P<U>5[0-3]|[0-4]\d|\d)",
        "V" => r"(?P<V>5[0-3]|0[1-9]|[1-4]\d|\d)",
        "w" => r"(?P<w>[0-6])",
        "W" => r"(?P<W>5[0-3]|[0-4]\d|\d)",
        "x" => r"(?P<m>1[0-2]|0[1-9]|[1-9])/(?P<d>3[0-1]|[1-2]\d|0[1-9]|[1-9]| [1-9])/(?P<y>\d\d)",
        "X" => r"(?P<H>2[0-3]|[0-1]\d|\d):(?P<M>[0-5]\d|\d):(?P<S>6[0-1]|[0-5]\d|\d)",
        "y" => r"(?P<y>\d\d)",
        "Y" => r"(?P<Y>\d{4})",
        "z" => r"(?P<z>Z|UTC|GMT|[+-][01]\d(?::?\d{2})?)",
        "Z" => r"(?P<Z>Z|[A-Z]{3,5})",
        "%" => "%",
        "ExZ" => r"(?P<Z>[A-Z](?:[A-Z]{2,4})?)",
        "Exz" => r"(?P<z>(?:[A-Z](?:[A-Z]{2,4})?)?[+-][01]\d(?::?\d{2})?|[A-Z](?:[A-Z]{2,4})?)",
        "Exd" => r"(?P<d>[1-2]\d|0[1-9]|3[0-1])",
        "Exm" => r"(?P<m>0[1-9]|1[0-2])",
        "ExH" => r"(?P<H>[0-1]\d|2[0-3])",
        "Exk" => r" ?(?P<H>[0-1]?\d|2[0-3])",
        "Exl" => r" ?(?P<I>1[0-2]|\d)",
        "ExM" => r"(?P<M>[0-5]\d)",
        "ExS" => r"(?P<S>[0-5]\d|6[0-1])",
        "ExY" => return Some(format!(r"(?P<Y>{}\d)", year_century_regex(years))),
        "Exy" => r"(?P<y>\d{2})",
        _ => return None,
    };
    Some(r.to_string())
}

/// The multi-character field codes, tried before the single-character ones.
pub const LONG_FIELD_CODES: &[&str] = &[
    "ExZ", "Exz", "Exd", "Exm", "ExH", "Exk", "Exl", "ExM", "ExS", "ExY", "Exy",
];
/// The single-character field codes.
pub const SHORT_FIELD_CODES: &str = "dfHIGjmMpSUwuVyYzAaBbcxXWZkl";

/// The name fail2ban shows for a field code in a template name.
pub fn field_display_name(key: &str) -> String {
    let name = |k: &str| -> Option<&'static str> {
        Some(match k {
            "a" => "DAY",
            "A" => "DAYNAME",
            "b" => "MON",
            "B" => "MONTH",
            "d" => "Day",
            "H" => "24hour",
            "I" => "12hour",
            "j" => "Yearday",
            "m" => "Month",
            "M" => "Minute",
            "p" => "AMPM",
            "S" => "Second",
            "U" | "W" => "Yearweek",
            "w" => "Weekday",
            "y" => "Year2",
            "Y" => "Year",
            "%" => "%",
            "z" => "Zone offset",
            "f" => "Microseconds",
            "Z" => "Zone name",
            _ => return None,
        })
    };
    if let Some(n) = name(key) {
        return n.to_string();
    }
    if let Some(base) = key.strip_prefix("Ex") {
        if let Some(n) = name(base) {
            return format!("Ex{n}");
        }
    }
    format!("%{key}")
}

/// The years `%ExY` accepts: from the "alternate now" (2001 in the server,
/// 1970 in fail2ban-regex) up to three years after the current year.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct YearRange {
    pub now_year: i32,
    pub alternate_year: i32,
}

impl YearRange {
    /// The server's range (fail2ban's import-time `_updateTimeRE`).
    pub fn server(now_year: i32) -> YearRange {
        YearRange {
            now_year,
            alternate_year: 2001,
        }
    }

    /// fail2ban-regex's range (it calls `setAlternateNow(0)`).
    pub fn regex_tool(now_year: i32) -> YearRange {
        YearRange {
            now_year,
            alternate_year: 1970,
        }
    }
}

/// fail2ban's `_getYearCentRE`: the first three digits of the accepted
/// years, folded into a compact regex.
pub fn year_century_regex(years: YearRange) -> String {
    let cent = |y: i32| y.to_string()[..3].to_string();
    let now = years.now_year;
    let mut set: Vec<String> = vec![cent(now - 1), cent(now + 3)];
    // Python: range(-1, now - alternate + 1, 3) added to the alternate year.
    let mut i = -1;
    while i < now - years.alternate_year + 1 {
        set.push(cent(years.alternate_year + i));
        i += 3;
    }
    set.sort();
    set.dedup();
    fold_alternatives(&set)
}

fn fold_alternatives(set: &[String]) -> String {
    if set.len() > 1 {
        let all_same = |f: &dyn Fn(&str) -> &str| {
            let first = f(&set[0]);
            set.iter().all(|s| f(s) == first).then(|| first.to_string())
        };
        let common = all_same(&|s: &str| &s[..s.len() - 1])
            .filter(|c| !c.is_empty())
            .or_else(|| all_same(&|s: &str| &s[..1]).filter(|c| !c.is_empty()));
        if let Some(c) = common {
            let rest: Vec<String> = set.iter().map(|s| s[c.len()..].to_string()).collect();
            return format!("{c}{}", fold_alternatives(&rest));
        }
        if set[0].len() > 1 {
            return format!("(?:{})", set.join("|"));
        }
        return format!("[{}]", set.concat());
    }
    set.concat()
}

/// Why matched date text could not be turned into a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateValueError(pub String);

const MONTHS_SHORT: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const MONTHS_LONG: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

/// The integer in a captured field (Python's `int()` of it); the fields
/// are digits, which are read without the general parser.
pub(crate) fn digits_value(text: &str) -> Option<i64> {
    // Most fields are one to four digits and nothing else.
    if (1..=18).contains(&text.len()) {
        let value = text.bytes().try_fold(0i64, |n, b| {
            let digit = b.wrapping_sub(b'0');
            (digit <= 9).then(|| n * 10 + i64::from(digit))
        });
        if value.is_some() {
            return value;
        }
    }
    let t = text.as_bytes().trim_ascii();
    if !t.is_empty() && t.len() <= 18 && t.iter().all(u8::is_ascii_digit) {
        return Some(t.iter().fold(0, |n, b| n * 10 + i64::from(b - b'0')));
    }
    text.trim().parse().ok()
}

/// Converts the fields a date template captured (strptime key, text) into
/// seconds since the epoch. `now` is the current local civil time;
/// `default_tz` the logtimezone offset.
pub fn fields_to_time(
    fields: &[(&str, &str)],
    now: CivilTime,
    default_tz: Option<i32>,
) -> Result<Stamp, DateValueError> {
    let bad = |what: &str, v: &str| DateValueError(format!("bad {what} {v:?}"));
    let mut year: Option<i32> = None;
    let mut month: Option<u32> = None;
    let mut day: Option<u32> = None;
    let mut julian: Option<i64> = None;
    let (mut hour, mut minute, mut second) = (0u32, 0u32, 0u32);
    let mut tzoffset: Option<i32> = None;
    let get = |k: &str| fields.iter().find(|(key, _)| *key == k).map(|(_, v)| *v);
    for &(key, val) in fields {
        let num = || digits_value(val).ok_or_else(|| bad(key, val));
        match key {
            "y" => {
                let y = num()? as i32;
                year = Some(if y <= 2000 { y + 2000 } else { y });
            }
            "Y" => year = Some(num()? as i32),
            "m" => month = Some(num()? as u32),
            "B" => {
                let i = MONTHS_LONG
                    .iter()
                    .position(|m| m.eq_ignore_ascii_case(val))
                    .ok_or_else(|| bad("month", val))?;
                month = Some(i as u32 + 1);
            }
            "b" => {
                let i = MONTHS_SHORT
                    .iter()
                    .position(|m| m.eq_ignore_ascii_case(val))
                    .ok_or_else(|| bad("month", val))?;
                month = Some(i as u32 + 1);
            }
            "d" => day = Some(num()? as u32),
            "H" => hour = num()? as u32,
            "I" => {
                let mut h = num()? as u32;
                match get("p").unwrap_or("").to_lowercase().as_str() {
                    "" | "am" if h == 12 => h = 0,
                    "pm" if h != 12 => h += 12,
                    _ => {}
                }
                hour = h;
            }
            "M" => minute = num()? as u32,
            "S" => second = num()? as u32,
            "j" => julian = Some(num()?),
            "z" | "Z" => {
                tzoffset = Some(if matches!(val, "Z" | "UTC" | "GMT") {
                    0
                } else {
                    zone_offset_minutes(val).ok_or_else(|| bad("time zone", val))?
                });
            }
            _ => {}
        }
    }
    let assume_year = year.is_none();
    let year = year.unwrap_or(now.year);
    let (mut month, mut day) = (month, day);
    if month.is_none() || day.is_none() {
        if let Some(j) = julian {
            let d = CivilTime::from_utc_seconds((days_from_civil(year, 1, 1) + j - 1) * 86400);
            month = Some(d.month);
            day = Some(d.day);
        }
    }
    let assume_today = month.is_none() && day.is_none();
    let (month, day) = match (month, day) {
        (None, None) => (now.month, now.day),
        (Some(m), Some(d)) => (m, d),
        // datetime() needs both; Python raises TypeError, the line gets no date.
        _ => {
            return Err(DateValueError(
                "a date with only a month or only a day".into(),
            ))
        }
    };
    let civil = CivilTime {
        year,
        month,
        day,
        hour,
        minute,
        second,
    };
    if !civil.is_valid() {
        return Err(DateValueError(format!(
            "{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}:{second:02} is not a valid time"
        )));
    }
    let tzoffset = tzoffset.or(default_tz);
    let mut result = match tzoffset {
        Some(off) => CivilTime::from_utc_seconds(civil.as_utc_seconds() - i64::from(off) * 60),
        None => civil,
    };
    if assume_today && result > now {
        result = result.plus_days(-1);
    }
    if assume_year && result > now.plus_days(1) {
        result = CivilTime {
            year: year - 1,
            month,
            day,
            ..result
        };
        if !result.is_valid() {
            return Err(DateValueError(format!(
                "{month}/{day} does not exist in {}",
                year - 1
            )));
        }
    }
    Ok(match tzoffset {
        Some(_) => Stamp::Int(result.as_utc_seconds()),
        None => Stamp::Float(result.as_local_seconds() as f64),
    })
}

/// Field keys [`fields_to_time`] does not read (fail2ban drops the
/// microseconds): the memo of minutes leaves them out of its key.
const UNREAD_FIELDS: &[&str] = &["f"];

/// Whether [`fields_to_time`] may read the field with strptime key `key`.
pub(crate) fn reads_field(key: &str) -> bool {
    !UNREAD_FIELDS.contains(&key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones_are_read_like_fail2ban() {
        assert_eq!(zone_offset_minutes("UTC"), Some(0));
        assert_eq!(zone_offset_minutes("CEST"), Some(120));
        assert_eq!(zone_offset_minutes("+0530"), Some(330));
        assert_eq!(zone_offset_minutes("-05:00"), Some(-300));
        assert_eq!(zone_offset_minutes("UTC+02"), Some(120));
        assert_eq!(zone_offset_minutes("Europe/Paris"), None);
        assert_eq!(zone_offset_minutes("XYZ"), None);
        assert_eq!(zone_offset_minutes("+٠١"), None);
    }

    #[test]
    fn century_regex_matches_python() {
        assert_eq!(year_century_regex(YearRange::server(2026)), "20[012]");
        assert_eq!(year_century_regex(YearRange::server(2005)), "200");
        assert_eq!(
            year_century_regex(YearRange::regex_tool(2026)),
            "(?:196|197|198|199|200|201|202)"
        );
    }

    #[test]
    fn year_is_assumed_like_fail2ban() {
        let now = CivilTime {
            year: 2005,
            month: 8,
            day: 14,
            hour: 10,
            minute: 0,
            second: 0,
        };
        let f = [
            ("b", "Dec"),
            ("d", "31"),
            ("H", "23"),
            ("M", "59"),
            ("S", "59"),
        ];
        let t = fields_to_time(&f, now, Some(0)).unwrap();
        assert_eq!(CivilTime::from_utc_seconds(t.seconds() as i64).year, 2004);
        let f = [
            ("b", "Aug"),
            ("d", "15"),
            ("H", "09"),
            ("M", "0"),
            ("S", "0"),
        ];
        let t = fields_to_time(&f, now, Some(0)).unwrap();
        assert_eq!(CivilTime::from_utc_seconds(t.seconds() as i64).year, 2005);
    }
}
