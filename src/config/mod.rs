//! The configuration engine: reads a fail2ban configuration directory exactly
//! as fail2ban 1.0.2's client does and compiles it into the command stream
//! that the server executes (`fail2ban-client -d` prints it).
//!
//! Layers, bottom up: `ini` (one file's syntax), `parser` (files merged with
//! includes, `.local` overrides and `%(name)s` interpolation), `reader`
//! (configuration names and typed options), `tags` (`<tag>` substitution),
//! `definition` (filter and action files), `jail` and `fail2ban` (the two
//! top-level files), and here the whole run.

pub mod definition;
pub mod dict;
pub mod error;
pub mod fail2ban;
pub mod glob;
pub mod ini;
pub mod jail;
pub mod options;
pub mod parser;
pub mod reader;
pub mod report;
pub mod tags;

pub use error::{ConfigError, ErrorKind, Origin};
pub use options::extract_options;

use crate::stream::Value;
use definition::{DefinitionReader, Kind};
use dict::Dict;
use fail2ban::Fail2banReader;
use jail::JailsReader;
use reader::Session;
use std::path::Path;

/// The default configuration directory.
pub const DEFAULT_CONF_DIR: &str = "/etc/fail2ban";

/// What the client knows before reading jails: from its command line, else
/// from `fail2ban.conf`, else fail2ban's defaults.
#[derive(Clone, Debug, Default)]
pub struct ClientSettings {
    pub socket: Option<String>,
    pub pidfile: Option<String>,
    pub loglevel: Option<String>,
    pub logtarget: Option<String>,
    pub syslogsocket: Option<String>,
}

impl ClientSettings {
    /// Fills what the command line left open from `fail2ban.conf`.
    pub fn complete(&mut self, conf_dir: &str) -> Result<(), ConfigError> {
        let session = Session::new(conf_dir);
        let reader = Fail2banReader::read(&session)?;
        let early = reader.early_options()?;
        let get = |k: &str| early.get(k).map(tags::py_str);
        for (slot, key) in [
            (&mut self.socket, "socket"),
            (&mut self.pidfile, "pidfile"),
            (&mut self.loglevel, "loglevel"),
            (&mut self.logtarget, "logtarget"),
            (&mut self.syslogsocket, "syslogsocket"),
        ] {
            if slot.is_none() {
                *slot = get(key);
            }
        }
        Ok(())
    }

    fn overrides(&self) -> Dict<Value> {
        let mut d = Dict::new();
        for (k, v) in [
            ("socket", &self.socket),
            ("pidfile", &self.pidfile),
            ("logtarget", &self.logtarget),
            ("loglevel", &self.loglevel),
            ("syslogsocket", &self.syslogsocket),
        ] {
            if let Some(v) = v {
                d.insert(k, Value::str(v.as_str()));
            }
        }
        d
    }
}

/// How to compile.
#[derive(Clone, Debug, Default)]
pub struct CompileOptions {
    /// Only this jail (reload of one jail).
    pub jail: Option<String>,
    /// Keep jails without log files (`-d`), instead of failing.
    pub allow_no_files: bool,
    /// Strict mode (`-t`): a broken jail fails the configuration.
    pub strict: bool,
    /// Enable every jail (`reload JAIL` of a disabled one).
    pub force_enable: bool,
    /// Also warn about jail options that have no effect.
    pub lint: bool,
}

/// The result of compiling a configuration directory.
#[derive(Debug)]
pub struct Compiled {
    /// The command stream, unless the configuration as a whole failed.
    pub stream: Option<Vec<Value>>,
    /// fail2ban's verdict (the client's exit status follows it).
    pub ok: bool,
    /// What makes fail2ban skip a jail or give up: broken jails, the fatal error.
    pub errors: Vec<ConfigError>,
    /// What fail2ban only logs: unreadable files, values replaced by defaults,
    /// jails without log files (with `allow_no_files`).
    pub warnings: Vec<ConfigError>,
}

/// Compiles `conf_dir` into the command stream, as `fail2ban-client -d` does.
pub fn compile(conf_dir: &str, settings: &ClientSettings, options: &CompileOptions) -> Compiled {
    let session = Session::new(conf_dir);
    let mut errors = Vec::new();
    report::take();
    let result = compile_in(&session, settings, options, &mut errors);
    let warnings = report::take();
    match result {
        Ok((stream, ok)) => Compiled {
            stream: Some(stream),
            ok,
            errors,
            warnings,
        },
        Err(e) => {
            log::error!(target: "fail2ban", "Failed during configuration: {e}");
            errors.insert(0, e);
            Compiled {
                stream: None,
                ok: false,
                errors,
                warnings,
            }
        }
    }
}

