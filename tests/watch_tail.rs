//! `FileTail` on its own: head/tail, lines split across writes, encodings,
//! over-long lines and junk, positions and first-line hashes.

#[path = "watch_util.rs"]
mod util;

use ferroban::watch::{Encoding, FileTail, StartAt};
use util::{append, capture_log, logged, Dir};

fn read(t: &mut FileTail) -> Vec<String> {
    let mut out = Vec::new();
    while t.read_lines(&mut out, 1 << 20).unwrap() {}
    out
}

fn open(path: &std::path::Path, start: StartAt) -> FileTail {
    FileTail::builder()
        .start(start)
        .encoding(Encoding::Utf8)
        .open(path)
        .unwrap()
}

#[test]
fn head_reads_what_is_there_tail_only_what_comes() {
    let d = Dir::new("headtail");
    let p = d.join("a.log");
    std::fs::write(&p, "one\ntwo\n").unwrap();
    let mut head = open(&p, StartAt::Head);
    let mut tail = open(&p, StartAt::Tail);
    assert_eq!(read(&mut head), ["one", "two"]);
    assert_eq!(read(&mut tail), Vec::<String>::new());
    append(&p, b"three\n");
    assert_eq!(read(&mut head), ["three"]);
    assert_eq!(read(&mut tail), ["three"]);
}

#[test]
fn tail_start_drops_the_fragment_of_a_partial_last_line() {
    let d = Dir::new("tailpartial");
    let p = d.join("a.log");
    std::fs::write(&p, "one\ntw").unwrap();
    let mut t = open(&p, StartAt::Tail);
    append(&p, b"o\nthree\n");
    assert_eq!(read(&mut t), ["three"]);
}

#[test]
fn lines_split_across_writes_wait_for_their_newline() {
    let d = Dir::new("split");
    let p = d.join("a.log");
    std::fs::write(&p, "").unwrap();
    let mut t = open(&p, StartAt::Head);
    append(&p, b"hel");
    assert!(read(&mut t).is_empty());
    assert_eq!(t.position(), 0, "a partial line is not consumed");
    append(&p, b"lo\nwor");
    assert_eq!(read(&mut t), ["hello"]);
    assert_eq!(t.position(), 6);
    append(&p, b"ld\r\n\n");
    assert_eq!(
        read(&mut t),
        ["world", ""],
        "CR before the newline goes, empty lines stay"
    );
}

#[test]
fn encodings_and_undecodable_bytes() {
    capture_log();
    let d = Dir::new("enc");
    let p = d.join("latin.log");
    std::fs::write(&p, b"caf\xe9 ok\n").unwrap();
    let mut t = FileTail::builder()
        .encoding(Encoding::parse("latin-1").unwrap())
        .open(&p)
        .unwrap();
    assert_eq!(read(&mut t), ["café ok"]);

    let p = d.join("bad.log");
    std::fs::write(&p, b"good\nbad \xff\xfe here\nx\xc3\n\xe2\x82\xac fine\n").unwrap();
    let mut t = open(&p, StartAt::Head);
    assert_eq!(
        read(&mut t),
        ["good", "bad \u{fffd}\u{fffd} here", "x\u{fffd}", "€ fine"]
    );
    let warned = logged(&format!(
        "Error decoding line from '{}' with 'utf-8'",
        p.display()
    ));
    assert_eq!(warned.len(), 2, "{warned:?}");
    assert!(warned[0].starts_with("WARN"), "the first time a warning");
    assert!(
        warned[1].starts_with("DEBUG"),
        "later ones quietly, as fail2ban"
    );

    let p = d.join("ascii.log");
    std::fs::write(&p, "né\n").unwrap();
    let mut t = FileTail::builder()
        .encoding(Encoding::Ascii)
        .open(&p)
        .unwrap();
    assert_eq!(read(&mut t), ["n\u{fffd}\u{fffd}"]);
}

