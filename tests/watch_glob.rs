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
    std::fs::write(d.join(".hidden.log"), "hidden, as Python's glob skips it\n").unwrap();
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

#[test]
fn a_symlinked_directory_shares_one_watch_and_removal_keeps_the_other_path() {
    let d = Dir::new("glob-symlink");
    std::fs::create_dir(d.join("real")).unwrap();
    std::os::unix::fs::symlink(d.join("real"), d.join("link")).unwrap();
    let real = d.join("real/a.log");
    std::fs::write(&real, "").unwrap();
    let mut w = watcher();
    w.add_file(JailId(1), d.join("link/a.log"), &FileOptions::default())
        .unwrap();
    w.add_file(JailId(2), &real, &FileOptions::default())
        .unwrap();
    append(&real, b"one\n");
    let got = run_until(&mut w, Duration::from_secs(5), |b| flat(b).len() >= 2);
    assert_eq!(flat(&got), ["one", "one"]);
    w.remove_jail(JailId(1));
    append(&real, b"two\n");
    // Through inotify, well before the 10 s sweep.
    let got = run_until(&mut w, Duration::from_secs(3), |b| !b.is_empty());
    assert_eq!(got.len(), 1);
    assert_eq!(
        (got[0].jail, got[0].lines.clone()),
        (JailId(2), vec!["two".to_string()])
    );
}

#[test]
fn a_directory_removed_and_created_again() {
    let d = Dir::new("glob-redir");
    let sub = d.join("sub");
    std::fs::create_dir(&sub).unwrap();
    std::fs::write(sub.join("a.log"), "first\n").unwrap();
    let mut w = watcher();
    w.add_file(JailId(0), sub.join("a.log"), &FileOptions::default())
        .unwrap();
    assert_eq!(
        flat(&run_until(&mut w, Duration::from_secs(5), |b| !b.is_empty())),
        ["first"]
    );
    std::fs::remove_dir_all(&sub).unwrap();
    assert!(run_until(&mut w, Duration::from_millis(100), |_| false).is_empty());
    std::fs::create_dir(&sub).unwrap();
    std::fs::write(sub.join("a.log"), "second\n").unwrap();
    assert_eq!(
        flat(&run_until(&mut w, Duration::from_secs(5), |b| !b.is_empty())),
        ["second"]
    );
    append(&sub.join("a.log"), b"third\n");
    assert_eq!(
        flat(&run_until(&mut w, Duration::from_secs(3), |b| !b.is_empty())),
        ["third"]
    );
}

fn open_fds_to(path: &std::path::Path) -> usize {
    let p = path.to_string_lossy().into_owned();
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .flatten()
        .filter(|e| std::fs::read_link(e.path()).is_ok_and(|l| l.to_string_lossy().starts_with(&p)))
        .count()
}

#[test]
fn deleted_files_are_closed_once_quiet_and_glob_matches_forgotten() {
    let d = Dir::new("glob-deleted");
    let mut w = Watcher::builder()
        .poll_interval(Duration::from_millis(20))
        .retire_idle(Duration::from_millis(200))
        .build()
        .unwrap();
    let fixed = d.join("fixed.log");
    std::fs::write(&fixed, "f1\n").unwrap();
    std::fs::write(d.join("day1.log"), "d1\n").unwrap();
    w.add_file(JailId(0), &fixed, &FileOptions::default())
        .unwrap();
    w.add_glob(
        JailId(1),
        &format!("{}/day*.log", d.0.display()),
        &FileOptions::default(),
    )
    .unwrap();
    assert_eq!(
        flat(&run_until(&mut w, Duration::from_secs(5), |b| flat(b)
            .len()
            >= 2))
        .len(),
        2
    );
    assert_eq!(open_fds_to(&d.0), 2);

    // A writer still holding the deleted file: its last lines are read.
    let mut writer = std::fs::OpenOptions::new()
        .append(true)
        .open(d.join("day1.log"))
        .unwrap();
    std::fs::remove_file(d.join("day1.log")).unwrap();
    std::fs::remove_file(&fixed).unwrap();
    std::io::Write::write_all(&mut writer, b"d1 late\n").unwrap();
    drop(writer);
    let got = run_until(&mut w, Duration::from_secs(5), |_| open_fds_to(&d.0) == 0);
    assert_eq!(flat(&got), ["d1 late"]);
    assert_eq!(open_fds_to(&d.0), 0, "deleted files are closed");
    assert_eq!(
        w.files_of(JailId(1)).len(),
        0,
        "the glob's match is forgotten"
    );
    assert_eq!(w.files_of(JailId(0)).len(), 1, "a configured path is kept");

    std::fs::write(&fixed, "f2\n").unwrap();
    std::fs::write(d.join("day2.log"), "d2\n").unwrap();
    let got = run_until(&mut w, Duration::from_secs(5), |b| flat(b).len() >= 2);
    let mut by_jail: Vec<_> = got.iter().map(|b| (b.jail, b.lines.clone())).collect();
    by_jail.sort();
    assert_eq!(
        by_jail,
        [
            (JailId(0), vec!["f2".to_string()]),
            (JailId(1), vec!["d2".to_string()])
        ]
    );
}
