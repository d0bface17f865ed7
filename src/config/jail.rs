//! Jails: fail2ban's `JailReader` and `JailsReader`. Each enabled section of
//! `jail.conf` (+ `.local`, `jail.d/`) is read with its filter and actions and
//! compiled into `add`, `set`, `multi-set` and `start` commands.

use super::definition::{fill_filter_stream, filter_template, DefinitionReader, Kind};
use super::dict::Dict;
use super::error::{ConfigError, ErrorKind, Origin};
use super::ini::Entry;
use super::options::{extract_options, split_with_options, split_words};
use super::parser::ConfigParser;
use super::reader::{get_options, opt, OptSpec, OptType, OptionsError, Session, FAIL2BAN_VERSION};
use super::tags::py_str;
use crate::stream::{str_repr, Value};

/// Options read before the filter (to learn `enabled`, `backend`, `filter`):
/// the same entries as in the full template, read first.
fn first_template() -> Vec<OptSpec> {
    jail_template()
        .into_iter()
        .filter(|s| matches!(s.name, "enabled" | "backend" | "filter"))
        .collect()
}

/// Every jail option fail2ban 1.0.2 reads, in its order.
pub fn jail_template() -> Vec<OptSpec> {
    use OptType::*;
    let mut t = vec![
        OptSpec {
            ty: Bool,
            name: "enabled",
            default: Some(Value::Bool(false)),
        },
        OptSpec {
            ty: Str,
            name: "backend",
            default: Some(Value::str("auto")),
        },
        opt(Int, "maxretry"),
        opt(Int, "maxmatches"),
        opt(Str, "findtime"),
        opt(Str, "bantime"),
        opt(Bool, "bantime.increment"),
        opt(Str, "bantime.factor"),
        opt(Str, "bantime.formula"),
        opt(Str, "bantime.multipliers"),
        opt(Str, "bantime.maxtime"),
        opt(Str, "bantime.rndtime"),
        opt(Bool, "bantime.overalljails"),
        opt(Str, "ignorecommand"),
        opt(Bool, "ignoreself"),
        opt(Str, "ignoreip"),
        opt(Str, "ignorecache"),
        OptSpec {
            ty: Str,
            name: "filter",
            default: Some(Value::str("")),
        },
        opt(Str, "logtimezone"),
        opt(Str, "logencoding"),
        opt(Str, "logpath"),
        OptSpec {
            ty: Str,
            name: "action",
            default: Some(Value::str("")),
        },
    ];
    t.extend(filter_template());
    t
}

/// Options the jail does not send as plain `set` commands.
fn is_special(name: &str) -> bool {
    matches!(name, "action" | "filter" | "enabled")
        || filter_template().iter().any(|s| s.name == name)
}

/// Names that `%(name)s` references anywhere in the jail configuration
/// refer to (`%(known/x)s` and `%(sec/x)s` count for `x`).
fn referenced_names(cfg: &ConfigParser) -> std::collections::HashSet<String> {
    let mut names = std::collections::HashSet::new();
    let sections = std::iter::once(&cfg.defaults).chain(cfg.sections.iter().map(|(_, s)| s));
    for section in sections {
        for (_, entry) in section.iter() {
            let mut rest = entry.value.as_str();
            while let Some(start) = rest.find("%(") {
                rest = &rest[start + 2..];
                let Some(end) = rest.find(")s") else { break };
                let name = rest[..end].to_lowercase();
                names.insert(name.rsplit('/').next().unwrap_or(&name).to_string());
                names.insert(name);
                rest = &rest[end..];
            }
        }
    }
    names
}

/// Options of a jail's own section that fail2ban ignores: not jail options,
/// and not used by any `%(name)s` of the configuration.
pub fn unused_options(cfg: &ConfigParser, jail: &str) -> Vec<ConfigError> {
    let template = jail_template();
    let referenced = referenced_names(cfg);
    let Some(section) = cfg.sections.get(jail) else {
        return Vec::new();
    };
    section
        .iter()
        .filter(|(k, _)| {
            !k.starts_with("known/")
                && !template.iter().any(|t| t.name == *k)
                && !referenced.contains(*k)
        })
        .map(|(k, e)| {
            ConfigError::at(
                ErrorKind::UnusedOption {
                    section: jail.to_string(),
                    option: k.to_string(),
                },
                e.origin.clone(),
            )
        })
        .collect()
}

