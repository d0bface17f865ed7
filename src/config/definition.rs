//! Filter and action files: a `[Definition]` section plus `[Init]` defaults
//! that a jail may override with `name[opt=value]` (fail2ban's
//! `DefinitionInitConfigReader`, `FilterReader` and `ActionReader`), compiled
//! into their part of the command stream.

use super::dict::Dict;
use super::error::{ConfigError, ErrorKind};
use super::parser::{ConfigParser, GetError, Vars};
use super::reader::{as_vars, convert, get_options, opt, OptSpec, OptType, OptionsError, Session};
use super::tags::{py_str, substitute_recursive_tags};
use crate::stream::Value;
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

/// The options fail2ban's FilterReader reads from `[Definition]`.
pub fn filter_template() -> Vec<OptSpec> {
    use OptType::*;
    vec![
        opt(Str, "usedns"),
        opt(Str, "prefregex"),
        opt(Str, "ignoreregex"),
        opt(Str, "failregex"),
        opt(Int, "maxlines"),
        opt(Str, "datepattern"),
        opt(Str, "journalmatch"),
    ]
}

/// The options fail2ban's ActionReader reads from `[Definition]`.
pub fn action_template() -> Vec<OptSpec> {
    use OptType::*;
    vec![
        opt(Str, "actionstart"),
        opt(Bool, "actionstart_on_demand"),
        opt(Str, "actionstop"),
        opt(Str, "actionflush"),
        opt(Str, "actionreload"),
        opt(Str, "actioncheck"),
        opt(Str, "actionrepair"),
        opt(Bool, "actionrepair_on_unban"),
        opt(Str, "actionban"),
        opt(Str, "actionprolong"),
        opt(Str, "actionreban"),
        opt(Str, "actionunban"),
        opt(Bool, "norestored"),
    ]
}

/// Tags an action keeps for ban time even if they are defined.
const ACTION_KEPT_TAGS: [&str; 5] = [
    "matches",
    "ipmatches",
    "ipjailmatches",
    "timeout",
    "bantime",
];

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    Filter,
    Action,
}

/// A filter or action file being read for one jail.
pub struct DefinitionReader {
    pub kind: Kind,
    /// The name as given (`sshd`, `iptables`, or a path for fail2ban-regex).
    pub file_name: String,
    jail: String,
    /// The action's name in the stream (`iptables-Courier`); unused for filters.
    pub action_name: String,
    template: Vec<OptSpec>,
    cfg: Rc<(ConfigParser, bool)>,
    init_opts: Dict<Value>,
    p_opts: Dict<Value>,
    opts: Dict<Value>,
    def_cache: RefCell<HashMap<String, Option<String>>>,
}

impl DefinitionReader {
    /// Reads `filter.d/NAME` or `action.d/NAME` (with .local and .d/) under the
    /// session's base directory. `Ok(None)` when no file could be read.
    pub fn read(
        session: &Session,
        kind: Kind,
        name: &str,
        jail: &str,
        init: &[(String, String)],
    ) -> Result<Option<DefinitionReader>, ConfigError> {
        let dir = match kind {
            Kind::Filter => "filter.d",
            Kind::Action => "action.d",
        };
        let cfg = session.read_named(&super::parser::join(dir, name))?;
        if !cfg.1 {
            return Ok(None);
        }
        Ok(Some(Self::with_config(kind, name, jail, init, cfg)))
    }

    /// Reads one file given by path, with its includes (fail2ban-regex's
    /// `readexplicit` for filter files outside a configuration directory).
    pub fn read_explicit(
        session: &Session,
        kind: Kind,
        path: &str,
        jail: &str,
        init: &[(String, String)],
    ) -> Result<Option<DefinitionReader>, ConfigError> {
        let cfg = session.read_explicit(path)?;
        if !cfg.1 {
            return Ok(None);
        }
        Ok(Some(Self::with_config(
            kind,
            path,
            jail,
            init,
            Rc::new(cfg),
        )))
    }

