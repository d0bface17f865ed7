//! Local-time arithmetic through the C library, as Python's `time.mktime`
//! and `datetime.now()` do it, so that the system's `TZ` rules (DST gaps and
//! overlaps included) give the same answers as in fail2ban.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A day (year, month, day), its UTC offset, and when that was computed
/// (seconds of the coarse monotonic clock).
type DayOffset = ((i32, u32, u32), i64, i64);

thread_local! {
    static LAST_MKTIME: Cell<Option<(CivilTime, i64)>> = const { Cell::new(None) };
    /// A day (year, month, day) whose local times all have one UTC offset.
    /// Kept for a minute at most, so a changed zone file is still noticed
    /// about as soon as with the per-minute cache.
    static DAY_OFFSET: Cell<Option<DayOffset>> = const { Cell::new(None) };
    static LAST_LOCALTIME: Cell<Option<(i64, CivilTime)>> = const { Cell::new(None) };
}

/// How many times the zone rules were loaded ([`init_timezone`]).
static ZONE_LOADS: AtomicU64 = AtomicU64::new(0);

/// When a cached local-time answer was computed. Such an answer is kept
/// while the zone rules were not reloaded and for a minute at most, as the
/// day-offset cache here is, so that a changed zone file is noticed as soon.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZoneCheck {
    loads: u64,
    since: i64,
}

impl ZoneCheck {
    pub fn now() -> ZoneCheck {
        ZoneCheck {
            loads: ZONE_LOADS.load(Ordering::Relaxed),
            since: coarse_monotonic_seconds(),
        }
    }

    /// Whether an answer computed at this check may still be used.
    pub fn holds(&self) -> bool {
        self.loads == ZONE_LOADS.load(Ordering::Relaxed)
            && coarse_monotonic_seconds() - self.since < 60
    }
}

/// A broken-down civil time (no zone attached).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct CivilTime {
    pub year: i32,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

