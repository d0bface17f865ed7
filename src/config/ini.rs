//! The INI dialect of fail2ban's configuration files, as Python's
//! `configparser` (3.11, `strict=True`, `inline_comment_prefixes=";"`) reads
//! one file.
//!
//! We parse ourselves instead of using rust-ini: on the 164 stock files rust-ini
//! 0.21 differs in four (it joins lines ending in `\`, keeps inline `;`
//! comments or, with its inline-comment feature, corrupts values, and ends a
//! multi-line value at a commented-out line). The rules here, line by line:
//! - `#` or `;` after optional whitespace starts a full-line comment;
//!   `;` at the start or after whitespace starts an inline comment;
//! - a line indented deeper than the option line that started a value
//!   continues it; blank lines inside a value are kept, comment lines are not,
//!   and trailing blank lines are dropped;
//! - `[name]` starts a section (the name is kept as written, `[DEFAULT]` is
//!   special); `key = value` or `key: value` sets an option, splitting at the
//!   first `=` or `:`; keys are lower-cased;
//! - a section or option repeated within one file is an error.

use super::dict::Dict;
use super::error::{ConfigError, ErrorKind, Origin};
use std::path::Path;
use std::sync::Arc;

/// One option's raw (uninterpolated) value and where it was written.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub value: String,
    pub origin: Option<Origin>,
}

impl Entry {
    /// A value that does not come from a file (built-in defaults, command line).
    pub fn synthetic(value: impl Into<String>) -> Entry {
        Entry {
            value: value.into(),
            origin: None,
        }
    }
}

pub type Section = Dict<Entry>;

/// The sections of one file.
#[derive(Clone, Debug, Default)]
pub struct IniFile {
    pub defaults: Section,
    pub sections: Dict<Section>,
}

/// Python's `str.isspace` for one character (Rust's whitespace plus the
/// ASCII separator controls).
pub fn py_isspace(c: char) -> bool {
    c.is_whitespace() || ('\x1c'..='\x1f').contains(&c)
}

/// Python's `str.strip()`.
pub fn py_strip(s: &str) -> &str {
    s.trim_matches(py_isspace)
}

/// Python's `str.rstrip()`.
pub fn py_rstrip(s: &str) -> &str {
    s.trim_end_matches(py_isspace)
}

/// Splits text into lines the way Python's universal-newline reading does.
fn lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let end = rest.find(['\n', '\r']).unwrap_or(rest.len());
        let line = &rest[..end];
        let skip = if rest[end..].starts_with("\r\n") {
            2
        } else {
            (end < rest.len()) as usize
        };
        rest = &rest[end + skip..];
        Some(line)
    })
}

/// Where a comment starts in a line, if anywhere.
fn comment_start(line: &str) -> Option<usize> {
    if py_strip(line).starts_with(['#', ';']) {
        return Some(0);
    }
    let mut prev: Option<char> = None;
    for (i, c) in line.char_indices() {
        if c == ';' && prev.is_none_or(py_isspace) {
            return Some(i);
        }
        prev = Some(c);
    }
    None
}

/// Where the current option's value lives while it is being read.
enum Target {
    Defaults,
    Section(String),
}

/// How many syntax errors of one file are reported.
const MAX_ERRORS_PER_FILE: usize = 20;

/// The first errors of a file, and how many more there were: a huge broken
/// file must not flood the report or fill the memory.
#[derive(Default)]
struct ErrorList {
    kept: Vec<ConfigError>,
    more: usize,
}

impl ErrorList {
    fn push(&mut self, e: ConfigError) {
        if self.kept.len() < MAX_ERRORS_PER_FILE {
            self.kept.push(e);
        } else {
            self.more += 1;
        }
    }
}

