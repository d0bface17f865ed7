//! `set JAIL OPTION …` and `get JAIL OPTION …`: each option read and
//! written, and answered, as fail2ban's `Transmitter` does.

use super::{Jail, RegexSetting};
use crate::ban::BanTicket;
use crate::filter::date::strptime::{field_display_name, LONG_FIELD_CODES, SHORT_FIELD_CODES};
use crate::filter::regex::FilterRegex;
use crate::protocol::PyException;
use crate::stream::Value;

pub type Outcome = Result<Value, PyException>;

fn err(msg: impl Into<String>) -> PyException {
    PyException::builtin("Exception", &msg.into())
}

fn value_error(msg: impl Into<String>) -> PyException {
    PyException::builtin("ValueError", &msg.into())
}

fn text(v: &Value) -> String {
    crate::config::tags::py_str(v)
}

fn arg(args: &[Value], i: usize) -> Result<String, PyException> {
    args.get(i)
        .map(text)
        .ok_or_else(|| PyException::builtin("IndexError", "list index out of range"))
}

fn int(s: &str) -> Result<i64, PyException> {
    crate::config::reader::py_int(s).ok_or_else(|| {
        value_error(format!(
            "invalid literal for int() with base 10: {}",
            crate::stream::str_repr(s)
        ))
    })
}

fn seconds(s: &str) -> Result<i64, PyException> {
    crate::duration::seconds(s).map_err(|e| PyException::builtin("NameError", &e.to_string()))
}

fn strings(items: impl IntoIterator<Item = String>) -> Value {
    Value::List(items.into_iter().map(Value::Str).collect())
}

fn expanded(list: &[RegexSetting]) -> Value {
    strings(list.iter().map(|r| r.expanded.clone()))
}

impl Jail {
    fn regex(&self, raw: &str) -> Result<RegexSetting, PyException> {
        let r = FilterRegex::new(raw, &self.usedns, self.maxlines > 1).map_err(|e| {
            err(format!(
                "Unable to compile regular expression '{raw}':\n{e}"
            ))
        })?;
        Ok(RegexSetting {
            raw: raw.to_string(),
            expanded: r.expanded,
        })
    }

    fn datepattern_value(&self) -> Value {
        // fail2ban's filter always has a date detector: unset is the defaults.
        datepattern_answer(self.datepattern.as_deref().unwrap_or(""))
    }

