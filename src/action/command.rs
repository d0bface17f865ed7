//! [`Action`]: one shell action of a jail (fail2ban's `CommandAction`), and
//! [`ActionBuilder`], which collects its options as the command stream
//! delivers them.
//!
//! The lifecycle follows fail2ban exactly, because its observable effects
//! (which commands run, how often, for which address family) are what a
//! drop-in replacement must reproduce:
//! - `start` runs `actionstart` once per family in use; actions with
//!   `KEY?family=…` options (the stock iptables/nftables ones) start on
//!   demand instead, at the first ban of each family, unless
//!   `actionstart_on_demand` says otherwise;
//! - a failing ban/unban is retried once, after `actioncheck` (and
//!   `actionrepair`, or a stop/start when there is none) restored a sane
//!   environment;
//! - unban, flush and stop only touch families that were started / banned;
//! - the same command is not run twice for two families.

use super::duration::str2seconds;
use super::error::ActionError;
use super::escape::ShellCommand;
use super::info::BanInfo;
use super::runner;
use super::tags::{
    conditional, replace_dynamic_tags, replace_tag, substitute_properties, DynamicTags, FamilyOnly,
};
use crate::config::dict::Dict;
use crate::config::tags::py_str;
use crate::stream::{str_repr, Value};
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

/// Runs a finished command with the action's timeout and says whether it
/// succeeded. The default is [`runner::execute`]; another one lets a caller
/// record or redirect commands (dry runs, tests).
pub type Executor = Arc<dyn Fn(&ShellCommand, &Value) -> bool + Send + Sync>;

#[derive(Clone)]
struct Exec(Option<Executor>);

impl fmt::Debug for Exec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "custom"
        } else {
            "/bin/sh"
        })
    }
}

/// The logger fail2ban's CommandAction uses.
const TARGET: &str = "fail2ban.CommandAction";

/// Names that are methods of fail2ban's CommandAction: the stream calls them
/// rather than setting them, so they cannot be properties.
const METHODS: [&str; 16] = [
    "ban",
    "banEpoch",
    "clearAllParams",
    "consistencyCheck",
    "escapeTag",
    "executeCmd",
    "flush",
    "invalidateBanEpoch",
    "prolong",
    "reban",
    "reload",
    "replaceDynamicTags",
    "replaceTag",
    "start",
    "stop",
    "unban",
];

/// The operation commands every action has (empty by default).
const OPERATIONS: [&str; 9] = [
    "actionstart",
    "actionban",
    "actionreban",
    "actionunban",
    "actioncheck",
    "actionrepair",
    "actionflush",
    "actionstop",
    "actionreload",
];

/// Python's truth value of a property.
pub fn py_truthy(v: &Value) -> bool {
    match v {
        Value::None => false,
        Value::Bool(b) => *b,
        Value::Int(i) => *i != 0,
        Value::Float(f) => *f != 0.0,
        Value::Str(s) => !s.is_empty(),
        Value::Bytes(b) => !b.is_empty(),
        Value::List(l) | Value::Tuple(l) => !l.is_empty(),
        Value::Dict(d) => !d.is_empty(),
    }
}

/// Whether this host has IPv6 addresses (fail2ban's `allowipv6 = auto`).
fn ipv6_present() -> bool {
    std::fs::read_to_string("/proc/net/if_inet6").is_ok_and(|s| !s.trim().is_empty())
}

/// Collects an action's options; [`ActionBuilder::build`] makes the action.
#[derive(Clone, Debug)]
pub struct ActionBuilder {
    jail: String,
    name: String,
    options: Vec<(String, Value)>,
    ipv6_allowed: Option<bool>,
    jail_bantime: i64,
    executor: Exec,
}

impl ActionBuilder {
    /// An action `name` of jail `jail` (`addaction`).
    pub fn new(jail: impl Into<String>, name: impl Into<String>) -> ActionBuilder {
        ActionBuilder {
            jail: jail.into(),
            name: name.into(),
            options: Vec::new(),
            ipv6_allowed: None,
            jail_bantime: 600,
            executor: Exec(None),
        }
    }

    /// Runs commands with `executor` instead of `/bin/sh`.
    pub fn executor(&mut self, executor: Executor) -> &mut Self {
        self.executor = Exec(Some(executor));
        self
    }

