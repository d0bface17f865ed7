//! The bridge between the server's jails and the log watcher: one
//! [`Watcher`] for every jail's files (one inotify instance), started and
//! stopped with the jails, and the lines it delivers handed to their jail.

use super::state::{now, State};
use crate::watch::journal::{JournalMatches, JournalReader, JournalStart};
use crate::watch::{Backend, Encoding, FileOptions, JailId, Lines, StartAt, Watcher};
use std::collections::{HashMap, HashSet};

/// The watcher and which jail each of its jail ids stands for.
pub struct Watching {
    pub watcher: Watcher,
    names: HashMap<usize, String>,
    next_id: usize,
    /// The `systemd` jails' journal readers.
    pub journals: Vec<Journal>,
    /// Files "in operation" (fail2ban's `inOperation`): followed from their
    /// end, or read to their end once after lines were found in them.
    /// Until then, as on fail2ban's first read, entries older than findtime
    /// are skipped; afterwards odd times count as now.
    in_operation: HashSet<crate::watch::FileId>,
}

/// One `systemd` jail's journal reader, and how to start it again.
pub struct Journal {
    pub jail: String,
    pub reader: JournalReader,
    matches: JournalMatches,
}

/// The journalctl to run: `FERROBAN_JOURNALCTL` lets tests use a stand-in.
fn journalctl() -> String {
    std::env::var("FERROBAN_JOURNALCTL").unwrap_or_else(|_| "journalctl".into())
}

fn spawn_journal(matches: &JournalMatches, start: JournalStart) -> Result<JournalReader, String> {
    JournalReader::builder()
        .journalctl(journalctl())
        .matches(matches.clone())
        .start(start)
        .spawn()
        .map_err(|e| e.to_string())
}

impl Watching {
    pub fn new() -> Result<Watching, String> {
        let watcher = Watcher::builder().build().map_err(|e| e.to_string())?;
        Ok(Watching {
            watcher,
            names: HashMap::new(),
            next_id: 0,
            journals: Vec::new(),
            in_operation: HashSet::new(),
        })
    }

    fn id_of(&self, jail: &str) -> Option<JailId> {
        self.names
            .iter()
            .find(|(_, n)| *n == jail)
            .map(|(i, _)| JailId(*i))
    }

    /// The lines ready now: inotify events' files and the files due for polling.
    fn read_available(&mut self) -> Vec<Lines> {
        let mut batch = self.watcher.process_events();
        batch.extend(self.watcher.poll_due(std::time::Instant::now()));
        batch
    }

    /// Stops following a jail's files (or its journal).
    pub fn remove(&mut self, jail: &str) {
        self.journals.retain(|j| j.jail != jail);
        if let Some(id) = self.id_of(jail) {
            for f in self.watcher.files_of(id) {
                self.in_operation.remove(&f);
            }
            self.watcher.remove_jail(id);
            self.names.remove(&id.0);
        }
    }
}

/// Follows the files of a jail that was just started, and reads what they
/// already hold (fail2ban's first read: old entries are skipped).
pub fn start_jail(state: &mut State, jail: &str) {
    let Some(j) = state.jails.get(jail) else {
        return;
    };
    if j.backend.starts_with("systemd") {
        start_journal(state, jail);
        return;
    }
    let backend = Backend::parse(&j.backend)
        .map(|b| b.0)
        .unwrap_or(Backend::Auto);
    let encoding = Encoding::parse(&j.logencoding).unwrap_or_else(|_| Encoding::from_locale());
    let paths = j.logpaths.clone();
    let db = j.db.clone();
    if state.watching.is_none() {
        match Watching::new() {
            Ok(w) => state.watching = Some(w),
            Err(e) => {
                log::error!(target: "fail2ban.jail", "[{jail}] cannot watch log files: {e}");
                return;
            }
        }
    }
    let w = state.watching.as_mut().unwrap();
    w.remove(jail);
    let id = JailId(w.next_id);
    w.next_id += 1;
    w.names.insert(id.0, jail.to_string());
    for (path, tail) in paths {
        let opts = FileOptions {
            start: if tail { StartAt::Tail } else { StartAt::Head },
            encoding,
            backend,
            missing_ok: false,
        };
        let added = if path.contains(['*', '?', '[']) {
            w.watcher.add_glob(id, &path, &opts).map(|_| ())
        } else {
            w.watcher.add_file(id, &path, &opts).map(|file| {
                // A file read from its head resumes where the database says
                // the last run stopped, if it is still the same file.
                if tail {
                    w.in_operation.insert(file);
                    return;
                }
                let Some(db) = db.as_ref() else { return };
                if let Ok(Some(pos)) = db.borrow().get_log(jail, &path) {
                    if let (Some(hash), Some(t)) = (pos.hash.as_deref(), w.watcher.tail_mut(file)) {
                        t.restore(pos.pos, hash);
                    }
                }
            })
        };
        match added {
            Ok(()) => log::info!(target: "fail2ban.filter", "[{jail}] Added logfile: '{path}'"),
            Err(e) => log::error!(target: "fail2ban.filter", "[{jail}] Unable to open {path}: {e}"),
        }
    }
    // The first read: until the files are caught up, lines are "not in operation".
    loop {
        let Some(w) = state.watching.as_mut() else {
            return;
        };
        let batch = w.read_available();
        let more = w.watcher.has_backlog();
        deliver(state, batch);
        if !more {
            break;
        }
    }
    if let Some(j) = state.jails.get(jail) {
        j.warn_if_filter_matches_nothing();
    }
}

