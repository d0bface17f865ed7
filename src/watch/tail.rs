//! `FileTail`: one log file followed as fail2ban's `FileContainer` follows
//! it: start at its head or its tail, hand over complete lines only, decode
//! them with the jail's `logencoding`, and survive rotation.
//!
//! Unlike fail2ban, the file stays open between reads. That is what lets a
//! rename+create rotation lose nothing: the old file is drained through the
//! descriptor we hold (even after the writer's last lines arrive late)
//! before the new file is read from its start. A copytruncate rotation is
//! recognised by the file shrinking or its first line changing; the lines
//! we had not read yet are then taken from the copy logrotate just made
//! (same first-line hash, in the same directory), so they are not lost
//! either.

use std::fs::File;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::encoding::Encoding;
use super::error::WatchError;
use super::reader::{first_line_hash, Piece, Reader, CHUNK};

/// Longest line handed over by default; longer ones are skipped with a
/// warning (no legitimate log line comes near it; journald's own limit is 48K).
pub const DEFAULT_MAX_LINE: usize = 64 * 1024;

/// Bytes read from one file per call by default, so that one huge backlog
/// cannot starve the other files of an event loop.
pub const DEFAULT_READ_BUDGET: usize = 1024 * 1024;

/// A rotated-away (or deleted) file is closed once it has been quiet for
/// this long, by default.
pub const DEFAULT_RETIRE_IDLE: Duration = Duration::from_secs(60);

const LOG: &str = "fail2ban.filter";

/// Where reading starts in a file that exists when it is added (`logpath`'s
/// `head`/`tail` option; a file that appears later is always read whole).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum StartAt {
    /// From the beginning (fail2ban's default).
    #[default]
    Head,
    /// From the end: only lines written from now on.
    Tail,
}

struct Retired {
    reader: Reader,
    last_growth: Instant,
}

/// One followed log file.
pub struct FileTail {
    path: PathBuf,
    encoding: Encoding,
    max_line: usize,
    retire_idle: Duration,
    current: Option<Reader>,
    retired: Vec<Retired>,
    hash: String,
    last_size: u64,
    decode_warned: bool,
    absent_logged: bool,
}

/// Options for opening a [`FileTail`].
#[derive(Clone, Debug)]
pub struct FileTailBuilder {
    start: StartAt,
    encoding: Encoding,
    max_line: usize,
    missing_ok: bool,
    retire_idle: Duration,
}

impl Default for FileTailBuilder {
    fn default() -> Self {
        FileTailBuilder {
            start: StartAt::Head,
            encoding: Encoding::from_locale(),
            max_line: DEFAULT_MAX_LINE,
            missing_ok: false,
            retire_idle: DEFAULT_RETIRE_IDLE,
        }
    }
}

impl FileTailBuilder {
    pub fn start(&mut self, start: StartAt) -> &mut Self {
        self.start = start;
        self
    }
    pub fn encoding(&mut self, encoding: Encoding) -> &mut Self {
        self.encoding = encoding;
        self
    }
    /// Lines longer than this many bytes are skipped with a warning.
    pub fn max_line(&mut self, max_line: usize) -> &mut Self {
        self.max_line = max_line.max(1);
        self
    }
    /// Accept a file that does not exist yet: it is read from its start when
    /// it appears. Otherwise opening a missing file is an error, as in fail2ban.
    pub fn missing_ok(&mut self, yes: bool) -> &mut Self {
        self.missing_ok = yes;
        self
    }

    /// How long a rotated-away or deleted file must stay quiet before it is
    /// closed (sooner once the new file has data).
    pub fn retire_idle(&mut self, d: Duration) -> &mut Self {
        self.retire_idle = d;
        self
    }

