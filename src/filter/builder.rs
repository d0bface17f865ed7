//! Configuration of a filter, one option at a time, named after the
//! command-stream options that carry it (`prefregex`, `addfailregex`,
//! `maxlines`, `datepattern`, …), and the application of stream commands.

use std::fmt;

use super::clock::CivilTime;
use super::date::strptime::{self, YearRange};
use super::date::{DateDetector, DatePatternError, DefaultTemplates};
use super::engine::{Clock, Filter};
use super::regex::{FilterRegex, RegexError};
use crate::stream::Value;

/// Why a filter could not be configured.
#[derive(Debug, Clone, PartialEq)]
pub enum FilterConfigError {
    /// A failregex, ignoreregex or prefregex was rejected.
    Regex {
        option: &'static str,
        error: RegexError,
    },
    DatePattern(DatePatternError),
    BadValue {
        option: String,
        value: String,
        reason: String,
    },
    /// A stream command that is not shaped like `set JAIL OPTION VALUE`.
    BadCommand {
        command: String,
    },
}

impl fmt::Display for FilterConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FilterConfigError::Regex { option, error } => write!(f, "{option}: {error}"),
            FilterConfigError::DatePattern(e) => write!(f, "{e}"),
            FilterConfigError::BadValue {
                option,
                value,
                reason,
            } => {
                write!(f, "invalid value {value:?} for {option}: {reason}")
            }
            FilterConfigError::BadCommand { command } => {
                write!(f, "the command {command} is not a filter setting")
            }
        }
    }
}

impl std::error::Error for FilterConfigError {}

/// Collects a filter's options; [`build`](FilterBuilder::build) compiles them.
#[derive(Debug, Clone)]
pub struct FilterBuilder {
    prefregex: Option<String>,
    failregex: Vec<String>,
    ignoreregex: Vec<String>,
    maxlines: usize,
    datepatterns: Vec<String>,
    logtimezone: Option<i32>,
    usedns: String,
    journalmatch: Vec<Vec<String>>,
    clock: Clock,
    regex_tool_years: bool,
}

impl Default for FilterBuilder {
    fn default() -> Self {
        FilterBuilder::new()
    }
}

impl FilterBuilder {
    pub fn new() -> FilterBuilder {
        FilterBuilder {
            prefregex: None,
            failregex: Vec::new(),
            ignoreregex: Vec::new(),
            maxlines: 1,
            datepatterns: Vec::new(),
            logtimezone: None,
            usedns: "warn".into(),
            journalmatch: Vec::new(),
            clock: Clock::System,
            regex_tool_years: false,
        }
    }

    /// `set JAIL prefregex R`; an empty value removes it.
    pub fn prefregex(&mut self, regex: &str) -> &mut Self {
        self.prefregex = (!regex.is_empty()).then(|| regex.to_string());
        self
    }

    /// `set JAIL addfailregex R`.
    pub fn add_failregex(&mut self, regex: &str) -> &mut Self {
        self.failregex.push(regex.to_string());
        self
    }

    /// `set JAIL addignoreregex R`.
    pub fn add_ignoreregex(&mut self, regex: &str) -> &mut Self {
        self.ignoreregex.push(regex.to_string());
        self
    }

    /// `set JAIL maxlines N` (a positive integer, as text or number).
    pub fn maxlines(&mut self, value: &str) -> Result<&mut Self, FilterConfigError> {
        match value.trim().parse::<i64>() {
            Ok(n) if n > 0 => {
                self.maxlines = n as usize;
                Ok(self)
            }
            _ => Err(FilterConfigError::BadValue {
                option: "maxlines".into(),
                value: value.into(),
                reason: "maxlines must be integer greater than zero".into(),
            }),
        }
    }

    /// `set JAIL datepattern P`: one pattern per line; replaces earlier ones.
    pub fn datepattern(&mut self, value: &str) -> &mut Self {
        self.datepatterns = value
            .split('\n')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(String::from)
            .collect();
        self
    }

