//! `<tag>` substitution as fail2ban's `substituteRecursiveTags` does it when
//! the configuration is read: tags defined among the options are replaced,
//! recursively and including nested names such as `<ipt_<type>/_chain_rule>`;
//! unknown tags (`<ip>`, `<F-USER>`, `<matches>` …) stay for ban time.

use super::dict::Dict;
use super::error::{ConfigError, ErrorKind};
use crate::stream::Value;
use std::collections::{HashMap, HashSet};

/// fail2ban's `MAX_TAG_REPLACE_COUNT`.
const MAX_TAG_REPLACE_COUNT: usize = 25;

/// Finds the next `<name>` (name without spaces or angle brackets) at or
/// after `from`; returns (start, end, name).
pub fn find_tag(s: &str, from: usize) -> Option<(usize, usize, &str)> {
    let mut pos = from;
    while let Some(off) = s.get(pos..)?.find('<') {
        let start = pos + off;
        let rest = &s[start + 1..];
        let len = rest.find([' ', '<', '>']).unwrap_or(rest.len());
        if len > 0 && rest[len..].starts_with('>') {
            return Some((start, start + 1 + len + 1, &rest[..len]));
        }
        pos = start + 1;
    }
    None
}

/// Python's `str()` of an option value.
pub fn py_str(v: &Value) -> String {
    match v {
        Value::Str(s) => s.clone(),
        Value::None => "None".into(),
        other => other.to_string(),
    }
}

/// Replaces tags within the values of `tags` by other values of `tags` (or by
/// what `extra` finds for names that are not there), until nothing changes.
pub fn substitute_recursive_tags(
    input: &Dict<Value>,
    conditional: &str,
    ignore: &HashSet<String>,
    mut extra: impl FnMut(&str) -> Result<Option<String>, ConfigError>,
) -> Result<Dict<Value>, ConfigError> {
    let mut tags = input.clone();
    let mut done: HashSet<String> = HashSet::new();
    let mut rep_counts: HashMap<String, HashMap<String, usize>> = HashMap::new();
    let names: Vec<String> = tags.keys().map(str::to_string).collect();
    loop {
        let mut repeat = false;
        for tag in &names {
            if ignore.contains(tag) || done.contains(tag) {
                continue;
            }
            let orig = py_str(tags.get(tag).unwrap());
            let mut value = orig.clone();
            let mut counts = rep_counts.get(tag).cloned().unwrap_or_default();
            let mut m = find_tag(&value, 0).map(|(s, e, n)| (s, e, n.to_string()));
            while let Some((start, end, rtag)) = m {
                if ignore.contains(&rtag) {
                    m = find_tag(&value, end).map(|(s, e, n)| (s, e, n.to_string()));
                    continue;
                }
                if rtag == *tag || counts.get(&rtag).copied().unwrap_or(1) > MAX_TAG_REPLACE_COUNT {
                    return Err(ConfigError::new(ErrorKind::RecursiveTags {
                        tag: tag.clone(),
                        found: rtag,
                    }));
                }
                let mut repl = None;
                if !conditional.is_empty() {
                    repl = tags.get(&format!("{rtag}?{conditional}")).map(py_str);
                }
                if repl.is_none() {
                    repl = match tags.get(&rtag) {
                        Some(v) => Some(py_str(v)),
                        None => extra(&rtag)?,
                    };
                }
                let Some(repl) = repl else {
                    m = find_tag(&value, end).map(|(s, e, n)| (s, e, n.to_string()));
                    continue;
                };
                value = value.replace(&format!("<{rtag}>"), &repl);
                *counts.entry(rtag).or_insert(0) += 1;
                m = find_tag(&value, start).map(|(s, e, n)| (s, e, n.to_string()));
            }
            if orig != value {
                if find_tag(&value, 0).is_some() {
                    rep_counts.insert(tag.clone(), counts);
                    repeat = true;
                }
                tags.insert(tag.clone(), Value::Str(value.clone()));
            }
            if !value.contains('<') {
                done.insert(tag.clone());
            }
        }
        if !repeat {
            return Ok(tags);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dict(pairs: &[(&str, &str)]) -> Dict<Value> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Value::str(*v)))
            .collect()
    }

    fn sub(pairs: &[(&str, &str)]) -> Result<Dict<Value>, ConfigError> {
        substitute_recursive_tags(&dict(pairs), "", &HashSet::new(), |_| Ok(None))
    }

    #[test]
    fn replaces_recursively_and_keeps_unknown_tags() {
        let t = sub(&[("a", "3"), ("b", "<a>_3 <ip>"), ("c", "<b>!")]).unwrap();
        assert_eq!(t.get("b"), Some(&Value::str("3_3 <ip>")));
        assert_eq!(t.get("c"), Some(&Value::str("3_3 <ip>!")));
    }

    #[test]
    fn nested_tag_names_resolve() {
        let t = sub(&[("type", "m"), ("x_m", "MULTI"), ("rule", "<x_<type>>")]).unwrap();
        assert_eq!(t.get("rule"), Some(&Value::str("MULTI")));
    }

    #[test]
    fn self_reference_is_an_error() {
        let e = sub(&[("a", "<b>"), ("b", "<a>x")]).unwrap_err();
        assert!(e.to_string().contains("loop"), "{e}");
    }

    #[test]
    fn finds_tags_like_python() {
        assert_eq!(find_tag("a <b c> <d>", 0).map(|t| t.2), Some("d"));
        assert_eq!(find_tag("<<x>>", 0).map(|t| (t.0, t.2)), Some((1, "x")));
        assert_eq!(find_tag("<>", 0), None);
    }
}
