//! The `systemd` backend: the journal read through a `journalctl -o json
//! --follow` child process (no libsystemd binding needed), filtered by the
//! jail's `journalmatch`, each entry formatted as fail2ban's
//! `FilterSystemd.formatJournalEntry` formats it:
//! `<iso local time> <hostname> <identifier>[<pid>]: <message>`.
//!
//! The reader's descriptor is the child's stdout, non-blocking, for the
//! server's `poll(2)` loop; the child is killed (by its own pid) when the
//! reader is dropped.

use std::io::{self, Read};
use std::os::fd::{AsRawFd, RawFd};
use std::path::PathBuf;
use std::process::{Child, ChildStderr, ChildStdout, Command, Stdio};

use super::encoding::Encoding;
use super::error::WatchError;
use crate::json::{self, Json};

const LOG: &str = "fail2ban.filtersystemd";

/// Longest JSON line accepted from journalctl; longer entries are skipped
/// with a warning (journald caps a message at 48K, JSON escaping can triple it).
pub const MAX_ENTRY: usize = 1024 * 1024;

/// One journal entry, formatted for the filter.
#[derive(Clone, Debug, PartialEq)]
pub struct JournalEntry {
    /// `_SOURCE_REALTIME_TIMESTAMP` (else `__REALTIME_TIMESTAMP`) as Unix time:
    /// the failure time, given to the filter (no date detection on journal lines).
    pub time: f64,
    /// That time as Python's `datetime.isoformat()` in local time (the date
    /// part of the line fail2ban builds).
    pub date: String,
    /// `hostname ident[pid]: message`, newlines as `\n`.
    pub message: String,
    /// `__CURSOR`, to resume after a restart.
    pub cursor: Option<String>,
}

impl JournalEntry {
    /// The whole line as the filter sees it: `date + " " + message`.
    pub fn line(&self) -> String {
        format!("{} {}", self.date, self.message)
    }
}

/// `journalmatch` values: each `addjournalmatch` is a list of words where
/// `+` separates alternatives; everything added is OR'ed, as fail2ban adds
/// disjunctions.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct JournalMatches {
    groups: Vec<Vec<String>>,
}

impl JournalMatches {
    /// Adds one `journalmatch` value (`_SYSTEMD_UNIT=sshd.service + _COMM=sshd`).
    pub fn add(&mut self, spec: &str) -> Result<(), WatchError> {
        let mut group = Vec::new();
        let mut groups = Vec::new();
        for w in spec.split_whitespace() {
            if w == "+" {
                groups.push(std::mem::take(&mut group));
            } else if w.contains('=') || w.starts_with('/') {
                group.push(w.to_string());
            } else {
                return Err(WatchError::Journal(format!(
                    "invalid journal match {w:?} in {spec:?}"
                )));
            }
        }
        groups.push(group);
        self.groups
            .extend(groups.into_iter().filter(|g| !g.is_empty()));
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// journalctl's match arguments: the same words, groups joined by `+`.
    pub fn args(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (i, g) in self.groups.iter().enumerate() {
            if i > 0 {
                out.push("+".to_string());
            }
            out.extend(g.iter().cloned());
        }
        out
    }
}

/// Where to start reading.
#[derive(Clone, Debug, PartialEq)]
pub enum JournalStart {
    /// Only entries written from now on.
    Now,
    /// From a Unix time (fail2ban: `max(saved time, now - findtime)`).
    Since(f64),
    /// After a saved cursor.
    AfterCursor(String),
}

/// Options for a [`JournalReader`].
#[derive(Clone, Debug)]
pub struct JournalReaderBuilder {
    journalctl: PathBuf,
    matches: JournalMatches,
    start: JournalStart,
    encoding: Encoding,
    backend_options: Vec<(String, String)>,
}

impl Default for JournalReaderBuilder {
    fn default() -> Self {
        JournalReaderBuilder {
            journalctl: PathBuf::from("journalctl"),
            matches: JournalMatches::default(),
            start: JournalStart::Now,
            encoding: Encoding::from_locale(),
            backend_options: Vec::new(),
        }
    }
}

impl JournalReaderBuilder {
    /// The journalctl binary (default: `journalctl` from `PATH`).
    pub fn journalctl(&mut self, path: impl Into<PathBuf>) -> &mut Self {
        self.journalctl = path.into();
        self
    }
    pub fn matches(&mut self, m: JournalMatches) -> &mut Self {
        self.matches = m;
        self
    }
    pub fn start(&mut self, s: JournalStart) -> &mut Self {
        self.start = s;
        self
    }
    /// For fields that are not valid UTF-8 (journalctl hands them as bytes).
    pub fn encoding(&mut self, e: Encoding) -> &mut Self {
        self.encoding = e;
        self
    }
    /// `systemd[journalpath=…, journalfiles=…, journalflags=…, namespace=…]`.
    pub fn backend_options(&mut self, opts: Vec<(String, String)>) -> &mut Self {
        self.backend_options = opts;
        self
    }