/// A jail whose definition is wrong: fail2ban skips it with this message.
#[derive(Clone, Debug)]
pub struct JailDefError {
    /// fail2ban's own text, which goes into the `config-error` command.
    pub message: String,
    /// The same problem as a located error.
    pub error: ConfigError,
}

enum ActionEntry {
    File(Box<DefinitionReader>),
    /// A Python action (`*.py`): passed through as fail2ban passes it.
    Python(Value),
}

/// One jail section being read.
pub struct JailReader {
    pub name: String,
    force_enable: bool,
    filter: Option<DefinitionReader>,
    actions: Vec<ActionEntry>,
    pub opts: Dict<Value>,
    pub error: Option<JailDefError>,
}

impl JailReader {
    pub fn new(name: &str, force_enable: bool) -> JailReader {
        JailReader {
            name: name.to_string(),
            force_enable,
            filter: None,
            actions: Vec::new(),
            opts: Dict::new(),
            error: None,
        }
    }

    pub fn is_enabled(&self) -> bool {
        self.force_enable || matches!(self.opts.get("enabled"), Some(Value::Bool(true)))
    }

    fn options(
        &self,
        cfg: &ConfigParser,
        template: &[OptSpec],
    ) -> Result<Dict<Value>, ConfigError> {
        match get_options(cfg, &self.name, template, None, true, true) {
            Ok(o) => Ok(o),
            Err(OptionsError::NoSection) => Err(ConfigError::new(ErrorKind::NoSuchJail {
                jail: self.name.clone(),
            })),
            Err(OptionsError::Invalid(e)) => Err(e),
        }
    }

    fn def_error(
        &self,
        cfg: &ConfigParser,
        option: &str,
        message: String,
        kind: ErrorKind,
    ) -> JailDefError {
        JailDefError {
            message,
            error: ConfigError::at(kind, cfg.origin(&self.name, option).cloned()),
        }
    }

    /// Reads the jail's options, filter and actions. `Ok(false)` means the
    /// jail is wrong and will be skipped (see `error`); `Err` means the whole
    /// configuration cannot be used, as in fail2ban.
    pub fn get_options(
        &mut self,
        session: &Session,
        cfg: &mut ConfigParser,
    ) -> Result<bool, ConfigError> {
        cfg.defaults
            .insert("fail2ban_version", Entry::synthetic(FAIL2BAN_VERSION));
        cfg.defaults.insert(
            "fail2ban_confpath",
            Entry::synthetic(session.basedir.as_str()),
        );
        match self.read_definition(session, cfg) {
            Ok(()) => Ok(true),
            Err(Fault::Jail(e)) => {
                log::error!(target: "fail2ban.jailreader", "{}", e.message);
                self.error = Some(*e);
                Ok(false)
            }
            Err(Fault::Fatal(e)) => Err(e),
        }
    }

    fn read_definition(&mut self, session: &Session, cfg: &mut ConfigParser) -> Result<(), Fault> {
        self.opts = self.options(cfg, &first_template())?;
        if !self.is_enabled() {
            return Ok(());
        }
        let flt = self.opts.get("filter").map(py_str).unwrap_or_default();
        if !flt.is_empty() {
            let (name, fopts) = extract_options(&flt).map_err(|e| {
                let detail = match &e.kind {
                    ErrorKind::InvalidOptions { detail, .. } => detail.clone(),
                    _ => e.to_string(),
                };
                self.def_error(
                    cfg,
                    "filter",
                    format!("Invalid filter definition {}: {detail}", str_repr(&flt)),
                    e.kind,
                )
            })?;
            let Some(mut filter) =
                DefinitionReader::read(session, Kind::Filter, &name, &self.name, &fopts)?
            else {
                return Err(Fault::from(self.def_error(
                    cfg,
                    "filter",
                    format!("Unable to read the filter {}", str_repr(&name)),
                    ErrorKind::FilterNotFound { name },
                )));
            };
            let backend = self.opts.get("backend").map(py_str).unwrap_or_default();
            filter.apply_auto_options(&backend);
            filter.get_options(&self.opts, true)?;
            let combined: Dict<Entry> = filter
                .combined()?
                .iter()
                .map(|(k, v)| (k.to_string(), Entry::synthetic(py_str(v))))
                .collect();
            cfg.merge_section(&self.name, &combined, "known/");
            self.filter = Some(filter);
        } else {
            log::warn!(target: "fail2ban.jailreader", "No filter set for jail {}", self.name);
        }
        self.opts = self.options(cfg, &jail_template())?;
        if let Some(filter) = self.filter.as_mut() {
            filter.get_options(&self.opts, false)?;
        }
        let actions = self.opts.get("action").map(py_str).unwrap_or_default();
        for act in split_with_options(&actions) {
            let act = super::ini::py_strip(&act);
            if act.is_empty() {
                continue;
            }
            let (name, aopts) = extract_options(act).map_err(|e| {
                let detail = match &e.kind {
                    ErrorKind::InvalidOptions { detail, .. } => detail.clone(),
                    _ => e.to_string(),
                };
                self.def_error(
                    cfg,
                    "action",
                    format!("Invalid action definition {}: {detail}", str_repr(act)),
                    e.kind,
                )
            })?;
            if name.ends_with(".py") {
                self.actions.push(ActionEntry::Python(
                    self.python_action(session, &name, aopts),
                ));
                continue;
            }
            let reader = DefinitionReader::read(session, Kind::Action, &name, &self.name, &aopts)
                .map_err(|e| e.or_at(cfg.origin(&self.name, "action")))?;
            let Some(mut action) = reader else {
                return Err(Fault::from(self.def_error(
                    cfg,
                    "action",
                    format!("Unable to read action {}", str_repr(&name)),
                    ErrorKind::ActionNotFound { name },
                )));
            };
            action
                .get_options(&self.opts, false)
                .map_err(|e| e.or_at(cfg.origin(&self.name, "action")))?;
            self.actions.push(ActionEntry::File(Box::new(action)));
        }
        if self.actions.is_empty() {
            log::warn!(target: "fail2ban.jailreader", "No actions were defined for {}", self.name);
        }
        Ok(())
    }

