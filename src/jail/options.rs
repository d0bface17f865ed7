//! `set JAIL OPTION …` and `get JAIL OPTION …`: each option read and
//! written, and answered, as fail2ban's `Transmitter` does.

use super::{Jail, RegexSetting};
use crate::ban::BanTicket;
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
        match self.datepattern.as_deref() {
            None => Value::None,
            Some(p) if p.trim() == "{^LN-BEG}" => {
                Value::Tuple(vec![Value::None, Value::str("Default Detectors")])
            }
            Some(p) => {
                let name = match p {
                    "EPOCH" => "Epoch".to_string(),
                    "LEPOCH" => "LongEpoch".to_string(),
                    "TAI64N" => "TAI64N".to_string(),
                    other => other.replace("%%", "%"),
                };
                Value::Tuple(vec![Value::str(p), Value::Str(name)])
            }
        }
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