    /// `set JAIL OPTION …` (`multiple` for `multi-set`).
    pub fn set(&mut self, option: &str, args: &[Value], multiple: bool, now: f64) -> Outcome {
        match option {
            "idle" => {
                self.idle = match arg(args, 0)?.as_str() {
                    "on" => true,
                    "off" => false,
                    _ => return Err(err("Invalid idle option, must be 'on' or 'off'")),
                };
                Ok(Value::Bool(self.idle))
            }
            "ignoreself" => {
                self.ignoreself = crate::config::reader::py_bool(&arg(args, 0)?);
                Ok(Value::Bool(self.ignoreself))
            }
            "addignoreip" => {
                for v in args {
                    let v = text(v);
                    if !v.is_empty() {
                        self.ignore.add(&v);
                    }
                }
                Ok(strings(self.ignore.list()))
            }
            "delignoreip" => {
                self.ignore.remove(&arg(args, 0)?);
                Ok(strings(self.ignore.list()))
            }
            "ignorecommand" => {
                self.ignorecommand = arg(args, 0)?;
                Ok(Value::str(self.ignorecommand.as_str()))
            }
            "ignorecache" => {
                let v = arg(args, 0)?;
                self.ignorecache = (!v.is_empty()).then_some(Value::Str(v));
                Ok(self.ignorecache.clone().unwrap_or(Value::None))
            }
            "addlogpath" => {
                let path = arg(args, 0)?;
                let tail = match args.get(1).map(text).map(|s| s.to_lowercase()) {
                    None => false,
                    Some(t) if t == "tail" => true,
                    Some(t) if t == "head" => false,
                    Some(_) => return Err(value_error("File option must be 'head' or 'tail'")),
                };
                if args.len() > 2 {
                    return Err(value_error("Only one file can be added at a time"));
                }
                if !self.logpaths.iter().any(|(p, _)| *p == path) {
                    self.logpaths.push((path, tail));
                }
                Ok(self.get("logpath", &[])?)
            }
            "dellogpath" => {
                let path = arg(args, 0)?;
                self.logpaths.retain(|(p, _)| *p != path);
                Ok(self.get("logpath", &[])?)
            }
            "logencoding" => {
                let v = arg(args, 0)?;
                self.logencoding = if v.eq_ignore_ascii_case("auto") {
                    "UTF-8".into()
                } else {
                    v
                };
                Ok(Value::str(self.logencoding.as_str()))
            }
            // fail2ban ignores journal matches on a jail that reads files.
            "addjournalmatch" if !self.backend.starts_with("systemd") => Ok(Value::List(vec![])),
            "deljournalmatch" if !self.backend.starts_with("systemd") => Ok(Value::List(vec![])),
            "addjournalmatch" => {
                self.journalmatch.push(args.iter().map(text).collect());
                Ok(self.get("journalmatch", &[])?)
            }
            "deljournalmatch" => {
                let m: Vec<String> = args.iter().map(text).collect();
                self.journalmatch.retain(|x| *x != m);
                Ok(self.get("journalmatch", &[])?)
            }
            "prefregex" => {
                let v = arg(args, 0)?;
                self.prefregex = if v.is_empty() {
                    None
                } else {
                    Some(self.regex(&v)?)
                };
                self.filter_changed();
                Ok(Value::Str(
                    self.prefregex
                        .as_ref()
                        .map(|r| r.expanded.clone())
                        .unwrap_or_default(),
                ))
            }
            "addfailregex" | "addignoreregex" => {
                let values: Vec<String> = match args.first() {
                    Some(Value::List(items)) if multiple => items.iter().map(text).collect(),
                    _ => vec![arg(args, 0)?],
                };
                let mut new = Vec::new();
                for v in &values {
                    new.push(self.regex(v)?);
                }
                let list = if option == "addfailregex" {
                    &mut self.failregex
                } else {
                    &mut self.ignoreregex
                };
                list.extend(new);
                self.filter_changed();
                if multiple {
                    return Ok(Value::Bool(true));
                }
                Ok(expanded(if option == "addfailregex" {
                    &self.failregex
                } else {
                    &self.ignoreregex
                }))
            }
            "delfailregex" | "delignoreregex" => {
                let i = int(&arg(args, 0)?)?;
                let list = if option == "delfailregex" {
                    &mut self.failregex
                } else {
                    &mut self.ignoreregex
                };
                if i < 0 || i as usize >= list.len() {
                    log::error!(target: "fail2ban.filter", "Cannot remove regular expression. Index {i} is not valid");
                } else {
                    list.remove(i as usize);
                }
                self.filter_changed();
                Ok(expanded(if option == "delfailregex" {
                    &self.failregex
                } else {
                    &self.ignoreregex
                }))
            }
            "usedns" => {
                let v = arg(args, 0)?.to_lowercase();
                self.usedns = match v.as_str() {
                    "yes" | "warn" | "no" | "raw" => v,
                    "true" | "1" | "on" => "yes".into(),
                    _ => "no".into(),
                };
                self.filter_changed();
                Ok(Value::str(self.usedns.as_str()))
            }
            "findtime" => {
                self.failures.max_time = seconds(&arg(args, 0)?)? as f64;
                Ok(Value::Int(self.failures.max_time as i64))
            }
            "datepattern" => {
                let v = arg(args, 0)?;
                self.datepattern = (!v.is_empty()).then_some(v);
                self.filter_changed();
                Ok(self.datepattern_value())
            }
            "logtimezone" => {
                let v = arg(args, 0)?;
                self.logtimezone = (!v.is_empty()).then_some(v);
                self.filter_changed();
                Ok(self
                    .logtimezone
                    .clone()
                    .map(Value::Str)
                    .unwrap_or(Value::None))
            }
            "maxmatches" => {
                let n = int(&arg(args, 0)?)?;
                self.failures.max_matches = n.max(0) as usize;
                Ok(Value::Int(n))
            }
            "maxretry" => {
                let n = int(&arg(args, 0)?)?;
                self.failures.max_retry = n.max(0) as u32;
                Ok(Value::Int(n))
            }
            "maxlines" => {
                self.maxlines = int(&arg(args, 0)?)?.max(1);
                self.filter_changed();
                Ok(Value::Int(self.maxlines))
            }
            "bantime" => {
                let b = seconds(&arg(args, 0)?)?;
                self.bans.set_ban_time(b);
                self.actions.set_bantime(b);
                Ok(Value::Int(b))
            }
            "attempt" => {
                let ip = arg(args, 0)?;
                let matches: Vec<String> = args[1..].iter().map(text).collect();
                let fid = ip.clone();
                let retry = self.failures.add_failure(
                    crate::failure::Failure {
                        fid: ip.clone(),
                        ip,
                        time: now,
                        matches,
                        attempts: 1,
                        data: Vec::new(),
                    },
                    1,
                );
                // fail2ban's addAttempt: performBan(ip) once the id is due.
                if retry >= self.failures.max_retry {
                    if let Some(t) = self.failures.to_ban(Some(&fid)) {
                        self.ban(BanTicket::from_failures(t), now);
                    }
                }
                Ok(Value::Int(retry as i64))
            }
            o if o.starts_with("bantime.") => {
                let key = &o["bantime.".len()..];
                let v = arg(args, 0)?;
                let stored = match key {
                    "increment" | "overalljails" => {
                        if key == "increment"
                            && crate::config::reader::py_bool(&v)
                            && self.db.is_none()
                        {
                            log::warn!(target: "fail2ban.jail", "ban time increment is not available as long jail database is not set");
                        }
                        Value::Bool(crate::config::reader::py_bool(&v))
                    }
                    "maxtime" | "rndtime" => Value::Int(seconds(&v)?),
                    _ => Value::Str(v),
                };
                self.bantime_extra.retain(|(k, _)| k != key);
                self.bantime_extra.push((key.to_string(), stored.clone()));
                Ok(stored)
            }
            "banip" => {
                let mut n = 0;
                for ip in args.iter().map(text) {
                    if self.ban(BanTicket::manual(&ip, now), now) {
                        n += 1;
                    }
                }
                Ok(Value::Int(n))
            }
            "unbanip" => {
                let (report, ips) = match args.first().map(text).as_deref() {
                    Some("--report-absent") => (true, &args[1..]),
                    _ => (false, args),
                };
                let ips: Vec<String> = ips.iter().map(text).collect();
                let missing: Vec<&String> =
                    ips.iter().filter(|ip| !self.bans.contains(ip)).collect();
                if report && !missing.is_empty() {
                    return Err(value_error(format!(
                        "not banned: {}",
                        Value::List(missing.iter().map(|s| Value::str(s.as_str())).collect())
                    )));
                }
                let n = ips.iter().filter(|ip| self.unban(ip)).count();
                Ok(Value::Int(n as i64))
            }
            "addaction" | "delaction" | "action" => {
                let mut line = vec![
                    Value::str(if multiple { "multi-set" } else { "set" }),
                    Value::str(self.name.as_str()),
                    Value::str(option),
                ];
                line.extend(args.iter().cloned());
                self.actions
                    .apply_line(&Value::List(line))
                    .map_err(|e| err(e.to_string()))?;
                Ok(match option {
                    "addaction" => args.first().cloned().unwrap_or(Value::None),
                    "delaction" => Value::None,
                    _ if multiple => Value::Bool(true),
                    _ => args.get(2).cloned().unwrap_or(Value::None),
                })
            }
            _ => Err(err(format!(
                "Invalid command {} (no set action or not yet implemented)",
                crate::stream::str_repr(option)
            ))),
        }
    }

