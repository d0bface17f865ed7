//! `Watcher`: every followed log file of every jail behind one inotify
//! instance, driven by the server's own `poll(2)` loop (no threads here).
//!
//! Directories are watched, not files: a directory watch reports writes to
//! its entries (`IN_MODIFY` with the name) as well as entries appearing
//! (`IN_CREATE`, `IN_MOVED_TO`), so one watch per directory covers appends,
//! both kinds of rotation, files created later and glob re-evaluation, and
//! the number of watches grows with directories, not files. An event only
//! says "look at this file"; what happened is always found out by
//! `FileTail` itself, so coalesced or lost events cost latency, never lines
//! (a periodic sweep covers overflows and directories no one watches).
//!
//! Driving it:
//!
//! ```no_run
//! # use ferroban::watch::*;
//! # use std::time::Instant;
//! let mut w = Watcher::builder().build().unwrap();
//! let opts = FileOptions::default();
//! w.add_glob(JailId(0), "/var/log/auth.log*", &opts).unwrap();
//! loop {
//!     let timeout = if w.has_backlog() { 0 } else {
//!         w.next_deadline().saturating_duration_since(Instant::now()).as_millis() as i32
//!     };
//!     // poll(2) on w.fd() (POLLIN) and the server's other descriptors…
//! #   let _ = timeout;
//!     for batch in w.process_events().into_iter().chain(w.poll_due(Instant::now())) {
//!         // hand batch.lines to the jail batch.jail's filter
//! #       let _ = batch;
//!     }
//! }
//! ```

use std::collections::{BTreeSet, HashMap, HashSet};
use std::ffi::OsString;
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::backend::Backend;
use super::encoding::Encoding;
use super::error::WatchError;
use super::inotify::{Event, Inotify};
use super::tail::{FileTail, StartAt, DEFAULT_MAX_LINE, DEFAULT_READ_BUDGET, DEFAULT_RETIRE_IDLE};

const LOG: &str = "fail2ban.filter";

/// The server's name for a jail (an index of its choosing).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JailId(pub usize);

/// One followed file inside a [`Watcher`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId(usize);

/// How one jail follows its files.
#[derive(Clone, Debug)]
pub struct FileOptions {
    pub start: StartAt,
    pub encoding: Encoding,
    pub backend: Backend,
    /// Accept a path that does not exist yet (read whole when it appears).
    pub missing_ok: bool,
}

impl Default for FileOptions {
    fn default() -> Self {
        FileOptions {
            start: StartAt::Head,
            encoding: Encoding::from_locale(),
            backend: Backend::Auto,
            missing_ok: false,
        }
    }
}

/// New lines of one file.
#[derive(Debug, Clone, PartialEq)]
pub struct Lines {
    pub jail: JailId,
    pub file: FileId,
    pub path: PathBuf,
    pub lines: Vec<String>,
}

struct Slot {
    jail: JailId,
    tail: FileTail,
    polling: bool,
    next_poll: Instant,
    glob: Option<usize>,
    /// (directory, entry name) pairs whose events concern this file: the
    /// path itself and, for a symlink, its target.
    keys: Vec<(PathBuf, OsString)>,
}

struct Glob {
    jail: JailId,
    pattern: String,
    opts: FileOptions,
    /// The directory, when only the last component has wildcards: creations
    /// there are seen at once. Otherwise the pattern is re-evaluated by timer.
    dir: Option<PathBuf>,
    name_pattern: String,
    paths: HashSet<PathBuf>,
    /// Files this glob has read (device, inode → first-line hash), so a
    /// rotated `x.log` renamed to a matching `x.log.1` is not read twice.
    seen: HashMap<(u64, u64), String>,
}

struct Dir {
    wd: Option<i32>,
    users: usize,
    /// The directory's (device, inode) when watched: a directory removed and
    /// created again is a new inode our watch does not see (and its removal
    /// is not even reported while we hold a file of it open).
    ino: Option<(u64, u64)>,
}

fn dir_ino(p: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()))
}

/// Options for a [`Watcher`].
#[derive(Clone, Debug)]
pub struct WatcherBuilder {
    poll_interval: Duration,
    sweep_interval: Duration,
    max_line: usize,
    read_budget: usize,
    retire_idle: Duration,
    inotify: bool,
}

