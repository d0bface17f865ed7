//! The pickle encoder: writes what CPython's `pickle.dumps(obj, protocol)`
//! writes for plain data, byte for byte, including protocol 4's framing.
//!
//! Python memoizes by object identity and emits GET for an object it has seen
//! before; a [`Value`] tree has no identity, so every item is written in full
//! (and still memoized, as Python does). The output is therefore identical to
//! Python's whenever the Python object holds no object twice.

use super::error::EncodeError;
use super::text;
use super::{PyException, Reply};
use crate::stream::{float_repr, Value};

/// The newest protocol, the one fail2ban's client and server both use
/// (`pickle.HIGHEST_PROTOCOL` on Python 3.8 and later).
pub const HIGHEST_PROTOCOL: u8 = 5;

/// Python's `_FRAME_SIZE_TARGET` and `_FRAME_SIZE_MIN`.
const FRAME_TARGET: usize = 64 * 1024;
const FRAME_MIN: usize = 4;
const FRAME_HEADER: usize = 9;
/// Python writes lists, dicts and sets in batches of this many items.
const BATCH: usize = 1000;

/// Pickles a value with the given protocol (0 to 5).
pub fn encode(value: &Value, protocol: u8) -> Result<Vec<u8>, EncodeError> {
    check_sizes(value, protocol)?;
    let mut p = Pickler::new(protocol)?;
    p.save(value);
    Ok(p.finish())
}

/// Pickles a server answer: `(code, result)` or `(code, exception)` exactly
/// as fail2ban's server does, or the bare value of [`Reply::Other`].
pub fn encode_reply(reply: &Reply, protocol: u8) -> Result<Vec<u8>, EncodeError> {
    match reply {
        Reply::Answer { result: v, .. } | Reply::Other(v) => check_sizes(v, protocol)?,
        Reply::Failure { error, .. } => {
            for a in &error.args {
                check_sizes(a, protocol)?;
            }
        }
    }
    let mut p = Pickler::new(protocol)?;
    match reply {
        Reply::Answer { code, result } => {
            p.save_tuple_with(2, |p| {
                p.save(&Value::Int(*code));
                p.save(result);
            });
        }
        Reply::Failure { code, error } => {
            p.save_tuple_with(2, |p| {
                p.save(&Value::Int(*code));
                p.save_exception(error);
            });
        }
        Reply::Other(v) => p.save(v),
    }
    Ok(p.finish())
}

/// Protocols 1 to 3 store lengths in 4 bytes, so Python refuses a str or
/// bytes over 4 GiB there; we refuse it too, before writing anything.
fn check_sizes(v: &Value, protocol: u8) -> Result<(), EncodeError> {
    if protocol == 0 || protocol >= 4 {
        return Ok(());
    }
    let limit = u32::MAX as usize;
    let too_large = |what| Err(EncodeError::TooLarge { what, protocol });
    match v {
        Value::Str(s) if s.len() > limit => too_large("a str"),
        // Below protocol 3 bytes travel as a Latin-1 str, UTF-8 encoded.
        Value::Bytes(b) if b.len() + b.iter().filter(|&&c| c >= 0x80).count() > limit => {
            too_large("bytes")
        }
        Value::List(items) | Value::Tuple(items) => {
            items.iter().try_for_each(|i| check_sizes(i, protocol))
        }
        Value::Dict(items) => items.iter().try_for_each(|(k, v)| {
            check_sizes(k, protocol)?;
            check_sizes(v, protocol)
        }),
        _ => Ok(()),
    }
}

struct Pickler {
    out: Vec<u8>,
    proto: u8,
    framing: bool,
    frame_start: Option<usize>,
    memo_len: u32,
}

impl Pickler {
    fn new(proto: u8) -> Result<Pickler, EncodeError> {
        if proto > HIGHEST_PROTOCOL {
            return Err(EncodeError::UnsupportedProtocol { version: proto });
        }
        let mut p = Pickler {
            out: Vec::new(),
            proto,
            framing: false,
            frame_start: None,
            memo_len: 0,
        };
        if proto >= 2 {
            p.write(&[0x80, proto]);
            p.framing = proto >= 4;
        }
        Ok(p)
    }

    fn finish(mut self) -> Vec<u8> {
        self.write(b".");
        self.commit_frame();
        self.out
    }