/// Follows the journal for a `systemd` jail, from findtime ago.
fn start_journal(state: &mut State, jail: &str) {
    let Some(j) = state.jails.get(jail) else {
        return;
    };
    let mut matches = JournalMatches::default();
    for m in &j.journalmatch {
        if let Err(e) = matches.add(&m.join(" ")) {
            log::error!(target: "fail2ban.filtersystemd", "[{jail}] invalid journalmatch: {e}");
        }
    }
    let since = JournalStart::Since(now() - j.failures.max_time);
    if state.watching.is_none() {
        match Watching::new() {
            Ok(w) => state.watching = Some(w),
            Err(e) => {
                log::error!(target: "fail2ban.jail", "[{jail}] cannot watch: {e}");
                return;
            }
        }
    }
    let w = state.watching.as_mut().unwrap();
    w.remove(jail);
    match spawn_journal(&matches, since) {
        Ok(reader) => {
            log::info!(target: "fail2ban.filtersystemd", "[{jail}] Jail is in operation now (process new journal entries)");
            w.journals.push(Journal {
                jail: jail.to_string(),
                reader,
                matches,
            });
        }
        Err(e) => {
            log::error!(target: "fail2ban.filtersystemd", "[{jail}] cannot read the journal: {e}")
        }
    }
}

/// Reads the journal entries available now and hands them to their jails;
/// a journalctl that ended is started again after its last cursor.
fn pump_journals(state: &mut State) {
    let Some(w) = state.watching.as_mut() else {
        return;
    };
    let mut delivered: Vec<(String, Vec<String>)> = Vec::new();
    for j in &mut w.journals {
        match j.reader.read_entries() {
            Ok(entries) => {
                delivered.push((j.jail.clone(), entries.iter().map(|e| e.line()).collect()))
            }
            Err(e) => log::error!(target: "fail2ban.filtersystemd", "[{}] {e}", j.jail),
        }
        if j.reader.has_ended() {
            let start = match j.reader.cursor() {
                Some(c) => JournalStart::AfterCursor(c.to_string()),
                None => JournalStart::Now,
            };
            match spawn_journal(&j.matches, start) {
                Ok(r) => j.reader = r,
                Err(e) => {
                    log::error!(target: "fail2ban.filtersystemd", "[{}] cannot read the journal: {e}", j.jail)
                }
            }
        }
    }
    let t = now();
    for (jail, lines) in delivered {
        if let Some(j) = state.jails.get_mut(&jail) {
            j.begin_batch();
            for line in &lines {
                j.process_line(line, t, true);
            }
            j.end_batch();
        }
    }
}

/// The descriptors the loop waits on for the watcher and the journals.
pub fn fds(state: &State) -> Vec<i32> {
    let Some(w) = state.watching.as_ref() else {
        return Vec::new();
    };
    w.watcher
        .fd()
        .into_iter()
        .chain(w.journals.iter().map(|j| j.reader.fd()))
        .collect()
}

/// Hands delivered lines to their jails, each file's "in operation" or not
/// (see [`Watching`]), then stores how far each file was read (fail2ban's
/// `updateLog`).
pub fn deliver(state: &mut State, batch: Vec<Lines>) {
    let t = now();
    let read: Vec<(crate::watch::FileId, usize)> =
        batch.iter().map(|l| (l.file, l.jail.0)).collect();
    for lines in batch {
        let Some(w) = state.watching.as_mut() else {
            return;
        };
        let Some(name) = w.names.get(&lines.jail.0).cloned() else {
            continue;
        };
        let in_operation = w.in_operation.contains(&lines.file);
        if !lines.lines.is_empty() && !w.watcher.is_backlogged(lines.file) {
            w.in_operation.insert(lines.file);
        }
        if let Some(j) = state.jails.get_mut(&name) {
            // The bans these lines make run their actions together.
            j.begin_batch();
            for line in &lines.lines {
                j.process_line(line, t, in_operation);
            }
            j.end_batch();
        }
    }
    let Some(w) = state.watching.as_ref() else {
        return;
    };
    for (file, jail_id) in read {
        let Some(name) = w.names.get(&jail_id) else {
            continue;
        };
        let Some(db) = state.jails.get(name).and_then(|j| j.db.clone()) else {
            continue;
        };
        if let Some(tail) = w.watcher.tail(file) {
            let hash = tail.first_line_hash();
            let path = tail.path().to_string_lossy();
            if let Err(e) = db.borrow().update_log(
                name,
                &path,
                (!hash.is_empty()).then_some(hash),
                tail.position(),
            ) {
                log::error!(target: "fail2ban.database", "[{name}] cannot store the position in {path}: {e}");
            }
        }
    }
}

/// Reads whatever the watcher has (after its descriptor woke the loop, or on time).
pub fn pump(state: &mut State) {
    let Some(w) = state.watching.as_mut() else {
        return;
    };
    let batch = w.read_available();
    deliver(state, batch);
    pump_journals(state);
}
