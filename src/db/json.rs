//! The JSON of the `data` column of `bans` and `bips`, as fail2ban writes it
//! with Python's `json.dumps(data, ensure_ascii=False)`: `", "` and `": "` as
//! separators, non-ASCII text as it is, `NaN`/`Infinity` for the floats JSON
//! has no word for. Writing the same bytes keeps files that both tools touched
//! looking like fail2ban's own.
//!
//! Values are [`Value`]s, the Python-like values of the command stream, so a
//! ticket's data goes to the server in the shape the protocol already uses.

use crate::stream::{float_repr, Value};

/// Nesting deeper than this is refused when reading: fail2ban's data is two
/// levels deep, and a bound keeps a hostile row from exhausting the stack.
const MAX_DEPTH: usize = 64;

/// `json.dumps(v, ensure_ascii=False)`.
pub fn to_json(v: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, v);
    out
}

fn write_value(out: &mut String, v: &Value) {
    match v {
        Value::None => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::Float(x) => out.push_str(&float_json(*x)),
        Value::Str(s) => write_str(out, s),
        // fail2ban's default= hook turns unknown values into text.
        Value::Bytes(b) => write_str(out, &String::from_utf8_lossy(b)),
        Value::List(items) | Value::Tuple(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Dict(items) => {
            out.push('{');
            for (i, (k, item)) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_str(out, &key_text(k));
                out.push_str(": ");
                write_value(out, item);
            }
            out.push('}');
        }
    }
}

/// JSON object keys are text; Python converts the scalar ones this way.
fn key_text(k: &Value) -> String {
    match k {
        Value::Str(s) => s.clone(),
        Value::None => "null".into(),
        Value::Bool(b) => if *b { "true" } else { "false" }.into(),
        Value::Int(i) => i.to_string(),
        Value::Float(x) => float_json(*x),
        other => to_json(other),
    }
}

