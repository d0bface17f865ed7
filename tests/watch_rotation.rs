//! Both kinds of rotation under a steady stream of appends from a writer
//! thread: every line is delivered exactly once and in order (so nothing is
//! lost and nothing is read again), with inotify and with polling.

#[path = "watch_util.rs"]
mod util;

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferroban::watch::{Backend, FileOptions, FileTail, JailId, StartAt, Watcher};
use util::{append, flat, run_until, Dir};

const LINES: usize = 6000;

fn line(i: usize) -> String {
    format!(
        "2026-11-25 12:00:00 host sshd[{i}]: Failed password for root from 192.0.2.{} port {i}\n",
        i % 250
    )
}

fn open_append(p: &Path) -> File {
    OpenOptions::new()
        .append(true)
        .create(true)
        .open(p)
        .unwrap()
}

/// logrotate's `create`: rename the log away, create a new empty one. On
/// odd rotations the daemon keeps writing to the old file for a while
/// (until its HUP) before it reopens the path; on even ones it reopens at
/// once, so lines we had not read yet in the old file race with new ones.
fn rename_create_writer(p: PathBuf) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut f = open_append(&p);
        let late = |i: usize| (i / 1000) % 2 == 1 && i % 1000 < 20;
        for i in 0..LINES {
            if i > 0 && i % 1000 == 0 {
                let old = p.with_extension("log.1");
                let older = p.with_extension("log.2");
                let _ = std::fs::rename(&old, &older);
                std::fs::rename(&p, &old).unwrap();
                if late(i) {
                    File::create(&p).unwrap();
                    // Late lines into the renamed file before the "HUP".
                    for j in i..i + 20 {
                        f.write_all(line(j).as_bytes()).unwrap();
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                f = open_append(&p);
            }
            if !late(i) {
                f.write_all(line(i).as_bytes()).unwrap();
            }
            if i % 10 == 0 {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    })
}

/// logrotate's `copytruncate`: copy the log, then truncate it in place
/// while the daemon keeps appending (a rotation every ~0.2 s: the reader
/// must not fall a whole rotation behind, or the copy it needs is gone). The writer's lock makes copy+truncate
/// atomic with respect to its writes (logrotate itself loses lines written
/// between the two steps; that is logrotate's, not ours to fix).
fn copytruncate_writer(p: PathBuf) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let lock = Arc::new(Mutex::new(()));
        let mut f = open_append(&p);
        for i in 0..LINES {
            if i > 0 && i % 1000 == 0 {
                let _g = lock.lock().unwrap();
                std::fs::copy(&p, p.with_extension("log.1")).unwrap();
                OpenOptions::new()
                    .write(true)
                    .open(&p)
                    .unwrap()
                    .set_len(0)
                    .unwrap();
            }
            f.write_all(line(i).as_bytes()).unwrap();
            if i % 10 == 0 {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    })
}

fn expected() -> Vec<String> {
    (0..LINES).map(|i| line(i).trim_end().to_string()).collect()
}

fn follow(writer: fn(PathBuf) -> std::thread::JoinHandle<()>, backend: Backend, name: &str) {
    let d = Dir::new(name);
    let p = d.join("auth.log");
    std::fs::write(&p, "").unwrap();
    let mut w = Watcher::builder()
        .poll_interval(Duration::from_millis(20))
        .build()
        .unwrap();
    let opts = FileOptions {
        backend,
        ..FileOptions::default()
    };
    w.add_file(JailId(7), &p, &opts).unwrap();
    let h = writer(p.clone());
    let got = run_until(&mut w, Duration::from_secs(60), |b| flat(b).len() >= LINES);
    h.join().unwrap();
    // Anything late (or duplicated) would show up now.
    let mut got = flat(&got);
    got.extend(flat(&run_until(&mut w, Duration::from_millis(300), |_| {
        false
    })));
    let want = expected();
    if got != want {
        let first = got
            .iter()
            .zip(&want)
            .position(|(a, b)| a != b)
            .unwrap_or(got.len().min(want.len()));
        panic!(
            "{name}: got {} lines, want {}; first difference at {first}: got {:?}, want {:?}",
            got.len(),
            want.len(),
            got.get(first),
            want.get(first)
        );
    }
}

#[test]
fn rename_create_rotation_with_inotify() {
    follow(
        rename_create_writer,
        Backend::Pyinotify,
        "rot-rename-inotify",
    );
}

#[test]
fn rename_create_rotation_with_polling() {
    follow(rename_create_writer, Backend::Polling, "rot-rename-polling");
}

#[test]
fn copytruncate_rotation_with_inotify() {
    follow(copytruncate_writer, Backend::Auto, "rot-copytrunc-inotify");
}

#[test]
fn copytruncate_rotation_with_polling() {
    follow(
        copytruncate_writer,
        Backend::Polling,
        "rot-copytrunc-polling",
    );
}

#[test]
fn truncated_file_grown_past_the_old_position_is_seen_by_its_first_line() {
    let d = Dir::new("rot-regrow");
    let p = d.join("a.log");
    std::fs::write(&p, "a 1\na 2\n").unwrap();
    let mut t = FileTail::builder().start(StartAt::Head).open(&p).unwrap();
    let mut out = Vec::new();
    t.read_lines(&mut out, 1 << 20).unwrap();
    assert_eq!(out, ["a 1", "a 2"]);
    append(&p, b"a 3\n");
    // copytruncate, then more written than we had read before we look again.
    std::fs::copy(&p, d.join("a.log.1")).unwrap();
    std::fs::write(&p, "b 1 a longer first line\nb 2 and more\nb 3\n").unwrap();
    let mut out = Vec::new();
    t.read_lines(&mut out, 1 << 20).unwrap();
    assert_eq!(
        out,
        ["a 3", "b 1 a longer first line", "b 2 and more", "b 3"]
    );
}

#[test]
fn truncation_without_a_copy_restarts_at_zero() {
    let d = Dir::new("rot-nocopy");
    let p = d.join("a.log");
    std::fs::write(&p, "one\ntwo\n").unwrap();
    let mut t = FileTail::builder().open(&p).unwrap();
    let mut out = Vec::new();
    t.read_lines(&mut out, 1 << 20).unwrap();
    std::fs::write(&p, "x\n").unwrap();
    let mut out = Vec::new();
    t.read_lines(&mut out, 1 << 20).unwrap();
    assert_eq!(out, ["x"]);
    assert_eq!(t.position(), 2);
}