    pub fn open(&self, path: impl AsRef<Path>) -> Result<FileTail, WatchError> {
        let path = path.as_ref().to_path_buf();
        let mut tail = FileTail {
            path,
            encoding: self.encoding,
            max_line: self.max_line,
            retire_idle: self.retire_idle,
            current: None,
            retired: Vec::new(),
            hash: String::new(),
            last_size: 0,
            decode_warned: false,
            absent_logged: false,
        };
        match File::open(&tail.path) {
            Ok(file) => {
                let meta = file.metadata().map_err(|e| WatchError::io(&tail.path, e))?;
                if meta.is_dir() {
                    return Err(WatchError::io(
                        &tail.path,
                        io::Error::from_raw_os_error(libc::EISDIR),
                    ));
                }
                let size = meta.len();
                let start = match self.start {
                    StartAt::Head => 0,
                    StartAt::Tail => size,
                };
                tail.attach(file, start)?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound && self.missing_ok => {
                tail.absent_logged = true;
            }
            Err(e) => return Err(WatchError::io(&tail.path, e)),
        }
        Ok(tail)
    }
}

impl FileTail {
    pub fn builder() -> FileTailBuilder {
        FileTailBuilder::default()
    }

    /// The log's path as configured.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn encoding(&self) -> Encoding {
        self.encoding
    }

    pub fn set_encoding(&mut self, encoding: Encoding) {
        self.encoding = encoding;
    }

    /// The offset of the first byte not delivered yet in the current file
    /// (always a line start unless a line is being skipped); what fail2ban's
    /// database stores as `lastfilepos`.
    pub fn position(&self) -> u64 {
        self.current.as_ref().map_or(0, |r| r.pos)
    }

    /// Hex digest of the current file's first line, `""` while it has no
    /// complete first line: what fail2ban's database stores as
    /// `firstlinemd5`, which under Python 3 is in fact SHA-1 (see `sha1`).
    pub fn first_line_hash(&self) -> &str {
        &self.hash
    }

    /// Whether a file is open (false while the path does not exist).
    pub fn is_open(&self) -> bool {
        self.current.is_some()
    }

    /// Whether the path was missing at the last check (deleted or renamed
    /// away, the open file still being read).
    pub fn is_absent(&self) -> bool {
        self.absent_logged
    }

    /// The (device, inode) of the open file, and of rotated ones still drained.
    pub fn inodes(&self) -> Vec<(u64, u64)> {
        self.current
            .iter()
            .chain(self.retired.iter().map(|r| &r.reader))
            .map(|r| (r.dev, r.ino))
            .collect()
    }

    /// Continues from a position saved earlier (fail2ban's database), but only
    /// if the first line still hashes the same and the file is long enough:
    /// otherwise the file was rotated meanwhile and the current start stays.
    /// Returns whether the position was taken.
    pub fn restore(&mut self, pos: u64, hash: &str) -> bool {
        let Some(cur) = self.current.as_mut() else {
            return false;
        };
        if hash.is_empty() || hash != self.hash || cur.size().map_or(true, |s| s < pos) {
            return false;
        }
        match cur.file.try_clone().and_then(|f| Reader::new(f, pos)) {
            Ok(r) => {
                *cur = r;
                true
            }
            Err(_) => false,
        }
    }

