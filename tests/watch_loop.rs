//! Driving a `Watcher` from a poll loop: a big backlog is handed over in
//! slices (other files are not starved), the polling fallback when inotify
//! is off, and removal stops delivery.

#[path = "watch_util.rs"]
mod util;

use std::time::{Duration, Instant};

use ferroban::watch::{FileOptions, JailId, Watcher};
use util::{append, flat, run_until, Dir};

#[test]
fn a_big_backlog_comes_in_slices_and_other_files_are_served_meanwhile() {
    let d = Dir::new("loop-backlog");
    let big = d.join("big.log");
    let mut data = String::new();
    for i in 0..100_000 {
        data.push_str(&format!(
            "line {i} of a long backlog to read from the head\n"
        ));
    }
    std::fs::write(&big, &data).unwrap();
    let small = d.join("small.log");
    std::fs::write(&small, "").unwrap();
    let mut w = Watcher::builder().read_budget(256 * 1024).build().unwrap();
    let b = w
        .add_file(JailId(0), &big, &FileOptions::default())
        .unwrap();
    let s = w
        .add_file(JailId(1), &small, &FileOptions::default())
        .unwrap();
    let first = w.process_events();
    assert!(w.has_backlog(), "more of the big file is pending");
    let n_first: usize = first.iter().map(|x| x.lines.len()).sum();
    assert!(
        n_first > 0 && n_first < 100_000,
        "{n_first} lines in the first slice"
    );

    append(&small, b"urgent\n");
    let mut got = first;
    let mut small_at = None;
    let mut turns = 0;
    while w.has_backlog() || small_at.is_none() {
        let batch = util::turn(&mut w, Duration::from_millis(50));
        if batch.iter().any(|x| x.file == s) && small_at.is_none() {
            small_at = Some(turns);
        }
        got.extend(batch);
        turns += 1;
        assert!(turns < 10_000);
    }
    assert!(
        small_at.unwrap() < 3,
        "the small file waited {small_at:?} turns"
    );
    let big_lines: Vec<String> = got
        .iter()
        .filter(|x| x.file == b)
        .flat_map(|x| x.lines.clone())
        .collect();
    assert_eq!(big_lines.len(), 100_000);
    assert_eq!(
        big_lines[99_999],
        "line 99999 of a long backlog to read from the head"
    );
    assert_eq!(w.tail(b).unwrap().position(), data.len() as u64);
}

#[test]
fn without_inotify_everything_is_polled() {
    let d = Dir::new("loop-noinotify");
    let p = d.join("a.log");
    std::fs::write(&p, "").unwrap();
    let mut w = Watcher::builder()
        .inotify(false)
        .poll_interval(Duration::from_millis(30))
        .build()
        .unwrap();
    assert!(w.fd().is_none());
    w.add_file(JailId(0), &p, &FileOptions::default()).unwrap();
    append(&p, b"polled\n");
    let start = Instant::now();
    assert_eq!(
        flat(&run_until(&mut w, Duration::from_secs(5), |b| !b.is_empty())),
        ["polled"]
    );
    assert!(start.elapsed() < Duration::from_secs(2));
}

#[test]
fn removed_files_are_no_longer_delivered() {
    let d = Dir::new("loop-remove");
    let p = d.join("a.log");
    std::fs::write(&p, "").unwrap();
    let mut w = Watcher::builder().build().unwrap();
    let id = w.add_file(JailId(0), &p, &FileOptions::default()).unwrap();
    let keep = w.add_file(JailId(1), &p, &FileOptions::default()).unwrap();
    w.remove_file(id);
    append(&p, b"x\n");
    let got = run_until(&mut w, Duration::from_secs(3), |b| !b.is_empty());
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].file, keep);
    assert!(w.tail(id).is_none());
    let listed: Vec<_> = w.files().map(|(f, j, t)| (f, j, t.position())).collect();
    assert_eq!(listed, [(keep, JailId(1), 2)]);
}