/// Parses one file's text. All syntax errors of the file are returned.
pub fn parse(text: &str, file: &Path) -> Result<IniFile, Vec<ConfigError>> {
    let file: Arc<Path> = Arc::from(file);
    let origin = |line: usize| {
        Some(Origin {
            file: file.clone(),
            line,
        })
    };
    let mut out = IniFile::default();
    let mut errors = ErrorList::default();
    // Values are collected as lists of lines and joined at the end, as Python does.
    let mut pending: Vec<(Option<Target>, String, Vec<String>)> = Vec::new();
    let mut target: Option<Target> = None;
    let mut seen_sections: Vec<String> = Vec::new();
    let mut seen_options: std::collections::HashSet<(String, String)> = Default::default();
    let mut section_name = String::new();
    let mut current: Option<usize> = None; // index into `pending` of the option being read
    let mut indent_level = 0usize;

    for (i, line) in lines(text).enumerate() {
        let lineno = i + 1;
        let comment = comment_start(line);
        let value = py_strip(&line[..comment.unwrap_or(line.len())]);
        if value.is_empty() {
            if comment.is_none() {
                if let Some(idx) = current {
                    pending[idx].2.push(String::new());
                }
            }
            continue;
        }
        let indent = line.chars().take_while(|&c| py_isspace(c)).count();
        if let (Some(_), Some(idx)) = (&target, current) {
            if indent > indent_level {
                pending[idx].2.push(value.to_string());
                continue;
            }
        }
        indent_level = indent;
        if let Some(header) = section_header(value) {
            current = None;
            section_name = header.to_string();
            if header == "DEFAULT" {
                target = Some(Target::Defaults);
                continue;
            }
            if seen_sections.iter().any(|s| s == header) {
                errors.push(ConfigError::at(
                    ErrorKind::DuplicateSection {
                        section: header.to_string(),
                    },
                    origin(lineno),
                ));
            } else {
                seen_sections.push(header.to_string());
            }
            if !out.sections.contains_key(header) {
                out.sections.insert(header, Section::new());
            }
            target = Some(Target::Section(header.to_string()));
            continue;
        }
        if target.is_none() {
            errors.push(ConfigError::at(
                ErrorKind::MissingSectionHeader,
                origin(lineno),
            ));
            continue;
        }
        let Some(split) = value.find(['=', ':']) else {
            errors.push(ConfigError::at(
                ErrorKind::InvalidLine {
                    text: line.to_string(),
                },
                origin(lineno),
            ));
            continue;
        };
        let key = py_rstrip(&value[..split]).to_lowercase();
        let val = py_strip(&value[split + 1..]).to_string();
        if key.is_empty() {
            errors.push(ConfigError::at(
                ErrorKind::InvalidLine {
                    text: line.to_string(),
                },
                origin(lineno),
            ));
        }
        if !seen_options.insert((section_name.clone(), key.clone())) {
            errors.push(ConfigError::at(
                ErrorKind::DuplicateOption {
                    section: section_name.clone(),
                    option: key.clone(),
                },
                origin(lineno),
            ));
        }
        let tgt = match target.as_ref().unwrap() {
            Target::Defaults => Target::Defaults,
            Target::Section(s) => Target::Section(s.clone()),
        };
        // Store the origin now; the value is filled in when joined.
        let entry = Entry {
            value: String::new(),
            origin: origin(lineno),
        };
        match &tgt {
            Target::Defaults => out.defaults.insert(key.clone(), entry),
            Target::Section(s) => out.sections.get_mut(s).unwrap().insert(key.clone(), entry),
        }
        pending.push((Some(tgt), key, vec![val]));
        current = Some(pending.len() - 1);
    }
    // Join multi-line values; a later line of the same key replaced the earlier.
    for (tgt, key, parts) in pending {
        let joined = py_rstrip(&parts.join("\n")).to_string();
        let section = match tgt {
            Some(Target::Defaults) => &mut out.defaults,
            Some(Target::Section(s)) => out.sections.get_mut(&s).unwrap(),
            None => continue,
        };
        if let Some(e) = section.get_mut(&key) {
            e.value = joined;
        }
    }
    if errors.kept.is_empty() {
        return Ok(out);
    }
    let mut all = errors.kept;
    if errors.more > 0 {
        let origin = all.last().and_then(|e| e.origin.clone());
        all.push(ConfigError::at(
            ErrorKind::MoreErrors { count: errors.more },
            origin,
        ));
    }
    Err(all)
}

/// Python's `SECTCRE` (`\[(?P<header>.+)\]`, matched at the start): the name
/// runs to the last `]`.
fn section_header(value: &str) -> Option<&str> {
    let rest = value.strip_prefix('[')?;
    let end = rest.rfind(']')?;
    (end > 0).then(|| &rest[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> IniFile {
        parse(text, Path::new("t.conf")).expect("parses")
    }

    fn val<'a>(f: &'a IniFile, sec: &str, key: &str) -> &'a str {
        &f.sections.get(sec).unwrap().get(key).unwrap().value
    }

    #[test]
    fn comments_and_delimiters() {
        let f = p("# c\n  ; c\n[S]\nA = v ; comment\nb: v;kept\nc = x#y\n");
        assert_eq!(val(&f, "S", "a"), "v");
        assert_eq!(val(&f, "S", "b"), "v;kept");
        assert_eq!(val(&f, "S", "c"), "x#y");
    }

    #[test]
    fn multiline_values_keep_blank_lines_and_skip_comments() {
        let f = p("[S]\nm = line1\n  # commented\n  \n  line2\n; c\n  line3\n\n\nn = 1\n");
        assert_eq!(val(&f, "S", "m"), "line1\n\nline2\nline3");
        assert_eq!(val(&f, "S", "n"), "1");
    }

    #[test]
    fn trailing_backslash_is_kept() {
        let f = p("[S]\nt = foo \\\n");
        assert_eq!(val(&f, "S", "t"), "foo \\");
    }

    #[test]
    fn first_delimiter_splits_and_sections_keep_case() {
        let f = p("[Init?family=inet6]\nk = a=b:c\n[DEFAULT]\nd = 1\n");
        assert_eq!(val(&f, "Init?family=inet6", "k"), "a=b:c");
        assert_eq!(f.defaults.get("d").unwrap().value, "1");
    }

    #[test]
    fn errors_name_the_line() {
        let errs = parse("[S]\na = 1\na = 2\n[S]\njunk\n", Path::new("x.conf")).unwrap_err();
        let msgs: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert!(
            msgs[0].starts_with("x.conf:3: option 'a' appears twice"),
            "{msgs:?}"
        );
        assert!(
            msgs[1].starts_with("x.conf:4: section [S] appears twice"),
            "{msgs:?}"
        );
        assert!(msgs[2].starts_with("x.conf:5: cannot parse"), "{msgs:?}");
        let errs = parse("a = 1\n", Path::new("y.conf")).unwrap_err();
        assert_eq!(
            errs[0].to_string(),
            "y.conf:1: an option comes before any [section] header"
        );
    }
}