fn float_json(x: f64) -> String {
    if x.is_nan() {
        "NaN".into()
    } else if x.is_infinite() {
        if x > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else {
        float_repr(x)
    }
}

fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `json.loads`: `None` on any syntax error, trailing junk or excessive
/// nesting (fail2ban then uses an empty dict, and so do the callers).
pub fn from_json(text: &str) -> Option<Value> {
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
    };
    let v = p.value(0)?;
    p.ws();
    (p.i == p.s.len()).then_some(v)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while matches!(self.s.get(self.i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        self.ws();
        if self.s.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn word(&mut self, w: &str) -> bool {
        if self.s[self.i..].starts_with(w.as_bytes()) {
            self.i += w.len();
            true
        } else {
            false
        }
    }

    fn value(&mut self, depth: usize) -> Option<Value> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.ws();
        match *self.s.get(self.i)? {
            b'{' => {
                self.i += 1;
                let mut items: Vec<(Value, Value)> = Vec::new();
                if self.eat(b'}') {
                    return Some(Value::Dict(items));
                }
                loop {
                    self.ws();
                    let k = self.string()?;
                    if !self.eat(b':') {
                        return None;
                    }
                    let v = self.value(depth + 1)?;
                    // A repeated key keeps its first place and its last
                    // value, as a Python dict does.
                    match items.iter_mut().find(|(old, _)| old.as_str() == Some(&k)) {
                        Some(slot) => slot.1 = v,
                        None => items.push((Value::Str(k), v)),
                    }
                    if self.eat(b'}') {
                        return Some(Value::Dict(items));
                    }
                    if !self.eat(b',') {
                        return None;
                    }
                }
            }
            b'[' => {
                self.i += 1;
                let mut items = Vec::new();
                if self.eat(b']') {
                    return Some(Value::List(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    if self.eat(b']') {
                        return Some(Value::List(items));
                    }
                    if !self.eat(b',') {
                        return None;
                    }
                }
            }
            b'"' => self.string().map(Value::Str),
            _ if self.word("null") => Some(Value::None),
            _ if self.word("true") => Some(Value::Bool(true)),
            _ if self.word("false") => Some(Value::Bool(false)),
            _ if self.word("NaN") => Some(Value::Float(f64::NAN)),
            _ if self.word("Infinity") => Some(Value::Float(f64::INFINITY)),
            _ if self.word("-Infinity") => Some(Value::Float(f64::NEG_INFINITY)),
            _ => self.number(),
        }
    }

    fn number(&mut self) -> Option<Value> {
        let start = self.i;
        let digits = |p: &mut Self| {
            let from = p.i;
            while p.s.get(p.i).is_some_and(u8::is_ascii_digit) {
                p.i += 1;
            }
            p.i > from
        };
        if self.s.get(self.i) == Some(&b'-') {
            self.i += 1;
        }
        if !digits(self) {
            return None;
        }
        let mut float = false;
        if self.s.get(self.i) == Some(&b'.') {
            self.i += 1;
            float = true;
            if !digits(self) {
                return None;
            }
        }
        if matches!(self.s.get(self.i), Some(b'e' | b'E')) {
            self.i += 1;
            float = true;
            if matches!(self.s.get(self.i), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if !digits(self) {
                return None;
            }
        }
        let text = std::str::from_utf8(&self.s[start..self.i]).ok()?;
        if !float {
            // Python's ints have no bound; past i64 the nearest float keeps
            // the magnitude rather than failing the whole row.
            if let Ok(i) = text.parse::<i64>() {
                return Some(Value::Int(i));
            }
        }
        text.parse::<f64>().ok().map(Value::Float)
    }

    fn hex4(&mut self) -> Option<u32> {
        let h = self.s.get(self.i..self.i + 4)?;
        let v = u32::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()?;
        self.i += 4;
        Some(v)
    }

    fn string(&mut self) -> Option<String> {
        if self.s.get(self.i) != Some(&b'"') {
            return None;
        }
        self.i += 1;
        let mut out: Vec<u8> = Vec::new();
        loop {
            let c = *self.s.get(self.i)?;
            self.i += 1;
            match c {
                b'"' => return Some(String::from_utf8_lossy(&out).into_owned()),
                b'\\' => {
                    let e = *self.s.get(self.i)?;
                    self.i += 1;
                    let ch = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hi = self.hex4()?;
                            let low_follows = self.s.get(self.i..self.i + 2) == Some(b"\\u");
                            if (0xD800..0xDC00).contains(&hi) && low_follows {
                                let save = self.i;
                                self.i += 2;
                                let lo = self.hex4()?;
                                if (0xDC00..0xE000).contains(&lo) {
                                    let cp = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                                    char::from_u32(cp).unwrap_or('\u{FFFD}')
                                } else {
                                    self.i = save;
                                    '\u{FFFD}'
                                }
                            } else {
                                // A lone surrogate has no UTF-8 form; fail2ban
                                // would write it back as '?' anyway.
                                char::from_u32(hi).unwrap_or('\u{FFFD}')
                            }
                        }
                        _ => return None,
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                }
                // Python's strict parser refuses raw control characters.
                c if c < 0x20 => return None,
                c => out.push(c),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_what_python_writes() {
        let v = Value::Dict(vec![
            (
                Value::str("matches"),
                Value::List(vec![Value::str("a \"b\"\n"), Value::str("é\u{1}")]),
            ),
            (Value::str("failures"), Value::Int(3)),
            (Value::str("x"), Value::Float(1.5)),
            (Value::str("n"), Value::None),
        ]);
        assert_eq!(
            to_json(&v),
            r#"{"matches": ["a \"b\"\n", "é\u0001"], "failures": 3, "x": 1.5, "n": null}"#
        );
        assert_eq!(to_json(&Value::Float(f64::INFINITY)), "Infinity");
        assert_eq!(to_json(&Value::Float(2.0)), "2.0");
    }

    #[test]
    fn reads_back_what_it_writes_and_what_python_writes() {
        let text = r#"{"matches": ["Dec  3 09:31:08 x", "\u00e9\ud83d\ude00"], "failures": 3, "f": -1.25e2, "b": [true, false, null]}"#;
        let v = from_json(text).expect("valid JSON");
        let Value::Dict(items) = &v else {
            panic!("a dict: {v:?}")
        };
        assert_eq!(items[0].1.as_list().unwrap()[1], Value::str("é😀"));
        assert_eq!(items[1].1, Value::Int(3));
        assert_eq!(items[2].1, Value::Float(-125.0));
        assert_eq!(from_json(&to_json(&v)), Some(v));
    }

    #[test]
    fn repeated_keys_keep_the_first_place_and_the_last_value() {
        let v = from_json(r#"{"a": 1, "b": 2, "a": 3}"#).unwrap();
        assert_eq!(
            v,
            Value::Dict(vec![
                (Value::str("a"), Value::Int(3)),
                (Value::str("b"), Value::Int(2))
            ])
        );
    }

    #[test]
    fn refuses_junk_and_deep_nesting_without_panicking() {
        for bad in [
            "",
            "{",
            "{\"a\" 1}",
            "[1,]",
            "{} x",
            "\"\\x\"",
            "01x",
            "-",
            "\"\\ud800",
        ] {
            assert_eq!(from_json(bad), None, "{bad:?}");
        }
        let deep = "[".repeat(10_000) + &"]".repeat(10_000);
        assert_eq!(from_json(&deep), None);
        assert_eq!(
            from_json("123456789012345678901234567890"),
            Some(Value::Float(1.2345678901234568e29))
        );
    }
}