#[test]
fn a_megabyte_line_and_binary_junk_are_skipped_and_the_next_lines_delivered() {
    capture_log();
    let d = Dir::new("long");
    let p = d.join("a.log");
    std::fs::write(&p, "before\n").unwrap();
    let mut t = open(&p, StartAt::Head);
    assert_eq!(read(&mut t), ["before"]);
    // Written in pieces, as a slow writer would.
    let big = vec![b'A'; 1 << 20];
    for piece in big.chunks(100_000) {
        append(&p, piece);
        assert!(read(&mut t).is_empty());
    }
    append(&p, b"\nafter long\n");
    // Binary junk: every byte value, NULs, no newline for 200 KB.
    let mut junk = Vec::new();
    let mut x: u32 = 12345;
    while junk.len() < 200_000 {
        x = x.wrapping_mul(1103515245).wrapping_add(12345);
        let b = (x >> 16) as u8;
        junk.push(if b == b'\n' { 0 } else { b });
    }
    append(&p, &junk);
    append(&p, b"\nafter junk\nlast\n");
    assert_eq!(read(&mut t), ["after long", "after junk", "last"]);
    let skipped = logged(&format!("of {}", p.display()));
    assert_eq!(
        skipped
            .iter()
            .filter(|r| r.contains("Skipping a line"))
            .count(),
        2,
        "{skipped:?}"
    );
    assert!(skipped.iter().all(|r| r.starts_with("WARN")));
    assert_eq!(t.position(), std::fs::metadata(&p).unwrap().len());
}

#[test]
fn short_junk_lines_are_decoded_with_replacement_and_nothing_after_is_lost() {
    let d = Dir::new("junk");
    let p = d.join("a.log");
    let mut data = Vec::new();
    for i in 0..200u32 {
        data.extend(
            (0..50)
                .map(|j| ((i * 31 + j * 7) % 256) as u8)
                .filter(|&b| b != b'\n'),
        );
        data.push(b'\n');
    }
    data.extend_from_slice(b"sshd[1]: Failed password for root from 192.0.2.1\n");
    std::fs::write(&p, &data).unwrap();
    let mut t = open(&p, StartAt::Head);
    let lines = read(&mut t);
    assert_eq!(lines.len(), 201);
    assert_eq!(
        lines[200],
        "sshd[1]: Failed password for root from 192.0.2.1"
    );
}

/// fail2ban's own FileContainer over a file: its lines (hex of their UTF-8),
/// then its position and first-line hash.
const FILE_CONTAINER: &str = r#"
import sys
from fail2ban.server.filter import FileContainer
c = FileContainer(sys.argv[1], sys.argv[2], tail=False)
c.open()
while True:
    l = c.readline()
    if l is None:
        break
    print(l.encode('utf-8', 'surrogatepass').hex())
c.close()
print("pos", c.getPos(), "hash", c.getHash())
"#;

fn reference(path: &std::path::Path, enc: &str) -> (Vec<String>, u64, String) {
    let out = std::process::Command::new("/usr/bin/python3")
        .args(["-c", FILE_CONTAINER, path.to_str().unwrap(), enc])
        .output()
        .expect("python3 with fail2ban is the reference");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    let last = lines.pop().unwrap();
    let parts: Vec<&str> = last.split(' ').collect();
    let decoded = lines
        .iter()
        .map(|h| {
            let bytes: Vec<u8> = (0..h.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
                .collect();
            String::from_utf8(bytes).unwrap()
        })
        .collect();
    (
        decoded,
        parts[1].parse().unwrap(),
        parts.get(3).unwrap_or(&"").to_string(),
    )
}

#[test]
fn lines_position_and_hash_agree_with_fail2bans_file_container() {
    let d = Dir::new("reference");
    // Random short lines: every byte value but the newline, CRs, empty lines,
    // an unterminated last line.
    let mut x: u32 = 2026;
    let mut rnd = move || {
        x = x.wrapping_mul(1103515245).wrapping_add(12345);
        (x >> 16) as u8
    };
    for (k, enc) in [(0, "utf-8"), (1, "latin-1"), (2, "ascii"), (3, "utf-8")] {
        let mut data = Vec::new();
        for _ in 0..400 {
            let n = rnd() % 40;
            for _ in 0..n {
                let b = rnd();
                // Mostly text, some bytes above 0x7f, the odd CR.
                data.push(match b % 8 {
                    0 => 0x80 | rnd(),
                    1 if b % 16 == 1 => b'\r',
                    _ => b' ' + b % 90,
                });
            }
            data.retain(|&b| b != b'\n');
            data.push(b'\n');
        }
        if k == 3 {
            // Valid multi-byte text too, and a partial last line.
            data.extend_from_slice("é€😀 ok\nunterminated".as_bytes());
        }
        let p = d.join(&format!("f{k}.log"));
        std::fs::write(&p, &data).unwrap();
        let (want, pos, hash) = reference(&p, enc);
        let mut t = FileTail::builder()
            .encoding(Encoding::parse(enc).unwrap())
            .open(&p)
            .unwrap();
        assert_eq!(t.first_line_hash(), hash, "{enc}: first-line hash");
        let got = read(&mut t);
        assert_eq!(got.len(), want.len(), "{enc}: line count");
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(g, w, "{enc}: line {i}");
        }
        assert_eq!(t.position(), pos, "{enc}: position");
    }
}