impl Default for WatcherBuilder {
    fn default() -> Self {
        WatcherBuilder {
            poll_interval: Duration::from_secs(1),
            sweep_interval: Duration::from_secs(10),
            max_line: DEFAULT_MAX_LINE,
            read_budget: DEFAULT_READ_BUDGET,
            retire_idle: DEFAULT_RETIRE_IDLE,
            inotify: true,
        }
    }
}

impl WatcherBuilder {
    /// How often `polling` files are checked (fail2ban's sleeptime, 1 s).
    pub fn poll_interval(&mut self, d: Duration) -> &mut Self {
        self.poll_interval = d;
        self
    }
    /// How often inotify-followed files are checked anyway.
    pub fn sweep_interval(&mut self, d: Duration) -> &mut Self {
        self.sweep_interval = d;
        self
    }
    pub fn max_line(&mut self, n: usize) -> &mut Self {
        self.max_line = n;
        self
    }
    /// Bytes read per file per call before yielding to the other files.
    pub fn read_budget(&mut self, n: usize) -> &mut Self {
        self.read_budget = n.max(1);
        self
    }
    /// How long rotated-away or deleted files stay open while quiet.
    pub fn retire_idle(&mut self, d: Duration) -> &mut Self {
        self.retire_idle = d;
        self
    }
    /// Whether to use inotify at all (off: every file is polled).
    pub fn inotify(&mut self, yes: bool) -> &mut Self {
        self.inotify = yes;
        self
    }

    pub fn build(&self) -> Result<Watcher, WatchError> {
        let inotify = if self.inotify {
            match Inotify::new() {
                Ok(i) => Some(i),
                Err(e) => {
                    log::warn!(target: LOG, "inotify is not available ({e}): files will be polled");
                    None
                }
            }
        } else {
            None
        };
        let now = Instant::now();
        Ok(Watcher {
            inotify,
            slots: Vec::new(),
            dirs: HashMap::new(),
            by_wd: HashMap::new(),
            by_key: HashMap::new(),
            globs: Vec::new(),
            dirty: BTreeSet::new(),
            opts: self.clone(),
            next_sweep: now + self.sweep_interval,
            next_fast: now + self.poll_interval,
        })
    }
}

/// Every followed file of every jail.
pub struct Watcher {
    inotify: Option<Inotify>,
    slots: Vec<Option<Slot>>,
    dirs: HashMap<PathBuf, Dir>,
    /// Several paths can name one directory (symlinks): the kernel gives
    /// them one wd.
    by_wd: HashMap<i32, Vec<PathBuf>>,
    by_key: HashMap<(PathBuf, OsString), Vec<FileId>>,
    globs: Vec<Option<Glob>>,
    dirty: BTreeSet<FileId>,
    opts: WatcherBuilder,
    next_sweep: Instant,
    /// Next check of missing directories and rotated-away files.
    next_fast: Instant,
}

fn split(path: &Path) -> (PathBuf, OsString) {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    (
        dir,
        path.file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_default(),
    )
}