    /// `get JAIL OPTION …`.
    pub fn get(&self, option: &str, args: &[Value]) -> Outcome {
        Ok(match option {
            "logpath" => strings(self.logpaths.iter().map(|(p, _)| p.clone())),
            "logencoding" => Value::str(self.logencoding.as_str()),
            "journalmatch" => Value::List(
                self.journalmatch
                    .iter()
                    .map(|m| strings(m.iter().cloned()))
                    .collect(),
            ),
            "ignoreself" => Value::Bool(self.ignoreself),
            "ignoreip" => strings(self.ignore.list()),
            "ignorecommand" => Value::str(self.ignorecommand.as_str()),
            "ignorecache" => self.ignorecache.clone().unwrap_or(Value::None),
            "prefregex" => Value::Str(
                self.prefregex
                    .as_ref()
                    .map(|r| r.expanded.clone())
                    .unwrap_or_default(),
            ),
            "failregex" => expanded(&self.failregex),
            "ignoreregex" => expanded(&self.ignoreregex),
            "usedns" => Value::str(self.usedns.as_str()),
            "findtime" => Value::Int(self.failures.max_time as i64),
            "datepattern" => self.datepattern_value(),
            "logtimezone" => self
                .logtimezone
                .clone()
                .map(Value::Str)
                .unwrap_or(Value::None),
            "maxmatches" => Value::Int(self.failures.max_matches as i64),
            "maxretry" => Value::Int(self.failures.max_retry as i64),
            "maxlines" => Value::Int(self.maxlines),
            "bantime" => Value::Int(self.bans.ban_time()),
            "banned" => {
                let ids: Vec<String> = args.iter().map(text).collect();
                match ids.len() {
                    0 => strings(self.bans.ids_in_order().into_iter().map(str::to_string)),
                    1 => Value::Int(self.bans.contains(&ids[0]) as i64),
                    _ => Value::List(
                        ids.iter()
                            .map(|i| Value::Int(self.bans.contains(i) as i64))
                            .collect(),
                    ),
                }
            }
            "banip" => {
                let with_time = args.iter().any(|a| text(a) == "--with-time");
                let bantime = self.bans.ban_time();
                strings(self.bans.ids_by_end().into_iter().map(|t| {
                    if with_time {
                        format!(
                            "{} \t{} + {} = {}",
                            t.fid,
                            super::time_str(t.time),
                            t.ban_time(bantime),
                            super::time_str(t.end(bantime))
                        )
                    } else {
                        t.fid.clone()
                    }
                }))
            }
            "actions" => strings(self.actions.names().into_iter().map(str::to_string)),
            "action" => {
                let name = arg(args, 0)?;
                let key = arg(args, 1)?;
                let action = self
                    .actions
                    .get(&name)
                    .ok_or_else(|| err(format!("Invalid Action name: {name}")))?;
                action.get(&key).unwrap_or(Value::None)
            }
            "actionproperties" => {
                let name = arg(args, 0)?;
                let action = self
                    .actions
                    .get(&name)
                    .ok_or_else(|| err(format!("Invalid Action name: {name}")))?;
                strings(action.property_names())
            }
            "actionmethods" => strings(
                [
                    "ban",
                    "consistencyCheck",
                    "flush",
                    "prolong",
                    "reban",
                    "reload",
                    "start",
                    "stop",
                    "unban",
                ]
                .iter()
                .map(|s| s.to_string()),
            ),
            o if o.starts_with("bantime.") => {
                let key = &o["bantime.".len()..];
                self.bantime_extra
                    .iter()
                    .find(|(k, _)| k == key)
                    .map(|(_, v)| v.clone())
                    .unwrap_or(Value::None)
            }
            _ => {
                return Err(err(
                    "Invalid command (no get action or not yet implemented)",
                ))
            }
        })
    }
}