    /// One (key, value) pair exactly as the stream has it (`multi-set` item
    /// or `set JAIL action NAME KEY VALUE`).
    pub fn option(&mut self, key: impl Into<String>, value: impl Into<Value>) -> &mut Self {
        self.options.push((key.into(), value.into()));
        self
    }

    /// Several pairs, in order.
    pub fn options<K: Into<String>, V: Into<Value>>(
        &mut self,
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> &mut Self {
        for (k, v) in pairs {
            self.option(k, v);
        }
        self
    }

    /// Whether IPv6 is in use (`allowipv6`); by default, whether the host
    /// has an IPv6 address. Only matters for actions that start for every
    /// family at once.
    pub fn ipv6_allowed(&mut self, yes: bool) -> &mut Self {
        self.ipv6_allowed = Some(yes);
        self
    }

    /// The jail's ban time, shown as `<bantime>` in start/stop commands.
    pub fn jail_bantime(&mut self, seconds: i64) -> &mut Self {
        self.jail_bantime = seconds;
        self
    }

    /// The action, or the first option that cannot be set.
    pub fn build(&self) -> Result<Action, ActionError> {
        let mut action = Action {
            jail: self.jail.clone(),
            name: self.name.clone(),
            props: Dict::new(),
            started: Vec::new(),
            executed: HashMap::new(),
            subst_cache: HashMap::new(),
            ban_epoch: 0,
            ipv6_allowed: self.ipv6_allowed.unwrap_or_else(ipv6_present),
            jail_bantime: self.jail_bantime,
            executor: self.executor.clone(),
        };
        action.clear_all_params();
        for (k, v) in &self.options {
            action.set(k, v.clone())?;
        }
        Ok(action)
    }
}

/// What to do after an operation ran for one family.
#[derive(Clone, Copy, PartialEq)]
enum After {
    Nothing,
    Started,
    Stopped,
    Flushed,
}

/// Dynamic tags of fail2ban's "empty ticket" used for operations.
struct OperationInfo<'a> {
    family: &'a str,
    ban: BanInfo,
}

impl DynamicTags for OperationInfo<'_> {
    fn tag(&self, tag: &str) -> Option<String> {
        if tag == "family" {
            return Some(self.family.to_string());
        }
        self.ban.tag(tag)
    }
    fn capture(&self, _key: &str) -> Option<String> {
        None
    }
}

/// The family key fail2ban uses for a ban: `inet4`, `inet6`, or `None` for
/// ids that are not addresses.
fn family_key(info: &BanInfo) -> &'static str {
    info.family.map_or("None", |f| f.as_str())
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// One shell action of a jail.
#[derive(Clone, Debug)]
pub struct Action {
    jail: String,
    name: String,
    /// Properties: options plus fail2ban's defaults.
    props: Dict<Value>,
    /// Per family: 1 = started, 2 = holds bans (fail2ban's `__started`).
    started: Vec<(String, u8)>,
    /// Per operation tag: the command last run successfully per family.
    executed: HashMap<&'static str, Vec<(String, String)>>,
    /// Substituted properties per conditional.
    subst_cache: HashMap<String, Dict<Value>>,
    ban_epoch: u64,
    ipv6_allowed: bool,
    jail_bantime: i64,
    executor: Exec,
}

impl Action {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn jail(&self) -> &str {
        &self.jail
    }

    /// Sets a property (`set JAIL action NAME KEY VALUE`), with fail2ban's
    /// special cases: `timeout` is a time span, `bantime` is ignored (it is
    /// ban information, never an action property).
    pub fn set(&mut self, key: &str, value: Value) -> Result<(), ActionError> {
        if METHODS.contains(&key) {
            return Err(ActionError::MethodKey {
                name: self.name.clone(),
                key: key.to_string(),
            });
        }
        if key.starts_with('_') {
            // Private attributes in Python, never properties: nothing to do.
            return Ok(());
        }
        let value = match key {
            "bantime" => return Ok(()),
            "timeout" => str2seconds(&value).ok_or_else(|| ActionError::InvalidDuration {
                key: key.to_string(),
                value: py_str(&value),
            })?,
            _ => value,
        };
        log::debug!(target: TARGET, "  Set {key} = {value}");
        self.props.insert(key, value);
        self.subst_cache.clear();
        Ok(())
    }

