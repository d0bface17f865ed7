//! Tag substitution at execution time, as fail2ban's `CommandAction` does it
//! in two phases:
//!
//! 1. [`replace_tag`]: static tags, from the action's own properties
//!    (substituted recursively among themselves first, with `KEY?family=…`
//!    variants preferred for the ticket's family), plus `<br>`, `<sp>`,
//!    `<fq-hostname>`, `<sh-hostname>`; repeated while anything changes.
//! 2. [`replace_dynamic_tags`]: ban information, in one pass, never
//!    recursive, and every value that contains a shell metacharacter goes
//!    into a shell variable instead of the script (see [`super::escape`]);
//!    then `<F-NAME>` filter captures, the same way (missing ones become
//!    empty).

use super::error::ActionError;
use super::escape::{escape_tag, is_shell_special, var_name, ShellCommand};
use super::info::{additional_tag, capture_key, BanInfo};
use crate::config::dict::Dict;
use crate::config::tags::{find_tag, py_str, substitute_recursive_tags};
use crate::stream::Value;
use std::collections::HashSet;

/// fail2ban's `MAX_TAG_REPLACE_COUNT`.
const MAX_TAG_REPLACE_COUNT: usize = 25;

/// Properties fail2ban escapes when they are substituted statically
/// (`CommandAction._escapedTags`).
pub const ESCAPED_TAGS: [&str; 3] = ["matches", "ipmatches", "ipjailmatches"];

/// Python's `TAG_CRE.sub(f, s)`: every `<name>` replaced by `f(name)`, or
/// left as it is when `f` returns `None`.
fn sub_tags(s: &str, mut f: impl FnMut(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(s.len());
    let mut pos = 0;
    while let Some((start, end, name)) = find_tag(s, pos) {
        out.push_str(&s[pos..start]);
        match f(name) {
            Some(v) => out.push_str(&v),
            None => out.push_str(&s[start..end]),
        }
        pos = end;
    }
    out.push_str(&s[pos..]);
    out
}

/// The conditional suffix for a family: `family=inet6`, or empty.
pub fn conditional(family: &str) -> String {
    if family.is_empty() || family == "None" {
        String::new()
    } else {
        format!("family={family}")
    }
}

/// The action's properties with tags among them substituted (what fail2ban
/// caches per conditional).
pub fn substitute_properties(
    props: &Dict<Value>,
    conditional: &str,
) -> Result<Dict<Value>, ActionError> {
    let ignore: HashSet<String> = ESCAPED_TAGS.iter().map(|s| s.to_string()).collect();
    substitute_recursive_tags(props, conditional, &ignore, |_| Ok(None)).map_err(|e| {
        ActionError::RecursiveTags {
            detail: format!(
                "properties contain self referencing definitions and cannot be resolved: {e}"
            ),
        }
    })
}

/// Phase 1 (`replaceTag`): `query` with the static tags of `subst` (already
/// passed through [`substitute_properties`]) replaced.
pub fn replace_tag(
    query: &str,
    subst: &Dict<Value>,
    conditional: &str,
) -> Result<String, ActionError> {
    if !query.contains('<') {
        return Ok(query.to_string());
    }
    let lookup = |tag: &str| -> Option<String> {
        let mut value = None;
        if !conditional.is_empty() {
            value = subst.get(&format!("{tag}?{conditional}"));
        }
        if value.is_none() {
            value = subst.get(tag);
        }
        // Python tests `is None`, so a None-valued property counts as absent.
        let value = match value {
            Some(Value::None) | None => return additional_tag(tag),
            Some(v) => py_str(v),
        };
        Some(if ESCAPED_TAGS.contains(&tag) {
            escape_tag(&value)
        } else {
            value
        })
    };
    let mut query = query.to_string();
    let mut count = MAX_TAG_REPLACE_COUNT + 1;
    loop {
        let value = sub_tags(&query, lookup);
        if value == query || !value.contains('<') {
            return Ok(value);
        }
        query = value;
        count -= 1;
        if count == 0 {
            return Err(ActionError::RecursiveTags {
                detail: format!(
                    "unexpected too long replacement interpolation, possible self referencing definitions in query: {query}"
                ),
            });
        }
    }
}

/// Where dynamic tags come from: a ban, or just the family for operations.
pub trait DynamicTags {
    /// A tag's value (`ip`, `matches`, …), `None` if unknown.
    fn tag(&self, tag: &str) -> Option<String>;
    /// A filter capture by ticket data key, `None` if the ticket has none.
    fn capture(&self, key: &str) -> Option<String>;
}

impl DynamicTags for BanInfo {
    fn tag(&self, tag: &str) -> Option<String> {
        BanInfo::tag(self, tag)
    }
    fn capture(&self, key: &str) -> Option<String> {
        BanInfo::capture(self, key)
    }
}

/// Only `<family>` (fail2ban's `{'family': family}` in `_getOperation`).
pub struct FamilyOnly<'a>(pub &'a str);

