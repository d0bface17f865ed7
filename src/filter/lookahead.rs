//! Drops negative lookaheads that the alternation after them already
//! decides, so that the regex runs on the `regex` crate instead of a
//! backtracking VM.
//!
//! The shape is fail2ban's "skip `key=value, ` items up to `ip=`" idiom
//! (courier-auth: `(?:(?!ip=)(?:user=…|\w+=[^,]*), )*ip=\[<HOST>\]`).
//! `(?!LIT)(?:B1|B2|…)` keeps the language of each branch minus the texts
//! starting with `LIT`; for the branches handled here that is a regex
//! without lookaround:
//! - a branch starting with a literal that diverges from `LIT` never sees
//!   `LIT`, and one starting with `LIT` itself never matches;
//! - a branch `\w+c…` where `LIT` is `wc` (word characters `w`, then the
//!   same non-word character `c`): its word run is maximal (it must be
//!   followed by `c`), so the text starts with `LIT` exactly when the run
//!   is `w`; the run is rewritten as "any word run but `w`".
//!
//! Every branch matches the same texts with the same groups as before, and
//! branches keep their order, so priorities are unchanged. Anything else
//! (case-insensitive or verbose flags, other branch shapes) is left alone.

/// The pattern (Python syntax) with each decidable `(?!LIT)` before a
/// `(?:…)` group removed and that group's branches rewritten; `None` when
/// there was nothing to do.
pub fn without_decided_lookaheads(pattern: &str) -> Option<String> {
    if has_inline_flags(pattern) {
        return None;
    }
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len() + 64);
    let mut changed = false;
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' => {
                out.extend(&chars[i..(i + 2).min(chars.len())]);
                i += 2;
            }
            '[' => {
                let end = class_end(&chars, i)?;
                out.extend(&chars[i..end]);
                i = end;
            }
            '(' if starts_with(&chars, i, "(?!") => match decide(&chars, i) {
                Some((replacement, end)) => {
                    out.push_str(&replacement);
                    changed = true;
                    i = end;
                }
                None => {
                    out.push('(');
                    i += 1;
                }
            },
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    changed.then_some(out)
}

/// `(?!LIT)(?:…)` at `start`: the rewritten group and the index after it.
fn decide(chars: &[char], start: usize) -> Option<(String, usize)> {
    let look_end = group_end(chars, start)?;
    let literal = plain_literal(&chars[start + 3..look_end - 1])?;
    if literal.is_empty() || !starts_with(chars, look_end, "(?:") {
        return None;
    }
    let group_end = group_end(chars, look_end)?;
    let body = &chars[look_end + 3..group_end - 1];
    let mut branches = Vec::new();
    for branch in top_level_branches(body)? {
        if let Some(b) = decide_branch(branch, &literal)? {
            branches.push(b);
        }
    }
    if branches.is_empty() {
        // No branch can match: keep the original, which says so plainly.
        return None;
    }
    Some((format!("(?:{})", branches.join("|")), group_end))
}

/// One branch of the group after `(?!literal)`: `Some(Some(text))` to
/// keep (rewritten), `Some(None)` to drop, `None` when undecidable.
fn decide_branch(branch: &[char], literal: &[char]) -> Option<Option<String>> {
    let text: String = branch.iter().collect();
    let prefix = literal_prefix(branch);
    if !prefix.is_empty() {
        let k = prefix.len().min(literal.len());
        if prefix[..k] != literal[..k] {
            return Some(Some(text));
        }
        // The branch starts with the literal: the lookahead always fails.
        return (prefix.len() >= literal.len()).then_some(None);
    }
    let rest = text.strip_prefix(r"\w+")?;
    let next = rest.chars().next()?;
    let next_is_plain = literal_prefix(&branch[3..]).first() == Some(&next);
    if !next_is_plain || is_word(next) {
        return None;
    }
    // The literal as word run, the character after it, and the rest.
    let run = literal
        .iter()
        .take_while(|c| c.is_ascii_alphanumeric() || **c == '_')
        .count();
    let (word, after) = literal.split_at(run);
    let stop = *after.first()?;
    if word.is_empty() || is_word(stop) {
        return None;
    }
    if next != stop {
        // The word run is followed by another character than the literal's.
        return Some(Some(text));
    }
    if after.len() > 1 {
        return None;
    }
    let word: String = word.iter().collect();
    let mut parts = Vec::new();
    for (k, c) in word.char_indices() {
        parts.push(format!(r"{}[^\W{c}]\w*", &word[..k]));
    }
    for k in 1..word.len() {
        parts.push(word[..k].to_string());
    }
    parts.push(format!(r"{word}\w+"));
    Some(Some(format!("(?:{}){rest}", parts.join("|"))))
}

/// Python's `\w` on an ASCII character (the literals handled are ASCII).
fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Characters that stand for themselves in a Python regex.
fn is_plain(c: char) -> bool {
    !"\\.^$*+?{}[]()|#".contains(c) && !c.is_whitespace()
}

/// The literal every match of `branch` starts with: its leading plain
/// characters, without one made optional or repeated by a quantifier.
fn literal_prefix(branch: &[char]) -> Vec<char> {
    let mut n = 0;
    while n < branch.len() && is_plain(branch[n]) {
        n += 1;
    }
    if n < branch.len() && "?*{".contains(branch[n]) && n > 0 {
        n -= 1;
    }
    branch[..n].to_vec()
}

