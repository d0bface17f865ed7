//! Log encodings (`logencoding`): `auto` (the locale's, as Python's
//! `locale.getpreferredencoding()`), UTF-8, latin-1 and ASCII, under the
//! codec names Python accepts. Undecodable bytes become U+FFFD exactly as
//! Python's `bytes.decode(enc, 'replace')` does, since fail2ban keeps
//! processing such a line rather than dropping it.

use std::fmt;

use super::error::WatchError;

/// A log file's character encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    /// ISO-8859-1: every byte is the code point of the same value.
    Latin1,
    Ascii,
}

impl Encoding {
    /// Parses a `logencoding` value the way Python's `codecs.lookup` names
    /// codecs (case-insensitive, `-`, `_` and spaces equivalent); `auto`
    /// means the locale's encoding.
    pub fn parse(name: &str) -> Result<Encoding, WatchError> {
        let norm: String = name
            .trim()
            .to_ascii_lowercase()
            .chars()
            .map(|c| if c == '-' || c == ' ' { '_' } else { c })
            .collect();
        match norm.as_str() {
            "auto" => Ok(Encoding::from_locale()),
            "utf_8" | "utf8" | "u8" | "utf" | "cp65001" | "utf8_ucs2" | "utf8_ucs4" => {
                Ok(Encoding::Utf8)
            }
            "latin_1" | "latin1" | "latin" | "l1" | "iso_8859_1" | "iso8859_1" | "8859"
            | "cp819" | "iso_ir_100" | "csisolatin1" => Ok(Encoding::Latin1),
            "ascii" | "us_ascii" | "646" | "us" | "ansi_x3.4_1968" | "ansi_x3_4_1968"
            | "iso646_us" | "cp367" | "csascii" => Ok(Encoding::Ascii),
            _ => Err(WatchError::UnknownEncoding(name.to_string())),
        }
    }

    /// Python 3.7+ under a C/POSIX locale coerces to UTF-8 (PEP 538/540), so
    /// only an explicit latin-1 or ASCII codeset in the environment gives
    /// anything else.
    pub fn from_locale() -> Encoding {
        let locale = ["LC_ALL", "LC_CTYPE", "LANG"]
            .iter()
            .filter_map(|v| std::env::var(v).ok())
            .find(|v| !v.is_empty())
            .unwrap_or_default();
        let codeset = locale
            .split_once('.')
            .map(|(_, c)| c.split('@').next().unwrap_or(""))
            .unwrap_or("");
        match Encoding::parse(codeset) {
            Ok(Encoding::Latin1) => Encoding::Latin1,
            _ => Encoding::Utf8,
        }
    }

    /// Python's name of the codec, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Utf8 => "utf-8",
            Encoding::Latin1 => "latin-1",
            Encoding::Ascii => "ascii",
        }
    }

    /// Decodes one line; `Err` carries the replaced text when some bytes
    /// could not be decoded, so the caller can warn.
    pub fn decode(self, bytes: &[u8]) -> Result<String, String> {
        match self {
            Encoding::Utf8 => match std::str::from_utf8(bytes) {
                Ok(s) => Ok(s.to_string()),
                // Rust replaces each maximal ill-formed subsequence by one
                // U+FFFD, which is what CPython's UTF-8 decoder does too.
                Err(_) => Err(String::from_utf8_lossy(bytes).into_owned()),
            },
            Encoding::Latin1 => Ok(bytes.iter().map(|&b| b as char).collect()),
            Encoding::Ascii => {
                let s: String = bytes
                    .iter()
                    .map(|&b| if b < 0x80 { b as char } else { '\u{FFFD}' })
                    .collect();
                if bytes.is_ascii() {
                    Ok(s)
                } else {
                    Err(s)
                }
            }
        }
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_like_python() {
        assert_eq!(Encoding::parse("UTF-8").unwrap(), Encoding::Utf8);
        assert_eq!(Encoding::parse("latin_1").unwrap(), Encoding::Latin1);
        assert_eq!(Encoding::parse("ISO-8859-1").unwrap(), Encoding::Latin1);
        assert_eq!(Encoding::parse("us-ascii").unwrap(), Encoding::Ascii);
        assert!(Encoding::parse("klingon").is_err());
    }

    #[test]
    fn replaces_like_python() {
        // python3 -c "print(ascii(b'a\xffb\xe2\x82c\xf0\x9f\x98'.decode('utf-8','replace')))"
        assert_eq!(
            Encoding::Utf8.decode(b"a\xffb\xe2\x82c\xf0\x9f\x98"),
            Err("a\u{fffd}b\u{fffd}c\u{fffd}".to_string())
        );
        // Surrogates, overlongs and beyond U+10FFFF: one U+FFFD per byte there.
        assert_eq!(
            Encoding::Utf8.decode(b"\xed\xa0\x80x\xc0\xafy\xf4\x90\x80\x80"),
            Err(
                "\u{fffd}\u{fffd}\u{fffd}x\u{fffd}\u{fffd}y\u{fffd}\u{fffd}\u{fffd}\u{fffd}"
                    .to_string()
            )
        );
        assert_eq!(Encoding::Utf8.decode("é".as_bytes()), Ok("é".to_string()));
        assert_eq!(Encoding::Latin1.decode(b"\xe9"), Ok("é".to_string()));
        assert_eq!(
            Encoding::Ascii.decode(b"a\xe9"),
            Err("a\u{fffd}".to_string())
        );
    }
}