impl DynamicTags for FamilyOnly<'_> {
    fn tag(&self, tag: &str) -> Option<String> {
        (tag == "family").then(|| self.0.to_string())
    }
    fn capture(&self, _key: &str) -> Option<String> {
        None
    }
}

/// Phase 2 (`replaceDynamicTags`): one non-recursive pass over `cmd`.
/// Values with shell metacharacters become `$f2bV_<tag>` variables.
pub fn replace_dynamic_tags(cmd: &str, info: &dyn DynamicTags) -> ShellCommand {
    let mut vars: Vec<(String, String)> = Vec::new();
    let mut escape_val = |tag: &str, value: String| -> String {
        if value.chars().any(is_shell_special) {
            let name = var_name(tag);
            let reference = format!("${name}");
            match vars.iter_mut().find(|(n, _)| *n == name) {
                Some(slot) => slot.1 = value,
                None => vars.push((name, value)),
            }
            reference
        } else {
            value
        }
    };
    let mut script = sub_tags(cmd, |tag| match info.tag(tag) {
        Some(v) => Some(escape_val(tag, v)),
        None => additional_tag(tag),
    });
    if script.contains('<') {
        script = sub_captures(&script, |name| {
            let key = capture_key(name);
            match info.capture(&key) {
                Some(v) => escape_val(&format!("F_{key}"), v),
                None => String::new(),
            }
        });
    }
    let mut out = ShellCommand::new(script);
    for (n, v) in vars {
        out.set_var(n, v);
    }
    out
}

/// Python's `FCUSTAG_CRE.sub`: `<F-NAME>` with NAME of `[A-Z0-9_-]+`.
fn sub_captures(s: &str, mut f: impl FnMut(&str) -> String) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("<F-") {
        let after = &rest[i + 3..];
        let len = after
            .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_' || c == '-'))
            .unwrap_or(after.len());
        if len > 0 && after[len..].starts_with('>') {
            out.push_str(&rest[..i]);
            out.push_str(&f(&after[..len]));
            rest = &after[len + 1..];
        } else {
            out.push_str(&rest[..i + 1]);
            rest = &rest[i + 1..];
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> Dict<Value> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Value::str(*v)))
            .collect()
    }

    fn static_cmd(pairs: &[(&str, &str)], query: &str, cond: &str) -> String {
        let p = props(pairs);
        let s = substitute_properties(&p, cond).unwrap();
        replace_tag(query, &s, cond).unwrap()
    }

    #[test]
    fn static_tags_recursive_and_conditional() {
        let p = [
            ("iptables", "iptables <lockingopt>"),
            ("lockingopt", "-w"),
            ("iptables?family=inet6", "ip6tables <lockingopt>"),
            ("actionban", "<iptables> -I f2b 1 -s <ip> -j DROP"),
        ];
        assert_eq!(
            static_cmd(&p, "<actionban>", ""),
            "iptables -w -I f2b 1 -s <ip> -j DROP"
        );
        assert_eq!(
            static_cmd(&p, "<actionban>", "family=inet6"),
            "ip6tables -w -I f2b 1 -s <ip> -j DROP"
        );
    }

    #[test]
    fn br_sp_and_unknown_tags() {
        assert_eq!(
            static_cmd(&[], "a<br>b<sp>c <known/chain>", ""),
            "a\nb c <known/chain>"
        );
    }

    #[test]
    fn escaped_properties() {
        assert_eq!(
            static_cmd(&[("matches", "a;b")], "echo <matches>", ""),
            "echo a\\;b"
        );
    }

    #[test]
    fn self_reference_is_an_error() {
        let p = props(&[("a", "<a>")]);
        assert!(substitute_properties(&p, "").is_err());
        // a loop built through the query only:
        let s = props(&[("x", "<y>y"), ("y", "<x>x")]);
        assert!(replace_tag("<x>", &s, "").is_err());
    }

    #[test]
    fn dynamic_values_with_metacharacters_become_variables() {
        let b = BanInfo::new("192.0.2.1", 0.0, 600).with_data("user", "$(reboot)");
        let c = replace_dynamic_tags("ban <ip> user <F-USER> miss=<F-NOPE> <x>", &b);
        assert_eq!(c.script(), "ban 192.0.2.1 user $f2bV_F_user miss= <x>");
        assert_eq!(
            c.vars(),
            &[("f2bV_F_user".to_string(), "$(reboot)".to_string())]
        );
    }

    #[test]
    fn captures_need_upper_case_names() {
        let b = BanInfo::new("1.2.3.4", 0.0, 1).with_data("user", "u");
        assert_eq!(
            replace_dynamic_tags("<F-user>|<F-USER>|<F->", &b).script(),
            "<F-user>|u|<F->"
        );
    }
}
