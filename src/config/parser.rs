//! A set of configuration files read as one, with fail2ban's extensions to
//! Python's `configparser`: `[INCLUDES] before/after`, `.local` files beside
//! every included file, `[Section?cond]` conditional sections, the `KNOWN/`
//! record of overridden values, and `%(name)s` interpolation with `__name__`,
//! `%(section/name)s`, `%(default/name)s` and `%(known/name)s`.

use super::dict::Dict;
use super::error::{ConfigError, ErrorKind, Origin};
use super::ini::{self, Entry, Section};
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// Python's `MAX_INTERPOLATION_DEPTH`.
const MAX_INTERPOLATION_DEPTH: usize = 10;
/// Bounds include chains that never repeat a path string but never end either
/// (`../dir/x.conf` including itself); Python dies of recursion there.
const MAX_INCLUDE_DEPTH: usize = 64;

/// Why `get` found no value.
#[derive(Debug)]
pub enum GetError {
    NoSection,
    NoOption,
    Invalid(ConfigError),
}

impl From<ConfigError> for GetError {
    fn from(e: ConfigError) -> Self {
        GetError::Invalid(e)
    }
}

/// Variables that take precedence over the section in `get` (Python's `vars=`).
pub type Vars = Dict<String>;

/// Parsed single files, shared by every reader of one configuration run so
/// that filter.d/common.conf is read once however many filters include it.
#[derive(Default)]
pub struct FileCache {
    files: RefCell<HashMap<String, Arc<FileState>>>,
}

/// A file as read from disk.
pub enum FileState {
    Missing,
    Unreadable(ConfigError),
    Parsed(Arc<ConfigParser>),
    Invalid(Vec<ConfigError>),
}

impl FileCache {
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads and parses one file, once.
    pub fn load(&self, path: &str) -> Arc<FileState> {
        if let Some(state) = self.files.borrow().get(path) {
            return state.clone();
        }
        let state = Arc::new(read_file(path));
        self.files
            .borrow_mut()
            .insert(path.to_string(), state.clone());
        state
    }
}

fn read_file(path: &str) -> FileState {
    let p = Path::new(path);
    if p.is_dir() {
        return FileState::Missing;
    }
    let bytes = match std::fs::read(p) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return FileState::Missing,
        Err(e) => {
            return FileState::Unreadable(ConfigError::at(
                ErrorKind::Unreadable {
                    reason: e.to_string(),
                },
                Some(Origin {
                    file: Arc::from(p),
                    line: 1,
                }),
            ))
        }
    };
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let line = 1 + e.as_bytes()[..e.utf8_error().valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            return FileState::Unreadable(ConfigError::at(
                ErrorKind::InvalidUtf8,
                Some(Origin {
                    file: Arc::from(p),
                    line,
                }),
            ));
        }
    };
    match ini::parse(&text, p) {
        Ok(f) => FileState::Parsed(Arc::new(ConfigParser {
            defaults: f.defaults,
            sections: f.sections,
        })),
        Err(errors) => FileState::Invalid(errors),
    }
}

/// Python's `os.path.dirname`.
fn dirname(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) => "/",
        Some(i) => path[..i].trim_end_matches('/').max("/"),
        None => "",
    }
}

/// Python's `os.path.join` for two parts.
pub fn join(dir: &str, name: &str) -> String {
    if name.starts_with('/') || dir.is_empty() {
        name.to_string()
    } else if dir.ends_with('/') {
        format!("{dir}{name}")
    } else {
        format!("{dir}/{name}")
    }
}

/// Python's `os.path.splitext(p)[0]`.
fn strip_ext(path: &str) -> &str {
    let base_start = path.rfind('/').map_or(0, |i| i + 1);
    let base = &path[base_start..];
    let stem = base.trim_start_matches('.');
    match stem.rfind('.') {
        Some(i) => &path[..base_start + (base.len() - stem.len()) + i],
        None => path,
    }
}

/// fail2ban's `_expandConfFilesWithLocal`: every file is followed by its
/// `.local` twin if that exists and is not listed already.
fn expand_with_local(files: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for f in files {
        out.push(f.clone());
        let local = format!("{}.local", strip_ext(f));
        if !files.contains(&local) && Path::new(&local).is_file() {
            out.push(local);
        }
    }
    out
}

/// Matches `^(\w+)(\?.+)$`: a conditional section such as `Init?family=inet6`.
fn split_conditional(name: &str) -> Option<(&str, &str)> {
    let q = name.find('?')?;
    let (base, cond) = name.split_at(q);
    (!base.is_empty() && base.chars().all(is_word) && cond.len() > 1).then_some((base, cond))
}