fn has_magic(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

impl Watcher {
    pub fn builder() -> WatcherBuilder {
        WatcherBuilder::default()
    }

    /// The inotify descriptor to include in `poll(2)` for `POLLIN`; `None`
    /// when everything is polled (then only [`Watcher::next_deadline`] matters).
    pub fn fd(&self) -> Option<RawFd> {
        self.inotify.as_ref().map(|i| i.as_raw_fd())
    }

    /// Whether inotify is in use.
    pub fn uses_inotify(&self) -> bool {
        self.inotify.is_some()
    }

    /// Follows one file for a jail.
    pub fn add_file(
        &mut self,
        jail: JailId,
        path: impl AsRef<Path>,
        opts: &FileOptions,
    ) -> Result<FileId, WatchError> {
        self.add_slot(jail, path.as_ref(), opts, opts.start, opts.missing_ok, None)
    }

    /// Follows every file matching a `logpath` glob, now and later: new
    /// matches are read from their start. Returns the files matched now.
    pub fn add_glob(
        &mut self,
        jail: JailId,
        pattern: &str,
        opts: &FileOptions,
    ) -> Result<Vec<FileId>, WatchError> {
        let (dir, name) = split(Path::new(pattern));
        let dir_str = dir.to_string_lossy().into_owned();
        let glob_dir = (!has_magic(&dir_str)).then_some(dir.clone());
        let gi = self.globs.len();
        self.globs.push(Some(Glob {
            jail,
            pattern: pattern.to_string(),
            opts: opts.clone(),
            dir: glob_dir.clone(),
            name_pattern: name.to_string_lossy().into_owned(),
            paths: HashSet::new(),
            seen: HashMap::new(),
        }));
        if let Some(d) = &glob_dir {
            if self.uses_inotify() && opts.backend.wants_inotify() {
                self.use_dir(d);
            }
        }
        Ok(self.rescan_glob(gi, true))
    }

    /// Stops following a file.
    pub fn remove_file(&mut self, id: FileId) {
        let Some(slot) = self.slots.get_mut(id.0).and_then(Option::take) else {
            return;
        };
        for key in &slot.keys {
            if let Some(v) = self.by_key.get_mut(key) {
                v.retain(|f| *f != id);
                if v.is_empty() {
                    self.by_key.remove(key);
                }
            }
            if !slot.polling {
                self.release_dir(&key.0);
            }
        }
        if let Some(g) = slot
            .glob
            .and_then(|g| self.globs.get_mut(g))
            .and_then(Option::as_mut)
        {
            g.paths.remove(slot.tail.path());
        }
        self.dirty.remove(&id);
    }

    /// Stops following every file and glob of a jail.
    pub fn remove_jail(&mut self, jail: JailId) {
        for gi in 0..self.globs.len() {
            if self.globs[gi].as_ref().is_some_and(|g| g.jail == jail) {
                let g = self.globs[gi].take().expect("checked");
                if let Some(d) = &g.dir {
                    if self.uses_inotify() && g.opts.backend.wants_inotify() {
                        self.release_dir(d);
                    }
                }
            }
        }
        let ids: Vec<FileId> = self.files_of(jail);
        for id in ids {
            self.remove_file(id);
        }
    }

    /// The files of a jail.
    pub fn files_of(&self, jail: JailId) -> Vec<FileId> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.as_ref().is_some_and(|s| s.jail == jail))
            .map(|(i, _)| FileId(i))
            .collect()
    }

    /// Every followed file with its jail, e.g. to save positions and
    /// first-line hashes to the database.
    pub fn files(&self) -> impl Iterator<Item = (FileId, JailId, &FileTail)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().map(|s| (FileId(i), s.jail, &s.tail)))
    }

    /// A followed file, for its path, position and first-line hash.
    pub fn tail(&self, id: FileId) -> Option<&FileTail> {
        self.slots.get(id.0)?.as_ref().map(|s| &s.tail)
    }

    /// A followed file, to restore a saved position or change its encoding.
    pub fn tail_mut(&mut self, id: FileId) -> Option<&mut FileTail> {
        self.slots.get_mut(id.0)?.as_mut().map(|s| &mut s.tail)
    }

    /// Whether some file has more to read right now: call
    /// [`Watcher::process_events`] again without waiting.
    pub fn has_backlog(&self) -> bool {
        !self.dirty.is_empty()
    }

    /// Whether this file has more to read right now (it was not read to its end).
    pub fn is_backlogged(&self, id: FileId) -> bool {
        self.dirty.contains(&id)
    }

    /// When [`Watcher::poll_due`] next has work.
    pub fn next_deadline(&self) -> Instant {
        let mut t = self.next_sweep.min(self.next_fast);
        for s in self.slots.iter().flatten() {
            if s.polling {
                t = t.min(s.next_poll);
            }
        }
        t
    }

    /// Reads the inotify events and then every file they concern (and the
    /// backlog of earlier calls). Call when the descriptor is readable, and
    /// whenever [`Watcher::has_backlog`] says so.
    pub fn process_events(&mut self) -> Vec<Lines> {
        let events = match &self.inotify {
            Some(i) => i.read_events().unwrap_or_else(|e| {
                log::error!(target: LOG, "Unable to read inotify events: {e}");
                Vec::new()
            }),
            None => Vec::new(),
        };
        for ev in events {
            self.handle_event(ev);
        }
        let dirty: Vec<FileId> = std::mem::take(&mut self.dirty).into_iter().collect();
        self.read_files(&dirty)
    }

    /// Polls the `polling` files that are due, re-evaluates globs, retries
    /// vanished directories, drains rotated-away files, and every sweep
    /// interval checks the inotify files too. Call at
    /// [`Watcher::next_deadline`] (calling it more often is harmless).
    pub fn poll_due(&mut self, now: Instant) -> Vec<Lines> {
        let mut due = Vec::new();
        let sweep = now >= self.next_sweep;
        let fast = now >= self.next_fast;
        if fast {
            self.next_fast = now + self.opts.poll_interval;
            self.retry_dirs();
        }
        // Files whose directory cannot be watched (missing, no permission)
        // are polled meanwhile.
        let unwatched: HashSet<&Path> = self
            .dirs
            .iter()
            .filter(|(_, d)| d.wd.is_none())
            .map(|(p, _)| p.as_path())
            .collect();
        for (i, s) in self.slots.iter_mut().enumerate() {
            let Some(s) = s else { continue };
            let blind = !unwatched.is_empty()
                && s.keys.iter().any(|(d, _)| unwatched.contains(d.as_path()));
            if s.polling {
                if now >= s.next_poll {
                    s.next_poll = now + self.opts.poll_interval;
                    due.push(FileId(i));
                }
            } else if sweep
                || fast
                    && (blind || s.tail.has_retired() || !s.tail.is_open() || s.tail.is_absent())
            {
                due.push(FileId(i));
            }
        }
        for gi in 0..self.globs.len() {
            let Some(g) = &self.globs[gi] else { continue };
            let inotified =
                g.dir.is_some() && self.inotify.is_some() && g.opts.backend.wants_inotify();
            if sweep || fast && !inotified {
                due.extend(self.rescan_glob(gi, false));
            }
        }
        if sweep {
            self.next_sweep = now + self.opts.sweep_interval;
        }
        due.sort();
        due.dedup();
        self.read_files(&due)
    }

    fn read_files(&mut self, ids: &[FileId]) -> Vec<Lines> {
        let mut out = Vec::new();
        let mut gone = Vec::new();
        for &id in ids {
            let Some(Some(slot)) = self.slots.get_mut(id.0) else {
                continue;
            };
            let mut lines = Vec::new();
            let more = match slot.tail.read_lines(&mut lines, self.opts.read_budget) {
                Ok(more) => more,
                Err(e) => {
                    log::error!(target: LOG, "Unable to read {}: {e}", slot.tail.path().display());
                    false
                }
            };
            if more {
                self.dirty.insert(id);
            }
            if let Some(g) = slot
                .glob
                .and_then(|g| self.globs.get_mut(g))
                .and_then(Option::as_mut)
            {
                for ino in slot.tail.inodes() {
                    g.seen.insert(ino, slot.tail.first_line_hash().to_string());
                }
            }
            if slot.glob.is_some() && !slot.tail.is_open() && !slot.tail.has_retired() {
                // A file found by a glob is gone (deleted, renamed to a name
                // the glob does not match) and fully read: forget it; the
                // glob finds it again should it come back.
                gone.push(id);
            }
            if !lines.is_empty() {
                out.push(Lines {
                    jail: slot.jail,
                    file: id,
                    path: slot.tail.path().to_path_buf(),
                    lines,
                });
            }
        }
        for id in gone {
            if let Some(t) = self.tail(id) {
                log::info!(target: LOG, "Removed logfile: {:?}", t.path().display().to_string());
            }
            self.remove_file(id);
        }
        out
    }

    fn handle_event(&mut self, ev: Event) {
        if ev.mask & libc::IN_Q_OVERFLOW != 0 {
            log::warn!(target: LOG, "inotify queue overflow: checking every file");
            for (i, s) in self.slots.iter().enumerate() {
                if s.is_some() {
                    self.dirty.insert(FileId(i));
                }
            }
            for gi in 0..self.globs.len() {
                let found = self.rescan_glob(gi, false);
                self.dirty.extend(found);
            }
            return;
        }
        let Some(dirs) = self.by_wd.get(&ev.wd).cloned() else {
            return;
        };
        if ev.mask & (libc::IN_DELETE_SELF | libc::IN_MOVE_SELF | libc::IN_IGNORED) != 0 {
            // The directory went away: retried by timer, its files checked now.
            if let Some(i) = &self.inotify {
                i.remove(ev.wd);
            }
            self.by_wd.remove(&ev.wd);
            for dir in dirs {
                log::info!(target: LOG, "Log absence detected (possibly rotation) for directory {}", dir.display());
                if let Some(d) = self.dirs.get_mut(&dir) {
                    d.wd = None;
                }
                self.mark_dir_dirty(&dir);
            }
            return;
        }
        for dir in dirs {
            self.handle_entry_event(&dir, &ev);
        }
    }

    fn mark_dir_dirty(&mut self, dir: &Path) {
        for ((d, _), ids) in &self.by_key {
            if d == dir {
                self.dirty.extend(ids.iter().copied());
            }
        }
    }

    fn handle_entry_event(&mut self, dir: &Path, ev: &Event) {
        if ev.name.is_empty() {
            return;
        }
        if let Some(ids) = self.by_key.get(&(dir.to_path_buf(), ev.name.clone())) {
            self.dirty.extend(ids.iter().copied());
        }
        if ev.mask & (libc::IN_CREATE | libc::IN_MOVED_TO) != 0 && ev.mask & libc::IN_ISDIR == 0 {
            let name = ev.name.to_string_lossy();
            let matching: Vec<usize> = self
                .globs
                .iter()
                .enumerate()
                .filter_map(|(gi, g)| {
                    let g = g.as_ref()?;
                    (g.dir.as_deref() == Some(dir)
                        && crate::config::glob::fnmatch(&name, &g.name_pattern))
                    .then_some(gi)
                })
                .collect();
            for gi in matching {
                let found = self.rescan_glob(gi, false);
                self.dirty.extend(found);
            }
        }
    }

    /// Re-evaluates a glob; returns the files it newly follows.
    fn rescan_glob(&mut self, gi: usize, initial: bool) -> Vec<FileId> {
        let Some(g) = self.globs.get(gi).and_then(Option::as_ref) else {
            return Vec::new();
        };
        let (jail, opts) = (g.jail, g.opts.clone());
        let matches: Vec<PathBuf> = match &g.dir {
            // The common case, listed quietly: config's glob warns about
            // dangling links, which would repeat at every rescan.
            Some(dir) => std::fs::read_dir(dir)
                .map(|entries| {
                    entries
                        .flatten()
                        .filter(|e| {
                            let name = e.file_name().to_string_lossy().into_owned();
                            // Python's glob: hidden names only for patterns starting with '.'.
                            (!name.starts_with('.') || g.name_pattern.starts_with('.'))
                                && crate::config::glob::fnmatch(&name, &g.name_pattern)
                        })
                        .map(|e| dir.join(e.file_name()))
                        .collect()
                })
                .unwrap_or_default(),
            None => crate::config::glob::glob(&g.pattern)
                .into_iter()
                .map(PathBuf::from)
                .collect(),
        };
        let candidates: Vec<PathBuf> = matches
            .into_iter()
            .filter(|p| !g.paths.contains(p) && p.is_file())
            .collect();
        let mut added = Vec::new();
        for path in candidates {
            let start = if initial {
                opts.start
            } else if self.already_read(gi, &path) {
                // A followed file renamed to a name that also matches (a
                // rotation): its lines were delivered under the old name.
                log::info!(target: LOG, "{} was read under another name: following it from its end", path.display());
                StartAt::Tail
            } else {
                log::info!(target: LOG, "Log presence detected for file {} (matches {})", path.display(), self.globs[gi].as_ref().map_or("", |g| g.pattern.as_str()));
                StartAt::Head
            };
            match self.add_slot(jail, &path, &opts, start, false, Some(gi)) {
                Ok(id) => added.push(id),
                Err(e) => log::error!(target: LOG, "Unable to open {}: {e}", path.display()),
            }
        }
        added
    }

    fn already_read(&self, gi: usize, path: &Path) -> bool {
        use std::os::unix::fs::MetadataExt;
        let Some(g) = self.globs.get(gi).and_then(Option::as_ref) else {
            return false;
        };
        let Ok(file) = std::fs::File::open(path) else {
            return false;
        };
        let Ok(meta) = file.metadata() else {
            return false;
        };
        let Some(hash) = g.seen.get(&(meta.dev(), meta.ino())) else {
            return false;
        };
        let now = super::reader::first_line_hash(&file, self.opts.max_line)
            .ok()
            .flatten()
            .unwrap_or_default();
        *hash == now
    }

    fn add_slot(
        &mut self,
        jail: JailId,
        path: &Path,
        opts: &FileOptions,
        start: StartAt,
        missing_ok: bool,
        glob: Option<usize>,
    ) -> Result<FileId, WatchError> {
        if opts.backend == Backend::Systemd {
            return Err(WatchError::UnknownBackend(
                "systemd (journal jails have no log files)".into(),
            ));
        }
        if opts.backend == Backend::Pyinotify && self.inotify.is_none() {
            log::warn!(target: LOG, "Could only initiated 'polling' backend whenever 'pyinotify' was requested");
        }
        let tail = FileTail::builder()
            .start(start)
            .encoding(opts.encoding)
            .max_line(self.opts.max_line)
            .missing_ok(missing_ok)
            .retire_idle(self.opts.retire_idle)
            .open(path)?;
        let polling = !(self.inotify.is_some() && opts.backend.wants_inotify());
        let mut keys = vec![split(path)];
        if let Ok(real) = std::fs::canonicalize(path) {
            let k = split(&real);
            if k != keys[0] {
                keys.push(k);
            }
        }
        let id = FileId(self.slots.len());
        for key in &keys {
            self.by_key.entry(key.clone()).or_default().push(id);
            if !polling {
                self.use_dir(&key.0);
            }
        }
        if let Some(g) = glob
            .and_then(|g| self.globs.get_mut(g))
            .and_then(Option::as_mut)
        {
            g.paths.insert(path.to_path_buf());
        }
        log::info!(target: LOG, "Added logfile: {:?} (pos = {}, hash = {})", path.display().to_string(), tail.position(), tail.first_line_hash());
        self.slots.push(Some(Slot {
            jail,
            tail,
            polling,
            next_poll: Instant::now(),
            glob,
            keys,
        }));
        // Whatever is there already (head) is read on the next call.
        self.dirty.insert(id);
        Ok(id)
    }

    fn use_dir(&mut self, dir: &Path) {
        let d = self.dirs.entry(dir.to_path_buf()).or_insert(Dir {
            wd: None,
            users: 0,
            ino: None,
        });
        d.users += 1;
        if d.wd.is_none() {
            if let Some(i) = &self.inotify {
                match i.add_dir(dir) {
                    Ok(wd) => {
                        d.wd = Some(wd);
                        d.ino = dir_ino(dir);
                        self.by_wd.entry(wd).or_default().push(dir.to_path_buf());
                        log::debug!(target: LOG, "Added monitor for the parent directory {}", dir.display());
                    }
                    Err(e) => log::debug!(target: LOG, "Cannot watch {} yet: {e}", dir.display()),
                }
            }
        }
    }

    fn release_dir(&mut self, dir: &Path) {
        let Some(d) = self.dirs.get_mut(dir) else {
            return;
        };
        d.users = d.users.saturating_sub(1);
        if d.users == 0 {
            if let (Some(wd), Some(i)) = (d.wd, &self.inotify) {
                let paths = self.by_wd.entry(wd).or_default();
                paths.retain(|p| p != dir);
                // Only when no other path shares the directory's watch.
                if paths.is_empty() {
                    i.remove(wd);
                    self.by_wd.remove(&wd);
                }
            }
            self.dirs.remove(dir);
        }
    }

    /// Watches again directories that were missing, went away, or were
    /// replaced by a new directory of the same name; their files and globs
    /// are checked at once when they come back.
    fn retry_dirs(&mut self) {
        let Some(i) = &self.inotify else { return };
        let mut back = Vec::new();
        for (path, d) in self.dirs.iter_mut() {
            let now = dir_ino(path);
            if d.wd.is_some() && now == d.ino {
                continue;
            }
            if let Some(old) = d.wd.take() {
                log::info!(target: LOG, "Directory {} was replaced", path.display());
                let paths = self.by_wd.entry(old).or_default();
                paths.retain(|p| p != path);
                if paths.is_empty() {
                    i.remove(old);
                    self.by_wd.remove(&old);
                }
                back.push(path.clone());
            }
            if now.is_none() {
                continue;
            }
            if let Ok(wd) = i.add_dir(path) {
                d.wd = Some(wd);
                d.ino = dir_ino(path);
                self.by_wd.entry(wd).or_default().push(path.clone());
                log::info!(target: LOG, "Log presence detected for directory {}", path.display());
                back.push(path.clone());
            }
        }
        back.sort();
        back.dedup();
        for dir in back {
            self.mark_dir_dirty(&dir);
            for gi in 0..self.globs.len() {
                if self.globs[gi]
                    .as_ref()
                    .is_some_and(|g| g.dir.as_deref() == Some(dir.as_path()))
                {
                    let found = self.rescan_glob(gi, false);
                    self.dirty.extend(found);
                }
            }
        }
    }
}
