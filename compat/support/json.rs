//! A small JSON reader for the test harnesses (the `# failJSON:` comments of
//! fail2ban's sample logs and the reference's outputs); the crate itself
//! needs no JSON, so this stays out of its dependencies.

#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Obj(items) => items.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Python truthiness.
    pub fn truthy(&self) -> bool {
        match self {
            Json::Null => false,
            Json::Bool(b) => *b,
            Json::Num(n) => *n != 0.0,
            Json::Str(s) => !s.is_empty(),
            Json::Arr(a) => !a.is_empty(),
            Json::Obj(o) => !o.is_empty(),
        }
    }
}

/// Parses one JSON value; the error names the offending text.
pub fn parse(text: &str) -> Result<Json, String> {
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
        text,
    };
    let v = p.value()?;
    p.ws();
    if p.i != p.s.len() {
        return Err(format!("trailing characters in JSON {text:?}"));
    }
    Ok(v)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    text: &'a str,
}

impl Parser<'_> {
    fn err(&self, what: &str) -> String {
        format!("{what} at byte {} of JSON {:?}", self.i, self.text)
    }

    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn value(&mut self) -> Result<Json, String> {
        self.ws();
        match self.s.get(self.i) {
            Some(b'{') => {
                self.i += 1;
                let mut items = Vec::new();
                loop {
                    self.ws();
                    if self.s.get(self.i) == Some(&b'}') {
                        self.i += 1;
                        return Ok(Json::Obj(items));
                    }
                    let Json::Str(k) = self.value()? else {
                        return Err(self.err("expected a string key"));
                    };
                    self.ws();
                    if self.s.get(self.i) != Some(&b':') {
                        return Err(self.err("expected ':'"));
                    }
                    self.i += 1;
                    let v = self.value()?;
                    items.push((k, v));
                    self.ws();
                    if self.s.get(self.i) == Some(&b',') {
                        self.i += 1;
                    }
                }
            }
            Some(b'[') => {
                self.i += 1;
                let mut items = Vec::new();
                loop {
                    self.ws();
                    if self.s.get(self.i) == Some(&b']') {
                        self.i += 1;
                        return Ok(Json::Arr(items));
                    }
                    items.push(self.value()?);
                    self.ws();
                    if self.s.get(self.i) == Some(&b',') {
                        self.i += 1;
                    }
                }
            }
            Some(b'"') => {
                self.i += 1;
                let mut out = String::new();
                loop {
                    let Some(&c) = self.s.get(self.i) else {
                        return Err(self.err("unterminated string"));
                    };
                    self.i += 1;
                    match c {
                        b'"' => return Ok(Json::Str(out)),
                        b'\\' => {
                            let e = *self.s.get(self.i).ok_or_else(|| self.err("bad escape"))?;
                            self.i += 1;
                            match e {
                                b'n' => out.push('\n'),
                                b't' => out.push('\t'),
                                b'r' => out.push('\r'),
                                b'b' => out.push('\x08'),
                                b'f' => out.push('\x0c'),
                                b'u' => {
                                    let hex = self
                                        .text
                                        .get(self.i..self.i + 4)
                                        .ok_or_else(|| self.err("bad \\u"))?;
                                    let mut code = u32::from_str_radix(hex, 16)
                                        .map_err(|_| self.err("bad \\u"))?;
                                    self.i += 4;
                                    if (0xd800..0xdc00).contains(&code)
                                        && self.text.get(self.i..self.i + 2) == Some("\\u")
                                    {
                                        let low = self
                                            .text
                                            .get(self.i + 2..self.i + 6)
                                            .and_then(|h| u32::from_str_radix(h, 16).ok());
                                        if let Some(low) = low {
                                            code =
                                                0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
                                            self.i += 6;
                                        }
                                    }
                                    out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
                                }
                                other => out.push(other as char),
                            }
                        }
                        _ => {
                            // Copy the whole UTF-8 sequence.
                            let start = self.i - 1;
                            let len = match c {
                                0..=0x7f => 1,
                                0xc0..=0xdf => 2,
                                0xe0..=0xef => 3,
                                _ => 4,
                            };
                            out.push_str(
                                self.text
                                    .get(start..start + len)
                                    .ok_or_else(|| self.err("bad UTF-8"))?,
                            );
                            self.i = start + len;
                        }
                    }
                }
            }
            Some(b't') if self.text[self.i..].starts_with("true") => {
                self.i += 4;
                Ok(Json::Bool(true))
            }
            Some(b'f') if self.text[self.i..].starts_with("false") => {
                self.i += 5;
                Ok(Json::Bool(false))
            }
            Some(b'n') if self.text[self.i..].starts_with("null") => {
                self.i += 4;
                Ok(Json::Null)
            }
            Some(_) => {
                let start = self.i;
                while self.i < self.s.len()
                    && (self.s[self.i].is_ascii_digit() || b"+-.eE".contains(&self.s[self.i]))
                {
                    self.i += 1;
                }
                self.text[start..self.i]
                    .parse::<f64>()
                    .map(Json::Num)
                    .map_err(|_| self.err("bad value"))
            }
            None => Err(self.err("unexpected end")),
        }
    }
}