/// Python's `\w` for one character.
pub fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// A set of sections and defaults: one file, or several merged.
#[derive(Clone, Debug, Default)]
pub struct ConfigParser {
    pub defaults: Section,
    pub sections: Dict<Section>,
}

impl ConfigParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads `files` with their `.local` twins and includes, merging them in
    /// fail2ban's order. Returns the files that were read.
    pub fn read(
        &mut self,
        cache: &FileCache,
        files: &[String],
    ) -> Result<Vec<String>, ConfigError> {
        let mut all = Vec::new();
        for f in expand_with_local(files) {
            all.extend(self.includes_of(cache, &f, &[], 0)?);
        }
        let mut read = Vec::new();
        for f in all {
            let state = cache.load(&f);
            let FileState::Parsed(cfg) = &*state else {
                continue;
            };
            read.push(f);
            self.merge(cfg);
        }
        Ok(read)
    }

    /// The include list of one file: its `before` files, itself, its `after` files.
    fn includes_of(
        &self,
        cache: &FileCache,
        resource: &str,
        seen: &[String],
        depth: usize,
    ) -> Result<Vec<String>, ConfigError> {
        let state = cache.load(resource);
        let cfg = match &*state {
            FileState::Missing => return Ok(Vec::new()),
            FileState::Unreadable(e) => {
                log::error!(target: "fail2ban.configparserinc", "Error reading config file: {e}");
                super::report::warn(e.clone());
                return Ok(Vec::new());
            }
            FileState::Invalid(errors) => return Err(errors[0].clone()),
            FileState::Parsed(cfg) => cfg.clone(),
        };
        if depth > MAX_INCLUDE_DEPTH {
            return Err(ConfigError::new(ErrorKind::IncludeLoop {
                file: resource.to_string(),
            }));
        }
        let dir = dirname(resource);
        let mut before = Vec::new();
        let mut after = Vec::new();
        if cfg.sections.contains_key("INCLUDES") {
            for (name, list) in [("before", &mut before), ("after", &mut after)] {
                let value = match cfg.get("INCLUDES", name, None) {
                    Ok(v) => v,
                    Err(GetError::Invalid(e)) => return Err(e),
                    Err(_) => continue,
                };
                for inc in value.split('\n') {
                    let r = join(dir, inc);
                    if seen.contains(&r) {
                        continue;
                    }
                    let mut s = seen.to_vec();
                    s.push(resource.to_string());
                    for f in expand_with_local(&[r]) {
                        list.extend(self.includes_of(cache, &f, &s, depth + 1)?);
                    }
                }
            }
        }
        before.push(resource.to_string());
        before.extend(after);
        Ok(before)
    }

    /// Merges one file's sections into this set, as fail2ban's `read` does.
    fn merge(&mut self, cfg: &ConfigParser) {
        self.defaults.update(&cfg.defaults);
        for (name, section) in cfg.sections.iter() {
            let (name, section) = match split_conditional(name) {
                Some((base, cond)) => (
                    base,
                    section
                        .iter()
                        .map(|(k, v)| (format!("{k}{cond}"), v.clone()))
                        .collect(),
                ),
                None => (name, section.clone()),
            };
            match self.sections.get_mut(name) {
                Some(existing) => {
                    let known: Section = existing
                        .iter()
                        .filter(|(k, _)| section.contains_key(k))
                        .map(|(k, v)| (k.to_string(), v.clone()))
                        .collect();
                    existing.update(&section);
                    self.merge_section(&format!("KNOWN/{name}"), &known, "");
                }
                None => self.sections.insert(name, section),
            }
        }
    }

    /// fail2ban's `merge_section`: adds options to a section (created if
    /// needed), each name prefixed with `pref` unless it already has it.
    pub fn merge_section(&mut self, section: &str, options: &Section, pref: &str) {
        if !self.sections.contains_key(section) {
            self.sections.insert(section, Section::new());
        }
        let sec = self.sections.get_mut(section).unwrap();
        for (k, v) in options.iter() {
            if pref.is_empty() {
                sec.insert(k, v.clone());
            } else if !k.starts_with(pref) && k != "__name__" {
                sec.insert(format!("{pref}{k}"), v.clone());
            }
        }
    }

    /// Section names as fail2ban's readers see them (without `KNOWN/…`).
    pub fn section_names(&self) -> impl Iterator<Item = &str> {
        self.sections.keys().filter(|n| !n.starts_with("KNOWN/"))
    }

    pub fn has_section(&self, section: &str) -> bool {
        self.sections.contains_key(section)
    }

    /// Option names of a section: its own in order, then (if asked) the
    /// defaults it does not override.
    pub fn options(&self, section: &str, with_defaults: bool) -> Option<Vec<String>> {
        let sec = self.sections.get(section)?;
        let mut names: Vec<String> = sec.keys().map(str::to_string).collect();
        if with_defaults {
            for k in self.defaults.keys() {
                if !sec.contains_key(k) {
                    names.push(k.to_string());
                }
            }
        }
        Some(names)
    }

    /// The raw entry an option would be read from (section, then defaults).
    pub fn raw(&self, section: &str, option: &str) -> Option<&Entry> {
        let option = option.to_lowercase();
        self.sections
            .get(section)
            .and_then(|s| s.get(&option))
            .or_else(|| self.defaults.get(&option))
    }

    /// Where an option of a section was written, if it was.
    pub fn origin(&self, section: &str, option: &str) -> Option<&Origin> {
        self.raw(section, option).and_then(|e| e.origin.as_ref())
    }

    /// Python's `ConfigParser.get(section, option, vars=vars)`, interpolated.
    pub fn get(
        &self,
        section: &str,
        option: &str,
        vars: Option<&Vars>,
    ) -> Result<String, GetError> {
        let (value, _) = self.get_raw(section, option, vars)?;
        let option = option.to_lowercase();
        let mut out = String::new();
        self.interpolate(section, &option, &value, vars, 1, &mut out)?;
        Ok(out)
    }

    /// The uninterpolated value and its origin.
    pub fn get_raw(
        &self,
        section: &str,
        option: &str,
        vars: Option<&Vars>,
    ) -> Result<(String, Option<Origin>), GetError> {
        let sec = match self.sections.get(section) {
            Some(s) => Some(s),
            None if section == "DEFAULT" => None,
            None => return Err(GetError::NoSection),
        };
        let option = option.to_lowercase();
        if let Some(v) = vars.and_then(|v| v.get(&option)) {
            return Ok((v.clone(), None));
        }
        match sec
            .and_then(|s| s.get(&option))
            .or_else(|| self.defaults.get(&option))
        {
            Some(e) => Ok((e.value.clone(), e.origin.clone())),
            None => Err(GetError::NoOption),
        }
    }

    /// fail2ban's `get_ex`: `sec/opt` names read another section first
    /// (`known/opt` the value this section overrode, then its own).
    pub fn get_ex(
        &self,
        section: &str,
        option: &str,
        vars: Option<&Vars>,
    ) -> Result<String, GetError> {
        if let Some((sec, opt)) = split_section_option_name(option) {
            let lower = sec.to_lowercase();
            let candidates: Vec<String> = match lower.as_str() {
                "known" => vec![format!("KNOWN/{section}"), section.to_string()],
                "default" => vec!["DEFAULT".to_string()],
                _ => vec![sec.to_string()],
            };
            for c in candidates {
                match self.get(&c, opt, None) {
                    Ok(v) => return Ok(v),
                    Err(GetError::NoSection | GetError::NoOption) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        self.get(section, option, vars)
    }

    /// Resolves one `%(name)s` reference in the context of `section`.
    fn lookup(&self, section: &str, written: &str, vars: Option<&Vars>) -> Option<String> {
        let var = written.to_lowercase();
        if let Some(v) = vars.and_then(|v| v.get(&var)) {
            return Some(v.clone());
        }
        if let Some(e) = self
            .sections
            .get(section)
            .and_then(|s| s.get(&var))
            .or_else(|| self.defaults.get(&var))
        {
            return Some(e.value.clone());
        }
        if var == "__name__" {
            return Some(section.to_string());
        }
        // `%(sec/opt)s`: fail2ban maps these under the name as written, but
        // Python looks the reference up lower-cased, so only lower-case
        // references resolve.
        if written != var {
            return None;
        }
        let (sec, opt) = written.split_once('/')?;
        if sec.is_empty() || !sec.chars().all(|c| is_word(c) || c == '-') || opt.is_empty() {
            return None;
        }
        let from_defaults = || self.defaults.get(opt).map(|e| e.value.clone());
        match sec.to_lowercase().as_str() {
            "default" => from_defaults(),
            "known" => self
                .sections
                .get(&format!("KNOWN/{section}"))
                .and_then(|s| s.get(opt))
                .map(|e| e.value.clone())
                .or_else(from_defaults),
            _ => {
                let s = self.sections.get(sec)?;
                s.get(opt).map(|e| e.value.clone()).or_else(from_defaults)
            }
        }
    }

    /// Python's `BasicInterpolation._interpolate_some`.
    fn interpolate(
        &self,
        section: &str,
        option: &str,
        mut rest: &str,
        vars: Option<&Vars>,
        depth: usize,
        out: &mut String,
    ) -> Result<(), ConfigError> {
        let err = |kind| ConfigError::at(kind, self.origin(section, option).cloned());
        if depth > MAX_INTERPOLATION_DEPTH {
            return Err(err(ErrorKind::InterpolationDepth {
                section: section.to_string(),
                option: option.to_string(),
            }));
        }
        while !rest.is_empty() {
            let Some(p) = rest.find('%') else {
                out.push_str(rest);
                return Ok(());
            };
            out.push_str(&rest[..p]);
            rest = &rest[p..];
            if rest[1..].starts_with('%') {
                out.push('%');
                rest = &rest[2..];
            } else if rest[1..].starts_with('(') {
                let close = rest
                    .find(')')
                    .filter(|&c| c > 2 && rest[c + 1..].starts_with('s'));
                let Some(close) = close else {
                    return Err(err(ErrorKind::InterpolationSyntax {
                        section: section.to_string(),
                        option: option.to_string(),
                        rest: rest.to_string(),
                    }));
                };
                let name = &rest[2..close];
                rest = &rest[close + 2..];
                let Some(v) = self.lookup(section, name, vars) else {
                    return Err(err(ErrorKind::MissingReference {
                        section: section.to_string(),
                        option: option.to_string(),
                        reference: name.to_lowercase(),
                    }));
                };
                if v.contains('%') {
                    self.interpolate(section, option, &v, vars, depth + 1, out)?;
                } else {
                    out.push_str(&v);
                }
            } else {
                return Err(err(ErrorKind::InterpolationSyntax {
                    section: section.to_string(),
                    option: option.to_string(),
                    rest: rest.to_string(),
                }));
            }
        }
        Ok(())
    }
}

/// fail2ban's `SECTION_OPTNAME_CRE`: `^([\w\-]+)/([^\s>]+)$`.
fn split_section_option_name(name: &str) -> Option<(&str, &str)> {
    let (sec, opt) = name.split_once('/')?;
    let sec_ok = !sec.is_empty() && sec.chars().all(|c| is_word(c) || c == '-');
    let opt_ok = !opt.is_empty() && !opt.chars().any(|c| ini::py_isspace(c) || c == '>');
    (sec_ok && opt_ok).then_some((sec, opt))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(text: &str) -> ConfigParser {
        let f = ini::parse(text, Path::new("t.conf")).unwrap();
        ConfigParser {
            defaults: f.defaults,
            sections: f.sections,
        }
    }

    #[test]
    fn interpolation_with_defaults_name_and_section_refs() {
        let c = cfg("[DEFAULT]\nx = %(sec2/y)s\nz = %(__name__)s-z\n[sec]\nb = %(x)s\nd = %(z)s\ne = 100%%\n[sec2]\ny = Y\n");
        assert_eq!(c.get("sec", "b", None).unwrap(), "Y");
        assert_eq!(c.get("sec", "d", None).unwrap(), "sec-z");
        assert_eq!(c.get("sec", "e", None).unwrap(), "100%");
    }

    #[test]
    fn interpolation_errors_name_the_option() {
        let c = cfg("[s]\na = %(b)s\nb = %(a)s\nm = %(nope)s\nbad = 5%\n");
        let e = |o| match c.get("s", o, None) {
            Err(GetError::Invalid(e)) => e.to_string(),
            other => panic!("{other:?}"),
        };
        assert!(
            e("a").starts_with("t.conf:2: option 'a' in [s] nests"),
            "{}",
            e("a")
        );
        assert!(e("m").contains("refers to %(nope)s"));
        assert!(e("bad").starts_with("t.conf:5: option 'bad'"));
    }

    #[test]
    fn paths_like_python() {
        assert_eq!(dirname("a/b.conf"), "a");
        assert_eq!(dirname("/b.conf"), "/");
        assert_eq!(dirname("b.conf"), "");
        assert_eq!(strip_ext("/etc/x.d/a.conf"), "/etc/x.d/a");
        assert_eq!(strip_ext("/etc/x.d/.hidden"), "/etc/x.d/.hidden");
        assert_eq!(join("a", "/abs"), "/abs");
        assert_eq!(join("a", "b"), "a/b");
    }
}