    /// The journalctl command line (without the program).
    pub fn args(&self) -> Result<Vec<String>, WatchError> {
        let mut a: Vec<String> = [
            "--output=json",
            "--follow",
            "--no-pager",
            "--all",
            "--quiet",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let mut files_or_path = false;
        let mut flags: Option<u32> = None;
        for (k, v) in &self.backend_options {
            match k.as_str() {
                "journalpath" => {
                    a.push(format!("--directory={v}"));
                    files_or_path = true;
                }
                "journalfiles" => {
                    for pattern in v.split_whitespace() {
                        for f in crate::config::glob::glob(pattern) {
                            a.push(format!("--file={f}"));
                            files_or_path = true;
                        }
                    }
                }
                "journalflags" => {
                    flags = Some(v.trim().parse().map_err(|_| {
                        WatchError::Journal(format!("journalflags {v:?} is not a number"))
                    })?)
                }
                "namespace" => a.push(format!("--namespace={v}")),
                other => {
                    return Err(WatchError::Journal(format!(
                        "unknown systemd backend option {other:?}"
                    )))
                }
            }
        }
        // fail2ban opens system journals only (SD_JOURNAL_SYSTEM = 4, or
        // $F2B_SYSTEMD_DEFAULT_FLAGS) unless files or a path are given.
        if flags.is_none() && !files_or_path {
            flags = Some(
                std::env::var("F2B_SYSTEMD_DEFAULT_FLAGS")
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(4),
            );
        }
        if let Some(f) = flags {
            match (f & 4 != 0, f & 8 != 0) {
                (true, false) => a.push("--system".into()),
                (false, true) => a.push("--user".into()),
                _ => {}
            }
        }
        match &self.start {
            JournalStart::Now => a.push("--lines=0".into()),
            JournalStart::Since(t) => a.push(format!("--since=@{}", t.max(0.0).floor() as u64)),
            JournalStart::AfterCursor(c) => a.push(format!("--after-cursor={c}")),
        }
        a.extend(self.matches.args());
        Ok(a)
    }

    pub fn spawn(&self) -> Result<JournalReader, WatchError> {
        if self.matches.is_empty() {
            log::warn!(target: LOG, "Jail started without 'journalmatch' set. Jail regexs will be checked against all journal entries, which is not advised for performance reasons.");
        }
        let args = self.args()?;
        let mut child = Command::new(&self.journalctl)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| WatchError::Journal(format!("{}: {e}", self.journalctl.display())))?;
        let stdout = child.stdout.take().expect("piped");
        let stderr = child.stderr.take().expect("piped");
        set_nonblocking(stdout.as_raw_fd());
        set_nonblocking(stderr.as_raw_fd());
        log::debug!(target: LOG, "Started {} {}", self.journalctl.display(), args.join(" "));
        Ok(JournalReader {
            child,
            stdout,
            stderr,
            buf: Vec::new(),
            skipping: false,
            encoding: self.encoding,
            cursor: None,
            ended: false,
        })
    }
}

fn set_nonblocking(fd: RawFd) {
    // SAFETY: fcntl on a descriptor we own.
    unsafe {
        let fl = libc::fcntl(fd, libc::F_GETFL);
        libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK);
    }
}

