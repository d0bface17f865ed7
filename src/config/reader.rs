//! fail2ban's `ConfigReader`: finds the files of one configuration name under
//! the base directory (`NAME.conf`, `NAME.d/*.conf`, `NAME.local`,
//! `NAME.d/*.local`), reads them once per run, and reads typed options with
//! defaults the way fail2ban does (warning when a default is used).

use super::dict::Dict;
use super::error::{ConfigError, ErrorKind};
use super::parser::{join, ConfigParser, FileCache, GetError, Vars};
use super::tags::py_str;
use crate::stream::Value;
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;
use std::rc::Rc;

/// The version that configurations see as `%(fail2ban_version)s`: the
/// fail2ban release whose behaviour ferroban reproduces.
pub const FAIL2BAN_VERSION: &str = "1.0.2";

/// How an option's string is converted.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum OptType {
    Str,
    Bool,
    Int,
}

/// One entry of an options template: type, name, default.
pub struct OptSpec {
    pub ty: OptType,
    pub name: &'static str,
    pub default: Option<Value>,
}

/// Shorthand for template tables.
pub const fn opt(ty: OptType, name: &'static str) -> OptSpec {
    OptSpec {
        ty,
        name,
        default: None,
    }
}

/// One configuration run: the base directory, the parsed files, and the
/// merged configurations shared by name (fail2ban's `share_config`).
pub struct Session {
    pub basedir: String,
    pub cache: FileCache,
    shared: RefCell<HashMap<String, Rc<(ConfigParser, bool)>>>,
}

impl Session {
    pub fn new(basedir: &str) -> Session {
        let trimmed = basedir.trim_end_matches('/');
        Session {
            basedir: if trimmed.is_empty() && basedir.starts_with('/') {
                "/".into()
            } else {
                trimmed.to_string()
            },
            cache: FileCache::new(),
            shared: RefCell::new(HashMap::new()),
        }
    }

    /// Reads configuration `name` (e.g. `jail`, `filter.d/sshd`) with all its
    /// files; the flag says whether any file was read.
    pub fn read_named(&self, name: &str) -> Result<Rc<(ConfigParser, bool)>, ConfigError> {
        if let Some(c) = self.shared.borrow().get(name) {
            return Ok(c.clone());
        }
        let loaded = Rc::new(self.read_uncached(name)?);
        self.shared
            .borrow_mut()
            .insert(name.to_string(), loaded.clone());
        Ok(loaded)
    }

    fn read_uncached(&self, name: &str) -> Result<(ConfigParser, bool), ConfigError> {
        if !Path::new(&self.basedir).exists() {
            return Err(ConfigError::new(ErrorKind::BaseDirMissing {
                dir: self.basedir.clone(),
            }));
        }
        let base = join(&self.basedir, name);
        let dir = format!("{base}.d");
        let mut files = vec![format!("{base}.conf")];
        files.extend(glob_suffix(&dir, ".conf"));
        files.push(format!("{base}.local"));
        files.extend(glob_suffix(&dir, ".local"));
        files.retain(|f| Path::new(f).exists());
        let mut cfg = ConfigParser::new();
        if files.is_empty() {
            log::error!(target: "fail2ban.configreader",
                "Found no accessible config files for {} under {}",
                crate::stream::str_repr(name), self.basedir);
            return Ok((cfg, false));
        }
        let read = cfg.read(&self.cache, &files)?;
        let missed: Vec<&String> = files.iter().filter(|f| !read.contains(f)).collect();
        if !missed.is_empty() {
            log::error!(target: "fail2ban.configreader", "Could not read config files: {}",
                missed.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "));
        }
        let ok = !read.is_empty();
        if !ok {
            log::error!(target: "fail2ban.configreader",
                "Found no accessible config files for {} under {}",
                crate::stream::str_repr(name), self.basedir);
        }
        Ok((cfg, ok))
    }

    /// Reads one file explicitly with its `.local` twin and includes (as
    /// `readexplicit` does for fail2ban-regex's foreign filter files).
    pub fn read_explicit(&self, path: &str) -> Result<(ConfigParser, bool), ConfigError> {
        let mut cfg = ConfigParser::new();
        let read = cfg.read(&self.cache, &[path.to_string()])?;
        Ok((cfg, !read.is_empty()))
    }
}

/// `sorted(glob.glob(dir + "/*" + suffix))`: hidden files excluded.
fn glob_suffix(dir: &str, suffix: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !n.starts_with('.') && n.ends_with(suffix))
        .map(|n| format!("{dir}/{n}"))
        .collect();
    out.sort();
    out
}