    fn with_config(
        kind: Kind,
        name: &str,
        jail: &str,
        init: &[(String, String)],
        cfg: Rc<(ConfigParser, bool)>,
    ) -> DefinitionReader {
        let mut init_opts: Dict<Value> = init
            .iter()
            .map(|(k, v)| (k.clone(), Value::str(v.as_str())))
            .collect();
        let mut action_name = String::new();
        if kind == Kind::Action {
            // Every action gets the jail's name unless given one, and a name
            // that is unique within the jail.
            let n = match init_opts.get("name") {
                Some(v) => py_str(v),
                None => {
                    init_opts.insert("name", Value::str(jail));
                    jail.to_string()
                }
            };
            action_name = match init_opts.get("actname") {
                Some(v) => py_str(v),
                None => {
                    let mut a = name.to_string();
                    if n != jail {
                        match n.strip_prefix(jail) {
                            Some(rest) => a.push_str(rest),
                            None => {
                                a.push('-');
                                a.push_str(&n);
                            }
                        }
                    }
                    init_opts.insert("actname", Value::str(a.as_str()));
                    a
                }
            };
        }
        DefinitionReader {
            kind,
            file_name: name.to_string(),
            jail: jail.to_string(),
            action_name,
            template: match kind {
                Kind::Filter => filter_template(),
                Kind::Action => action_template(),
            },
            cfg,
            init_opts,
            p_opts: Dict::new(),
            opts: Dict::new(),
            def_cache: RefCell::new(HashMap::new()),
        }
    }

    fn cfg(&self) -> &ConfigParser {
        &self.cfg.0
    }

    /// FilterReader's `applyAutoOptions`: `logtype` follows the backend unless
    /// the jail or the filter sets it.
    pub fn apply_auto_options(&mut self, backend: &str) {
        let given = self
            .init_opts
            .get("logtype")
            .is_some_and(|v| !matches!(v, Value::None) && !py_str(v).is_empty());
        let in_definition = self
            .cfg()
            .sections
            .get("Definition")
            .is_some_and(|s| s.contains_key("logtype"));
        if !given && !in_definition {
            let logtype = if backend.starts_with("systemd") {
                "journal"
            } else {
                "file"
            };
            self.init_opts.insert("logtype", Value::str(logtype));
        }
    }

    /// `getOptions(pOpts, all)`: reads `[Definition]` (without the options the
    /// jail already gives) and `[Init]`.
    pub fn get_options(&mut self, p_opts: &Dict<Value>, all: bool) -> Result<(), ConfigError> {
        let mut p = p_opts.clone();
        p.update(&self.init_opts);
        self.opts = match get_options(
            self.cfg(),
            "Definition",
            &self.template,
            Some(&p),
            false,
            false,
        ) {
            Ok(o) => o,
            Err(OptionsError::Invalid(e)) => return Err(e),
            Err(OptionsError::NoSection) => unreachable!("only when should_exist"),
        };
        self.p_opts = p;
        if self.cfg().has_section("Init") {
            for name in self.cfg().options("Init", false).unwrap_or_default() {
                let mut v = None;
                if !name.starts_with("known/") {
                    let got = self.get_plain("Init", &name)?;
                    self.init_opts
                        .insert(format!("known/{name}"), Value::str(got.as_str()));
                    v = Some(got);
                }
                if !self.init_opts.contains_key(&name) {
                    let got = match v {
                        Some(g) => g,
                        None => self.get_plain("Init", &name)?,
                    };
                    self.init_opts.insert(name, Value::Str(got));
                }
            }
        }
        if all && self.cfg().has_section("Definition") {
            for name in self.cfg().options("Definition", true).unwrap_or_default() {
                if self.opts.contains_key(&name) {
                    continue;
                }
                let got = self.get_plain("Definition", &name)?;
                self.opts.insert(name, Value::Str(got));
            }
        }
        Ok(())
    }

    fn get_plain(&self, section: &str, name: &str) -> Result<String, ConfigError> {
        match self.cfg().get(section, name, None) {
            Ok(v) => Ok(v),
            Err(GetError::Invalid(e)) => Err(e),
            Err(_) => Ok(String::new()),
        }
    }