/// A running `journalctl`.
pub struct JournalReader {
    child: Child,
    stdout: ChildStdout,
    stderr: ChildStderr,
    buf: Vec<u8>,
    skipping: bool,
    encoding: Encoding,
    cursor: Option<String>,
    ended: bool,
}

impl JournalReader {
    pub fn builder() -> JournalReaderBuilder {
        JournalReaderBuilder::default()
    }

    /// The descriptor to poll for `POLLIN`.
    pub fn fd(&self) -> RawFd {
        self.stdout.as_raw_fd()
    }

    /// The cursor of the last entry read (to resume after a restart).
    pub fn cursor(&self) -> Option<&str> {
        self.cursor.as_deref()
    }

    /// The journalctl child's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether journalctl has exited (then spawn a new reader, after the cursor).
    pub fn has_ended(&self) -> bool {
        self.ended
    }

    /// Reads the complete entries available now (up to about 1 MiB of
    /// output per call), without blocking.
    pub fn read_entries(&mut self) -> Result<Vec<JournalEntry>, WatchError> {
        self.drain_stderr();
        let mut out = Vec::new();
        let mut chunk = vec![0u8; 64 * 1024];
        // At most 1 MiB per call: a big backlog (seeking to now - findtime on
        // a busy host) must not hold the server's loop; the descriptor stays
        // readable for the rest.
        for _ in 0..16 {
            match self.stdout.read(&mut chunk) {
                Ok(0) => {
                    self.ended = true;
                    let status = self.child.wait().map(|s| s.to_string()).unwrap_or_default();
                    self.drain_stderr();
                    if out.is_empty() {
                        return Err(WatchError::Journal(format!("journalctl ended ({status})")));
                    }
                    log::error!(target: LOG, "journalctl ended ({status})");
                    break;
                }
                Ok(n) => self.split(&chunk[..n], &mut out),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(WatchError::Journal(e.to_string())),
            }
        }
        Ok(out)
    }

    fn split(&mut self, mut data: &[u8], out: &mut Vec<JournalEntry>) {
        while !data.is_empty() {
            match data.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    if self.skipping {
                        self.skipping = false;
                    } else {
                        self.buf.extend_from_slice(&data[..i]);
                        let line = std::mem::take(&mut self.buf);
                        if let Some(e) = self.entry(&line) {
                            out.push(e);
                        }
                    }
                    data = &data[i + 1..];
                }
                None => {
                    if !self.skipping {
                        self.buf.extend_from_slice(data);
                        if self.buf.len() > MAX_ENTRY {
                            log::warn!(target: LOG, "Skipping a journal entry of more than {MAX_ENTRY} bytes");
                            self.buf = Vec::new();
                            self.skipping = true;
                        }
                    }
                    data = &[];
                }
            }
        }
    }

    fn entry(&mut self, line: &[u8]) -> Option<JournalEntry> {
        let text = String::from_utf8_lossy(line);
        if text.trim().is_empty() {
            return None;
        }
        let Some(Json::Obj(fields)) = json::parse(&text) else {
            log::warn!(target: LOG, "Skipping unreadable output of journalctl: {:?}", truncate(&text, 200));
            return None;
        };
        let e = format_entry(&fields, self.encoding);
        if let Some(c) = &e.cursor {
            self.cursor = Some(c.clone());
        }
        Some(e)
    }

    fn drain_stderr(&mut self) {
        let mut b = vec![0u8; 4096];
        while let Ok(n) = self.stderr.read(&mut b) {
            if n == 0 {
                break;
            }
            for l in String::from_utf8_lossy(&b[..n])
                .lines()
                .filter(|l| !l.trim().is_empty())
            {
                log::warn!(target: LOG, "journalctl: {l}");
            }
        }
    }
}

