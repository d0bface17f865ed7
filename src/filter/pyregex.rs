//! Translation of Python `re` syntax into fancy-regex syntax.
//!
//! fail2ban's regexes are written for Python's `re` module. fancy-regex reads
//! most of them the same way; this module rewrites the constructs where the
//! two dialects differ, so that a translated pattern matches exactly what the
//! Python original matches (checked by replaying searches recorded from
//! fail2ban itself, see `tests/regex_replay.rs`).

use std::fmt;

/// Why a Python pattern could not be translated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranslateError {
    pub pattern: String,
    pub reason: String,
}

impl fmt::Display for TranslateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot translate regular expression {:?}: {}",
            self.pattern, self.reason
        )
    }
}

impl std::error::Error for TranslateError {}

/// Python's `\s` (str patterns) also matches the ASCII separators 0x1c-0x1f.
const PY_SPACE_CLASS_ITEMS: &str = r"\s\x1c-\x1f";
/// Python's `\w` (str patterns) is `str.isalnum()` plus underscore.
const PY_WORD_CLASS_ITEMS: &str = r"\p{L}\p{N}_";

/// Rewrites a Python regular expression into an equivalent fancy-regex one.
pub fn translate(pattern: &str) -> Result<String, TranslateError> {
    let fail = |reason: &str| TranslateError {
        pattern: pattern.to_string(),
        reason: reason.to_string(),
    };
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' => {
                let Some(&next) = chars.get(i + 1) else {
                    return Err(fail("it ends with a lone backslash"));
                };
                i += 2;
                match next {
                    'Z' => out.push_str(r"\z"),
                    // In Python these are plain literals, in fancy-regex word boundaries.
                    '<' | '>' => out.push(next),
                    's' => {
                        out.push('[');
                        out.push_str(PY_SPACE_CLASS_ITEMS);
                        out.push(']');
                    }
                    'S' => {
                        out.push_str("[^");
                        out.push_str(PY_SPACE_CLASS_ITEMS);
                        out.push(']');
                    }
                    'w' => {
                        out.push('[');
                        out.push_str(PY_WORD_CLASS_ITEMS);
                        out.push(']');
                    }
                    'W' => {
                        out.push_str("[^");
                        out.push_str(PY_WORD_CLASS_ITEMS);
                        out.push(']');
                    }
                    'u' | 'U' | 'x' => {
                        i = push_hex_escape(&chars, i, next, &mut out).map_err(|r| fail(&r))?;
                    }
                    '0' => {
                        // Python: \0 followed by up to two octal digits.
                        let mut value = 0u32;
                        let mut n = 0;
                        while n < 2 && chars.get(i).is_some_and(|d| ('0'..='7').contains(d)) {
                            value = value * 8 + chars[i].to_digit(8).unwrap_or(0);
                            i += 1;
                            n += 1;
                        }
                        out.push_str(&format!("\\x{{{value:x}}}"));
                    }
                    c if c.is_ascii_alphanumeric() => {
                        out.push('\\');
                        out.push(c);
                    }
                    c => push_literal(&mut out, c),
                }
            }
            '[' => {
                i = translate_class(&chars, i, &mut out).map_err(|r| fail(&r))?;
            }
            '{' => {
                if let Some((quantifier, end)) = python_quantifier(&chars, i) {
                    out.push_str(&quantifier);
                    i = end;
                } else {
                    out.push_str(r"\{");
                    i += 1;
                }
            }
            '}' => {
                out.push_str(r"\}");
                i += 1;
            }
            '(' if chars.get(i + 1) == Some(&'?') => {
                i = translate_group_opening(&chars, i, &mut out).map_err(|r| fail(&r))?;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(out)
}

/// Translates the digits of a `\\xHH`, `\\uHHHH` or `\\UHHHHHHHH` escape
/// (`kind` is the letter, `start` the first digit); returns the index after them.
fn push_hex_escape(
    chars: &[char],
    start: usize,
    kind: char,
    out: &mut String,
) -> Result<usize, String> {
    let width = match kind {
        'u' => 4,
        'U' => 8,
        _ => 2,
    };
    let hex: String = chars.iter().skip(start).take(width).collect();
    if hex.chars().count() != width || !hex.chars().all(|h| h.is_ascii_hexdigit()) {
        return Err(format!("bad escape \\{kind}{hex}"));
    }
    out.push_str(&format!("\\x{{{hex}}}"));
    Ok(start + width)
}