    /// `['set', jail, 'addaction', name, path, json]` for a Python action.
    fn python_action(
        &self,
        session: &Session,
        file: &str,
        mut opts: Vec<(String, String)>,
    ) -> Value {
        let actname = match opts.iter().position(|(k, _)| k == "actname") {
            Some(i) => opts.remove(i).1,
            None => file.strip_suffix(".py").unwrap_or(file).to_string(),
        };
        log::warn!(target: "fail2ban.jailreader",
            "Python action {file} of jail {} is not supported by ferroban; it is passed on as fail2ban would", self.name);
        let json = format!(
            "{{{}}}",
            opts.iter()
                .map(|(k, v)| format!("{}: {}", json_str(k), json_str(v)))
                .collect::<Vec<_>>()
                .join(", ")
        );
        Value::List(vec![
            Value::str("set"),
            Value::str(self.name.as_str()),
            Value::str("addaction"),
            Value::Str(actname),
            Value::Str(super::parser::join(
                &super::parser::join(&session.basedir, "action.d"),
                file,
            )),
            Value::Str(json),
        ])
    }

    /// The jail's commands (`add` first, log paths after the other options,
    /// then the actions). Without `allow_no_files`, a jail without any log
    /// file is an error, as in `fail2ban-client -t` and `start`.
    pub fn convert(
        &mut self,
        allow_no_files: bool,
        cfg: &ConfigParser,
    ) -> Result<Vec<Value>, ConfigError> {
        let jail = || Value::str(self.name.as_str());
        if let Some(e) = &self.error {
            return Ok(vec![Value::List(vec![
                Value::str("config-error"),
                Value::Str(format!(
                    "Jail '{}' skipped, because of wrong configuration: {}",
                    self.name, e.message
                )),
            ])]);
        }
        let mut stream = Vec::new();
        let mut logpaths = Vec::new();
        if let Some(filter) = &self.filter {
            stream.extend(filter.convert()?);
        }
        fill_filter_stream(&mut stream, &self.opts, &self.name)?;
        let mut backend = Value::str("auto");
        for (name, value) in self.opts.iter() {
            match name {
                "logpath" => {
                    if py_str(self.opts.get("backend").unwrap_or(&Value::None))
                        .starts_with("systemd")
                    {
                        continue;
                    }
                    let mut found = 0;
                    for line in py_str(value).split('\n') {
                        let (path, tail) = match line.rsplit_once(' ') {
                            Some((p, t)) => (p, t),
                            None => (line, "head"),
                        };
                        let files = super::glob::glob(path);
                        if files.is_empty() {
                            log::info!(target: "fail2ban.jailreader", "No file(s) found for glob {path}");
                        }
                        for f in files {
                            found += 1;
                            logpaths.push(Value::List(vec![
                                Value::str("set"),
                                jail(),
                                Value::str("addlogpath"),
                                Value::Str(f),
                                Value::str(tail),
                            ]));
                        }
                    }
                    if found == 0 {
                        let e = ConfigError::at(
                            ErrorKind::NoLogFile {
                                jail: self.name.clone(),
                            },
                            cfg.origin(&self.name, "logpath").cloned(),
                        );
                        if !allow_no_files {
                            return Err(e);
                        }
                        log::warn!(target: "fail2ban.jailreader", "Have not found any log file for {} jail", self.name);
                        super::report::warn(e);
                    }
                }
                "backend" => backend = value.clone(),
                "ignoreip" => {
                    let mut cmd = vec![Value::str("set"), jail(), Value::str("addignoreip")];
                    cmd.extend(split_words(&py_str(value)).into_iter().map(Value::Str));
                    stream.push(Value::List(cmd));
                }
                n if !is_special(n) => {
                    stream.push(Value::List(vec![
                        Value::str("set"),
                        jail(),
                        Value::str(n),
                        value.clone(),
                    ]));
                }
                _ => {}
            }
        }
        stream.extend(logpaths);
        for action in &self.actions {
            match action {
                ActionEntry::File(reader) => stream.extend(reader.convert()?),
                ActionEntry::Python(cmd) => stream.push(cmd.clone()),
            }
        }
        stream.insert(0, Value::List(vec![Value::str("add"), jail(), backend]));
        Ok(stream)
    }
}