    /// Removes a property (Python's `delattr`); the operation commands and
    /// `timeout` fall back to their defaults.
    pub fn unset(&mut self, key: &str) {
        if self.props.remove(key).is_some() {
            log::debug!(target: TARGET, "  Unset {key}");
        }
        self.subst_cache.clear();
    }

    /// A property (`get JAIL action NAME KEY`).
    pub fn get(&self, key: &str) -> Option<Value> {
        if key == "banEpoch" {
            return Some(Value::Int(self.ban_epoch as i64));
        }
        self.props.get(key).cloned()
    }

    /// The property names, sorted as fail2ban lists them
    /// (`get JAIL actionproperties NAME`).
    pub fn property_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.props.keys().map(str::to_string).collect();
        names.push("banEpoch".into());
        names.sort();
        names
    }

    /// fail2ban's `clearAllParams` (used when a jail is reloaded): the
    /// operation commands become empty and `timeout` 60; other properties
    /// stay.
    pub fn clear_all_params(&mut self) {
        self.props.insert("timeout", Value::Int(60));
        for op in OPERATIONS {
            self.props.insert(op, Value::str(""));
        }
        self.subst_cache.clear();
    }

    /// The jail's ban time, for `<bantime>` in operation commands.
    pub fn set_jail_bantime(&mut self, seconds: i64) {
        self.jail_bantime = seconds;
    }

    fn prop_truthy(&self, key: &str) -> bool {
        self.props.get(key).is_some_and(py_truthy)
    }

    /// `norestored`: skip this action for bans restored at start.
    pub fn norestored(&self) -> bool {
        self.prop_truthy("norestored")
    }

    /// Whether the action has an `actionflush` (otherwise the engine unbans
    /// each ticket).
    pub fn has_flush(&self) -> bool {
        self.prop_truthy("actionflush")
    }

    /// `actionrepair_on_unban`.
    pub fn repair_on_unban(&self) -> bool {
        self.prop_truthy("actionrepair_on_unban")
    }

    /// Whether the action has an `actionprolong` worth running.
    pub fn is_prolongable(&self) -> bool {
        self.props
            .get("actionprolong")
            .is_some_and(|v| py_truthy(v) && !py_str(v).chars().all(char::is_whitespace))
    }

    /// The ban epoch: incremented each time a broken environment was
    /// repaired, so the engine knows to re-ban older tickets.
    pub fn ban_epoch(&self) -> u64 {
        self.ban_epoch
    }

    /// fail2ban's `invalidateBanEpoch`: the action's epoch becomes the
    /// jail's plus one (the engine then stores it as the jail's epoch).
    pub fn invalidate_ban_epoch(&mut self, jail_epoch: u64) -> u64 {
        self.ban_epoch = jail_epoch + 1;
        self.ban_epoch
    }

    /// The timeout in seconds (the `timeout` property).
    pub fn timeout(&self) -> Value {
        self.props.get("timeout").cloned().unwrap_or(Value::Int(60))
    }

    /// Whether any family is started.
    pub fn is_started(&self) -> bool {
        self.started.iter().any(|(_, v)| *v != 0)
    }

    // ----- fail2ban's internal state helpers -----

    fn started_get(&self, family: &str) -> u8 {
        self.started
            .iter()
            .find(|(f, _)| f == family)
            .map_or(0, |(_, v)| *v)
    }

    fn started_has(&self, family: &str) -> bool {
        self.started.iter().any(|(f, _)| f == family)
    }

    fn started_set(&mut self, family: &str, v: u8) {
        match self.started.iter_mut().find(|(f, _)| f == family) {
            Some(slot) => slot.1 = v,
            None => self.started.push((family.to_string(), v)),
        }
    }

    /// Families whose state has all bits of `mask` (0: any started family),
    /// in the order they were first started.
    fn started_families(&self, mask: u8) -> Vec<String> {
        self.started
            .iter()
            .filter(|(_, v)| *v & mask == mask && *v != 0)
            .map(|(f, _)| f.clone())
            .collect()
    }

    /// Commands of `tag` run for families other than `family`.
    fn executed_elsewhere(&self, tag: &'static str, family: &str) -> Vec<&str> {
        self.executed.get(tag).map_or_else(Vec::new, |v| {
            v.iter()
                .filter(|(f, _)| f != family)
                .map(|(_, c)| c.as_str())
                .collect()
        })
    }

    /// Records (or with `None` forgets, together with every family that ran
    /// the same command) what `tag` ran for `family`.
    fn executed_set(&mut self, tag: &'static str, family: &str, cmd: Option<String>) {
        let entry = self.executed.entry(tag).or_default();
        match cmd {
            Some(cmd) => match entry.iter_mut().find(|(f, _)| f == family) {
                Some(slot) => slot.1 = cmd,
                None => entry.push((family.to_string(), cmd)),
            },
            None => {
                if let Some(i) = entry.iter().position(|(f, _)| f == family) {
                    let (_, cmd) = entry.remove(i);
                    entry.retain(|(_, c)| *c != cmd);
                }
            }
        }
    }

    fn has_cond_section(&self) -> bool {
        self.props.keys().any(|k| {
            k.split_once('?').is_some_and(|(name, rest)| {
                !name.is_empty()
                    && name.chars().all(|c| c.is_alphanumeric() || c == '_')
                    && rest.starts_with("family=")
            })
        })
    }

    fn families(&self) -> Vec<String> {
        if let Some(v) = self.props.get("families").filter(|v| py_truthy(v)) {
            return match v {
                Value::List(items) | Value::Tuple(items) => items.iter().map(py_str).collect(),
                other => py_str(other)
                    .split([' ', ',', '\n'])
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect(),
            };
        }
        if self.has_cond_section() {
            let mut v = vec!["inet4".to_string()];
            if self.ipv6_allowed {
                v.push("inet6".into());
            }
            v
        } else {
            vec![String::new()]
        }
    }

    /// Whether `actionstart` waits for the first ban of a family: the
    /// `actionstart_on_demand` property, or (fail2ban's auto mode) whether
    /// any option is conditional on the family.
    pub fn start_on_demand(&self) -> bool {
        match self.props.get("actionstart_on_demand") {
            Some(v) if *v != Value::None => py_truthy(v),
            _ => self.has_cond_section(),
        }
    }

    /// The properties with their own tags substituted, for a conditional.
    fn substituted(&mut self, cond: &str) -> Result<&Dict<Value>, ActionError> {
        if !self.subst_cache.contains_key(cond) {
            // fail2ban builds the properties from dir(), i.e. sorted by name.
            let mut pairs: Vec<(String, Value)> = self
                .props
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect();
            pairs.push(("banEpoch".into(), Value::Int(self.ban_epoch as i64)));
            pairs.sort_by(|a, b| a.0.cmp(&b.0));
            let props: Dict<Value> = pairs.into_iter().collect();
            let subst = substitute_properties(&props, cond)?;
            self.subst_cache.insert(cond.to_string(), subst);
        }
        Ok(&self.subst_cache[cond])
    }

    /// Phase 1 of substitution for an operation tag such as `<actionban>`.
    pub fn static_command(&mut self, tag: &str, family: &str) -> Result<String, ActionError> {
        let cond = conditional(family);
        let subst = self.substituted(&cond)?;
        replace_tag(tag, subst, &cond)
    }

    /// The complete command fail2ban would run for `tag` (such as
    /// `<actionban>`) with this ban information, without running it.
    pub fn command_for(&mut self, tag: &str, info: &BanInfo) -> Result<ShellCommand, ActionError> {
        let real = self.static_command(tag, family_key(info))?;
        Ok(replace_dynamic_tags(&real, info))
    }

    /// fail2ban's `_getOperation`: static tags plus `<family>`.
    fn get_operation(&mut self, tag: &str, family: &str) -> Result<String, ActionError> {
        let cmd = self.static_command(tag, family)?;
        if family.is_empty() || family == "None" || !cmd.contains('<') {
            return Ok(cmd);
        }
        Ok(replace_dynamic_tags(&cmd, &FamilyOnly(family))
            .script()
            .to_string())
    }

    fn exec(&self, cmd: &ShellCommand) -> bool {
        match &self.executor.0 {
            Some(f) => f(cmd, &self.timeout()),
            None => runner::execute(cmd, &self.timeout()).success,
        }
    }

    /// Runs commands with `executor` instead of `/bin/sh` from now on.
    pub fn set_executor(&mut self, executor: Executor) {
        self.executor = Exec(Some(executor));
    }

    fn execute_operation(
        &mut self,
        tag: &'static str,
        operation: &'static str,
        families: Option<Vec<String>>,
        after: After,
    ) -> Result<bool, ActionError> {
        let mut res = true;
        let mut cause = str_repr("Script error");
        let families = match families {
            Some(f) if !f.is_empty() => f,
            _ => self.started_families(0),
        };
        for family in families {
            let cmd = match self.get_operation(tag, &family) {
                Ok(cmd) => cmd,
                Err(e) => {
                    res = false;
                    cause = format!("ValueError({})", str_repr(&e.to_string()));
                    continue;
                }
            };
            let mut ret = true;
            if !cmd.is_empty()
                && !self
                    .executed_elsewhere(tag, &family)
                    .contains(&cmd.as_str())
            {
                let info = OperationInfo {
                    family: &family,
                    ban: BanInfo::for_operation(now(), self.jail_bantime),
                };
                ret = self.exec(&replace_dynamic_tags(&cmd, &info));
                res &= ret;
            }
            match after {
                After::Started if ret => {
                    self.executed_set("<actionstop>", &family, None);
                    self.started_set(&family, 1);
                }
                After::Stopped if ret => self.executed_set("<actionstart>", &family, None),
                After::Flushed if ret && self.started_get(&family) != 0 => {
                    let v = self.started_get(&family) & !2;
                    self.started_set(&family, v);
                }
                _ => {}
            }
            self.executed_set(tag, &family, ret.then_some(cmd));
        }
        if !res {
            return Err(ActionError::Operation {
                operation,
                jail: self.jail.clone(),
                name: self.name.clone(),
                cause,
            });
        }
        Ok(true)
    }

    /// Starts the action (`actionstart` for each family), unless it starts on
    /// demand at the first ban.
    pub fn start(&mut self) -> Result<bool, ActionError> {
        self.start_inner(None, false)
    }

    fn start_inner(&mut self, family: Option<&str>, force: bool) -> Result<bool, ActionError> {
        if self.start_on_demand() {
            if !force {
                return Ok(true);
            }
        } else if !force && family.is_some_and(|f| self.started_get(f) != 0) {
            return Ok(true);
        }
        let families = match family {
            Some(f) => vec![f.to_string()],
            None => self.families(),
        };
        self.execute_operation("<actionstart>", "starting", Some(families), After::Started)
    }

    /// Bans: starts the family on demand, runs `actionban` (checked and
    /// retried once on failure).
    pub fn ban(&mut self, info: &BanInfo) -> Result<(), ActionError> {
        self.ban_with("<actionban>", info)
    }

    /// Re-bans (`actionreban` if the action has one, else `actionban`).
    pub fn reban(&mut self, info: &BanInfo) -> Result<(), ActionError> {
        let tag = if self.prop_truthy("actionreban") {
            "<actionreban>"
        } else {
            "<actionban>"
        };
        self.ban_with(tag, info)
    }

    fn ban_with(&mut self, tag: &str, info: &BanInfo) -> Result<(), ActionError> {
        let family = family_key(info);
        if self.start_on_demand() && self.started_get(family) == 0 {
            self.start_inner(Some(family), true)?;
        }
        if !self.process_cmd(tag, info)? {
            return Err(ActionError::Ban {
                ip: info.ip.clone(),
            });
        }
        let v = self.started_get(family) | 3;
        self.started_set(family, v);
        Ok(())
    }

    /// Runs `actionprolong`.
    pub fn prolong(&mut self, info: &BanInfo) -> Result<(), ActionError> {
        if !self.process_cmd("<actionprolong>", info)? {
            return Err(ActionError::Prolong {
                ip: info.ip.clone(),
            });
        }
        Ok(())
    }

    /// Unbans, if this action banned anything in the address's family.
    pub fn unban(&mut self, info: &BanInfo) -> Result<(), ActionError> {
        if self.started_get(family_key(info)) & 2 != 0
            && !self.process_cmd("<actionunban>", info)?
        {
            return Err(ActionError::Unban {
                ip: info.ip.clone(),
            });
        }
        Ok(())
    }

    /// Runs `actionflush` for each family holding bans; `Ok(true)` when
    /// nothing needed flushing.
    pub fn flush(&mut self) -> Result<bool, ActionError> {
        let families = self.started_families(3);
        if families.is_empty() {
            return Ok(true);
        }
        self.execute_operation("<actionflush>", "flushing", Some(families), After::Flushed)
    }

    /// Runs `actionstop` for each started family and forgets them.
    pub fn stop(&mut self) -> Result<bool, ActionError> {
        let families = self.started_families(0);
        if families.is_empty() {
            return Ok(true);
        }
        self.started.clear();
        self.execute_operation("<actionstop>", "stopping", Some(families), After::Stopped)
    }

    fn stop_family(&mut self, family: &str) -> Result<bool, ActionError> {
        if !self.started_has(family) {
            return Ok(true);
        }
        self.started_set(family, 0);
        self.execute_operation(
            "<actionstop>",
            "stopping",
            Some(vec![family.to_string()]),
            After::Stopped,
        )
    }

    /// Runs `actionreload` for each started family.
    pub fn reload(&mut self) -> Result<bool, ActionError> {
        self.execute_operation("<actionreload>", "reloading", None, After::Nothing)
    }

    /// fail2ban's `consistencyCheck`: runs `actioncheck` for each started
    /// family and repairs; `before_repair` may veto the repair.
    pub fn consistency_check(
        &mut self,
        before_repair: Option<&dyn Fn() -> bool>,
    ) -> Result<bool, ActionError> {
        let mut ret = true;
        if self.prop_truthy("actioncheck") {
            for (family, started) in self.started.clone() {
                if started != 0 && self.invariant_check(&family, before_repair, true)? == 0 {
                    self.started_set(&family, 0);
                    self.executed_set("<actionstart>", &family, None);
                    ret = false;
                }
            }
        }
        Ok(ret)
    }

    /// fail2ban's `_invariantCheck`: 1 sane (or restored), 0 broken, -1 repair
    /// vetoed.
    fn invariant_check(
        &mut self,
        family: &str,
        before_repair: Option<&dyn Fn() -> bool>,
        force_start: bool,
    ) -> Result<i8, ActionError> {
        if !force_start && !self.started_has(family) {
            return Ok(1);
        }
        let check = ShellCommand::new(self.get_operation("<actioncheck>", family)?);
        if check.script().is_empty() || self.exec(&check) {
            return Ok(1);
        }
        if before_repair.is_some_and(|f| !f()) {
            return Ok(-1);
        }
        log::error!(target: TARGET, "Invariant check failed. Trying to restore a sane environment");
        self.ban_epoch += 1;
        let repair = ShellCommand::new(self.get_operation("<actionrepair>", family)?);
        if !repair.script().is_empty() {
            if !self.exec(&repair) {
                self.started_set(family, 0);
                log::error!(target: TARGET, "Unable to restore environment");
                return Ok(0);
            }
            self.started_set(family, 1);
        } else {
            // No repair command: restart the action. A failing stop does
            // not matter if the start and check succeed afterwards.
            let _ = self.stop_family(family);
            let force = force_start || !self.start_on_demand();
            self.start_inner(Some(family), force)?;
        }
        if self.started_get(family) != 0 && !self.exec(&check) {
            log::error!(target: TARGET, "Unable to restore environment");
            return Ok(0);
        }
        Ok(1)
    }

    /// fail2ban's `_processCmd`: run the command; if it fails, check (and
    /// repair) the environment and run it once more.
    fn process_cmd(&mut self, tag: &str, info: &BanInfo) -> Result<bool, ActionError> {
        let cmd = self.command_for(tag, info)?;
        if self.exec(&cmd) {
            return Ok(true);
        }
        self.retry_cmd(tag, info)
    }

    /// The second try of `_processCmd`, after the command failed once.
    fn retry_cmd(&mut self, tag: &str, info: &BanInfo) -> Result<bool, ActionError> {
        let family = family_key(info);
        if self.prop_truthy("actioncheck") {
            let unban_without_repair = tag == "<actionunban>" && !self.repair_on_unban();
            let veto = || {
                if unban_without_repair {
                    log::error!(target: TARGET, "Invariant check failed. Unban is impossible.");
                    return false;
                }
                true
            };
            if self.invariant_check(family, Some(&veto), tag != "<actionunban>")? != 1 {
                return Ok(false);
            }
        }
        let cmd = self.command_for(tag, info)?;
        Ok(self.exec(&cmd))
    }

    /// Bans several addresses at once, with the same effect per address as
    /// [`Action::ban`]: families are started on demand first (so
    /// `actionstart` completes before any ban), then the `actionban`
    /// commands run up to `workers` at a time, and a failed one goes
    /// through fail2ban's check, repair and second try, one after the
    /// other. Results are in the order of `infos`.
    pub fn ban_many(&mut self, infos: &[&BanInfo], workers: usize) -> Vec<Result<(), ActionError>> {
        let mut results: Vec<Result<(), ActionError>> = infos.iter().map(|_| Ok(())).collect();
        let mut jobs: Vec<(usize, ShellCommand)> = Vec::new();
        for (i, info) in infos.iter().enumerate() {
            let family = family_key(info);
            if self.start_on_demand() && self.started_get(family) == 0 {
                if let Err(e) = self.start_inner(Some(family), true) {
                    results[i] = Err(e);
                    continue;
                }
            }
            match self.command_for("<actionban>", info) {
                Ok(cmd) => jobs.push((i, cmd)),
                Err(e) => results[i] = Err(e),
            }
        }
        let done = self.exec_all(&jobs, workers);
        for ((i, _), ok) in jobs.iter().zip(done) {
            let info = infos[*i];
            let ok = if ok {
                Ok(true)
            } else {
                self.retry_cmd("<actionban>", info)
            };
            match ok {
                Ok(true) => {
                    let family = family_key(info);
                    let v = self.started_get(family) | 3;
                    self.started_set(family, v);
                }
                Ok(false) => {
                    results[*i] = Err(ActionError::Ban {
                        ip: info.ip.clone(),
                    })
                }
                Err(e) => results[*i] = Err(e),
            }
        }
        results
    }

    /// Unbans several addresses at once, with the same effect per address
    /// as [`Action::unban`] (nothing for a family that holds no ban): the
    /// `actionunban` commands run up to `workers` at a time, and a failed
    /// one goes through fail2ban's check and second try, one after the
    /// other. Results are in the order of `infos`.
    pub fn unban_many(
        &mut self,
        infos: &[&BanInfo],
        workers: usize,
    ) -> Vec<Result<(), ActionError>> {
        let mut results: Vec<Result<(), ActionError>> = infos.iter().map(|_| Ok(())).collect();
        let mut jobs: Vec<(usize, ShellCommand)> = Vec::new();
        for (i, info) in infos.iter().enumerate() {
            if self.started_get(family_key(info)) & 2 == 0 {
                continue;
            }
            match self.command_for("<actionunban>", info) {
                Ok(cmd) => jobs.push((i, cmd)),
                Err(e) => results[i] = Err(e),
            }
        }
        let done = self.exec_all(&jobs, workers);
        for ((i, _), ok) in jobs.iter().zip(done) {
            let info = infos[*i];
            let ok = if ok {
                Ok(true)
            } else {
                self.retry_cmd("<actionunban>", info)
            };
            match ok {
                Ok(true) => {}
                Ok(false) => {
                    results[*i] = Err(ActionError::Unban {
                        ip: info.ip.clone(),
                    })
                }
                Err(e) => results[*i] = Err(e),
            }
        }
        results
    }

    /// Runs the commands up to `workers` at a time; whether each succeeded.
    fn exec_all(&self, jobs: &[(usize, ShellCommand)], workers: usize) -> Vec<bool> {
        let workers = workers.clamp(1, jobs.len().max(1));
        if workers == 1 {
            return jobs.iter().map(|(_, cmd)| self.exec(cmd)).collect();
        }
        let executor = &self.executor;
        let timeout = self.timeout();
        let next = std::sync::atomic::AtomicUsize::new(0);
        let done: Vec<std::sync::atomic::AtomicBool> = jobs
            .iter()
            .map(|_| std::sync::atomic::AtomicBool::new(false))
            .collect();
        std::thread::scope(|s| {
            for _ in 0..workers {
                s.spawn(|| loop {
                    let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some((_, cmd)) = jobs.get(k) else { break };
                    let ok = match &executor.0 {
                        Some(f) => f(cmd, &timeout),
                        None => runner::execute(cmd, &timeout).success,
                    };
                    done[k].store(ok, std::sync::atomic::Ordering::Relaxed);
                });
            }
        });
        done.into_iter().map(|d| d.into_inner()).collect()
    }
}
