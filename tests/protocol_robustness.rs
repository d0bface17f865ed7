//! Hostile input: every refusal the decoder promises (forbidden opcodes,
//! globals, bombs, cycles, limits) and a property test over thousands of
//! random, mutated and truncated pickles: the decoder answers Ok or Err,
//! never panics, and always finishes fast. Also the framing on a real socket
//! pair: terminators split across reads, limits, truncation and timeouts.

use std::io::{BufReader, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use ferroban::protocol::{self, Limits, PickleErrorKind as K, WireError};
use ferroban::stream::Value;

fn err(data: &[u8]) -> protocol::PickleError {
    match protocol::decode(data) {
        Ok(v) => panic!("{data:?} decoded to {v}"),
        Err(e) => e,
    }
}

#[test]
fn forbidden_opcodes_are_named_with_their_offset() {
    let cases: &[(u8, &str)] = &[
        (b'b', "BUILD"),
        (b'i', "INST"),
        (b'o', "OBJ"),
        (b'P', "PERSID"),
        (b'Q', "BINPERSID"),
        (0x81, "NEWOBJ"),
        (0x82, "EXT1"),
        (0x83, "EXT2"),
        (0x84, "EXT4"),
        (0x92, "NEWOBJ_EX"),
        (0x96, "BYTEARRAY8"),
        (0x97, "NEXT_BUFFER"),
        (0x98, "READONLY_BUFFER"),
    ];
    for &(op, name) in cases {
        let e = err(&[0x80, 5, b'N', op, b'.']);
        assert_eq!(e.offset, 3);
        assert_eq!(
            e.kind,
            K::Forbidden {
                opcode: name,
                code: op
            }
        );
        assert!(e.to_string().contains(name), "{e}");
    }
    let e = err(b"\x80\x05N\xff.");
    assert_eq!(e.kind, K::UnknownOpcode { code: 0xff });
    assert_eq!(
        err(b"\x80\x06N.").kind,
        K::UnsupportedProtocol { version: 6 }
    );
}

#[test]
fn globals_outside_the_whitelist_are_refused_not_called() {
    let e = err(b"cos\nsystem\n(S'touch /tmp/pwned'\ntR.");
    assert_eq!(e.offset, 0);
    assert_eq!(
        e.kind,
        K::Global {
            module: "os".into(),
            name: "system".into()
        }
    );
    assert!(e.to_string().contains("os.system"), "{e}");
    // STACK_GLOBAL, protocol 4 style, and in reply mode too.
    let sg = b"\x80\x04\x8c\x02os\x94\x8c\x06system\x94\x93\x94\x8c\x02id\x94\x85\x94R\x94.";
    assert!(matches!(err(sg).kind, K::Global { .. }));
    assert!(matches!(
        protocol::decode_reply(sg).unwrap_err().kind,
        K::Global { .. }
    ));
    // builtins.eval is no exception class, even for replies.
    let ev = b"\x80\x04\x8c\x08builtins\x8c\x04eval\x93\x8c\x011\x85R.";
    assert!(matches!(
        protocol::decode_reply(ev).unwrap_err().kind,
        K::Global { .. }
    ));
    // A whitelisted name with a wrong argument shape is refused too.
    let e = err(b"c_codecs\nencode\n(Vab\nVutf-16\ntR.");
    assert!(matches!(e.kind, K::BadReduce { .. }), "{e}");
    // An exception is no data: not in a command, not nested in a reply.
    let nested = b"\x80\x04K\x01\x8c\x08builtins\x8c\nValueError\x93\x8c\x01x\x85R\x85\x86.";
    assert!(matches!(
        protocol::decode_reply(nested).unwrap_err().kind,
        K::NotData { .. }
    ));
}

/// Each level is a list holding the previous level twice: 64 bytes of
/// pickle describe 2^60 items once the memo references are expanded.
#[test]
fn memo_bombs_hit_the_output_limit_quickly() {
    let mut p = vec![0x80, 4, b']', 0x94];
    for i in 0..60u32 {
        p.extend_from_slice(b"(j");
        p.extend_from_slice(&i.to_le_bytes());
        p.push(b'j');
        p.extend_from_slice(&i.to_le_bytes());
        p.extend_from_slice(&[b'l', 0x94]);
    }
    p.push(b'.');
    let start = Instant::now();
    assert!(matches!(err(&p).kind, K::TooBig { .. }));
    assert!(start.elapsed() < Duration::from_secs(20));
    // The same with tuples used as a dict key: hashing is bounded too.
    let mut t = vec![0x80, 4, b')', 0x94];
    for i in 0..60u32 {
        t.push(b'j');
        t.extend_from_slice(&i.to_le_bytes());
        t.push(b'j');
        t.extend_from_slice(&i.to_le_bytes());
        t.extend_from_slice(&[0x86, 0x94]);
    }
    t.extend_from_slice(&[b'}', 0x94, b'j']);
    t.extend_from_slice(&60u32.to_le_bytes());
    t.extend_from_slice(b"Ns.");
    let start = Instant::now();
    assert!(matches!(err(&t).kind, K::TooBig { .. }));
    assert!(start.elapsed() < Duration::from_secs(20));
    // And REDUCE repeated on one big argument through the memo.
    let mut r = b"\x80\x04c_codecs\nencode\n\x94X\x00\x00\x10\x00".to_vec();
    r.extend(vec![b'a'; 1 << 20]);
    r.extend_from_slice(b"\x8c\x06latin1\x86\x94(");
    for _ in 0..1000 {
        r.extend_from_slice(b"h\x00h\x01R0");
    }
    r.extend_from_slice(b"t.");
    let start = Instant::now();
    assert!(matches!(err(&r).kind, K::TooBig { .. }));
    assert!(start.elapsed() < Duration::from_secs(20));
}

#[test]
fn cycles_depth_and_big_ints_are_refused() {
    // l = []; l.append(l)
    assert_eq!(err(b"\x80\x04]\x94h\x00a.").kind, K::Recursive);
    let mut deep = vec![b']'; 150];
    deep.extend(vec![b'a'; 149]);
    deep.push(b'.');
    assert_eq!(err(&deep).kind, K::TooDeep { limit: 100 });
    let mut ok = vec![b']'; 50];
    ok.extend(vec![b'a'; 49]);
    ok.push(b'.');
    assert!(protocol::decode(&ok).is_ok());
    assert_eq!(
        err(b"\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x01.").kind,
        K::IntOutOfRange
    );
    assert_eq!(err(b"L99999999999999999999L\n.").kind, K::IntOutOfRange);
    // Non-minimal encodings of in-range numbers are fine.
    let v = protocol::decode(b"\x8a\x0a\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff.").unwrap();
    assert_eq!(v, Value::Int(-1));
    assert_eq!(protocol::decode(b"\x8a\x00.").unwrap(), Value::Int(0));
}

#[test]
fn dicts_and_sets_follow_python_equality() {
    // {1: 'a', 1.0: 'b', True: 'c'} is {1: 'c'} in Python.
    let d = b"}(K\x01X\x01\x00\x00\x00aG?\xf0\x00\x00\x00\x00\x00\x00X\x01\x00\x00\x00b\x88X\x01\x00\x00\x00cu.";
    assert_eq!(protocol::decode(d).unwrap().to_string(), "{1: 'c'}");
    let s = b"\x8f(K\x01K\x02\x88K\x02\x90.";
    assert_eq!(protocol::decode(s).unwrap().to_string(), "[1, 2]");
    assert_eq!(err(b"}(]K\x01u.").kind, K::Unhashable { found: "a list" });
    assert!(matches!(err(b"}(K\x01u.").kind, K::OddItems { .. }));
}

#[test]
fn stack_and_memo_misuse_is_an_error() {
    assert!(matches!(err(b"a.").kind, K::StackUnderflow { .. }));
    assert!(matches!(err(b"](a.").kind, K::StackUnderflow { .. }));
    assert!(matches!(err(b"e.").kind, K::NoMark { .. }));
    assert!(matches!(err(b".").kind, K::StackUnderflow { .. }));
    assert_eq!(err(b"h\x05.").kind, K::MemoMissing { index: 5 });
    assert!(matches!(err(b"K\x01K\x02a.").kind, K::WrongType { .. }));
    assert_eq!(err(b"N").kind, K::MissingStop);
    assert_eq!(err(b"").kind, K::MissingStop);
    assert_eq!(
        err(b"N").to_string(),
        "bad pickle at byte 1: the pickle ends without a STOP opcode"
    );
    assert_eq!(
        err(b"X\x05\x00\x00\x00ab.").kind,
        K::Truncated { what: "BINUNICODE" }
    );
    assert!(matches!(
        err(b"X\xff\xff\xff\xff").kind,
        K::Truncated { .. }
    ));
    assert!(matches!(
        err(b"\x8d\xff\xff\xff\xff\xff\xff\xff\xffab.").kind,
        K::Truncated { .. }
    ));
    assert!(matches!(
        err(b"X\x02\x00\x00\x00\xc3(.").kind,
        K::BadString { .. }
    ));
    assert!(matches!(err(b"V\\ud800\n.").kind, K::BadString { .. }));
    assert!(matches!(err(b"U\x01\xe9.").kind, K::BadString { .. }));
    assert!(matches!(err(b"Ixyz\n.").kind, K::BadText { .. }));
    // Trailing bytes after STOP are ignored, as Python's loads ignores them.
    assert_eq!(
        protocol::decode(b"N.<F2B_END_COMMAND>").unwrap(),
        Value::None
    );
}

#[test]
fn limits_are_enforced() {
    let data = protocol::encode(&Value::List((0..100).map(Value::Int).collect()), 5).unwrap();
    let small = Limits {
        max_size: 10,
        ..Limits::default()
    };
    assert_eq!(
        protocol::decode_with(&data, &small).unwrap_err().kind,
        K::TooLarge { limit: 10 }
    );
    let memo = Limits {
        max_memo: 3,
        ..Limits::default()
    };
    let strs: Vec<Value> = (0..10).map(|i| Value::str(format!("s{i}"))).collect();
    let data = protocol::encode(&Value::List(strs), 5).unwrap();
    assert_eq!(
        protocol::decode_with(&data, &memo).unwrap_err().kind,
        K::MemoFull { limit: 3 }
    );
    let out = Limits {
        max_output: 1000,
        ..Limits::default()
    };
    let data = protocol::encode(&Value::str("x".repeat(2000)), 5).unwrap();
    assert!(matches!(
        protocol::decode_with(&data, &out).unwrap_err().kind,
        K::TooBig { .. }
    ));
}

/// xorshift64*: deterministic, no crate needed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Valid pickles of every protocol to mutate.
fn seeds() -> Vec<Vec<u8>> {
    let v = Value::List(vec![
        Value::str("set"),
        Value::Tuple(vec![Value::Int(1), Value::Int(-70000), Value::Int(1 << 40)]),
        Value::Dict(vec![
            (Value::str("k"), Value::Bytes(b"by\0tes".to_vec())),
            (
                Value::Int(3),
                Value::List(vec![Value::Float(1.5), Value::None]),
            ),
        ]),
        Value::Bool(true),
        Value::str("\u{e9}\\\n\u{20ac}"),
        Value::Tuple(vec![]),
    ]);
    let mut out = Vec::new();
    for p in 0..=5 {
        out.push(protocol::encode(&v, p).unwrap());
        out.push(protocol::encode(&protocol_cmd(), p).unwrap());
    }
    // Shapes our encoder never writes: sets, memo GETs, Python 2 strings.
    out.push(b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00\x8f\x94(K\x01K\x02\x90(K\x03\x91\x94h\x00\x86.".to_vec());
    out.push(
        b"c__builtin__\nset\np0\n((lp1\nI1\naI2\natp2\nRp3\n(S'a\\x41'\np4\ng4\ng3\ntp5\n."
            .to_vec(),
    );
    out.push(b"\x80\x02c_codecs\nencode\nq\x00X\x02\x00\x00\x00abq\x01X\x06\x00\x00\x00latin1q\x02\x86q\x03Rq\x04.".to_vec());
    out
}

fn protocol_cmd() -> Value {
    ferroban::command!["set", "sshd", "addignoreip", "10.0.0.0/8"]
}

#[test]
fn random_and_mutated_pickles_never_panic_or_hang() {
    let seeds = seeds();
    for s in &seeds {
        protocol::decode(s).unwrap_or_else(|e| panic!("seed {s:?}: {e}"));
    }
    // A longer or different run: FERROBAN_FUZZ_SEED=n FERROBAN_FUZZ_ITERS=n.
    let env = |k: &str, d: u64| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let mut rng = Rng(env("FERROBAN_FUZZ_SEED", 0x9e37_79b9_7f4a_7c15).max(1));
    let iterations = env("FERROBAN_FUZZ_ITERS", 30_000);
    // Opcode bytes are likelier than random ones, to get past the first byte.
    let alphabet: Vec<u8> = b"().0128NIJKLMFGSTUVXBC]})lt\x85\x86\x87dsuae\x8f\x90\x91pqr\x94ghjc\x93R\x80\x95\x8a\x8b\x8c\x8d\x8e\x88\x89\n\\'\x00\x01\xff".to_vec();
    let start = Instant::now();
    let mut slowest = Duration::ZERO;
    let (mut oks, mut errs) = (0, 0);
    for i in 0..iterations {
        let data: Vec<u8> = match i % 4 {
            0 => (0..rng.below(48))
                .map(|_| {
                    if rng.below(4) == 0 {
                        rng.next() as u8
                    } else {
                        alphabet[rng.below(alphabet.len())]
                    }
                })
                .collect(),
            1 => {
                let s = &seeds[rng.below(seeds.len())];
                s[..rng.below(s.len())].to_vec()
            }
            _ => {
                let mut s = seeds[rng.below(seeds.len())].clone();
                for _ in 0..1 + rng.below(4) {
                    let at = rng.below(s.len());
                    match rng.below(5) {
                        0 => s[at] = rng.next() as u8,
                        1 => s[at] = alphabet[rng.below(alphabet.len())],
                        2 => {
                            s.remove(at);
                        }
                        3 => s.insert(at, alphabet[rng.below(alphabet.len())]),
                        _ => {
                            let other = &seeds[rng.below(seeds.len())];
                            let from = rng.below(other.len());
                            let len = rng.below(other.len() - from);
                            let piece = other[from..from + len].to_vec();
                            s.splice(at..at, piece);
                        }
                    }
                    if s.is_empty() {
                        break;
                    }
                }
                s
            }
        };
        let t = Instant::now();
        match protocol::decode(&data) {
            Ok(_) => oks += 1,
            Err(e) => {
                assert!(!e.to_string().is_empty());
                errs += 1;
            }
        }
        let _ = protocol::decode_reply(&data);
        slowest = slowest.max(t.elapsed());
    }
    assert!(
        slowest < Duration::from_secs(1),
        "one input took {slowest:?}"
    );
    assert!(start.elapsed() < Duration::from_secs(120) || iterations > 30_000);
    // Both outcomes must occur, or the mutations are not exercising anything.
    assert!(oks > 100 && errs > 10_000, "ok {oks}, err {errs}");
}

#[test]
fn every_truncation_of_a_valid_pickle_is_an_error() {
    for s in seeds() {
        for n in 0..s.len() {
            assert!(protocol::decode(&s[..n]).is_err(), "{:?}", &s[..n]);
        }
    }
}

#[test]
fn messages_split_anywhere_are_reassembled_exactly() {
    let mut rng = Rng(42);
    let bodies: Vec<Vec<u8>> = (0..200)
        .map(|i| {
            let mut b = protocol::encode(&Value::str("x".repeat(i * 7)), 5).unwrap();
            // Bodies may hold a partial terminator.
            b.extend_from_slice(&protocol::END[..i % protocol::END.len()]);
            b
        })
        .collect();
    let (mut a, b) = UnixStream::pair().unwrap();
    let wire: Vec<u8> = bodies
        .iter()
        .flat_map(|b| protocol::frame(b.clone()))
        .collect();
    let mut chunks = Vec::new();
    let mut at = 0;
    while at < wire.len() {
        let n = (1 + rng.below(40)).min(wire.len() - at);
        chunks.push(wire[at..at + n].to_vec());
        at += n;
    }
    let writer = std::thread::spawn(move || {
        for c in chunks {
            a.write_all(&c).unwrap();
        }
    });
    let mut reader = BufReader::with_capacity(16, b);
    for want in &bodies {
        let got = protocol::read_message_timeout(&mut reader, 1 << 20, Duration::from_secs(10))
            .unwrap()
            .unwrap();
        assert_eq!(&got, want);
    }
    writer.join().unwrap();
    assert!(protocol::read_message(&mut reader, 1 << 20)
        .unwrap()
        .is_none());
}

#[test]
fn framing_errors_are_typed() {
    // Too large, even without any terminator.
    let mut r = BufReader::new(&[b'x'; 5000][..]);
    assert!(matches!(
        protocol::read_message(&mut r, 1000),
        Err(WireError::TooLarge { limit: 1000 })
    ));
    // Closed mid-message.
    let mut r = BufReader::new(&b"\x80\x05N"[..]);
    assert!(matches!(
        protocol::read_message(&mut r, 1000),
        Err(WireError::Truncated)
    ));
    // Exactly at the limit is fine.
    let mut r = BufReader::new(&b"12345<F2B_END_COMMAND>"[..]);
    assert_eq!(
        protocol::read_message(&mut r, 5).unwrap().unwrap(),
        b"12345"
    );
    let mut r = BufReader::new(&b"123456<F2B_END_COMMAND>"[..]);
    assert!(matches!(
        protocol::read_message(&mut r, 5),
        Err(WireError::TooLarge { .. })
    ));
    assert!(protocol::is_close(b"<F2B_CLOSE_COMMAND>"));
}

#[test]
fn a_slow_drip_times_out_in_total() {
    let (mut a, b) = UnixStream::pair().unwrap();
    let writer = std::thread::spawn(move || {
        for _ in 0..40 {
            if a.write_all(b"x").is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    let mut reader = BufReader::new(b);
    let start = Instant::now();
    let r = protocol::read_message_timeout(&mut reader, 1 << 20, Duration::from_millis(300));
    assert!(matches!(r, Err(WireError::Timeout)), "{r:?}");
    assert!(start.elapsed() < Duration::from_secs(1));
    drop(reader);
    writer.join().unwrap();
}

/// The server's loop in miniature, on a real socket: every random or broken
/// request gets an answer (the echo of a good command, Python's bare
/// `'ERROR: ...'` string for a bad one) and the connection stays usable.
#[test]
fn a_socket_answers_every_random_request() {
    use std::os::unix::net::UnixListener;
    let dir = std::env::temp_dir().join(format!("fb-proto-fuzz-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let sock = dir.join("f.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let server = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut writer = stream.try_clone().unwrap();
        let mut reader = BufReader::new(stream);
        let mut served = 0;
        while let Some(msg) =
            protocol::read_message_timeout(&mut reader, 1 << 16, Duration::from_secs(10)).unwrap()
        {
            if protocol::is_close(&msg) {
                break;
            }
            let reply = match protocol::decode(&msg) {
                Ok(cmd) => protocol::Reply::Answer {
                    code: 0,
                    result: cmd,
                },
                Err(e) => protocol::Reply::Other(Value::str(format!("ERROR: {e}"))),
            };
            writer.write_all(&protocol::reply_message(&reply)).unwrap();
            served += 1;
        }
        served
    });
    let mut rng = Rng(7);
    let seeds = seeds();
    let mut stream = UnixStream::connect(&sock).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let (mut good, mut bad) = (0, 0);
    for i in 0..2000 {
        let s = &seeds[rng.below(seeds.len())];
        let mut body = match i % 3 {
            0 => s.clone(),
            1 => s[..rng.below(s.len())].to_vec(),
            _ => (0..rng.below(64)).map(|_| rng.next() as u8).collect(),
        };
        if i % 3 == 2 && !body.is_empty() {
            let at = rng.below(body.len());
            body[at] = s[rng.below(s.len())];
        }
        stream.write_all(&protocol::frame(body.clone())).unwrap();
        let answer = protocol::read_message(&mut reader, 1 << 20)
            .unwrap()
            .unwrap();
        match protocol::decode_reply(&answer).unwrap() {
            protocol::Reply::Answer { code: 0, result } => {
                assert_eq!(result, protocol::decode(&body).unwrap());
                good += 1;
            }
            protocol::Reply::Other(Value::Str(e)) => {
                assert!(e.starts_with("ERROR: bad pickle at byte "), "{e}");
                bad += 1;
            }
            other => panic!("unexpected answer {other:?}"),
        }
    }
    stream
        .write_all(&protocol::frame(protocol::CLOSE.to_vec()))
        .unwrap();
    assert_eq!(server.join().unwrap(), 2000);
    assert!(good > 500 && bad > 500, "good {good}, bad {bad}");
    let _ = std::fs::remove_dir_all(&dir);
}
