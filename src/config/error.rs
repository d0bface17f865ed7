//! Configuration errors: typed, located at `file:line` where a line is known,
//! and printed as one sentence.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

/// Where a value or a problem comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    pub file: Arc<Path>,
    pub line: usize,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// What went wrong.
#[derive(Clone, Debug, PartialEq)]
pub enum ErrorKind {
    /// The file exists but could not be read.
    Unreadable { reason: String },
    /// The file is not valid UTF-8 (fail2ban skips such a file).
    InvalidUtf8,
    /// An option line before any `[section]`.
    MissingSectionHeader,
    /// A section appears twice in one file.
    DuplicateSection { section: String },
    /// An option appears twice in one section of one file.
    DuplicateOption { section: String, option: String },
    /// A line that is neither a section, an option, a comment nor a continuation.
    InvalidLine { text: String },
    /// `%(name)s` names an option that does not exist.
    MissingReference {
        section: String,
        option: String,
        reference: String,
    },
    /// `%(name)s` references nest deeper than Python allows (a loop, usually).
    InterpolationDepth { section: String, option: String },
    /// A `%` not followed by `%` or `(name)s`.
    InterpolationSyntax {
        section: String,
        option: String,
        rest: String,
    },
    /// `<tag>` definitions refer to themselves.
    RecursiveTags { tag: String, found: String },
    /// `name[opt=value, …]` could not be parsed.
    InvalidOptions { spec: String, detail: String },
    /// A filter named by a jail does not exist or cannot be read.
    FilterNotFound { name: String },
    /// An action named by a jail does not exist or cannot be read.
    ActionNotFound { name: String },
    /// The configuration directory does not exist.
    BaseDirMissing { dir: String },
    /// None of NAME.conf, NAME.local, NAME.d/* exist.
    NoConfigFiles { name: String, dir: String },
    /// A jail has no log file to watch.
    NoLogFile { jail: String },
    /// A jail section that is asked for does not exist.
    NoSuchJail { jail: String },
    /// An include chain that refers back to itself without end.
    IncludeLoop { file: String },
    /// An invalid log level.
    InvalidLogLevel { value: String },
    /// More syntax errors follow in the same file.
    MoreErrors { count: usize },
    /// A jail option that is neither read by fail2ban nor referred to.
    UnusedOption { section: String, option: String },
    /// A value that is not of its option's type; fail2ban uses the default.
    InvalidValue {
        option: String,
        value: String,
        expected: &'static str,
    },
}

/// A configuration error, with the place it was found when known.
#[derive(Clone, Debug, PartialEq)]
pub struct ConfigError {
    pub origin: Option<Origin>,
    pub kind: ErrorKind,
}

impl ConfigError {
    pub fn new(kind: ErrorKind) -> Self {
        ConfigError { origin: None, kind }
    }

    pub fn at(kind: ErrorKind, origin: Option<Origin>) -> Self {
        ConfigError { origin, kind }
    }

    /// Attaches a place if the error has none yet.
    pub fn or_at(mut self, origin: Option<&Origin>) -> Self {
        if self.origin.is_none() {
            self.origin = origin.cloned();
        }
        self
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ErrorKind::*;
        match self {
            Unreadable { reason } => write!(f, "cannot read the file: {reason}"),
            InvalidUtf8 => write!(f, "the file is not valid UTF-8, so fail2ban ignores it"),
            MissingSectionHeader => write!(f, "an option comes before any [section] header"),
            DuplicateSection { section } => write!(f, "section [{section}] appears twice in this file"),
            DuplicateOption { section, option } => {
                write!(f, "option '{option}' appears twice in section [{section}]")
            }
            InvalidLine { text } => write!(
                f,
                "cannot parse this line (it is not a section, an 'option = value' or an indented continuation): {text:?}"
            ),
            MissingReference { section, option, reference } => write!(
                f,
                "option '{option}' in [{section}] refers to %({reference})s, which is not defined"
            ),
            InterpolationDepth { section, option } => write!(
                f,
                "option '{option}' in [{section}] nests %(…)s references more than 10 deep (is there a loop?)"
            ),
            InterpolationSyntax { section, option, rest } => write!(
                f,
                "option '{option}' in [{section}] has a '%' that is not '%%' or '%(name)s': {rest:?}"
            ),
            RecursiveTags { tag, found } => write!(
                f,
                "tag <{tag}> refers to <{found}> in a loop and cannot be resolved"
            ),
            InvalidOptions { spec, detail } => write!(f, "invalid options in {spec:?}: {detail}"),
            FilterNotFound { name } => write!(f, "unable to read the filter '{name}'"),
            ActionNotFound { name } => write!(f, "unable to read the action '{name}'"),
            BaseDirMissing { dir } => {
                write!(f, "base configuration directory {dir} does not exist")
            }
            NoConfigFiles { name, dir } => {
                write!(f, "found no accessible config files for '{name}' under {dir}")
            }
            NoLogFile { jail } => write!(f, "have not found any log file for {jail} jail"),
            NoSuchJail { jail } => write!(f, "jail '{jail}' was not found among available"),
            IncludeLoop { file } => write!(f, "[INCLUDES] of {file} include each other without end"),
            InvalidLogLevel { value } => write!(f, "invalid log level '{value}'"),
            MoreErrors { count } => write!(f, "and {count} more lines with errors after this one"),
            UnusedOption { section, option } => write!(
                f,
                "option '{option}' in [{section}] is not a jail option and nothing refers to it, so it has no effect (a typo?)"
            ),
            InvalidValue { option, value, expected } => write!(
                f,
                "'{option}' should be {expected}, not {value:?}; fail2ban ignores it and uses the default"
            ),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.origin {
            Some(origin) => write!(f, "{origin}: {}", self.kind),
            None => write!(f, "{}", self.kind),
        }
    }
}

impl std::error::Error for ConfigError {}