/// Python's `int(str)`.
pub fn py_int(s: &str) -> Option<i64> {
    let t = super::ini::py_strip(s);
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
        || !digits.chars().all(|c| c.is_ascii_digit() || c == '_')
    {
        return None;
    }
    let n: i64 = digits.replace('_', "").parse().ok()?;
    Some(if neg { -n } else { n })
}

/// fail2ban's `_as_bool` for a string.
pub fn py_bool(s: &str) -> bool {
    matches!(s.to_lowercase().as_str(), "1" | "on" | "true" | "yes")
}

/// How `-t` names a type.
pub fn type_name(ty: OptType) -> &'static str {
    match ty {
        OptType::Str => "a string",
        OptType::Bool => "a boolean",
        OptType::Int => "an integer",
    }
}

/// Converts an option string to its template type.
pub fn convert(ty: OptType, s: &str) -> Option<Value> {
    match ty {
        OptType::Str => Some(Value::str(s)),
        OptType::Bool => Some(Value::Bool(py_bool(s))),
        OptType::Int => py_int(s).map(Value::Int),
    }
}

/// Option values as `get`'s variables: Python `str()` of each.
pub fn as_vars(opts: &Dict<Value>) -> Vars {
    opts.iter()
        .filter(|(_, v)| **v != Value::None)
        .map(|(k, v)| (k.to_lowercase(), py_str(v)))
        .collect()
}

/// Why `get_options` gave up.
pub enum OptionsError {
    NoSection,
    Invalid(ConfigError),
}

impl From<ConfigError> for OptionsError {
    fn from(e: ConfigError) -> Self {
        OptionsError::Invalid(e)
    }
}

/// fail2ban's `ConfigReaderUnshared.getOptions`: reads the options of
/// `template` from `section`, skipping those in `p_options` and using them as
/// interpolation variables.
pub fn get_options(
    cfg: &ConfigParser,
    section: &str,
    template: &[OptSpec],
    p_options: Option<&Dict<Value>>,
    should_exist: bool,
    convert_values: bool,
) -> Result<Dict<Value>, OptionsError> {
    let vars = p_options.map(as_vars);
    let mut values = Dict::new();
    for spec in template {
        if p_options.is_some_and(|p| p.contains_key(spec.name)) {
            continue;
        }
        match cfg.get(section, spec.name, vars.as_ref()) {
            Ok(v) => {
                if !convert_values {
                    values.insert(spec.name, Value::Str(v));
                    continue;
                }
                match convert(spec.ty, &v) {
                    Some(c) => values.insert(spec.name, c),
                    None => {
                        super::report::warn(ConfigError::at(
                            ErrorKind::InvalidValue {
                                option: spec.name.to_string(),
                                value: v.clone(),
                                expected: type_name(spec.ty),
                            },
                            cfg.origin(section, spec.name).cloned(),
                        ));
                        log::warn!(target: "fail2ban.configreader",
                            "Wrong value for '{}' in '{}'. Using default one: '{}'",
                            spec.name, section,
                            spec.default.as_ref().map_or("None".to_string(), |d| d.to_string()));
                        values.insert(spec.name, spec.default.clone().unwrap_or(Value::None));
                    }
                }
            }
            Err(GetError::NoSection) => {
                if should_exist {
                    return Err(OptionsError::NoSection);
                }
                log::error!(target: "fail2ban.configreader", "No section: {}", crate::stream::str_repr(section));
                values.insert(spec.name, spec.default.clone().unwrap_or(Value::None));
            }
            Err(GetError::NoOption) => {
                if let Some(d) = &spec.default {
                    log::warn!(target: "fail2ban.configreader",
                        "'{}' not defined in '{}'. Using default one: {}", spec.name, section, d);
                    values.insert(spec.name, d.clone());
                }
            }
            Err(GetError::Invalid(e)) => return Err(OptionsError::Invalid(e)),
        }
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ints_and_bools_like_python() {
        assert_eq!(py_int(" 5 "), Some(5));
        assert_eq!(py_int("-1_000"), Some(-1000));
        assert_eq!(py_int("5.0"), None);
        assert_eq!(py_int("1__0"), None);
        assert!(py_bool("Yes") && py_bool("1") && !py_bool("enabled"));
    }
}