    /// `getCombOption`: a tag that is not among the options is looked up in
    /// `[Definition]` (with `known/` and `section/` names), once.
    fn comb_option(&self, name: &str, vars: &Vars) -> Result<Option<String>, ConfigError> {
        if let Some(v) = self.def_cache.borrow().get(name) {
            return Ok(v.clone());
        }
        let v = match self.cfg().get_ex("Definition", name, Some(vars)) {
            Ok(v) => Some(v),
            Err(GetError::NoSection | GetError::NoOption) => None,
            Err(GetError::Invalid(e)) => return Err(e),
        };
        self.def_cache
            .borrow_mut()
            .insert(name.to_string(), v.clone());
        Ok(v)
    }

    /// `getCombined`: the options with `<tag>`s resolved and types converted.
    pub fn combined(&self) -> Result<Dict<Value>, ConfigError> {
        let mut combined = self.opts.clone();
        combined.update(&self.init_opts);
        if combined.is_empty() {
            return Ok(combined);
        }
        let mut ignore: HashSet<String> = match self.kind {
            Kind::Filter => HashSet::new(),
            Kind::Action => ACTION_KEPT_TAGS.iter().map(|s| s.to_string()).collect(),
        };
        for name in combined.keys() {
            if let Some(q) = name.find('?') {
                if q > 0 && name[..q].chars().all(super::parser::is_word) && name.len() > q + 1 {
                    ignore.insert(name[..q].to_string());
                }
            }
        }
        let vars = as_vars(&self.p_opts);
        let mut opts =
            substitute_recursive_tags(&combined, "", &ignore, |tag| self.comb_option(tag, &vars))
                .map_err(|e| e.or_at(self.cfg().origin("Definition", "failregex")))?;
        self.convert_options(&mut opts);
        Ok(opts)
    }

    fn convert_options(&self, opts: &mut Dict<Value>) {
        for spec in &self.template {
            if spec.ty == OptType::Str {
                continue;
            }
            let Some(Value::Str(s)) = opts.get(spec.name) else {
                continue;
            };
            let converted = match convert(spec.ty, s) {
                Some(v) => v,
                None => {
                    super::report::warn(ConfigError::at(
                        ErrorKind::InvalidValue {
                            option: spec.name.to_string(),
                            value: s.clone(),
                            expected: super::reader::type_name(spec.ty),
                        },
                        self.cfg()
                            .origin("Init", spec.name)
                            .or_else(|| self.cfg().origin("Definition", spec.name))
                            .cloned(),
                    ));
                    log::warn!(target: "fail2ban.configreader",
                        "Wrong {} value {} for {}. Using default one: None",
                        if spec.ty == OptType::Int { "int" } else { "bool" },
                        crate::stream::str_repr(s), crate::stream::str_repr(spec.name));
                    Value::None
                }
            };
            opts.insert(spec.name, converted);
        }
    }

    /// The filter's or action's command-stream lines for its jail.
    pub fn convert(&self) -> Result<Vec<Value>, ConfigError> {
        match self.kind {
            Kind::Filter => {
                let opts = self.combined()?;
                let mut stream = Vec::new();
                if !opts.is_empty() {
                    fill_filter_stream(&mut stream, &opts, &self.jail)?;
                }
                Ok(stream)
            }
            Kind::Action => self.convert_action(),
        }
    }

    fn convert_action(&self) -> Result<Vec<Value>, ConfigError> {
        let opts = self.combined()?;
        let jail = Value::str(self.jail.as_str());
        let name = Value::str(self.action_name.as_str());
        let mut stream = vec![Value::List(vec![
            Value::str("set"),
            jail.clone(),
            Value::str("addaction"),
            name.clone(),
        ])];
        let in_template = |k: &str| self.template.iter().any(|s| s.name == k);
        let mut multi: Vec<Value> = Vec::new();
        for (k, v) in opts.iter() {
            if in_template(k) && !k.starts_with("known/") {
                multi.push(Value::List(vec![Value::str(k), v.clone()]));
            }
        }
        for (k, v) in self.init_opts.iter() {
            if !in_template(k) && !k.starts_with("known/") {
                multi.push(Value::List(vec![Value::str(k), v.clone()]));
            }
        }
        if multi.len() > 1 {
            stream.push(Value::List(vec![
                Value::str("multi-set"),
                jail,
                Value::str("action"),
                name,
                Value::List(multi),
            ]));
        } else if let Some(Value::List(pair)) = multi.pop() {
            let mut cmd = vec![Value::str("set"), jail, Value::str("action"), name];
            cmd.extend(pair);
            stream.push(Value::List(cmd));
        }
        Ok(stream)
    }