    /// `set JAIL logtimezone Z` (`UTC`, `+0200`, `CET`, `UTC-05:00`, …).
    pub fn logtimezone(&mut self, zone: &str) -> Result<&mut Self, FilterConfigError> {
        self.logtimezone = Some(strptime::zone_offset_minutes(zone).ok_or_else(|| {
            FilterConfigError::BadValue {
                option: "logtimezone".into(),
                value: zone.into(),
                reason: "unknown or unsupported time zone".into(),
            }
        })?);
        Ok(self)
    }

    /// `set JAIL usedns V`: `yes`, `warn`, `no` or `raw`; anything else means
    /// `no`, as in fail2ban.
    pub fn usedns(&mut self, value: &str) -> &mut Self {
        let v = value.to_lowercase();
        self.usedns = match v.as_str() {
            "yes" | "warn" | "no" | "raw" => v,
            "true" => "yes".into(),
            "false" => "no".into(),
            _ => {
                log::error!("Incorrect value {value:?} specified for usedns. Using safe 'no'");
                "no".into()
            }
        };
        self
    }

    /// `set JAIL addjournalmatch …`: kept for the journal backend.
    pub fn add_journalmatch(&mut self, terms: Vec<String>) -> &mut Self {
        self.journalmatch.push(terms);
        self
    }

    /// The journal matches collected so far.
    pub fn journalmatch(&self) -> &[Vec<String>] {
        &self.journalmatch
    }

    pub fn get_maxlines(&self) -> usize {
        self.maxlines
    }

    pub fn has_datepattern(&self) -> bool {
        !self.datepatterns.is_empty()
    }

    /// Where "now" comes from (the system clock unless set).
    pub fn clock(&mut self, clock: Clock) -> &mut Self {
        self.clock = clock;
        self
    }

    /// Accept the wider year range fail2ban-regex accepts for `%ExY`.
    pub fn regex_tool_years(&mut self, yes: bool) -> &mut Self {
        self.regex_tool_years = yes;
        self
    }

    /// The date detector the current datepattern gives (for reporting it).
    pub fn build_date_detector(&self) -> Result<DateDetector, FilterConfigError> {
        self.date_detector(&DefaultTemplates::shared(self.year_range()))
    }

    fn date_detector(
        &self,
        defaults: &DefaultTemplates,
    ) -> Result<DateDetector, FilterConfigError> {
        let mut dates = DateDetector::new(self.year_range());
        dates.default_tz = self.logtimezone;
        for p in &self.datepatterns {
            dates
                .append_pattern(p, defaults)
                .map_err(FilterConfigError::DatePattern)?;
        }
        Ok(dates)
    }

    fn year_range(&self) -> YearRange {
        // fail2ban builds `%ExY` from the real current year even when "now" is frozen.
        let now_year = CivilTime::from_local_seconds(Clock::System.now() as i64).year;
        if self.regex_tool_years {
            YearRange::regex_tool(now_year)
        } else {
            YearRange::server(now_year)
        }
    }

    /// Compiles the regexes and date templates.
    pub fn build(&self) -> Result<Filter, FilterConfigError> {
        let multiline = self.maxlines > 1;
        let prefregex = self
            .prefregex
            .as_deref()
            .map(|r| FilterRegex::new(r, &self.usedns, multiline))
            .transpose()
            .map_err(|error| FilterConfigError::Regex {
                option: "prefregex",
                error,
            })?;
        let pref_has_id = prefregex.as_ref().is_some_and(FilterRegex::has_failure_id);
        let mut failregex = Vec::with_capacity(self.failregex.len());
        for r in &self.failregex {
            let compiled = FilterRegex::new(r, &self.usedns, multiline).map_err(|error| {
                FilterConfigError::Regex {
                    option: "failregex",
                    error,
                }
            })?;
            if !compiled.has_failure_id() && !pref_has_id {
                return Err(FilterConfigError::Regex {
                    option: "failregex",
                    error: RegexError::NoFailureId {
                        regex: compiled.expanded,
                    },
                });
            }
            failregex.push(compiled);
        }
        let ignoreregex = self
            .ignoreregex
            .iter()
            .map(|r| FilterRegex::new(r, &self.usedns, multiline))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| FilterConfigError::Regex {
                option: "ignoreregex",
                error,
            })?;
        let years = self.year_range();
        let defaults = DefaultTemplates::shared(years);
        let dates = self.date_detector(&defaults)?;
        Ok(Filter::assemble(
            prefregex,
            failregex,
            ignoreregex,
            self.maxlines,
            self.usedns.clone(),
            dates,
            defaults,
            self.clock,
        ))
    }
}