/// JSON text of a string, as Python's `json.dumps` writes it.
fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for u in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{u:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// How reading a jail failed.
enum Fault {
    /// The jail is skipped.
    Jail(Box<JailDefError>),
    /// The configuration as a whole fails.
    Fatal(ConfigError),
}

impl From<ConfigError> for Fault {
    fn from(e: ConfigError) -> Self {
        Fault::Fatal(e)
    }
}

impl From<JailDefError> for Fault {
    fn from(e: JailDefError) -> Self {
        Fault::Jail(Box::new(e))
    }
}

/// All jails of a configuration directory.
pub struct JailsReader {
    pub cfg: ConfigParser,
    pub jails: Vec<JailReader>,
    force_enable: bool,
}

impl JailsReader {
    /// Reads `jail.conf`, `jail.d/*.conf`, `jail.local`, `jail.d/*.local`.
    pub fn read(session: &Session, force_enable: bool) -> Result<JailsReader, ConfigError> {
        let loaded = session.read_named("jail")?;
        Ok(JailsReader {
            cfg: loaded.0.clone(),
            jails: Vec::new(),
            force_enable,
        })
    }

    /// Reads every jail (or only `only`), keeping the enabled and the broken
    /// ones. Returns fail2ban's verdict: true unless a jail is broken and
    /// (when `ignore_wrong`) none is usable.
    pub fn get_options(
        &mut self,
        session: &Session,
        only: Option<&str>,
        ignore_wrong: bool,
    ) -> Result<bool, ConfigError> {
        let sections: Vec<String> = match only {
            Some(j) => vec![j.to_string()],
            None => self.cfg.section_names().map(str::to_string).collect(),
        };
        let (mut any_ok, mut any_bad) = (false, false);
        for sec in sections {
            if sec == "INCLUDES" {
                continue;
            }
            let mut jail = JailReader::new(&sec, self.force_enable);
            if jail.get_options(session, &mut self.cfg)? {
                if jail.is_enabled() {
                    any_ok = true;
                    self.jails.push(jail);
                }
            } else {
                log::error!(target: "fail2ban.jailsreader", "Errors in jail {}.{}", str_repr(&sec),
                    if ignore_wrong { " Skipping..." } else { "" });
                any_bad = true;
                self.jails.push(jail);
            }
        }
        Ok((ignore_wrong && any_ok) || !any_bad)
    }

    /// The commands of all jails, then a `start` for each usable one.
    pub fn convert(&mut self, allow_no_files: bool) -> Result<Vec<Value>, ConfigError> {
        let mut stream = Vec::new();
        for jail in &mut self.jails {
            stream.extend(jail.convert(allow_no_files, &self.cfg)?);
        }
        for jail in &self.jails {
            if jail.error.is_none() {
                stream.push(Value::List(vec![
                    Value::str("start"),
                    Value::str(jail.name.as_str()),
                ]));
            }
        }
        Ok(stream)
    }

    /// Where a jail's option was written.
    pub fn origin(&self, jail: &str, option: &str) -> Option<&Origin> {
        self.cfg.origin(jail, option)
    }
}