    /// Where the file's `[Definition]` option was written, for error messages.
    pub fn origin(&self, option: &str) -> Option<&super::error::Origin> {
        self.cfg().origin("Definition", option)
    }
}

/// FilterReader's `_fillStream`: the filter options of `opts` as commands,
/// with `usedns`, then `prefregex`/`maxlines`, put first.
pub fn fill_filter_stream(
    stream: &mut Vec<Value>,
    opts: &Dict<Value>,
    jail: &str,
) -> Result<(), ConfigError> {
    let mut prio0 = 0;
    let j = || Value::str(jail);
    for (name, value) in opts.iter() {
        if *value == Value::None {
            continue;
        }
        match name {
            "failregex" | "ignoreregex" => {
                let text = py_str(value);
                let multi: Vec<Value> = text
                    .split('\n')
                    .filter(|r| !r.is_empty())
                    .map(Value::str)
                    .collect();
                let cmd = format!("add{name}");
                if multi.len() > 1 {
                    stream.push(Value::List(vec![
                        Value::str("multi-set"),
                        j(),
                        Value::Str(cmd),
                        Value::List(multi),
                    ]));
                } else if let Some(one) = multi.into_iter().next() {
                    stream.push(Value::List(vec![
                        Value::str("set"),
                        j(),
                        Value::Str(cmd),
                        one,
                    ]));
                }
            }
            "usedns" | "maxlines" | "prefregex" => {
                let at = if name == "usedns" { 0 } else { prio0 };
                stream.insert(
                    at,
                    Value::List(vec![
                        Value::str("set"),
                        j(),
                        Value::str(name),
                        value.clone(),
                    ]),
                );
                prio0 += 1;
            }
            // fail2ban tests `opt in ('datepattern')`, a substring test.
            n if "datepattern".contains(n) => {
                stream.push(Value::List(vec![
                    Value::str("set"),
                    j(),
                    Value::str(name),
                    value.clone(),
                ]));
            }
            "journalmatch" => {
                for m in py_str(value).split('\n') {
                    if m.is_empty() {
                        continue;
                    }
                    let words = shlex_split(m).map_err(|detail| {
                        ConfigError::new(ErrorKind::InvalidOptions {
                            spec: m.to_string(),
                            detail,
                        })
                    })?;
                    let mut cmd = vec![Value::str("set"), j(), Value::str("addjournalmatch")];
                    cmd.extend(words.into_iter().map(Value::Str));
                    stream.push(Value::List(cmd));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Python's `shlex.split` (POSIX mode, no comments).
pub fn shlex_split(s: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => cur.push(c),
                        None => return Err("No closing quotation".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(e @ ('"' | '\\')) => cur.push(e),
                            Some(e) => {
                                cur.push('\\');
                                cur.push(e);
                            }
                            None => return Err("No closing quotation".into()),
                        },
                        Some(c) => cur.push(c),
                        None => return Err("No closing quotation".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(e) => cur.push(e),
                    None => return Err("No escaped character".into()),
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shlex_like_python() {
        assert_eq!(
            shlex_split(r#"_SYSTEMD_UNIT=sshd.service + _COMM=sshd "a b" 'c d'e\ f"#).unwrap(),
            vec![
                "_SYSTEMD_UNIT=sshd.service",
                "+",
                "_COMM=sshd",
                "a b",
                "c de f"
            ]
        );
        assert!(shlex_split("'open").is_err());
    }
}