/// Python's `str()` of a stream value, as fail2ban's server sees option values.
fn value_text(v: &Value) -> String {
    match v {
        Value::Str(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A setting carried by a stream command: the option and its values.
#[derive(Debug, Clone, PartialEq)]
pub struct Setting {
    pub option: String,
    pub values: Vec<String>,
}

/// Reads `set JAIL OPTION VALUE…` and `multi-set JAIL OPTION [VALUES]`;
/// `Ok(None)` for commands with another verb.
pub fn read_setting(command: &Value) -> Result<Option<Setting>, FilterConfigError> {
    let bad = || FilterConfigError::BadCommand {
        command: command.to_string(),
    };
    let items = command.as_list().ok_or_else(bad)?;
    let verb = items.first().and_then(Value::as_str).ok_or_else(bad)?;
    let option = items.get(2).and_then(Value::as_str).ok_or_else(bad)?;
    let values: Vec<String> = match verb {
        "set" => items[3..].iter().map(value_text).collect(),
        "multi-set" => items
            .get(3)
            .and_then(Value::as_list)
            .ok_or_else(bad)?
            .iter()
            .map(value_text)
            .collect(),
        _ => return Ok(None),
    };
    Ok(Some(Setting {
        option: option.to_string(),
        values,
    }))
}

/// Applies one command-stream command to `builder`, as fail2ban's server
/// does for `set JAIL OPTION VALUE` and `multi-set JAIL OPTION [VALUES]`.
/// Returns `Ok(false)` for a well-formed command that is not a filter option.
pub fn apply_command(
    builder: &mut FilterBuilder,
    command: &Value,
) -> Result<bool, FilterConfigError> {
    let bad = || FilterConfigError::BadCommand {
        command: command.to_string(),
    };
    let Some(Setting { option, values }) = read_setting(command)? else {
        return Ok(false);
    };
    let option = option.as_str();
    let single = || values.first().cloned().ok_or_else(bad);
    match option {
        "prefregex" => {
            builder.prefregex(&single()?);
        }
        "addfailregex" => values.iter().for_each(|r| {
            builder.add_failregex(r);
        }),
        "addignoreregex" => values.iter().for_each(|r| {
            builder.add_ignoreregex(r);
        }),
        "maxlines" => {
            builder.maxlines(&single()?)?;
        }
        "datepattern" => {
            builder.datepattern(&single()?);
        }
        "logtimezone" => {
            builder.logtimezone(&single()?)?;
        }
        "usedns" => {
            builder.usedns(&single()?);
        }
        "addjournalmatch" => {
            builder.add_journalmatch(values);
        }
        _ => return Ok(false),
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command;

    #[test]
    fn stream_commands_configure_the_filter() {
        let mut b = FilterBuilder::new();
        assert!(apply_command(&mut b, &command!["set", "j", "maxlines", 3]).unwrap());
        assert_eq!(b.get_maxlines(), 3);
        let multi = Value::List(vec![
            "multi-set".into(),
            "j".into(),
            "addfailregex".into(),
            Value::List(vec!["a <HOST>".into(), "b <HOST>".into()]),
        ]);
        assert!(apply_command(&mut b, &multi).unwrap());
        assert!(!apply_command(&mut b, &command!["set", "j", "bantime", 600]).unwrap());
        let f = b.build().unwrap();
        assert_eq!(f.failregex().len(), 2);
    }

    #[test]
    fn bad_values_are_named() {
        let mut b = FilterBuilder::new();
        let e = apply_command(&mut b, &command!["set", "j", "maxlines", "zero"]).unwrap_err();
        assert!(e.to_string().contains("\"zero\""), "{e}");
        let e = b.logtimezone("Mars/Base").unwrap_err();
        assert!(e.to_string().contains("Mars/Base"), "{e}");
        b.add_failregex("no id here");
        let e = b
            .build()
            .err()
            .expect("a failregex without a host is rejected");
        assert!(e.to_string().contains("no id here"), "{e}");
    }
}