/// `body` if it is all plain characters.
fn plain_literal(body: &[char]) -> Option<Vec<char>> {
    body.iter().all(|c| is_plain(*c)).then(|| body.to_vec())
}

/// Flags that change what a literal means (`(?i)`, `(?x)`, …) anywhere.
fn has_inline_flags(pattern: &str) -> bool {
    pattern
        .match_indices("(?")
        .any(|(i, _)| pattern[i + 2..].starts_with(|c: char| c.is_ascii_alphabetic() && c != 'P'))
}

fn starts_with(chars: &[char], at: usize, s: &str) -> bool {
    (at..).zip(s.chars()).all(|(k, c)| chars.get(k) == Some(&c))
}

/// The index after the `]` closing the class that opens at `start`.
fn class_end(chars: &[char], start: usize) -> Option<usize> {
    let mut i = start + 1;
    if chars.get(i) == Some(&'^') {
        i += 1;
    }
    // A `]` first in the class is a literal.
    if chars.get(i) == Some(&']') {
        i += 1;
    }
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 2,
            ']' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// The index after the `)` closing the group that opens at `start`.
fn group_end(chars: &[char], start: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = start;
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 2,
            '[' => i = class_end(chars, i)?,
            '(' => {
                depth += 1;
                i += 1;
            }
            ')' => {
                depth -= 1;
                i += 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => i += 1,
        }
    }
    None
}

/// `body` split at its top-level `|`.
fn top_level_branches(body: &[char]) -> Option<Vec<&[char]>> {
    let mut branches = Vec::new();
    let mut depth = 0usize;
    let mut from = 0;
    let mut i = 0;
    while i < body.len() {
        match body[i] {
            '\\' => i += 2,
            '[' => i = class_end(body, i)?,
            '(' => {
                depth += 1;
                i += 1;
            }
            ')' => {
                depth = depth.checked_sub(1)?;
                i += 1;
            }
            '|' if depth == 0 => {
                branches.push(&body[from..i]);
                i += 1;
                from = i;
            }
            _ => i += 1,
        }
    }
    branches.push(&body[from..]);
    Some(branches)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::pyregex;

    const COURIER: &str =
        r"LOGIN FAILED, (?:(?!ip=)(?:user=(?P<user>[^,]*)|\w+=[^,]*), )*ip=\[(?P<ip>[^\]]+)\]";

    #[test]
    fn courier_items_lose_their_lookahead() {
        let rewritten = without_decided_lookaheads(COURIER).unwrap();
        assert_eq!(
            rewritten,
            r"LOGIN FAILED, (?:(?:user=(?P<user>[^,]*)|(?:[^\Wi]\w*|i[^\Wp]\w*|i|ip\w+)=[^,]*), )*ip=\[(?P<ip>[^\]]+)\]"
        );
    }

    #[test]
    fn rewritten_patterns_match_like_the_lookahead() {
        let patterns = [
            COURIER,
            r"^(?:(?!ab:)(?:\w+:\S*|cd:x) )*end",
            r"(?:(?!id=)(?:uid=\d+|\w+=\w*);)*id=(?P<id>\d+)",
        ];
        let words = [
            "ip", "i", "p", "ipx", "xip", "ipip", "user", "u", "ab", "a", "abc", "cd", "id", "uid",
            "iq", "_ip", "ïp", "ip2",
        ];
        let mut texts = Vec::new();
        for a in words {
            for b in words {
                for sep in ["=", ":", "=="] {
                    texts.push(format!(
                        "LOGIN FAILED, {a}{sep}x, {b}{sep}y, ip=[1.2.3.4], ip=[5.6.7.8]"
                    ));
                    texts.push(format!("{a}{sep}1 {b}{sep}2 end"));
                    texts.push(format!("{a}{sep}1;{b}{sep}2;id=7;uid=3;"));
                }
            }
        }
        for pattern in patterns {
            let rewritten = without_decided_lookaheads(pattern).unwrap();
            let original = fancy_regex::Regex::new(&pyregex::translate(pattern).unwrap()).unwrap();
            let fast = regex::Regex::new(&pyregex::translate(&rewritten).unwrap()).unwrap();
            for text in &texts {
                let want = original.captures(text).unwrap().map(|c| {
                    (0..c.len())
                        .map(|i| c.get(i).map(|m| m.range()))
                        .collect::<Vec<_>>()
                });
                let got = fast.captures(text).map(|c| {
                    (0..c.len())
                        .map(|i| c.get(i).map(|m| m.range()))
                        .collect::<Vec<_>>()
                });
                assert_eq!(got, want, "{pattern} / {rewritten} on {text:?}");
            }
        }
    }

    #[test]
    fn undecidable_lookaheads_stay() {
        for pattern in [
            r"(?i)(?:(?!ip=)(?:\w+=\S*), )*",
            r"(?:(?!ip=)(?:i\w*=\S*), )*",
            r"(?:(?!ip=x)(?:\w+=\S*), )*",
            r"(?:(?!i.p)(?:\w+=\S*), )*",
            r"(?:(?!ip=)(?:[a-z]+=\S*), )*",
            r"(?:(?!ip=)(?:ip=\S*), )*",
        ] {
            assert_eq!(without_decided_lookaheads(pattern), None, "{pattern}");
        }
    }
}