    /// fail2ban's first-read `seekToTime` for a head start: moves to the
    /// first line (from the current position on) whose time is at least
    /// `start` (fail2ban: now - findtime), by bisection over line starts, so
    /// a big old log is not read whole at startup. `time_of` is the jail's
    /// date detection; of up to 5 lines after a probe the first dated one
    /// counts. A file without any date is left where it was, as fail2ban
    /// does. Returns the new position.
    pub fn seek_to_time(
        &mut self,
        start: f64,
        mut time_of: impl FnMut(&str) -> Option<f64>,
    ) -> Result<u64, WatchError> {
        let (enc, max_line) = (self.encoding, self.max_line);
        let Some(cur) = self.current.as_mut() else {
            return Ok(0);
        };
        let io = |e| WatchError::io(&self.path, e);
        let size = cur.size().map_err(io)?;
        let file = &cur.file;
        let mut any_date = false;
        let mut is_late = |s: u64| -> io::Result<bool> {
            let mut at = s;
            for _ in 0..5 {
                let Some((line, next)) = line_at(file, at, size, max_line)? else {
                    return Ok(false);
                };
                let text = enc.decode(strip_cr(&line)).unwrap_or_else(|t| t);
                if let Some(t) = time_of(&text) {
                    any_date = true;
                    return Ok(t >= start);
                }
                at = next;
            }
            Ok(false)
        };
        let (mut lo, mut hi, mut ans) = (cur.pos, size, size);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let s = line_start_at_or_after(file, mid, size).map_err(io)?;
            if s >= ans {
                hi = mid;
            } else if is_late(s).map_err(io)? {
                ans = s;
                hi = mid;
            } else {
                lo = s + 1;
            }
        }
        if any_date && ans != cur.pos {
            let r = cur
                .file
                .try_clone()
                .and_then(|f| Reader::new(f, ans))
                .map_err(io)?;
            *cur = r;
        }
        Ok(cur.pos)
    }

    fn attach(&mut self, file: File, start: u64) -> Result<(), WatchError> {
        let meta = file.metadata().map_err(|e| WatchError::io(&self.path, e))?;
        self.hash = first_line_hash(&file, self.max_line)
            .map_err(|e| WatchError::io(&self.path, e))?
            .unwrap_or_default();
        self.last_size = meta.len();
        self.current = Some(Reader::new(file, start).map_err(|e| WatchError::io(&self.path, e))?);
        Ok(())
    }

    /// Checks for rotation and reads what is new: lines of rotated-away
    /// files first, then of the current file, at most about `budget` bytes
    /// of the current file. Returns whether more is left to read (call again
    /// without waiting for an event).
    pub fn read_lines(&mut self, out: &mut Vec<String>, budget: usize) -> Result<bool, WatchError> {
        // Seen before draining the old files: a single writer that has moved
        // on to the new file has finished writing the old one.
        let current_has_data = match &self.current {
            Some(r) => r.size().is_ok_and(|s| s > 0),
            None => false,
        };
        self.drain_retired(out, current_has_data);
        self.check_rotation(out)?;
        let Some(mut cur) = self.current.take() else {
            return Ok(false);
        };
        let res = self.read_from(&mut cur, budget, out);
        self.current = Some(cur);
        let n = res.map_err(|e| WatchError::io(&self.path, e))?;
        Ok(n >= budget)
    }

    /// Whether rotated-away files are still open (they need periodic checks:
    /// events for them may come from a directory nobody watches).
    pub fn has_retired(&self) -> bool {
        !self.retired.is_empty()
    }

    fn drain_retired(&mut self, out: &mut Vec<String>, current_has_data: bool) {
        let now = Instant::now();
        let mut retired = std::mem::take(&mut self.retired);
        retired.retain_mut(|old| {
            match self.read_from(&mut old.reader, usize::MAX, out) {
                Ok(0) => {
                    let keep = !current_has_data && now.duration_since(old.last_growth) < self.retire_idle;
                    if !keep {
                        log::debug!(target: LOG, "Closed the rotated-away file of {}", self.path.display());
                    }
                    keep
                }
                Ok(_) => {
                    old.last_growth = now;
                    true
                }
                Err(e) => {
                    log::warn!(target: LOG, "Unable to read the rotated-away file of {}: {e}", self.path.display());
                    false
                }
            }
        });
        self.retired = retired;
    }

    fn check_rotation(&mut self, out: &mut Vec<String>) -> Result<(), WatchError> {
        let meta = match std::fs::metadata(&self.path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if let Some(mut old) = self.current.take() {
                    // Deleted or renamed away: drained like a rotated file
                    // (its writer may still add to it), then closed so a
                    // deleted file's space is given back.
                    log::info!(target: LOG, "Log absence detected (possibly rotation) for {}", self.path.display());
                    let _ = self.read_from(&mut old, usize::MAX, out);
                    self.retired.push(Retired {
                        reader: old,
                        last_growth: Instant::now(),
                    });
                }
                self.absent_logged = true;
                return Ok(());
            }
            Err(e) => return Err(WatchError::io(&self.path, e)),
        };
        let Some(cur) = self.current.as_mut() else {
            // The file appeared: it is all new, read it from its start.
            let file = match File::open(&self.path) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(WatchError::io(&self.path, e)),
            };
            log::info!(target: LOG, "Log presence detected for file {}", self.path.display());
            self.absent_logged = false;
            return self.attach(file, 0);
        };
        if (meta.dev(), meta.ino()) != (cur.dev, cur.ino) {
            // Rename+create: finish the old file, keep it open for late
            // writes, and read the new one from its start.
            let file = match File::open(&self.path) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(WatchError::io(&self.path, e)),
            };
            let mut old = self.current.take().expect("checked above");
            let _ = self.read_from(&mut old, usize::MAX, out);
            log::info!(target: LOG, "Log rotation detected for {}, reason: new file (inode {} -> {})",
                self.path.display(), old.ino, meta.ino());
            self.retired.push(Retired {
                reader: old,
                last_growth: Instant::now(),
            });
            self.absent_logged = false;
            return self.attach(file, 0);
        }
        self.absent_logged = false;
        let size = cur.size().map_err(|e| WatchError::io(&self.path, e))?;
        let shrunk = size < cur.off;
        let mut replaced = false;
        if !shrunk && size != self.last_size {
            // Truncated and already grown past our offset: only the first
            // line tells.
            let now = first_line_hash(&cur.file, self.max_line)
                .map_err(|e| WatchError::io(&self.path, e))?
                .unwrap_or_default();
            if self.hash.is_empty() {
                self.hash = now;
            } else if now != self.hash {
                replaced = true;
            }
        }
        self.last_size = size;
        if shrunk || replaced {
            log::info!(target: LOG, "Log rotation detected for {}, reason: {} (size {size}, position {})",
                self.path.display(), if shrunk { "truncated" } else { "first line changed" }, cur.off);
            self.recover_from_copy(out);
            let cur = self.current.as_mut().expect("checked above");
            cur.reset(0);
            self.hash = first_line_hash(&cur.file, self.max_line)
                .map_err(|e| WatchError::io(&self.path, e))?
                .unwrap_or_default();
        }
        Ok(())
    }

    /// After a copytruncate, reads the lines we had not read yet from the
    /// copy: a file in the same directory named after ours (`auth.log.1`,
    /// `auth.log-20261125`), not compressed, with our first line and at
    /// least as long as what we had read.
    fn recover_from_copy(&mut self, out: &mut Vec<String>) {
        let Some(cur) = self.current.as_ref() else {
            return;
        };
        if self.hash.is_empty() || cur.pos == 0 && cur.off == 0 {
            return;
        }
        let (Some(dir), Some(name)) = (self.path.parent(), self.path.file_name()) else {
            return;
        };
        let name = name.to_string_lossy().into_owned();
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        let mut best: Option<(std::time::SystemTime, PathBuf, File)> = None;
        for e in entries.flatten() {
            let fname = e.file_name().to_string_lossy().into_owned();
            if fname.len() <= name.len() || !fname.starts_with(&name) {
                continue;
            }
            if [".gz", ".bz2", ".xz", ".zst", ".Z", ".lz4", ".lzma"]
                .iter()
                .any(|x| fname.ends_with(x))
            {
                continue;
            }
            let Ok(file) = File::open(e.path()) else {
                continue;
            };
            let Ok(meta) = file.metadata() else { continue };
            if !meta.is_file()
                || meta.len() < cur.pos
                || (meta.dev(), meta.ino()) == (cur.dev, cur.ino)
            {
                continue;
            }
            match first_line_hash(&file, self.max_line) {
                Ok(Some(h)) if h == self.hash => {}
                _ => continue,
            }
            let mtime = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
            if best.as_ref().is_none_or(|(t, _, _)| mtime > *t) {
                best = Some((mtime, e.path(), file));
            }
        }
        let from = cur.pos;
        let Some((_, copy, file)) = best else {
            log::debug!(target: LOG, "No copy of {} found: lines after position {from} may be lost", self.path.display());
            return;
        };
        let Ok(mut r) = Reader::new(file, from) else {
            return;
        };
        let before = out.len();
        let _ = self.read_from(&mut r, usize::MAX, out);
        log::info!(target: LOG, "Read {} lines left in {} (the copy of {})",
            out.len() - before, copy.display(), self.path.display());
    }

    /// Runs a reader, decoding its lines into `out`; returns bytes read.
    fn read_from(
        &mut self,
        r: &mut Reader,
        budget: usize,
        out: &mut Vec<String>,
    ) -> io::Result<usize> {
        // One read buffer per thread, not per file: a server tails hundreds
        // of files, and 64 KiB each would be most of its memory.
        thread_local! {
            static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        let mut buf = SCRATCH.with(|s| s.take());
        if buf.len() != CHUNK {
            buf = vec![0u8; CHUNK];
        }
        let (path, enc, max_line) = (&self.path, self.encoding, self.max_line);
        let warned = &mut self.decode_warned;
        let res = r.read(budget, max_line, &mut buf, &mut |piece| match piece {
            Piece::Line(mut l) => {
                // Python's rstrip('\r\n'): the newline is gone already,
                // carriage returns before it go too.
                while let [rest @ .., b'\r'] = l {
                    l = rest;
                }
                match enc.decode(l) {
                    Ok(s) => out.push(s),
                    Err(s) => {
                        if !*warned {
                            *warned = true;
                            log::warn!(target: LOG, "Error decoding line from '{}' with '{enc}'.", path.display());
                            log::warn!(target: LOG, "Consider setting logencoding to appropriate encoding for this jail. Continuing to process line ignoring invalid characters: {:?}", String::from_utf8_lossy(l));
                        } else {
                            log::debug!(target: LOG, "Error decoding line from '{}' with '{enc}'.", path.display());
                        }
                        out.push(s);
                    }
                }
            }
            Piece::TooLong { offset, len } => {
                log::warn!(target: LOG, "Skipping a line of more than {max_line} bytes ({len} seen) at offset {offset} of {}", path.display());
            }
        });
        SCRATCH.with(|s| s.replace(buf));
        res
    }
}

