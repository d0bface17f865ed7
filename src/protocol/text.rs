//! Protocol 0's text arguments, both ways: decimal numbers, Python 2 string
//! literals (STRING) and raw-unicode-escape (UNICODE). Errors are returned as
//! kinds; the decoder adds the offset.

use super::error::PickleErrorKind as K;

/// A text argument as UTF-8 (Python decodes GLOBAL names and numbers so).
pub(super) fn utf8(opcode: &'static str, raw: &[u8]) -> Result<String, K> {
    match std::str::from_utf8(raw) {
        Ok(s) => Ok(s.to_string()),
        Err(_) => Err(K::BadText {
            opcode,
            text: String::from_utf8_lossy(raw).into_owned(),
        }),
    }
}

/// An optionally signed decimal integer, surrounding whitespace allowed.
pub(super) fn decimal(opcode: &'static str, raw: &[u8]) -> Result<i64, K> {
    let s = utf8(opcode, raw)?;
    let t = s.trim();
    let digits = t.strip_prefix(['-', '+']).unwrap_or(t);
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return Err(K::BadText { opcode, text: s });
    }
    t.parse::<i64>().map_err(|_| K::IntOutOfRange)
}

/// Protocol 0 STRING: a Python 2 repr, quotes included, decoded to its bytes
/// like Python's `codecs.escape_decode`.
pub(super) fn python2_literal(raw: &[u8]) -> Result<Vec<u8>, K> {
    let bad = || K::BadText {
        opcode: "STRING",
        text: String::from_utf8_lossy(raw).into_owned(),
    };
    if raw.len() < 2 || raw[0] != raw[raw.len() - 1] || !(raw[0] == b'\'' || raw[0] == b'"') {
        return Err(bad());
    }
    let inner = &raw[1..raw.len() - 1];
    let mut out = Vec::with_capacity(inner.len());
    let mut i = 0;
    while i < inner.len() {
        let c = inner[i];
        i += 1;
        if c != b'\\' {
            out.push(c);
            continue;
        }
        let Some(&e) = inner.get(i) else {
            return Err(bad());
        };
        i += 1;
        match e {
            b'\n' => {}
            b'\\' | b'\'' | b'"' => out.push(e),
            b'n' => out.push(b'\n'),
            b't' => out.push(b'\t'),
            b'r' => out.push(b'\r'),
            b'a' => out.push(7),
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'v' => out.push(11),
            b'0'..=b'7' => {
                let mut v = (e - b'0') as u32;
                for _ in 0..2 {
                    match inner.get(i) {
                        Some(&d @ b'0'..=b'7') => {
                            v = v * 8 + (d - b'0') as u32;
                            i += 1;
                        }
                        _ => break,
                    }
                }
                out.push(v as u8);
            }
            b'x' => {
                let hex = inner
                    .get(i..i + 2)
                    .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
                    .and_then(|h| std::str::from_utf8(h).ok());
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => return Err(bad()),
                }
            }
            other => {
                out.push(b'\\');
                out.push(other);
            }
        }
    }
    Ok(out)
}

/// Protocol 0 UNICODE: raw-unicode-escape, where bytes are Latin-1 except
/// `\uXXXX` / `\UXXXXXXXX` after an odd run of backslashes.
pub(super) fn raw_unicode_escape_decode(raw: &[u8]) -> Result<String, K> {
    let mut out = String::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] != b'\\' {
            out.push(raw[i] as char);
            i += 1;
            continue;
        }
        let start = i;
        while i < raw.len() && raw[i] == b'\\' {
            i += 1;
        }
        let run = i - start;
        let is_escape = run % 2 == 1 && matches!(raw.get(i), Some(b'u' | b'U'));
        let literal = if is_escape { run - 1 } else { run };
        for _ in 0..literal {
            out.push('\\');
        }
        if !is_escape {
            continue;
        }
        let digits = if raw[i] == b'u' { 4 } else { 8 };
        let hex = raw
            .get(i + 1..i + 1 + digits)
            .and_then(|h| std::str::from_utf8(h).ok())
            .filter(|h| h.bytes().all(|c| c.is_ascii_hexdigit()))
            .and_then(|h| u32::from_str_radix(h, 16).ok());
        let Some(code) = hex else {
            return Err(K::BadString {
                reason: "a truncated \\u escape in UNICODE".into(),
            });
        };
        match char::from_u32(code) {
            Some(c) => out.push(c),
            None => {
                return Err(K::BadString {
                    reason: format!(
                        "\\u escape {code:#x} is not a character (surrogate or too large)"
                    ),
                })
            }
        }
        i += 1 + digits;
    }
    Ok(out)
}

/// What protocol 0 writes for a str: Latin-1 bytes, with `\uXXXX` for
/// characters beyond Latin-1 and for the ones that would break the line format.
pub(super) fn raw_unicode_escape_encode(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    for c in s.chars() {
        let n = c as u32;
        if n >= 0x10000 {
            out.extend_from_slice(format!("\\U{n:08x}").as_bytes());
        } else if n >= 256 || matches!(c, '\\' | '\0' | '\n' | '\r' | '\x1a') {
            out.extend_from_slice(format!("\\u{n:04x}").as_bytes());
        } else {
            out.push(n as u8);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python2_literals_unescape_like_escape_decode() {
        let got = python2_literal(br"'a\'b\\c\x41\101\n\q'").unwrap();
        assert_eq!(got, b"a'b\\cAA\n\\q");
        assert_eq!(python2_literal(br#""it's""#).unwrap(), b"it's");
        for bad in [&b"'x"[..], b"x'", b"'", b"'\\x4'", b"'\\x+f'", b"'a\\'"] {
            assert!(python2_literal(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn raw_unicode_escape_round_trips() {
        for s in [
            "",
            "plain",
            "a\\b",
            "\\u0041 literal",
            "\n\r\0\x1a",
            "é€😀",
            "\\\\u00e9",
        ] {
            let enc = raw_unicode_escape_encode(s);
            assert!(!enc.contains(&b'\n'), "{s:?}");
            assert_eq!(raw_unicode_escape_decode(&enc).unwrap(), s);
        }
        // An even run of backslashes is literal; an odd one escapes.
        assert_eq!(raw_unicode_escape_decode(br"\\u0041").unwrap(), "\\\\u0041");
        assert_eq!(raw_unicode_escape_decode(br"\\\u0041").unwrap(), "\\\\A");
        assert!(raw_unicode_escape_decode(br"\u12").is_err());
        assert!(raw_unicode_escape_decode(br"\ud800").is_err());
        assert!(raw_unicode_escape_decode(br"\U00110000").is_err());
    }

    #[test]
    fn decimals() {
        assert_eq!(decimal("INT", b" -42 ").unwrap(), -42);
        assert_eq!(decimal("INT", b"+7").unwrap(), 7);
        assert_eq!(
            decimal("INT", b"99999999999999999999"),
            Err(K::IntOutOfRange)
        );
        assert!(decimal("INT", b"0x10").is_err());
        assert!(decimal("INT", b"").is_err());
    }
}