    /// Every write goes into the open frame, opening one if needed.
    fn write(&mut self, data: &[u8]) {
        if self.framing && self.frame_start.is_none() {
            self.frame_start = Some(self.out.len());
            self.out.extend_from_slice(&[0; FRAME_HEADER]);
        }
        self.out.extend_from_slice(data);
    }

    /// Large payloads bypass framing: the open frame is closed first and the
    /// payload is written outside any frame, as CPython does.
    fn write_payload(&mut self, header: &[u8], data: &[u8]) {
        let bypass = data.len() >= FRAME_TARGET;
        let framing = self.framing;
        if bypass {
            self.commit_frame();
            self.framing = false;
        }
        self.write(header);
        self.write(data);
        self.framing = framing;
    }

    fn commit_frame(&mut self) {
        let Some(start) = self.frame_start.take() else {
            return;
        };
        let len = self.out.len() - start - FRAME_HEADER;
        if len >= FRAME_MIN {
            self.out[start] = 0x95;
            self.out[start + 1..start + FRAME_HEADER].copy_from_slice(&(len as u64).to_le_bytes());
        } else {
            self.out.drain(start..start + FRAME_HEADER);
        }
    }

    /// After each complete object: close the frame once it is big enough.
    fn boundary(&mut self) {
        if let Some(start) = self.frame_start {
            if self.out.len() - start - FRAME_HEADER >= FRAME_TARGET {
                self.commit_frame();
            }
        }
    }

    fn memoize(&mut self) {
        let i = self.memo_len;
        self.memo_len += 1;
        if self.proto >= 4 {
            self.write(&[0x94]);
        } else if self.proto >= 1 {
            if i < 256 {
                self.write(&[b'q', i as u8]);
            } else {
                let mut b = vec![b'r'];
                b.extend_from_slice(&i.to_le_bytes());
                self.write(&b);
            }
        } else {
            self.write(format!("p{i}\n").as_bytes());
        }
    }

    fn save(&mut self, v: &Value) {
        match v {
            Value::None => self.write(b"N"),
            Value::Bool(b) => self.save_bool(*b),
            Value::Int(i) => self.save_int(*i),
            Value::Float(x) => self.save_float(*x),
            Value::Str(s) => self.save_str(s),
            Value::Bytes(b) => self.save_bytes(b),
            Value::List(items) => self.save_list(items),
            Value::Tuple(items) => self.save_tuple_with(items.len(), |p| {
                for i in items {
                    p.save(i);
                }
            }),
            Value::Dict(items) => self.save_dict(items),
        }
        self.boundary();
    }

    fn save_bool(&mut self, b: bool) {
        if self.proto >= 2 {
            self.write(if b { &[0x88] } else { &[0x89] });
        } else {
            self.write(if b { b"I01\n" } else { b"I00\n" });
        }
    }

    fn save_int(&mut self, i: i64) {
        if let Ok(small) = i32::try_from(i) {
            if self.proto == 0 {
                self.write(format!("I{small}\n").as_bytes());
            } else if (0..256).contains(&small) {
                self.write(&[b'K', small as u8]);
            } else if (0..65536).contains(&small) {
                let b = (small as u16).to_le_bytes();
                self.write(&[b'M', b[0], b[1]]);
            } else {
                let b = small.to_le_bytes();
                self.write(&[b'J', b[0], b[1], b[2], b[3]]);
            }
        } else if self.proto >= 2 {
            // LONG1 with the fewest two's-complement bytes, computed as CPython does.
            let nbits = 64 - i.unsigned_abs().leading_zeros() as usize;
            let mut n = (nbits >> 3) + 1;
            // Up to 9 bytes for i64::MIN before trimming, hence i128.
            let b = (i as i128).to_le_bytes();
            if i < 0 && n > 1 && b[n - 1] == 0xff && b[n - 2] & 0x80 != 0 {
                n -= 1;
            }
            let mut op = vec![0x8a, n as u8];
            op.extend_from_slice(&b[..n]);
            self.write(&op);
        } else {
            self.write(format!("L{i}L\n").as_bytes());
        }
    }

    fn save_float(&mut self, x: f64) {
        if self.proto >= 1 {
            let mut op = vec![b'G'];
            op.extend_from_slice(&x.to_be_bytes());
            self.write(&op);
        } else {
            self.write(format!("F{}\n", float_repr(x)).as_bytes());
        }
    }

