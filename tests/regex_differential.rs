//! Differential test of `fail2ban-regex`: the real one (`/usr/bin/fail2ban-regex`)
//! and ours run with identical arguments; the reports (all but the elapsed
//! time) and the `-o` outputs must be identical.
//!
//! Inputs: every stock filter over its sample log in the installed fail2ban
//! package (read at run time), and our own lines (`tests/data/regex_replay_lines.txt`)
//! with string regexes.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

const REFERENCE: &str = "/usr/bin/fail2ban-regex";
const OURS: &str = env!("CARGO_BIN_EXE_fail2ban-regex");
const LOGS: &str = "/usr/lib/python3/dist-packages/fail2ban/tests/files/logs";

fn run(tool: &str, args: &[&str]) -> (String, i32) {
    let out = Command::new(tool)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {tool}: {e}"));
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        out.status.code().unwrap_or(-1),
    )
}

/// Drops what legitimately differs between two runs: the elapsed time,
/// Python's hash order of sets, and "now" given to lines without a date.
fn normalize(text: &str) -> String {
    let now = ferroban::filter::clock::now_seconds();
    text.lines()
        .filter(|l| !l.starts_with("[processed in "))
        .map(|l| {
            let mut l = sort_set_reprs(l);
            if l.starts_with('[') {
                // `-o row`: [id,\ttime,\t{...}],
                let parts: Vec<&str> = l.splitn(3, ",\t").collect();
                if parts.len() == 3 {
                    if let Ok(t) = parts[1].parse::<f64>() {
                        if (t - now).abs() < 600.0 {
                            l = format!("{},\t<now>,\t{}", parts[0], parts[2]);
                        }
                    }
                }
            }
            l
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Sorts the items of `{'a', 'b'}` set reprs (Python prints them in hash order).
fn sort_set_reprs(line: &str) -> String {
    let Some(start) = line.find("'users': {") else {
        return line.to_string();
    };
    let open = start + "'users': {".len();
    let Some(len) = line[open..].find('}') else {
        return line.to_string();
    };
    let mut items: Vec<&str> = line[open..open + len].split(", ").collect();
    items.sort();
    format!(
        "{}{}{}",
        &line[..open],
        items.join(", "),
        &line[open + len..]
    )
}

fn stock_filters_with_samples() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(LOGS)
        .unwrap_or_else(|e| {
            panic!("fail2ban's sample logs ({LOGS}): {e}; apt-get install fail2ban")
        })
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| Path::new(&format!("/etc/fail2ban/filter.d/{n}.conf")).is_file())
        .filter(|n| Path::new(LOGS).join(n).is_file())
        .collect();
    names.sort();
    names
}

/// Runs `cases` on both tools, two at a time, and returns every difference.
fn compare_all(cases: Vec<Vec<String>>) -> Vec<String> {
    let queue = Mutex::new(cases.into_iter().enumerate().collect::<Vec<_>>());
    let diffs = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let Some((_, args)) = queue.lock().unwrap().pop() else {
                    break;
                };
                let argv: Vec<&str> = args.iter().map(String::as_str).collect();
                let (want, want_code) = run(REFERENCE, &argv);
                let (got, got_code) = run(OURS, &argv);
                let (want_n, got_n) = (normalize(&want), normalize(&got));
                if want_n != got_n || want_code != got_code {
                    let first = want_n
                        .lines()
                        .zip(got_n.lines())
                        .find(|(a, b)| a != b)
                        .map(|(a, b)| format!("\n  reference: {a}\n  ferroban:  {b}"))
                        .unwrap_or_else(|| {
                            format!(
                                " ({} vs {} lines, exit {want_code} vs {got_code})",
                                want_n.lines().count(),
                                got_n.lines().count()
                            )
                        });
                    diffs
                        .lock()
                        .unwrap()
                        .push(format!("fail2ban-regex {argv:?}:{first}"));
                }
            });
        }
    });
    diffs.into_inner().unwrap()
}

fn sample(name: &str) -> String {
    PathBuf::from(LOGS)
        .join(name)
        .to_string_lossy()
        .into_owned()
}

#[test]
fn reports_match_the_reference_on_every_stock_filter() {
    let filters = stock_filters_with_samples();
    assert!(
        filters.len() > 80,
        "expected the stock filters' samples, found {}",
        filters.len()
    );
    let cases = filters.iter().map(|n| vec![sample(n), n.clone()]).collect();
    let diffs = compare_all(cases);
    assert!(
        diffs.is_empty(),
        "{} reports differ:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}

#[test]
fn row_output_matches_the_reference_on_every_stock_filter() {
    let cases = stock_filters_with_samples()
        .iter()
        .map(|n| vec!["-r".into(), "-o".into(), "row".into(), sample(n), n.clone()])
        .collect();
    let diffs = compare_all(cases);
    assert!(
        diffs.is_empty(),
        "{} -o row outputs differ:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}

#[test]
fn string_regexes_and_out_formats_match_the_reference() {
    let own = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/regex_replay_lines.txt"
    )
    .to_string();
    let regexes = [
        r"from <HOST>",
        r"(?:user|for) (?:invalid user )?<F-USER>\S+</F-USER> from <HOST>",
        r"LOGIN FAILED, (?:user=<F-USER>[^,]+</F-USER>|method=\S+), ip=\[<HOST>\]",
        r"^<HOST> - <F-USER>\S+</F-USER> \[",
        r"rhost=<HOST>(?:\s+user=<F-USER>\S+</F-USER>)?\s*$",
        r"client @\S+ <HOST>#\d+",
    ];
    let mut cases = Vec::new();
    for r in regexes {
        cases.push(vec![own.clone(), r.to_string()]);
        cases.push(vec![own.clone(), r.to_string(), "root".to_string()]);
        for fmt in [
            "id",
            "ip",
            "msg",
            "row",
            "user",
            "<ip> <time> <F-USER> <fid>",
        ] {
            cases.push(vec![
                "-r".into(),
                "-o".into(),
                fmt.into(),
                own.clone(),
                r.to_string(),
            ]);
        }
    }
    cases.push(vec![
        "-d".into(),
        "%b %d %H:%M:%S".into(),
        own.clone(),
        "from <HOST>".into(),
    ]);
    cases.push(vec![
        "--timezone".into(),
        "UTC".into(),
        "-o".into(),
        "row".into(),
        own.clone(),
        "from <HOST>".into(),
    ]);
    cases.push(vec![
        "Jan  3 10:11:12 gate sshd[1]: Failed for x from 192.0.2.1".into(),
        "from <HOST>$".into(),
    ]);
    let diffs = compare_all(cases);
    assert!(
        diffs.is_empty(),
        "{} outputs differ:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}