#[test]
fn position_and_first_line_hash_as_fail2ban_stores_them() {
    let d = Dir::new("pos");
    let p = d.join("a.log");
    std::fs::write(&p, "first line\n").unwrap();
    let mut t = open(&p, StartAt::Head);
    assert_eq!(t.first_line_hash(), reference(&p, "utf-8").2);
    assert_eq!(read(&mut t), ["first line"]);
    append(&p, b"second\nthird\n");
    assert_eq!(read(&mut t), ["second", "third"]);
    let (pos, hash) = (t.position(), t.first_line_hash().to_string());
    assert_eq!(pos, 24);
    drop(t);

    // A restart: the saved position is taken when the first line still matches.
    append(&p, b"fourth\n");
    let mut t = open(&p, StartAt::Head);
    assert!(t.restore(pos, &hash));
    assert_eq!(read(&mut t), ["fourth"]);
    // … and refused for another file (or a wrong hash), which is read whole.
    let mut t = open(&p, StartAt::Head);
    assert!(!t.restore(pos, "0123456789abcdef0123456789abcdef"));
    assert_eq!(read(&mut t).len(), 4);

    // No complete first line: no hash, as fail2ban.
    let q = d.join("b.log");
    std::fs::write(&q, "incomplete").unwrap();
    let t = open(&q, StartAt::Head);
    assert_eq!(t.first_line_hash(), "");
}

#[test]
fn a_missing_file_is_an_error_unless_allowed_and_then_read_whole_when_it_appears() {
    let d = Dir::new("missing");
    let p = d.join("later.log");
    assert!(FileTail::builder().open(&p).is_err());
    let err = FileTail::builder()
        .open(&d.0)
        .err()
        .expect("a directory is no log");
    assert!(err.to_string().contains("directory"), "{err}");
    let mut t = FileTail::builder()
        .start(StartAt::Tail)
        .missing_ok(true)
        .open(&p)
        .unwrap();
    assert!(!t.is_open());
    assert!(read(&mut t).is_empty());
    std::fs::write(&p, "born\n").unwrap();
    assert_eq!(read(&mut t), ["born"]);
}

#[test]
fn seek_to_time_bisects_to_the_first_recent_line() {
    let d = Dir::new("seek");
    let p = d.join("a.log");
    let mut data = String::new();
    for n in 0..10_000 {
        data.push_str(&format!("T {n} host sshd: attempt\n"));
        if n % 7 == 0 {
            data.push_str("  continuation line without a date\n");
        }
    }
    std::fs::write(&p, &data).unwrap();
    let time_of = |l: &str| l.strip_prefix("T ")?.split(' ').next()?.parse::<f64>().ok();
    let mut t = open(&p, StartAt::Head);
    let mut calls = 0;
    t.seek_to_time(6543.0, |l| {
        calls += 1;
        time_of(l)
    })
    .unwrap();
    assert!(
        calls < 200,
        "bisection, not a scan: {calls} lines looked at"
    );
    let lines = read(&mut t);
    assert_eq!(lines[0], "T 6543 host sshd: attempt");
    assert_eq!(lines.last().unwrap(), "T 9999 host sshd: attempt");

    // Everything recent: stays at the start; nothing recent: at the end.
    let mut t = open(&p, StartAt::Head);
    assert_eq!(t.seek_to_time(-1.0, time_of).unwrap(), 0);
    let mut t = open(&p, StartAt::Head);
    assert_eq!(t.seek_to_time(1e9, time_of).unwrap(), data.len() as u64);

    // No dates at all: read from the start, as fail2ban.
    let q = d.join("b.log");
    std::fs::write(&q, "no\ndates\nhere\n").unwrap();
    let mut t = open(&q, StartAt::Head);
    assert_eq!(t.seek_to_time(5.0, time_of).unwrap(), 0);
    assert_eq!(read(&mut t), ["no", "dates", "here"]);
}