/// Pushes `c` so that fancy-regex reads it as that literal character.
fn push_literal(out: &mut String, c: char) {
    if "\\.+*?()|[]{}^$#&-~ ".contains(c) {
        out.push('\\');
    }
    out.push(c);
}

/// Reads a Python quantifier `{m}`, `{m,}`, `{,n}` or `{m,n}` starting at `start`.
/// Returns its fancy-regex spelling and the index after it, or `None` when
/// Python would read the brace as a literal.
fn python_quantifier(chars: &[char], start: usize) -> Option<(String, usize)> {
    let mut end = start + 1;
    while end < chars.len() && chars[end] != '}' {
        if !(chars[end].is_ascii_digit() || chars[end] == ',') {
            return None;
        }
        end += 1;
    }
    if end >= chars.len() {
        return None;
    }
    let body: String = chars[start + 1..end].iter().collect();
    let (low, high) = match body.split_once(',') {
        Some((low, high)) if !high.contains(',') => (low, Some(high)),
        Some(_) => return None,
        None => (body.as_str(), None),
    };
    if low.is_empty() && high.is_none_or(str::is_empty) {
        return None;
    }
    let low = if low.is_empty() { "0" } else { low };
    let text = match high {
        None => format!("{{{low}}}"),
        Some(high) => format!("{{{low},{high}}}"),
    };
    Some((text, end + 1))
}

/// Translates the `(?…` opening at `start`, returning the index after what was consumed.
fn translate_group_opening(
    chars: &[char],
    start: usize,
    out: &mut String,
) -> Result<usize, String> {
    let rest: String = chars[start..chars.len().min(start + 4)].iter().collect();
    if rest.starts_with("(?#") {
        // A comment: Python drops it, fancy-regex does not know it.
        let mut i = start + 3;
        while i < chars.len() && chars[i] != ')' {
            i += 1;
        }
        if i >= chars.len() {
            return Err("a (?# comment is not closed".into());
        }
        return Ok(i + 1);
    }
    if rest.starts_with("(?(") {
        // Conditional on a group: fancy-regex needs `(?(<name>)`, or it reads a lookahead.
        let mut i = start + 3;
        let mut name = String::new();
        while i < chars.len() && chars[i] != ')' {
            name.push(chars[i]);
            i += 1;
        }
        if i >= chars.len() {
            return Err("a (?( conditional is not closed".into());
        }
        if name.chars().all(|c| c.is_ascii_digit()) {
            out.push_str(&format!("(?({name})"));
        } else {
            out.push_str(&format!("(?(<{name}>)"));
        }
        return Ok(i + 1);
    }
    // Inline flags: drop Python's `u` (always on) and `L`, keep the others.
    let mut i = start + 2;
    let mut flags = String::new();
    while i < chars.len() && chars[i].is_ascii_alphabetic() {
        flags.push(chars[i]);
        i += 1;
    }
    if !flags.is_empty() && matches!(chars.get(i), Some(')') | Some(':') | Some('-')) {
        if flags.contains('a') {
            return Err("the ASCII flag (?a) is not supported".into());
        }
        let kept: String = flags.chars().filter(|f| !matches!(f, 'u' | 'L')).collect();
        if kept.is_empty() && chars[i] == ')' {
            return Ok(i + 1);
        }
        out.push_str("(?");
        out.push_str(&kept);
        if kept.is_empty() && chars[i] == ':' {
            out.push(':');
            return Ok(i + 1);
        }
        return Ok(i);
    }
    out.push_str("(?");
    Ok(start + 2)
}

