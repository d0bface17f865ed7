//! Shared by the `watch_*` tests (included with `#[path]`): a scratch
//! directory, a captured log, and a loop driving a `Watcher` as the server's
//! poll loop will.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use ferroban::watch::{Lines, Watcher};

/// A scratch directory removed when dropped.
pub struct Dir(pub PathBuf);

impl Dir {
    pub fn new(name: &str) -> Dir {
        let p = std::env::temp_dir().join(format!("ferroban-watch-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Dir(p)
    }
    pub fn join(&self, rel: &str) -> PathBuf {
        self.0.join(rel)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn append(path: &Path, data: &[u8]) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .unwrap();
    f.write_all(data).unwrap();
}

struct Capture;
static RECORDS: OnceLock<Mutex<Vec<String>>> = OnceLock::new();

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, r: &log::Record) {
        RECORDS
            .get_or_init(Default::default)
            .lock()
            .unwrap()
            .push(format!("{} {}", r.level(), r.args()));
    }
    fn flush(&self) {}
}

/// Captures every log record of this test process.
pub fn capture_log() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        log::set_boxed_logger(Box::new(Capture)).unwrap();
        log::set_max_level(log::LevelFilter::Debug);
    });
}

/// Captured records containing `needle`.
pub fn logged(needle: &str) -> Vec<String> {
    RECORDS
        .get_or_init(Default::default)
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.contains(needle))
        .cloned()
        .collect()
}

/// One turn of the server's loop: wait on the inotify fd (or the deadline,
/// at most `max_wait`), then read events and due polls.
pub fn turn(w: &mut Watcher, max_wait: Duration) -> Vec<Lines> {
    let wait = if w.has_backlog() {
        Duration::ZERO
    } else {
        w.next_deadline()
            .saturating_duration_since(Instant::now())
            .min(max_wait)
    };
    if let Some(fd) = w.fd() {
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd for the call.
        unsafe { libc::poll(&mut pfd, 1, wait.as_millis() as i32) };
    } else {
        std::thread::sleep(wait);
    }
    let mut out = w.process_events();
    out.extend(w.poll_due(Instant::now()));
    out
}

/// Runs the loop until `done` holds for everything received, or `timeout`.
pub fn run_until(
    w: &mut Watcher,
    timeout: Duration,
    mut done: impl FnMut(&[Lines]) -> bool,
) -> Vec<Lines> {
    let end = Instant::now() + timeout;
    let mut all = Vec::new();
    while !done(&all) && Instant::now() < end {
        all.extend(turn(w, Duration::from_millis(50)));
    }
    all
}

/// All lines received, in order.
pub fn flat(batches: &[Lines]) -> Vec<String> {
    batches
        .iter()
        .flat_map(|b| b.lines.iter().cloned())
        .collect()
}