fn compile_in(
    session: &Session,
    settings: &ClientSettings,
    options: &CompileOptions,
    errors: &mut Vec<ConfigError>,
) -> Result<(Vec<Value>, bool), ConfigError> {
    let f2b = Fail2banReader::read(session)?;
    let mut jails = JailsReader::read(session, options.force_enable)?;
    let ok = jails.get_options(session, options.jail.as_deref(), !options.strict)?;
    let mut stream = f2b.convert(&settings.overrides())?;
    stream.extend(jails.convert(options.allow_no_files)?);
    for j in &jails.jails {
        if let Some(e) = &j.error {
            errors.push(e.error.clone());
        }
        if options.lint {
            jail::unused_options(&jails.cfg, &j.name)
                .into_iter()
                .for_each(report::warn);
        }
    }
    Ok((stream, ok))
}

/// The outcome of `fail2ban-client -t`.
#[derive(Debug)]
pub struct CheckReport {
    /// fail2ban's verdict, which the exit status follows.
    pub ok: bool,
    /// Problems that make fail2ban fail or skip a jail.
    pub errors: Vec<ConfigError>,
    /// Problems fail2ban lives with: broken files no jail uses, values
    /// replaced by defaults, unreadable files.
    pub warnings: Vec<ConfigError>,
}

/// Compiles `conf_dir` strictly (`fail2ban-client -t`) and also checks the
/// syntax of every configuration file under it, used or not.
pub fn check(conf_dir: &str, settings: &ClientSettings) -> CheckReport {
    let compiled = compile(
        conf_dir,
        settings,
        &CompileOptions {
            strict: true,
            ..Default::default()
        },
    );
    // fail2ban stops at the first fatal problem (a jail without log files,
    // say); a lenient second pass finds the rest.
    let lenient = compile(
        conf_dir,
        settings,
        &CompileOptions {
            strict: true,
            allow_no_files: true,
            lint: true,
            ..Default::default()
        },
    );
    let mut errors = compiled.errors;
    for e in lenient.errors {
        if !errors.contains(&e) {
            errors.push(e);
        }
    }
    let mut warnings = compiled.warnings;
    for w in lenient.warnings {
        if !warnings.contains(&w) && !errors.contains(&w) {
            warnings.push(w);
        }
    }
    if Path::new(conf_dir).is_dir() {
        let mut files = Vec::new();
        collect_config_files(Path::new(conf_dir), 0, &mut files);
        files.sort();
        let cache = parser::FileCache::new();
        for f in files {
            let found = match &*cache.load(&f) {
                parser::FileState::Invalid(errs) => errs.clone(),
                parser::FileState::Unreadable(e) => vec![e.clone()],
                _ => continue,
            };
            // A file the configuration uses is an error, any other a warning.
            let used = found.iter().any(|e| errors.contains(e));
            for e in found {
                if errors.contains(&e) || warnings.contains(&e) {
                    continue;
                }
                if used {
                    errors.push(e);
                } else {
                    warnings.push(e);
                }
            }
        }
    }
    CheckReport {
        ok: compiled.ok,
        errors,
        warnings,
    }
}

fn collect_config_files(dir: &Path, depth: usize, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.filter_map(Result::ok) {
        let p = e.path();
        if p.is_dir() && depth < 2 {
            collect_config_files(&p, depth + 1, out);
        } else if p.extension().is_some_and(|x| x == "conf" || x == "local") {
            if let Some(s) = p.to_str() {
                out.push(s.to_string());
            }
        }
    }
}

/// Where a jail's option is written (for reports naming `file:line`).
pub fn locate(conf_dir: &str, jail: &str, option: &str) -> Option<Origin> {
    let session = Session::new(conf_dir);
    let jails = JailsReader::read(&session, false).ok()?;
    jails.origin(jail, option).cloned()
}

/// Reads a filter the way fail2ban's FilterReader does and returns what its
/// `convert()` gives: the filter's commands for jail `jail`.
///
/// With `basedir`, `name` is looked up as `basedir/filter.d/NAME.conf` (with
/// `.local` and `.d/`); without, `name` is a file path read explicitly.
/// `backend` decides the automatic `logtype` option.
pub fn load_filter(
    basedir: Option<&Path>,
    name: &str,
    jail: &str,
    options: &[(String, String)],
    backend: &str,
) -> Result<Vec<Value>, ConfigError> {
    let dir = basedir.map_or(DEFAULT_CONF_DIR.to_string(), |d| {
        d.to_string_lossy().into_owned()
    });
    let session = Session::new(&dir);
    let reader = match basedir {
        Some(_) => DefinitionReader::read(&session, Kind::Filter, name, jail, options)?,
        None => DefinitionReader::read_explicit(&session, Kind::Filter, name, jail, options)?,
    };
    let Some(mut filter) = reader else {
        return Err(ConfigError::new(ErrorKind::FilterNotFound {
            name: name.to_string(),
        }));
    };
    filter.apply_auto_options(backend);
    filter.get_options(&Dict::new(), false)?;
    filter.convert()
}
