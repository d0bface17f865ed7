//! Keeping values taken from log lines away from the shell, as fail2ban does.
//!
//! Two mechanisms, both fail2ban's:
//! - [`escape_tag`] backslash-escapes shell metacharacters; fail2ban uses it
//!   for `<matches>`, `<ipmatches>` and `<ipjailmatches>` when they are
//!   action *properties* (static substitution).
//! - [`ShellCommand`]: at ban time every dynamic value that contains a
//!   metacharacter is not pasted into the script at all; the script refers to
//!   a shell variable `$f2bV_<tag>` instead, assigned from a positional
//!   argument of `/bin/sh -c SCRIPT ARG0 ARG1 …` (fail2ban's
//!   `Utils.buildShellCmd`), so the shell never parses the value.

use crate::stream::{str_repr, Value};
use std::fmt;

/// The characters fail2ban's `ESCAPE_CRE` matches.
pub fn is_shell_special(c: char) -> bool {
    matches!(
        c,
        '\\' | '#'
            | '&'
            | ';'
            | '`'
            | '|'
            | '*'
            | '?'
            | '~'
            | '<'
            | '>'
            | '^'
            | '('
            | ')'
            | '['
            | ']'
            | '{'
            | '}'
            | '$'
            | '\''
            | '"'
            | '\n'
            | '\r'
    )
}

/// fail2ban's `CommandAction.escapeTag`: a backslash before each special
/// character, newlines and carriage returns as `\n` and `\r`.
pub fn escape_tag(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if is_shell_special(c) {
            out.push('\\');
            out.push(match c {
                '\n' => 'n',
                '\r' => 'r',
                c => c,
            });
        } else {
            out.push(c);
        }
    }
    out
}

/// fail2ban's variable name for a tag: `f2bV_` and the tag with every
/// non-word character replaced by `_`.
pub fn var_name(tag: &str) -> String {
    let mut name = String::from("f2bV_");
    name.extend(tag.chars().map(|c| {
        if c.is_alphanumeric() || c == '_' {
            c
        } else {
            '_'
        }
    }));
    name
}

/// A shell script plus the values it receives as variables.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ShellCommand {
    script: String,
    /// (variable, value) in first-use order, as a Python dict keeps them.
    vars: Vec<(String, String)>,
}

impl ShellCommand {
    /// A script without variables.
    pub fn new(script: impl Into<String>) -> ShellCommand {
        ShellCommand {
            script: script.into(),
            vars: Vec::new(),
        }
    }

    /// Adds (or replaces the value of) a variable.
    pub fn set_var(&mut self, name: String, value: String) {
        match self.vars.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.vars.push((name, value)),
        }
    }

    /// The script with substituted tags, before the variable assignments.
    pub fn script(&self) -> &str {
        &self.script
    }

    pub fn script_mut(&mut self) -> &mut String {
        &mut self.script
    }

    /// The variables, in order.
    pub fn vars(&self) -> &[(String, String)] {
        &self.vars
    }

    pub fn is_empty(&self) -> bool {
        self.script.is_empty() && self.vars.is_empty()
    }

    /// The argument vector after `/bin/sh -c`: the script, prefixed with
    /// `v0=$0 v1=$1 \n` when there are variables, then their values.
    pub fn sh_args(&self) -> Vec<String> {
        if self.vars.is_empty() {
            return vec![self.script.clone()];
        }
        let mut stat = String::new();
        for (i, (name, _)) in self.vars.iter().enumerate() {
            stat.push_str(&format!("{name}=${i} "));
        }
        let mut args = vec![format!("{stat}\n{}", self.script)];
        args.extend(self.vars.iter().map(|(_, v)| v.clone()));
        args
    }
}

/// How fail2ban logs the command: the script itself, or (with variables)
/// Python's repr of the argument list.
impl fmt::Display for ShellCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.vars.is_empty() {
            return f.write_str(&self.script);
        }
        let list = Value::List(self.sh_args().into_iter().map(Value::Str).collect());
        write!(f, "{list}")
    }
}

impl ShellCommand {
    /// Python's `%r` of the command (used in the exit-code 127 hint).
    pub fn repr(&self) -> String {
        if self.vars.is_empty() {
            str_repr(&self.script)
        } else {
            self.to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_every_metacharacter() {
        assert_eq!(escape_tag("a;b"), "a\\;b");
        assert_eq!(escape_tag("$(x)\n"), "\\$\\(x\\)\\n");
        assert_eq!(escape_tag("plain text 1.2"), "plain text 1.2");
        assert_eq!(escape_tag("\r'\""), "\\r\\'\\\"");
    }

    #[test]
    fn variable_names_keep_word_characters() {
        assert_eq!(var_name("F_user"), "f2bV_F_user");
        assert_eq!(var_name("ip-rev"), "f2bV_ip_rev");
        assert_eq!(var_name("jail.banned"), "f2bV_jail_banned");
    }

    #[test]
    fn builds_the_argument_vector_like_build_shell_cmd() {
        let mut c = ShellCommand::new("echo \"$v2 $v1\"");
        c.set_var("v1".into(), "val 1".into());
        c.set_var("v2".into(), "val 2".into());
        assert_eq!(
            c.sh_args(),
            vec!["v1=$0 v2=$1 \necho \"$v2 $v1\"", "val 1", "val 2"]
        );
        assert_eq!(
            c.to_string(),
            "['v1=$0 v2=$1 \\necho \"$v2 $v1\"', 'val 1', 'val 2']"
        );
        assert_eq!(ShellCommand::new("ls").sh_args(), vec!["ls"]);
    }
}
