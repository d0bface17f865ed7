//! The `systemd` backend against a stand-in `journalctl` (a script printing
//! canned `-o json` output and recording its arguments): the arguments
//! built from `journalmatch` and the backend options, the entries formatted
//! exactly as fail2ban 1.0.2's own `FilterSystemd.formatJournalEntry`
//! formats them (run through /usr/bin/python3 with a stub `systemd` module
//! standing in for python-systemd's converters), junk skipped, and the child
//! ended with the reader.

#[path = "watch_util.rs"]
mod util;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use ferroban::watch::journal::{JournalEntry, JournalMatches, JournalReader, JournalStart};
use util::Dir;

const ENTRIES: &str = r#"{"__CURSOR":"s=a;i=1","__REALTIME_TIMESTAMP":"1700000000123456","_HOSTNAME":"web","SYSLOG_IDENTIFIER":"sshd","_PID":"42","MESSAGE":"Failed password for root from 192.0.2.1 port 22 ssh2"}
{"__CURSOR":"s=a;i=2","__REALTIME_TIMESTAMP":"1700000001000000","_SOURCE_REALTIME_TIMESTAMP":"1700000000999000","_HOSTNAME":"web","_COMM":"sshd","_PID":"43","MESSAGE":"two\nlines"}
this is not json
{"__CURSOR":"s=a;i=3","__REALTIME_TIMESTAMP":"1700000002000000","_COMM":"su","SYSLOG_PID":"0x10","_PID":"9","MESSAGE":[104,105,255,32,195,169]}
{"__CURSOR":"s=a;i=4","__REALTIME_TIMESTAMP":"1700000003000001","SYSLOG_IDENTIFIER":"kernel","__MONOTONIC_TIMESTAMP":"12345678","MESSAGE":"oops"}
{"__CURSOR":"s=a;i=5","__REALTIME_TIMESTAMP":"1700000004000000","_HOSTNAME":"web","SYSLOG_IDENTIFIER":"app","SYSLOG_PID":"abc","MESSAGE":["part one","part two"]}
{"__CURSOR":"s=a;i=6","__REALTIME_TIMESTAMP":"1700000005000000","MESSAGE":"no identifier"}
{"__CURSOR":"s=a;i=7","__REALTIME_TIMESTAMP":"1700000006000000","_HOSTNAME":"","SYSLOG_IDENTIFIER":"","_COMM":"cron","SYSLOG_PID":"0","_PID":"010","MESSAGE":"zero pid falls back"}
{"__CURSOR":"s=a;i=8","__REALTIME_TIMESTAMP":"1700000007000000","_COMM":"x","_PID":"0","MESSAGE":"zero pid skipped"}
"#;

/// Emulates python-systemd's field converters, then calls fail2ban's own
/// formatJournalEntry (never copied: imported from the installed package).
const PY: &str = r#"
import sys, types, datetime, json
j = types.ModuleType('systemd.journal'); j.__version__ = '252'; j.NOP = 0; j.APPEND = 1; j.INVALIDATE = 2
s = types.ModuleType('systemd'); s.journal = j
sys.modules['systemd'] = s; sys.modules['systemd.journal'] = j
from fail2ban.server.filtersystemd import FilterSystemd
class Fake:
    jailName = 'test'
    def getLogEncoding(self): return 'UTF-8'
    getJrnEntTime = FilterSystemd.getJrnEntTime
def conv(k, v):
    raw = bytes(v) if isinstance(v, list) and all(isinstance(x, int) for x in v) else v.encode()
    if k in ('__REALTIME_TIMESTAMP', '_SOURCE_REALTIME_TIMESTAMP'):
        return datetime.datetime.fromtimestamp(int(raw) / 1000000)
    if k == '__MONOTONIC_TIMESTAMP':
        return (datetime.timedelta(microseconds=int(raw)), None)
    try:
        return int(raw) if k in ('_PID', 'SYSLOG_PID') else raw.decode()
    except ValueError:
        return raw
for line in sys.stdin:
    try:
        d = json.loads(line)
    except ValueError:
        continue
    e = {k: ([conv(k, x) for x in v] if isinstance(v, list) and v and isinstance(v[0], str) else conv(k, v)) for k, v in d.items()}
    t, tm = FilterSystemd.formatJournalEntry(Fake(), e)
    print(json.dumps(["".join(t), tm]))
"#;

fn fake_journalctl(dir: &Path, body: &str) -> std::path::PathBuf {
    let entries = dir.join("entries.jsonl");
    std::fs::write(&entries, ENTRIES).unwrap();
    let script = dir.join("journalctl");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nfor a in \"$@\"; do echo \"$a\"; done > '{}'\ncat '{}'\n{body}\n",
            dir.join("args.txt").display(),
            entries.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

fn read_all(r: &mut JournalReader, n: usize) -> Vec<JournalEntry> {
    let end = Instant::now() + Duration::from_secs(10);
    let mut out = Vec::new();
    while out.len() < n && Instant::now() < end {
        let mut pfd = libc::pollfd {
            fd: r.fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        unsafe { libc::poll(&mut pfd, 1, 100) };
        match r.read_entries() {
            Ok(e) => out.extend(e),
            Err(_) => break,
        }
    }
    out
}

fn reference(entries: &str) -> Vec<(String, f64)> {
    use std::io::Write;
    let mut c = std::process::Command::new("/usr/bin/python3")
        .args(["-c", PY])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 with fail2ban is the reference");
    c.stdin
        .take()
        .unwrap()
        .write_all(entries.as_bytes())
        .unwrap();
    let out = c.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            // ["line", time]: the line has no '", ' inside in our entries.
            let (line, tm) = l.rsplit_once(", ").unwrap();
            let line: String = line
                .trim_start_matches("[\"")
                .trim_end_matches('"')
                .to_string();
            (line, tm.trim_end_matches(']').parse().unwrap())
        })
        .collect()
}