fn strip_cr(mut l: &[u8]) -> &[u8] {
    while let [rest @ .., b'\r'] = l {
        l = rest;
    }
    l
}

/// The first line start at or after `off`.
fn line_start_at_or_after(file: &File, off: u64, size: u64) -> io::Result<u64> {
    use std::os::unix::fs::FileExt;
    if off == 0 {
        return Ok(0);
    }
    let mut at = off - 1;
    let mut buf = [0u8; 4096];
    while at < size {
        let n = file.read_at(&mut buf, at)?;
        if n == 0 {
            break;
        }
        if let Some(i) = buf[..n].iter().position(|&b| b == b'\n') {
            return Ok(at + i as u64 + 1);
        }
        at += n as u64;
    }
    Ok(size)
}

/// The complete line starting at `off` (without its newline, at most
/// `max_line` bytes kept) and the next line's start; `None` at the end or
/// for an unterminated last line.
fn line_at(
    file: &File,
    off: u64,
    size: u64,
    max_line: usize,
) -> io::Result<Option<(Vec<u8>, u64)>> {
    use std::os::unix::fs::FileExt;
    let mut line = Vec::new();
    let mut at = off;
    let mut buf = [0u8; 4096];
    while at < size {
        let n = file.read_at(&mut buf, at)?;
        if n == 0 {
            break;
        }
        if let Some(i) = buf[..n].iter().position(|&b| b == b'\n') {
            if line.len() < max_line {
                line.extend_from_slice(&buf[..i.min(max_line - line.len())]);
            }
            return Ok(Some((line, at + i as u64 + 1)));
        }
        if line.len() < max_line {
            line.extend_from_slice(&buf[..n.min(max_line - line.len())]);
        }
        at += n as u64;
    }
    Ok(None)
}
