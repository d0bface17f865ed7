//! A small JSON reader, shared by the two places that read JSON: the
//! `data` column of fail2ban's database (written by Python's `json.dumps`)
//! and `journalctl -o json`. It reads what Python's `json.loads` reads,
//! `NaN` and `Infinity` included, keeps numbers as their text and object
//! members in order, and refuses deep nesting so hostile input cannot
//! exhaust the stack.

/// Nesting deeper than this is refused: both users nest two levels.
const MAX_DEPTH: usize = 64;

/// A JSON value; numbers keep their text (`NaN`, `Infinity` and
/// `-Infinity` too), objects their members in order.
#[derive(Clone, Debug, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Num(String),
    Str(String),
    Arr(Vec<Json>),
    /// A repeated key keeps its first place and its last value.
    Obj(Vec<(String, Json)>),
}

/// `json.loads`: `None` on any syntax error, trailing junk or excessive
/// nesting.
pub fn parse(text: &str) -> Option<Json> {
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

    fn value(&mut self, depth: usize) -> Option<Json> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.ws();
        match *self.s.get(self.i)? {
            b'{' => {
                self.i += 1;
                let mut items: Vec<(String, Json)> = Vec::new();
                if self.eat(b'}') {
                    return Some(Json::Obj(items));
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
                    match items.iter_mut().find(|(old, _)| *old == k) {
                        Some(slot) => slot.1 = v,
                        None => items.push((k, v)),
                    }
                    if self.eat(b'}') {
                        return Some(Json::Obj(items));
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
                    return Some(Json::Arr(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    if self.eat(b']') {
                        return Some(Json::Arr(items));
                    }
                    if !self.eat(b',') {
                        return None;
                    }
                }
            }
            b'"' => self.string().map(Json::Str),
            _ if self.word("null") => Some(Json::Null),
            _ if self.word("true") => Some(Json::Bool(true)),
            _ if self.word("false") => Some(Json::Bool(false)),
            _ if self.word("NaN") => Some(Json::Num("NaN".into())),
            _ if self.word("Infinity") => Some(Json::Num("Infinity".into())),
            _ if self.word("-Infinity") => Some(Json::Num("-Infinity".into())),
            _ => self.number(),
        }
    }

    fn number(&mut self) -> Option<Json> {
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
        if self.s.get(self.i) == Some(&b'.') {
            self.i += 1;
            if !digits(self) {
                return None;
            }
        }
        if matches!(self.s.get(self.i), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.s.get(self.i), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if !digits(self) {
                return None;
            }
        }
        let text = std::str::from_utf8(&self.s[start..self.i]).ok()?;
        Some(Json::Num(text.to_string()))
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
    fn journal_shapes() {
        let v = parse(r#"{"MESSAGE":"a\"b\u00e9\ud83d\ude00","B":[1,255],"M":["x","y"],"N":null}"#)
            .unwrap();
        let Json::Obj(f) = v else { panic!() };
        assert_eq!(f[0], ("MESSAGE".into(), Json::Str("a\"bé😀".into())));
        assert_eq!(
            f[1].1,
            Json::Arr(vec![Json::Num("1".into()), Json::Num("255".into())])
        );
        assert_eq!(f[3].1, Json::Null);
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
            "1.",
            "1e",
            "\"\\ud800",
            "\"a\u{1}b\"",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
        let deep = "[".repeat(10_000) + &"]".repeat(10_000);
        assert_eq!(parse(&deep), None);
    }
}