fn unescape_py_json(s: &str) -> String {
    // The reference prints JSON strings: undo the escapes our entries produce.
    s.replace("\\\\n", "\u{0}")
        .replace("\\ufffd", "\u{fffd}")
        .replace("\\u00e9", "é")
        .replace('\u{0}', "\\n")
}

#[test]
fn entries_are_formatted_as_fail2ban_formats_them() {
    let d = Dir::new("journal-format");
    let script = fake_journalctl(&d.0, "exec sleep 30");
    let mut m = JournalMatches::default();
    m.add("_SYSTEMD_UNIT=sshd.service + _COMM=sshd").unwrap();
    let mut r = JournalReader::builder()
        .journalctl(&script)
        .matches(m)
        .start(JournalStart::Since(1699999000.5))
        .spawn()
        .unwrap();
    let got = read_all(&mut r, 8);
    let want = reference(ENTRIES);
    assert_eq!(
        got.len(),
        want.len(),
        "the junk line is skipped, the others read: {got:?}"
    );
    for (g, (line, tm)) in got.iter().zip(&want) {
        // One deliberate difference: a non-numeric SYSLOG_PID stays bytes in
        // python-systemd and fail2ban prints its repr (`[b'abc']`); we print
        // the text.
        let line = line.replace("[b'abc']", "[abc]");
        assert_eq!(g.line(), unescape_py_json(&line));
        assert!((g.time - tm).abs() < 1e-6, "{} vs {tm}", g.time);
    }
    assert_eq!(r.cursor(), Some("s=a;i=8"));
    let args = std::fs::read_to_string(d.join("args.txt")).unwrap();
    assert_eq!(
        args.lines().collect::<Vec<_>>(),
        [
            "--output=json",
            "--follow",
            "--no-pager",
            "--all",
            "--quiet",
            "--system",
            "--since=@1699999000",
            "_SYSTEMD_UNIT=sshd.service",
            "+",
            "_COMM=sshd"
        ]
    );
    let pid = r.pid() as i32;
    drop(r);
    // SAFETY: signal 0 only checks whether the pid exists.
    assert_ne!(
        unsafe { libc::kill(pid, 0) },
        0,
        "journalctl is gone with the reader"
    );
}

#[test]
fn backend_options_and_resuming_after_a_cursor() {
    let d = Dir::new("journal-opts");
    let script = fake_journalctl(&d.0, "exit 0");
    let mut r = JournalReader::builder()
        .journalctl(&script)
        .backend_options(vec![("journalpath".into(), "/var/log/journal".into())])
        .start(JournalStart::AfterCursor("s=a;i=3".into()))
        .spawn()
        .unwrap();
    let got = read_all(&mut r, 8);
    assert_eq!(got.len(), 8);
    // journalctl exited: the reader says so, and nothing panics.
    let end = Instant::now() + Duration::from_secs(5);
    while !r.has_ended() && Instant::now() < end {
        let _ = r.read_entries();
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(r.has_ended());
    let args = std::fs::read_to_string(d.join("args.txt")).unwrap();
    assert!(args.lines().any(|l| l == "--directory=/var/log/journal"));
    assert!(args.lines().any(|l| l == "--after-cursor=s=a;i=3"));
    assert!(
        !args.lines().any(|l| l == "--system"),
        "a path opens every journal in it, as fail2ban"
    );
    assert!(JournalReader::builder()
        .backend_options(vec![("bogus".into(), "1".into())])
        .args()
        .is_err());
}

#[test]
fn a_big_backlog_and_an_oversized_entry() {
    let d = Dir::new("journal-big");
    let mut entries = String::new();
    for i in 0..20_000 {
        if i == 10_000 {
            // 2 MB of message: skipped with a warning, the next entry read.
            entries.push_str(&format!(
                "{{\"__CURSOR\":\"big\",\"__REALTIME_TIMESTAMP\":\"1700000000000000\",\"MESSAGE\":\"{}\"}}\n",
                "x".repeat(2 << 20)
            ));
        }
        entries.push_str(&format!(
            "{{\"__CURSOR\":\"c{i}\",\"__REALTIME_TIMESTAMP\":\"{}\",\"_HOSTNAME\":\"h\",\"SYSLOG_IDENTIFIER\":\"sshd\",\"_PID\":\"{i}\",\"MESSAGE\":\"Failed password for root from 192.0.2.{} port 22\"}}\n",
            1_700_000_000_000_000u64 + i,
            i % 250
        ));
    }
    let data = d.join("big.jsonl");
    std::fs::write(&data, &entries).unwrap();
    let script = d.join("journalctl");
    std::fs::write(
        &script,
        format!("#!/bin/sh\ncat '{}'\nexec sleep 30\n", data.display()),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut r = JournalReader::builder()
        .journalctl(&script)
        .spawn()
        .unwrap();
    let mut calls = 0;
    let end = Instant::now() + Duration::from_secs(30);
    let mut got = Vec::new();
    while got.len() < 20_000 && Instant::now() < end {
        let mut pfd = libc::pollfd {
            fd: r.fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        unsafe { libc::poll(&mut pfd, 1, 100) };
        got.extend(r.read_entries().unwrap());
        calls += 1;
    }
    assert_eq!(got.len(), 20_000);
    assert!(calls > 2, "handed over in slices ({calls} calls)");
    for (i, e) in got.iter().enumerate() {
        assert_eq!(e.cursor.as_deref(), Some(format!("c{i}").as_str()));
    }
    assert_eq!(
        got[7].message,
        "h sshd[7]: Failed password for root from 192.0.2.7 port 22"
    );
}