/// Translates the character class opening at `start` and returns the index after it.
fn translate_class(chars: &[char], start: usize, out: &mut String) -> Result<usize, String> {
    let mut i = start + 1;
    out.push('[');
    if chars.get(i) == Some(&'^') {
        out.push('^');
        i += 1;
    }
    // Python reads a `]` right after `[` or `[^` as a literal.
    if chars.get(i) == Some(&']') {
        out.push_str(r"\]");
        i += 1;
    }
    let mut previous_was_dash = false;
    let class_start = i;
    while i < chars.len() {
        let c = chars[i];
        match c {
            ']' => {
                out.push(']');
                return Ok(i + 1);
            }
            '\\' => {
                let Some(&next) = chars.get(i + 1) else {
                    return Err("a character class ends with a lone backslash".into());
                };
                i += 2;
                match next {
                    's' => out.push_str(PY_SPACE_CLASS_ITEMS),
                    'w' => out.push_str(PY_WORD_CLASS_ITEMS),
                    // Python's complements, as nested classes (a union in the class).
                    'S' => {
                        out.push_str("[^");
                        out.push_str(PY_SPACE_CLASS_ITEMS);
                        out.push(']');
                    }
                    'W' => {
                        out.push_str("[^");
                        out.push_str(PY_WORD_CLASS_ITEMS);
                        out.push(']');
                    }
                    'b' => out.push_str(r"\x08"),
                    'u' | 'U' | 'x' => i = push_hex_escape(chars, i, next, out)?,
                    c if c.is_ascii_alphanumeric() => {
                        out.push('\\');
                        out.push(c);
                    }
                    c => {
                        out.push('\\');
                        out.push(c);
                    }
                }
                previous_was_dash = false;
                continue;
            }
            // Set operations and nested classes in fancy-regex; literals in Python.
            '[' | '&' | '~' => {
                out.push('\\');
                out.push(c);
            }
            // A dash after a range operator is a literal endpoint; a leading `--` is two literals.
            '-' if previous_was_dash || (i == class_start && chars.get(i + 1) == Some(&'-')) => {
                out.push_str(r"\-");
            }
            c => out.push(c),
        }
        previous_was_dash = c == '-';
        i += 1;
    }
    Err("a character class is not closed".into())
}

#[cfg(test)]
mod tests {
    use super::translate;

    fn t(p: &str) -> String {
        translate(p).unwrap()
    }

    #[test]
    fn rewrites_the_constructs_where_dialects_differ() {
        assert_eq!(t(r"a\Z"), r"a\z");
        assert_eq!(t(r"\<x\>"), "<x>");
        assert_eq!(t(r"[^[]"), r"[^\[]");
        assert_eq!(t(r"[a&&b]"), r"[a\&\&b]");
        assert_eq!(t(r"x{,3}"), r"x{0,3}");
        assert_eq!(t(r"x{2}y{a}"), r"x{2}y\{a\}");
        assert_eq!(t(r"(?(ip)a|b)"), r"(?(<ip>)a|b)");
        assert_eq!(t(r"[]x]"), r"[\]x]");
        assert_eq!(t(r"(?#note)a"), "a");
        assert_eq!(t(r"(?iu)a"), "(?i)a");
    }

    #[test]
    fn python_semantics_survive_compilation() {
        let re = |p: &str| fancy_regex::Regex::new(&t(p)).unwrap();
        assert!(re(r"^a\sb$").is_match("a\x1cb").unwrap());
        assert!(re(r"^\w+$").is_match("Zürich42_").unwrap());
        assert!(re(r"^\<x\>$").is_match("<x>").unwrap());
        assert!(re(r"^[^[]+$").is_match("abc").unwrap());
        assert!(!re(r"^[^[]+$").is_match("a[c").unwrap());
        assert!(re(r"^x{,2}$").is_match("xx").unwrap());
        assert!(re(r"^a{b}$").is_match("a{b}").unwrap());
        assert!(re(r"^(?P<q>')?x(?(q)')$").is_match("'x'").unwrap());
        assert!(!re(r"^(?P<q>')?x(?(q)')$").is_match("'x").unwrap());
        assert!(re(r"^[+--]$").is_match(",").unwrap());
        assert!(re(r"^a\/b\:c$").is_match("a/b:c").unwrap());
    }

    #[test]
    fn bad_patterns_are_named_in_the_error() {
        let err = translate(r"[abc").unwrap_err();
        assert!(err.to_string().contains("[abc"), "{err}");
        assert!(translate("abc\\").is_err());
        let err = translate(r"[\xZZ]").unwrap_err();
        assert!(err.to_string().contains(r"\xZZ"), "{err}");
    }
}