impl CivilTime {
    /// Seconds since the epoch for this time read as UTC.
    pub fn as_utc_seconds(&self) -> i64 {
        days_from_civil(self.year, self.month, self.day) * 86400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second)
    }

    /// The civil time of `seconds` since the epoch, in UTC.
    pub fn from_utc_seconds(seconds: i64) -> CivilTime {
        let days = seconds.div_euclid(86400);
        let rem = seconds.rem_euclid(86400);
        let (year, month, day) = civil_from_days(days);
        CivilTime {
            year,
            month,
            day,
            hour: (rem / 3600) as u32,
            minute: (rem % 3600 / 60) as u32,
            second: (rem % 60) as u32,
        }
    }

    /// Seconds since the epoch for this time read in the local zone
    /// (`time.mktime` with `tm_isdst = -1`).
    pub fn as_local_seconds(&self) -> i64 {
        // glibc's mktime re-checks the zone file on every call; log lines come
        // in order, so remembering the last minute avoids almost all calls.
        // Zone offsets change on whole minutes, so the second is added after.
        // Most days have no zone transition: when midnight and 23:59 have the
        // same offset, every time of that day has it, and mktime is called
        // twice per day instead of once per minute.
        let day = (self.year, self.month, self.day);
        if let Some((key, offset, since)) = DAY_OFFSET.with(Cell::get) {
            if key == day && coarse_monotonic_seconds() - since < 60 {
                return self.as_utc_seconds() - offset;
            }
        }
        let offset_at = |hour, minute| {
            let t = CivilTime {
                hour,
                minute,
                second: 0,
                ..*self
            };
            let local = t.mktime();
            (local != -1).then(|| t.as_utc_seconds() - local)
        };
        if self.is_valid() {
            if let (Some(a), Some(b)) = (offset_at(0, 0), offset_at(23, 59)) {
                if a == b {
                    DAY_OFFSET.with(|c| c.set(Some((day, a, coarse_monotonic_seconds()))));
                    return self.as_utc_seconds() - a;
                }
            }
        }
        let minute = CivilTime { second: 0, ..*self };
        LAST_MKTIME.with(|cache| {
            if let Some((key, value)) = cache.get() {
                if key == minute {
                    return value + i64::from(self.second);
                }
            }
            let value = minute.mktime();
            cache.set(Some((minute, value)));
            value + i64::from(self.second)
        })
    }

    fn mktime(&self) -> i64 {
        // SAFETY: tm is fully initialised and mktime only reads/writes it.
        unsafe {
            let mut tm: libc::tm = std::mem::zeroed();
            tm.tm_year = self.year - 1900;
            tm.tm_mon = self.month as i32 - 1;
            tm.tm_mday = self.day as i32;
            tm.tm_hour = self.hour as i32;
            tm.tm_min = self.minute as i32;
            tm.tm_sec = self.second as i32;
            tm.tm_isdst = -1;
            libc::mktime(&mut tm) as i64
        }
    }

    /// The local civil time of `seconds` since the epoch.
    pub fn from_local_seconds(seconds: i64) -> CivilTime {
        LAST_LOCALTIME.with(|cache| {
            if let Some((key, value)) = cache.get() {
                if key == seconds {
                    return value;
                }
            }
            let value = CivilTime::localtime(seconds);
            cache.set(Some((seconds, value)));
            value
        })
    }

    fn localtime(seconds: i64) -> CivilTime {
        // SAFETY: localtime_r writes into the tm we own.
        unsafe {
            let mut tm: libc::tm = std::mem::zeroed();
            let t = seconds as libc::time_t;
            libc::localtime_r(&t, &mut tm);
            CivilTime {
                year: tm.tm_year + 1900,
                month: (tm.tm_mon + 1) as u32,
                day: tm.tm_mday as u32,
                hour: tm.tm_hour as u32,
                minute: tm.tm_min as u32,
                second: tm.tm_sec as u32,
            }
        }
    }

    /// `YYYY-MM-DD<sep>HH:MM:SS`, as fail2ban's logs (`' '`) and Python's
    /// `isoformat()` (`'T'`) print local times.
    pub fn format(&self, sep: char) -> String {
        format!(
            "{:04}-{:02}-{:02}{sep}{:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }

    /// The same time `days` later (or earlier), calendar-wise.
    pub fn plus_days(&self, days: i64) -> CivilTime {
        let (year, month, day) =
            civil_from_days(days_from_civil(self.year, self.month, self.day) + days);
        CivilTime {
            year,
            month,
            day,
            ..*self
        }
    }

    /// Whether this is a real calendar date and clock time.
    pub fn is_valid(&self) -> bool {
        (1..=12).contains(&self.month)
            && self.day >= 1
            && self.day <= days_in_month(self.year, self.month)
            && self.hour < 24
            && self.minute < 60
            && self.second < 60
    }
}

/// Loads the zone rules from `TZ` (as Python does at start-up).
pub fn init_timezone() {
    extern "C" {
        fn tzset();
    }
    // SAFETY: tzset only reads the environment and initialises libc globals.
    unsafe { tzset() }
    ZONE_LOADS.fetch_add(1, Ordering::Relaxed);
    LAST_MKTIME.with(|c| c.set(None));
    DAY_OFFSET.with(|c| c.set(None));
    LAST_LOCALTIME.with(|c| c.set(None));
}

/// Whole seconds of a monotonic clock read without a system call or a
/// hardware counter (`CLOCK_MONOTONIC_COARSE`): cheap enough for every log
/// line, precise enough for caches kept about a minute.
fn coarse_monotonic_seconds() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    ts.tv_sec
}

/// The current time in seconds since the epoch.
pub fn now_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Formats `seconds` as local `%Y-%m-%d %H:%M:%S` (fail2ban's `MyTime.time2str`).
pub fn format_local(seconds: f64) -> String {
    let t = CivilTime::from_local_seconds(seconds.floor() as i64);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year, t.month, t.day, t.hour, t.minute, t.second
    )
}

pub fn is_leap_year(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

pub fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        _ => 28,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
pub fn days_from_civil(year: i32, month: u32, day: u32) -> i64 {
    let y = i64::from(year) - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

fn civil_from_days(days: i64) -> (i32, u32, u32) {
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = (yoe + era * 400 + i64::from(month <= 2)) as i32;
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        for s in [0i64, 951782400, 1_700_000_000, -86400] {
            assert_eq!(CivilTime::from_utc_seconds(s).as_utc_seconds(), s);
        }
        let t = CivilTime::from_utc_seconds(951782400);
        assert_eq!((t.year, t.month, t.day), (2000, 2, 29));
    }
}
