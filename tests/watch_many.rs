//! Hundreds of jails share one inotify instance: fail2ban with pyinotify
//! (one instance per jail) refuses to start with 200 jails once
//! `fs.inotify.max_user_instances` (128) is reached. Alone in its test
//! binary, so the process's descriptors are ours to count.

#[path = "watch_util.rs"]
mod util;

use std::time::Duration;

use ferroban::watch::{FileOptions, JailId, StartAt, Watcher};
use util::{append, run_until, Dir};

fn inotify_fds() -> Vec<String> {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .flatten()
        .filter(|e| {
            std::fs::read_link(e.path()).is_ok_and(|l| l.to_string_lossy() == "anon_inode:inotify")
        })
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn three_hundred_jails_one_inotify_instance() {
    let before = inotify_fds().len();
    let d = Dir::new("many");
    let mut w = Watcher::builder().build().unwrap();
    assert!(w.uses_inotify());
    let opts = FileOptions {
        start: StartAt::Tail,
        ..FileOptions::default()
    };
    let mut paths = Vec::new();
    for j in 0..300 {
        let dir = d.join(&format!("d{}", j % 30));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(format!("jail{j}.log"));
        std::fs::write(&p, "old\n").unwrap();
        w.add_file(JailId(j), &p, &opts).unwrap();
        paths.push(p);
    }
    // Two jails on the same file, as sshd and recidive-like setups do.
    w.add_file(JailId(1000), &paths[0], &opts).unwrap();

    let fds = inotify_fds();
    assert_eq!(
        fds.len(),
        before + 1,
        "one inotify instance for 300 jails: {fds:?}"
    );
    let fd = w.fd().unwrap().to_string();
    let fdinfo = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")).unwrap();
    let watches = fdinfo
        .lines()
        .filter(|l| l.starts_with("inotify wd:"))
        .count();
    assert_eq!(watches, 30, "one watch per directory");

    for (j, p) in paths.iter().enumerate() {
        append(p, format!("jail {j} line\n").as_bytes());
    }
    let got = run_until(&mut w, Duration::from_secs(10), |b| b.len() >= 301);
    let mut seen: Vec<(usize, Vec<String>)> =
        got.iter().map(|b| (b.jail.0, b.lines.clone())).collect();
    seen.sort();
    assert_eq!(seen.len(), 301, "every jail got its line once");
    for (j, lines) in &seen {
        let k = if *j == 1000 { 0 } else { *j };
        assert_eq!(lines, &vec![format!("jail {k} line")]);
    }

    // Removing jails releases their directory watches.
    for j in 0..300 {
        w.remove_jail(JailId(j));
    }
    let fdinfo = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")).unwrap();
    assert_eq!(
        fdinfo
            .lines()
            .filter(|l| l.starts_with("inotify wd:"))
            .count(),
        1,
        "jail 1000 still watches d0"
    );
}