/// `get JAIL datepattern` as fail2ban's `Filter.getDatePattern` answers it:
/// "Default Detectors" when the pattern brings in the default templates or
/// makes more than two, else the first template's pattern (none for the
/// epoch and TAI64N templates) and name.
fn datepattern_answer(raw: &str) -> Value {
    let default = || Value::Tuple(vec![Value::None, Value::str("Default Detectors")]);
    let patterns: Vec<&str> = raw
        .split('\n')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    let key = |p: &str| {
        if p.contains('%') {
            p.to_string()
        } else {
            p.to_uppercase()
        }
    };
    let adds_defaults = |p: &&str| {
        let k = key(p);
        k == "{^LN-BEG}" || k == "{DEFAULT}" || k.contains("{DATE}")
    };
    if patterns.is_empty() || patterns.len() > 2 || patterns.iter().any(adds_defaults) {
        return default();
    }
    let first = patterns[0];
    let k = key(first);
    let epoch_pattern = k.contains("{EPOCH}") || k.contains("{LEPOCH}");
    let special = match k.as_str() {
        _ if epoch_pattern => Some(first.to_string()),
        "EPOCH" => Some("Epoch".into()),
        "LEPOCH" => Some("LongEpoch".into()),
        "{^LN-BEG}EPOCH" | "^EPOCH" => Some("{^LN-BEG}Epoch".into()),
        "{^LN-BEG}LEPOCH" | "^LEPOCH" => Some("{^LN-BEG}LongEpoch".into()),
        "TAI64N" => Some("TAI64N".into()),
        "{^LN-BEG}TAI64N" | "^TAI64N" => Some("{^LN-BEG}TAI64N".into()),
        _ => None,
    };
    if let Some(name) = special {
        return Value::Tuple(vec![Value::None, Value::Str(name)]);
    }
    let pattern = if k == "{NONE}" { "{UNB}^" } else { first };
    Value::Tuple(vec![
        Value::str(pattern),
        Value::Str(date_template_name(pattern)),
    ])
}

