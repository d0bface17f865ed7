//! [`JailActions`]: the ordered actions of one jail, built and changed by
//! the stream's action lines, as fail2ban's `Actions.add` and the
//! transmitter's `set … action …` do.

use super::command::{Action, ActionBuilder};
use super::commands::{parse_action_command, ActionCommand};
use super::error::ActionError;
use crate::stream::Value;

/// The actions of one jail, in the order they were added.
#[derive(Clone, Debug)]
pub struct JailActions {
    jail: String,
    actions: Vec<Action>,
    ipv6_allowed: Option<bool>,
    bantime: i64,
    /// During a reload: the actions the new stream added again.
    reloading: Option<Vec<String>>,
    /// Python actions refused once; later lines about them are ignored so
    /// the refusal is reported in one line.
    unsupported: Vec<String>,
}

impl JailActions {
    pub fn new(jail: impl Into<String>) -> JailActions {
        JailActions {
            jail: jail.into(),
            actions: Vec::new(),
            ipv6_allowed: None,
            bantime: 600,
            reloading: None,
            unsupported: Vec::new(),
        }
    }

    /// `allowipv6` for actions created from now on.
    pub fn set_ipv6_allowed(&mut self, yes: bool) {
        self.ipv6_allowed = Some(yes);
    }

    /// The jail's ban time (shown as `<bantime>` in start/stop commands).
    pub fn set_bantime(&mut self, seconds: i64) {
        self.bantime = seconds;
        for a in &mut self.actions {
            a.set_jail_bantime(seconds);
        }
    }

    pub fn jail(&self) -> &str {
        &self.jail
    }

    /// Applies one parsed command for this jail.
    pub fn apply(&mut self, cmd: &ActionCommand) -> Result<(), ActionError> {
        match cmd {
            ActionCommand::Add { name, .. } => {
                if let (Some(seen), Some(i)) = (
                    self.reloading.as_mut(),
                    self.actions.iter().position(|a| a.name() == name),
                ) {
                    // fail2ban keeps the action (and what it started) and
                    // only resets its commands; the stream sets them again.
                    self.actions[i].clear_all_params();
                    seen.push(name.clone());
                    return Ok(());
                }
                if self.get(name).is_some() {
                    return Err(ActionError::AlreadyExists {
                        jail: self.jail.clone(),
                        name: name.clone(),
                    });
                }
                let mut b = ActionBuilder::new(self.jail.clone(), name.clone());
                b.jail_bantime(self.bantime);
                if let Some(yes) = self.ipv6_allowed {
                    b.ipv6_allowed(yes);
                }
                self.actions.push(b.build()?);
                if let Some(seen) = self.reloading.as_mut() {
                    seen.push(name.clone());
                }
                Ok(())
            }
            ActionCommand::Delete { name, .. } | ActionCommand::Set { name, .. }
                if self.unsupported.contains(name) =>
            {
                Ok(())
            }
            ActionCommand::Delete { name, .. } => self.remove(name).map(|_| ()),
            ActionCommand::Set { name, options, .. } => {
                let action = self.get_mut(name)?;
                for (k, v) in options {
                    action.set(k, v.clone())?;
                }
                Ok(())
            }
        }
    }

    /// Starts a reload (fail2ban's `Actions.reload(begin=True)`): actions
    /// added again by the stream that follows keep their state and only get
    /// their properties reset and set again.
    pub fn begin_reload(&mut self) {
        self.reloading = Some(Vec::new());
    }

    /// Ends a reload (`Actions.reload(begin=False)`): runs `actionreload` of
    /// every action the stream kept, and removes the others, which are
    /// returned so the engine can unban their tickets and stop them, as
    /// fail2ban does. Errors of `actionreload` are returned with the action
    /// name.
    pub fn end_reload(&mut self) -> (Vec<Action>, Vec<(String, ActionError)>) {
        let Some(kept) = self.reloading.take() else {
            return (Vec::new(), Vec::new());
        };
        let mut errors = Vec::new();
        let mut removed = Vec::new();
        let mut i = 0;
        while i < self.actions.len() {
            if kept.iter().any(|k| k == self.actions[i].name()) {
                if let Err(e) = self.actions[i].reload() {
                    errors.push((self.actions[i].name().to_string(), e));
                }
                i += 1;
            } else {
                removed.push(self.actions.remove(i));
            }
        }
        (removed, errors)
    }

