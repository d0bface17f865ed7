//! Globs in logpath and files that appear later, with inotify and polling.

#[path = "watch_util.rs"]
mod util;

use std::time::Duration;

use ferroban::watch::{Backend, FileOptions, JailId, StartAt, Watcher};
use util::{append, flat, run_until, Dir};

fn watcher() -> Watcher {
    Watcher::builder()
        .poll_interval(Duration::from_millis(20))
        .build()
        .unwrap()
}

fn new_files_are_read_from_their_start(backend: Backend, name: &str) {
    let d = Dir::new(name);
    std::fs::write(d.join("old.log"), "old 1\n").unwrap();
    std::fs::write(d.join("other.txt"), "not matched\n").unwrap();
    let mut w = watcher();
    let opts = FileOptions {
        backend,
        start: StartAt::Tail,
        ..FileOptions::default()
    };
    let pattern = format!("{}/*.log", d.0.display());
    assert_eq!(w.add_glob(JailId(1), &pattern, &opts).unwrap().len(), 1);
    assert!(
        flat(&run_until(&mut w, Duration::from_millis(100), |_| false)).is_empty(),
        "tail: old lines stay unread"
    );

    append(&d.join("old.log"), b"old 2\n");
    std::fs::write(d.join("new.log"), "new 1\nnew 2\n").unwrap();
    append(&d.join("other.txt"), b"still not matched\n");
    let got = run_until(&mut w, Duration::from_secs(5), |b| flat(b).len() >= 3);
    let mut lines = flat(&got);
    lines.sort();
    assert_eq!(lines, ["new 1", "new 2", "old 2"]);
    assert!(got.iter().all(|b| b.jail == JailId(1)));
    let new_batch = got.iter().find(|b| b.lines[0] == "new 1").unwrap();
    assert_eq!(new_batch.path, d.join("new.log"));

    append(&d.join("new.log"), b"new 3\n");
    assert_eq!(
        flat(&run_until(&mut w, Duration::from_secs(5), |b| !b.is_empty())),
        ["new 3"]
    );
}

#[test]
fn glob_picks_up_new_files_with_inotify() {
    new_files_are_read_from_their_start(Backend::Pyinotify, "glob-inotify");
}

#[test]
fn glob_picks_up_new_files_with_polling() {
    new_files_are_read_from_their_start(Backend::Polling, "glob-polling");
}

#[test]
fn a_file_in_a_directory_created_later() {
    let d = Dir::new("glob-laterdir");
    let mut w = Watcher::builder()
        .poll_interval(Duration::from_millis(20))
        .build()
        .unwrap();
    let p = d.join("sub/app.log");
    let opts = FileOptions {
        missing_ok: true,
        ..FileOptions::default()
    };
    w.add_file(JailId(3), &p, &opts).unwrap();
    w.add_glob(
        JailId(4),
        &format!("{}/sub/*.log", d.0.display()),
        &FileOptions::default(),
    )
    .unwrap();
    assert!(run_until(&mut w, Duration::from_millis(100), |_| false).is_empty());
    std::fs::create_dir(d.join("sub")).unwrap();
    std::fs::write(&p, "hello\n").unwrap();
    let got = run_until(&mut w, Duration::from_secs(5), |b| flat(b).len() >= 2);
    let mut jails: Vec<_> = got.iter().map(|b| (b.jail, b.lines.clone())).collect();
    jails.sort();
    assert_eq!(
        jails,
        [
            (JailId(3), vec!["hello".to_string()]),
            (JailId(4), vec!["hello".to_string()])
        ]
    );
}

#[test]
fn a_rotated_file_matching_the_glob_is_not_read_again() {
    let d = Dir::new("glob-rotated");
    let p = d.join("x.log");
    std::fs::write(&p, "a\nb\n").unwrap();
    let mut w = watcher();
    w.add_glob(
        JailId(0),
        &format!("{}/x.log*", d.0.display()),
        &FileOptions::default(),
    )
    .unwrap();
    assert_eq!(
        flat(&run_until(&mut w, Duration::from_secs(5), |b| flat(b)
            .len()
            >= 2)),
        ["a", "b"]
    );
    std::fs::rename(&p, d.join("x.log.1")).unwrap();
    std::fs::write(&p, "c\n").unwrap();
    let got = run_until(&mut w, Duration::from_millis(500), |_| false);
    assert_eq!(flat(&got), ["c"]);
}