/// The name fail2ban's `DatePatternRegex` gives a pattern: each `%` field
/// replaced by its name (`%Y` is `Year`), `{^LN-BEG}` kept in front when
/// the pattern does not anchor itself.
fn date_template_name(pattern: &str) -> String {
    let (body, line_begin) = if let Some(rest) = pattern.strip_prefix("{UNB}") {
        (rest, false)
    } else if let Some(rest) = pattern.strip_prefix("{^LN-BEG}") {
        (rest, true)
    } else {
        (pattern, false)
    };
    let mut name = String::new();
    let mut rest = body;
    while let Some(i) = rest.find('%') {
        name.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let field = LONG_FIELD_CODES
            .iter()
            .copied()
            .find(|f| after.starts_with(f))
            .or_else(|| {
                after
                    .get(..1)
                    .filter(|c| *c == "%" || SHORT_FIELD_CODES.contains(*c))
            });
        match field {
            Some(f) => {
                name.push_str(&field_display_name(f));
                rest = &after[f.len()..];
            }
            None => {
                name.push('%');
                rest = after;
            }
        }
    }
    name.push_str(rest);
    if line_begin && !anchors_itself(body.trim()) {
        name.insert_str(0, "{^LN-BEG}");
    }
    name
}

/// Whether a date pattern starts at the line's beginning by itself
/// (fail2ban's RE_NO_WRD_BOUND_BEG, after its first `(?flags)` is cut out).
fn anchors_itself(pattern: &str) -> bool {
    let mut p = pattern.to_string();
    if let Some(i) = p.find("(?") {
        let tail = &p[i + 2..];
        let n = tail.chars().take_while(|c| c.is_ascii_lowercase()).count();
        if n > 0 && tail[n..].starts_with(')') {
            p.replace_range(i..i + 2 + n + 1, "");
        }
    }
    let opens = p.chars().take_while(|&c| c == '(').count();
    (0..=opens).any(|k| {
        let rest = &p[k..];
        let after_flags = rest.strip_prefix("(?").and_then(|t| {
            let n = t
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .count();
            (n > 0).then(|| t[n..].strip_prefix(')')).flatten()
        });
        [Some(rest), after_flags].into_iter().flatten().any(|r| {
            r.starts_with('^')
                || r.trim_start_matches('(').starts_with("**")
                || r.starts_with("(^")
                || r.starts_with("(?:^")
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers fail2ban 1.0.2's Filter.getDatePattern gave for these patterns.
    #[test]
    fn datepattern_answers_match_fail2ban() {
        let cases: &[(&str, Option<&str>, &str)] = &[
            ("^[^\\[]*\\[({DATE})", None, "Default Detectors"),
            ("{^LN-BEG}", None, "Default Detectors"),
            ("%Y\n{^LN-BEG}", None, "Default Detectors"),
            ("^%b", Some("^%b"), "^MON"),
            ("(?i)^%b", Some("(?i)^%b"), "(?i)^MON"),
            ("{NONE}", Some("{UNB}^"), "^"),
            ("{^LN-BEG}^%b", Some("{^LN-BEG}^%b"), "^MON"),
            ("{^LN-BEG}(%Y)", Some("{^LN-BEG}(%Y)"), "{^LN-BEG}(Year)"),
            ("^EPOCH", None, "{^LN-BEG}Epoch"),
            ("LEPOCH", None, "LongEpoch"),
            ("epoch", None, "Epoch"),
            ("{^LN-BEG}TAI64N", None, "{^LN-BEG}TAI64N"),
            ("x{EPOCH}", None, "x{EPOCH}"),
            ("  %Y  ", Some("%Y"), "Year"),
            ("%Y-%m-%d\n%H:%M", Some("%Y-%m-%d"), "Year-Month-Day"),
            (
                "%d/%b[^/]*/%Y:%H:%M:%S %z",
                Some("%d/%b[^/]*/%Y:%H:%M:%S %z"),
                "Day/MON[^/]*/Year:24hour:Minute:Second Zone offset",
            ),
            (
                "{^LN-BEG}%ExY-%m-%d",
                Some("{^LN-BEG}%ExY-%m-%d"),
                "{^LN-BEG}ExYear-Month-Day",
            ),
            ("%%Y %Y", Some("%%Y %Y"), "%Y Year"),
            ("{UNB}%Y-%m-%d", Some("{UNB}%Y-%m-%d"), "Year-Month-Day"),
        ];
        for (raw, pattern, name) in cases {
            let want = Value::Tuple(vec![
                pattern.map(Value::str).unwrap_or(Value::None),
                Value::str(*name),
            ]);
            assert_eq!(datepattern_answer(raw), want, "{raw:?}");
        }
    }
}