    /// Applies a stream line if it is an action line for this jail;
    /// `Ok(false)` when it is not.
    pub fn apply_line(&mut self, line: &Value) -> Result<bool, ActionError> {
        match parse_action_command(line) {
            Ok(Some(cmd)) if cmd.jail() == self.jail => self.apply(&cmd).map(|_| true),
            Ok(_) => Ok(false),
            Err(ActionError::PythonUnsupported { jail, name, path }) if jail == self.jail => {
                if !self.unsupported.contains(&name) {
                    self.unsupported.push(name.clone());
                }
                Err(ActionError::PythonUnsupported { jail, name, path })
            }
            Err(ActionError::PythonUnsupported { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    pub fn get(&self, name: &str) -> Option<&Action> {
        self.actions.iter().find(|a| a.name() == name)
    }

    /// The action, or fail2ban's "Invalid Action name" error.
    pub fn get_mut(&mut self, name: &str) -> Result<&mut Action, ActionError> {
        let jail = self.jail.clone();
        self.actions
            .iter_mut()
            .find(|a| a.name() == name)
            .ok_or(ActionError::UnknownAction {
                jail,
                name: name.to_string(),
            })
    }

    /// Removes an action (without stopping it).
    pub fn remove(&mut self, name: &str) -> Result<Action, ActionError> {
        match self.actions.iter().position(|a| a.name() == name) {
            Some(i) => Ok(self.actions.remove(i)),
            None => Err(ActionError::UnknownAction {
                jail: self.jail.clone(),
                name: name.to_string(),
            }),
        }
    }

    pub fn names(&self) -> Vec<&str> {
        self.actions.iter().map(Action::name).collect()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Action> {
        self.actions.iter()
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Action> {
        self.actions.iter_mut()
    }

    pub fn len(&self) -> usize {
        self.actions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command;

    #[test]
    fn builds_from_stream_lines() {
        let mut j = JailActions::new("sshd");
        assert!(j
            .apply_line(&command!["set", "sshd", "addaction", "a"])
            .unwrap());
        assert!(!j
            .apply_line(&command!["set", "other", "addaction", "a"])
            .unwrap());
        assert!(j
            .apply_line(&command![
                "set",
                "sshd",
                "action",
                "a",
                "actionban",
                "echo <ip>"
            ])
            .unwrap());
        assert_eq!(
            j.get("a").unwrap().get("actionban"),
            Some(Value::str("echo <ip>"))
        );
        let e = j
            .apply_line(&command!["set", "sshd", "addaction", "a"])
            .unwrap_err();
        assert_eq!(e.to_string(), "Action a already exists");
        let e = j
            .apply_line(&command!["set", "sshd", "action", "zz", "k", "v"])
            .unwrap_err();
        assert_eq!(e.to_string(), "Invalid Action name: zz");
        j.apply_line(&command!["set", "sshd", "delaction", "a"])
            .unwrap();
        assert!(j.is_empty());
    }

    #[test]
    fn a_python_action_is_refused_once() {
        let mut j = JailActions::new("mail");
        let e = j
            .apply_line(&command![
                "set",
                "mail",
                "addaction",
                "smtp",
                "/etc/fail2ban/action.d/smtp.py",
                "{}"
            ])
            .unwrap_err();
        assert!(matches!(e, ActionError::PythonUnsupported { .. }));
        assert!(j
            .apply_line(&command!["set", "mail", "action", "smtp", "dest", "root"])
            .unwrap());
        assert!(j.is_empty());
        // Another jail's Python action is not this jail's business.
        assert!(!j
            .apply_line(&command!["set", "x", "addaction", "smtp", "/a.py", "{}"])
            .unwrap());
    }

    #[test]
    fn reload_keeps_re_added_actions_and_removes_the_others() {
        let mut j = JailActions::new("sshd");
        for line in [
            command!["set", "sshd", "addaction", "keep"],
            command!["set", "sshd", "action", "keep", "port", "22"],
            command!["set", "sshd", "action", "keep", "actionban", "true"],
            command!["set", "sshd", "addaction", "gone"],
        ] {
            j.apply_line(&line).unwrap();
        }
        j.begin_reload();
        j.apply_line(&command!["set", "sshd", "addaction", "keep"])
            .unwrap();
        j.apply_line(&command!["set", "sshd", "addaction", "new"])
            .unwrap();
        let keep = j.get("keep").unwrap();
        assert_eq!(keep.get("actionban"), Some(Value::str("")));
        assert_eq!(keep.get("port"), Some(Value::str("22")));
        let (removed, errors) = j.end_reload();
        assert!(errors.is_empty());
        assert_eq!(
            removed.iter().map(Action::name).collect::<Vec<_>>(),
            ["gone"]
        );
        assert_eq!(j.names(), ["keep", "new"]);
    }
}
