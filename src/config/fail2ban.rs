//! The server's own settings: fail2ban's `Fail2banReader` over `fail2ban.conf`
//! (+ `.local`, `fail2ban.d/`), giving the early options the client needs
//! (socket, pidfile, logging) and the `set loglevel …`/`set dbfile …` commands.

use super::dict::Dict;
use super::error::{ConfigError, ErrorKind};
use super::reader::{get_options, opt, OptSpec, OptType, OptionsError, Session};
use super::tags::py_str;
use crate::stream::Value;

fn s(name: &'static str, default: &str) -> OptSpec {
    OptSpec {
        ty: OptType::Str,
        name,
        default: Some(Value::str(default)),
    }
}

/// Options the client reads before anything else.
pub fn early_template() -> Vec<OptSpec> {
    vec![
        s("socket", "/var/run/fail2ban/fail2ban.sock"),
        s("pidfile", "/var/run/fail2ban/fail2ban.pid"),
        s("loglevel", "INFO"),
        s("logtarget", "/var/log/fail2ban.log"),
        s("syslogsocket", "auto"),
    ]
}

fn main_template() -> Vec<OptSpec> {
    vec![
        s("loglevel", "INFO"),
        s("logtarget", "STDERR"),
        s("syslogsocket", "auto"),
        s("allowipv6", "auto"),
        s("dbfile", "/var/lib/fail2ban/fail2ban.sqlite3"),
        opt(OptType::Int, "dbmaxmatches"),
        s("dbpurgeage", "1d"),
    ]
}

/// Python's `str2LogLevel`: a number or a level name (fail2ban's extra levels included).
pub fn log_level(value: &str) -> Result<i64, ConfigError> {
    if !value.is_empty() && value.chars().all(|c| c.is_ascii_digit()) {
        return value.parse().map_err(|_| {
            ConfigError::new(ErrorKind::InvalidLogLevel {
                value: value.into(),
            })
        });
    }
    Ok(match value.to_uppercase().as_str() {
        "CRITICAL" | "FATAL" => 50,
        "ERROR" => 40,
        "WARNING" | "WARN" => 30,
        "NOTICE" => 25,
        "INFO" => 20,
        "MSG" => 18,
        "DEBUG" => 10,
        "TRACEDEBUG" => 7,
        "HEAVYDEBUG" => 5,
        "NOTSET" => 0,
        _ => {
            return Err(ConfigError::new(ErrorKind::InvalidLogLevel {
                value: value.into(),
            }))
        }
    })
}

/// The read `fail2ban.conf` family.
pub struct Fail2banReader {
    cfg: std::rc::Rc<(super::parser::ConfigParser, bool)>,
}

impl Fail2banReader {
    pub fn read(session: &Session) -> Result<Fail2banReader, ConfigError> {
        Ok(Fail2banReader {
            cfg: session.read_named("fail2ban")?,
        })
    }

    fn options(&self, section: &str, template: &[OptSpec]) -> Result<Dict<Value>, ConfigError> {
        match get_options(&self.cfg.0, section, template, None, false, true) {
            Ok(o) => Ok(o),
            Err(OptionsError::Invalid(e)) => Err(e),
            Err(OptionsError::NoSection) => Ok(Dict::new()),
        }
    }

    /// socket, pidfile, loglevel, logtarget, syslogsocket.
    pub fn early_options(&self) -> Result<Dict<Value>, ConfigError> {
        self.options("Definition", &early_template())
    }

    /// The server settings as commands, in fail2ban's order. `overrides`
    /// holds what the client was told on its command line (or read early).
    pub fn convert(&self, overrides: &Dict<Value>) -> Result<Vec<Value>, ConfigError> {
        let mut opts = self.options("Definition", &main_template())?;
        opts.update(overrides);
        if let Some(level) = opts.get("loglevel") {
            log_level(&py_str(level))
                .map_err(|e| e.or_at(self.cfg.0.origin("Definition", "loglevel")))?;
        }
        if self.cfg.0.has_section("Thread") {
            let t = self.options("Thread", &[opt(OptType::Int, "stacksize")])?;
            if !t.is_empty() {
                opts.insert(
                    "thread",
                    Value::Dict(t.iter().map(|(k, v)| (Value::str(k), v.clone())).collect()),
                );
            }
        }
        let order = |name: &str| -> Option<u32> {
            Some(match name {
                "thread" => 0,
                "syslogsocket" => 11,
                "loglevel" => 12,
                "logtarget" => 13,
                "allowipv6" => 14,
                "dbfile" => 50,
                "dbmaxmatches" | "dbpurgeage" => 51,
                _ => return None,
            })
        };
        let mut cmds: Vec<(u32, &str, Value)> = opts
            .iter()
            .filter_map(|(k, v)| {
                order(k).map(|o| {
                    (
                        o,
                        k,
                        Value::List(vec![Value::str("set"), Value::str(k), v.clone()]),
                    )
                })
            })
            .collect();
        // fail2ban sorts (order, command) pairs; equal orders fall back to the option name.
        cmds.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        Ok(cmds.into_iter().map(|(_, _, c)| c).collect())
    }
}