impl Drop for JournalReader {
    fn drop(&mut self) {
        if !self.ended {
            // Our own child, by its pid (Child::kill).
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn truncate(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// A field's values as bytes: a string, an array of byte values (binary
/// data), or an array of those (a field given several times).
fn values(v: &Json) -> Vec<Vec<u8>> {
    match v {
        Json::Str(s) => vec![s.as_bytes().to_vec()],
        Json::Arr(items) if items.iter().all(|i| matches!(i, Json::Num(_))) => {
            vec![items
                .iter()
                .filter_map(|i| {
                    if let Json::Num(n) = i {
                        n.parse::<u8>().ok()
                    } else {
                        None
                    }
                })
                .collect()]
        }
        Json::Arr(items) => items.iter().flat_map(values).collect(),
        Json::Num(n) => vec![n.as_bytes().to_vec()],
        _ => Vec::new(),
    }
}

fn decode(b: &[u8], enc: Encoding) -> String {
    // uni_decode: strict first, then with replacement; journal strings are UTF-8.
    match std::str::from_utf8(b) {
        Ok(s) => s.to_string(),
        Err(_) => enc.decode(b).unwrap_or_else(|s| s),
    }
}

/// Python's `"%i" % int(v, 0)` where that works: decimal, `0x`, `0o`, `0b`.
fn python_int(s: &str) -> Option<i64> {
    let t = s.trim();
    let (neg, t) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let t = t.replace('_', "");
    let lower = t.to_ascii_lowercase();
    let v = if let Some(h) = lower.strip_prefix("0x") {
        i64::from_str_radix(h, 16).ok()?
    } else if let Some(o) = lower.strip_prefix("0o") {
        i64::from_str_radix(o, 8).ok()?
    } else if let Some(b) = lower.strip_prefix("0b") {
        i64::from_str_radix(b, 2).ok()?
    } else if t.len() > 1 && t.starts_with('0') && t.bytes().any(|c| c != b'0') {
        return None; // Python refuses leading zeros with base 0
    } else {
        t.parse().ok()?
    };
    Some(if neg { -v } else { v })
}

/// A PID field as fail2ban prints it: python-systemd makes it an int
/// (decimal, so `0` is false and skipped), else fail2ban tries `int(v, 0)`,
/// else prints the value.
fn pid_text(v: &str) -> Option<String> {
    if let Ok(n) = v.trim().parse::<i64>() {
        return (n != 0).then(|| format!("[{n}]"));
    }
    Some(match python_int(v) {
        Some(n) => format!("[{n}]"),
        None => format!("[{v}]"),
    })
}

/// Local time as Python's `datetime.fromtimestamp(us / 1e6).isoformat()`.
fn iso_local(us: i64) -> String {
    let micros = us.rem_euclid(1_000_000);
    let base =
        crate::filter::clock::CivilTime::from_local_seconds(us.div_euclid(1_000_000)).format('T');
    if micros == 0 {
        base
    } else {
        format!("{base}.{micros:06}")
    }
}

/// fail2ban's `formatJournalEntry` over journalctl's JSON fields.
pub(crate) fn format_entry(fields: &[(String, Json)], enc: Encoding) -> JournalEntry {
    let get = |k: &str| {
        fields
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| values(v))
            .filter(|v| !v.is_empty())
    };
    let first = |k: &str| get(k).map(|v| decode(&v[0], enc)).filter(|s| !s.is_empty());
    let mut parts: Vec<String> = Vec::new();
    if let Some(h) = first("_HOSTNAME") {
        parts.push(h);
    }
    if let Some(ident) = first("SYSLOG_IDENTIFIER").or_else(|| first("_COMM")) {
        let mut p = ident;
        if let Some(pid) = first("SYSLOG_PID")
            .and_then(|v| pid_text(&v))
            .or_else(|| first("_PID").and_then(|v| pid_text(&v)))
        {
            p.push_str(&pid);
        }
        p.push(':');
        let kernel = p == "kernel:";
        parts.push(p);
        if kernel {
            let mono =
                first("_SOURCE_MONOTONIC_TIMESTAMP").or_else(|| first("__MONOTONIC_TIMESTAMP"));
            let us: f64 = mono.and_then(|m| m.parse().ok()).unwrap_or(0.0);
            parts.push(format!("[{:12.6}]", us / 1e6));
        }
    }
    let msg = get("MESSAGE")
        .map(|v| {
            v.iter()
                .map(|b| decode(b, enc))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    parts.push(msg);
    let message = parts.join(" ").replace('\n', "\\n");
    let us: i64 = first("_SOURCE_REALTIME_TIMESTAMP")
        .and_then(|t| t.parse().ok())
        .or_else(|| first("__REALTIME_TIMESTAMP").and_then(|t| t.parse().ok()))
        .unwrap_or(0);
    JournalEntry {
        time: us as f64 / 1e6,
        date: iso_local(us),
        message,
        cursor: first("__CURSOR"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(j: &str) -> Vec<(String, Json)> {
        match json::parse(j).unwrap() {
            Json::Obj(f) => f,
            _ => panic!(),
        }
    }

    #[test]
    fn matches_become_journalctl_arguments() {
        let mut m = JournalMatches::default();
        m.add("_SYSTEMD_UNIT=sshd.service + _COMM=sshd").unwrap();
        m.add("_SYSTEMD_UNIT=ssh.service").unwrap();
        assert_eq!(
            m.args(),
            [
                "_SYSTEMD_UNIT=sshd.service",
                "+",
                "_COMM=sshd",
                "+",
                "_SYSTEMD_UNIT=ssh.service"
            ]
        );
        assert!(m.add("sshd").is_err());
    }

    #[test]
    fn formats_like_filtersystemd() {
        let f = fields(
            r#"{"__CURSOR":"s=1","__REALTIME_TIMESTAMP":"1700000000123456","_HOSTNAME":"web","SYSLOG_IDENTIFIER":"sshd","_PID":"42","MESSAGE":"Failed password\nfor root"}"#,
        );
        let e = format_entry(&f, Encoding::Utf8);
        assert_eq!(e.message, "web sshd[42]: Failed password\\nfor root");
        assert_eq!(e.time, 1700000000.123456);
        assert!(e.date.ends_with(".123456"), "{}", e.date);
        assert_eq!(e.cursor.as_deref(), Some("s=1"));
        // SYSLOG_PID wins over _PID, _COMM stands in for SYSLOG_IDENTIFIER,
        // binary MESSAGE comes as bytes.
        let f = fields(
            r#"{"__REALTIME_TIMESTAMP":"1700000000000000","_COMM":"su","SYSLOG_PID":"0x10","_PID":"9","MESSAGE":[104,105,255]}"#,
        );
        let e = format_entry(&f, Encoding::Utf8);
        assert_eq!(e.message, "su[16]: hi\u{fffd}");
        assert!(
            !e.date.contains('.'),
            "no fraction when microseconds are 0: {}",
            e.date
        );
        let f = fields(
            r#"{"__REALTIME_TIMESTAMP":"1","SYSLOG_IDENTIFIER":"kernel","__MONOTONIC_TIMESTAMP":"12345678","MESSAGE":"oops"}"#,
        );
        assert_eq!(
            format_entry(&f, Encoding::Utf8).message,
            "kernel: [   12.345678] oops"
        );
        let f = fields(r#"{"__REALTIME_TIMESTAMP":"1","MESSAGE":["a","b"]}"#);
        assert_eq!(format_entry(&f, Encoding::Utf8).message, "a b");
    }

    #[test]
    fn python_int_base_zero() {
        assert_eq!(python_int("42"), Some(42));
        assert_eq!(python_int("0x1f"), Some(31));
        assert_eq!(python_int("0"), Some(0));
        assert_eq!(python_int("010"), None);
        assert_eq!(python_int("abc"), None);
    }
}
