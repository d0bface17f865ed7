//! Python's `pprint.pformat(obj, width=1000, indent=2)`, which
//! `fail2ban-client --dp` uses to print each command.

use crate::stream::{str_repr, Value};

const WIDTH: usize = 1000;
const INDENT: usize = 2;

fn len(s: &str) -> usize {
    s.chars().count()
}

/// Formats one value as pprint does at the top level.
pub fn pformat(v: &Value) -> String {
    let mut out = String::new();
    format(v, &mut out, 0, 0, 0);
    out
}

fn format(v: &Value, out: &mut String, indent: usize, allowance: usize, level: usize) {
    let rep = v.to_string();
    let max_width = WIDTH.saturating_sub(indent + allowance);
    if len(&rep) <= max_width {
        out.push_str(&rep);
        return;
    }
    match v {
        Value::List(items) if !items.is_empty() => {
            out.push('[');
            format_items(items, out, indent, allowance + 1, level + 1);
            out.push(']');
        }
        Value::Tuple(items) if !items.is_empty() => {
            out.push('(');
            format_items(items, out, indent, allowance + 1, level + 1);
            if items.len() == 1 {
                out.push(',');
            }
            out.push(')');
        }
        Value::Str(s) if !s.is_empty() => format_str(s, out, indent, allowance, level + 1),
        _ => out.push_str(&rep),
    }
}

fn format_items(items: &[Value], out: &mut String, indent: usize, allowance: usize, level: usize) {
    let indent = indent + INDENT;
    out.push_str(&" ".repeat(INDENT - 1));
    let delim_nl = format!(",\n{}", " ".repeat(indent));
    for (i, item) in items.iter().enumerate() {
        let last = i + 1 == items.len();
        if i > 0 {
            out.push_str(&delim_nl);
        }
        format(item, out, indent, if last { allowance } else { 1 }, level);
    }
}

/// Python's `str.splitlines(True)` for the separators that occur in practice.
fn split_lines_keep(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut chars = s.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let is_break = matches!(
            c,
            '\n' | '\r'
                | '\x0b'
                | '\x0c'
                | '\x1c'
                | '\x1d'
                | '\x1e'
                | '\u{85}'
                | '\u{2028}'
                | '\u{2029}'
        );
        if is_break {
            let mut end = i + c.len_utf8();
            if c == '\r' {
                if let Some(&(j, '\n')) = chars.peek() {
                    end = j + 1;
                    chars.next();
                }
            }
            out.push(&s[start..end]);
            start = end;
        }
    }
    if start < s.len() {
        out.push(&s[start..]);
    }
    out
}

/// `re.findall(r'\S*\s*', line)` without the final empty match.
fn words_with_space(line: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = line;
    while !rest.is_empty() {
        let word_end = rest
            .find(crate::config::ini::py_isspace)
            .unwrap_or(rest.len());
        let space_end = rest[word_end..]
            .find(|c: char| !crate::config::ini::py_isspace(c))
            .map_or(rest.len(), |i| word_end + i);
        out.push(&rest[..space_end]);
        rest = &rest[space_end..];
    }
    out
}

fn format_str(s: &str, out: &mut String, mut indent: usize, mut allowance: usize, level: usize) {
    let lines = split_lines_keep(s);
    if level == 1 {
        indent += 1;
        allowance += 1;
    }
    let max_width = WIDTH.saturating_sub(indent);
    let mut max_width1 = max_width;
    let mut chunks = Vec::new();
    let mut last_rep = String::new();
    for (i, line) in lines.iter().enumerate() {
        let rep = str_repr(line);
        if i + 1 == lines.len() {
            max_width1 = max_width1.saturating_sub(allowance);
        }
        if len(&rep) <= max_width1 {
            chunks.push(rep.clone());
        } else {
            let parts = words_with_space(line);
            let mut max_width2 = max_width;
            let mut current = String::new();
            for (j, part) in parts.iter().enumerate() {
                let candidate = format!("{current}{part}");
                if j + 1 == parts.len() && i + 1 == lines.len() {
                    max_width2 = max_width2.saturating_sub(allowance);
                }
                if len(&str_repr(&candidate)) > max_width2 {
                    if !current.is_empty() {
                        chunks.push(str_repr(&current));
                    }
                    current = part.to_string();
                } else {
                    current = candidate;
                }
            }
            if !current.is_empty() {
                chunks.push(str_repr(&current));
            }
        }
        last_rep = rep;
    }
    if chunks.len() == 1 {
        out.push_str(&last_rep);
        return;
    }
    if level == 1 {
        out.push('(');
    }
    for (i, c) in chunks.iter().enumerate() {
        if i > 0 {
            out.push('\n');
            out.push_str(&" ".repeat(indent));
        }
        out.push_str(c);
    }
    if level == 1 {
        out.push(')');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_values_print_as_repr() {
        let v = Value::List(vec![Value::str("set"), Value::Int(3)]);
        assert_eq!(pformat(&v), "['set', 3]");
    }

    #[test]
    fn long_lists_break_one_item_per_line() {
        let long = "x".repeat(600);
        let v = Value::List(vec![
            Value::str("a"),
            Value::Str(long.clone()),
            Value::Str(long.clone()),
        ]);
        let out = pformat(&v);
        assert_eq!(out, format!("[ 'a',\n  '{long}',\n  '{long}']"));
    }
}