    fn save_str(&mut self, s: &str) {
        if self.proto == 0 {
            let mut op = vec![b'V'];
            op.extend_from_slice(&text::raw_unicode_escape_encode(s));
            op.push(b'\n');
            self.write(&op);
        } else {
            let data = s.as_bytes();
            let n = data.len();
            let header = if n < 256 && self.proto >= 4 {
                vec![0x8c, n as u8]
            } else if n <= u32::MAX as usize {
                // Larger ones below protocol 4 were refused by check_sizes.
                let mut h = vec![b'X'];
                h.extend_from_slice(&(n as u32).to_le_bytes());
                h
            } else {
                let mut h = vec![0x8d];
                h.extend_from_slice(&(n as u64).to_le_bytes());
                h
            };
            self.write_payload(&header, data);
        }
        self.memoize();
    }

    fn save_bytes(&mut self, b: &[u8]) {
        if self.proto < 3 {
            // Python 2 had no bytes type: protocols 0-2 rebuild it by REDUCE.
            if b.is_empty() {
                self.save_global("__builtin__", "bytes");
                self.save_tuple_with(0, |_| {});
            } else {
                self.save_global("_codecs", "encode");
                let text: String = b.iter().map(|&c| c as char).collect();
                self.save_tuple_with(2, |p| {
                    p.save(&Value::Str(text));
                    p.save(&Value::str("latin1"));
                });
            }
            self.write(b"R");
            self.memoize();
            return;
        }
        let n = b.len();
        let header = if n < 256 {
            vec![b'C', n as u8]
        } else if n <= u32::MAX as usize {
            let mut h = vec![b'B'];
            h.extend_from_slice(&(n as u32).to_le_bytes());
            h
        } else {
            let mut h = vec![0x8e];
            h.extend_from_slice(&(n as u64).to_le_bytes());
            h
        };
        self.write_payload(&header, b);
        self.memoize();
    }

    /// A class reference: GLOBAL text below protocol 4, STACK_GLOBAL from 4.
    fn save_global(&mut self, module: &str, name: &str) {
        if self.proto >= 4 {
            self.save(&Value::str(module));
            self.save(&Value::str(name));
            self.write(&[0x93]);
        } else {
            self.write(format!("c{module}\n{name}\n").as_bytes());
        }
        self.memoize();
        self.boundary();
    }

    /// An exception instance, as `BaseException.__reduce__` describes it: `(class, args)`.
    fn save_exception(&mut self, e: &PyException) {
        let module = if self.proto < 3 && e.module == "builtins" {
            // Python 2 kept its exceptions in the `exceptions` module.
            "exceptions"
        } else {
            e.module.as_str()
        };
        self.save_global(module, &e.name);
        self.save_tuple_with(e.args.len(), |p| {
            for a in &e.args {
                p.save(a);
            }
        });
        self.write(b"R");
        self.memoize();
        self.boundary();
    }

    /// A tuple of `len` items written by `items`; followed by a boundary like `save`.
    fn save_tuple_with(&mut self, len: usize, items: impl FnOnce(&mut Pickler)) {
        if len == 0 {
            // The empty tuple is a singleton: never memoized.
            self.write(if self.proto >= 1 { b")" } else { b"(t" });
        } else if len <= 3 && self.proto >= 2 {
            items(self);
            self.write(&[0x84 + len as u8]);
            self.memoize();
        } else {
            self.write(b"(");
            items(self);
            self.write(b"t");
            self.memoize();
        }
        self.boundary();
    }

    fn save_list(&mut self, items: &[Value]) {
        self.write(if self.proto >= 1 { b"]" } else { b"(l" });
        self.memoize();
        if self.proto == 0 {
            for i in items {
                self.save(i);
                self.write(b"a");
            }
        } else if items.len() == 1 {
            self.save(&items[0]);
            self.write(b"a");
        } else {
            for chunk in items.chunks(BATCH) {
                self.write(b"(");
                for i in chunk {
                    self.save(i);
                }
                self.write(b"e");
            }
        }
    }

    fn save_dict(&mut self, items: &[(Value, Value)]) {
        self.write(if self.proto >= 1 { b"}" } else { b"(d" });
        self.memoize();
        if self.proto == 0 {
            for (k, v) in items {
                self.save(k);
                self.save(v);
                self.write(b"s");
            }
        } else if items.len() == 1 {
            self.save(&items[0].0);
            self.save(&items[0].1);
            self.write(b"s");
        } else {
            for chunk in items.chunks(BATCH) {
                self.write(b"(");
                for (k, v) in chunk {
                    self.save(k);
                    self.save(v);
                }
                self.write(b"u");
            }
        }
    }
}
