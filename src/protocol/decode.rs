//! The pickle decoder: protocols 0 to 5, restricted to plain data.
//!
//! The decoder is a small stack machine like Python's unpickler, but it never
//! imports, builds or calls anything. Objects live in an arena while decoding,
//! so memo references (GET after PUT) share one object exactly as in Python;
//! at STOP the result is copied out into a [`Value`] tree. That copy is where
//! the depth and size limits are enforced, because sharing lets a few bytes of
//! pickle describe an exponentially large tree ("billion laughs").

use std::collections::{HashMap, HashSet};

use super::error::{PickleError, PickleErrorKind as K};
use super::text;
use super::{PyException, Reply};
use crate::stream::Value;

/// Bounds on what a single decode may consume.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Largest accepted pickle, in bytes.
    pub max_size: usize,
    /// Deepest accepted nesting of containers.
    pub max_depth: usize,
    /// Most memo entries.
    pub max_memo: usize,
    /// Budget for the decoded value: each item costs its in-memory size plus
    /// its string or bytes payload. Shared references are paid for every time
    /// they are expanded.
    pub max_output: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_size: 64 << 20,
            max_depth: 100,
            max_memo: 1 << 20,
            max_output: 64 << 20,
        }
    }
}

/// Decodes a pickle of plain data (see the module documentation for the subset)
/// with the default [`Limits`].
pub fn decode(data: &[u8]) -> Result<Value, PickleError> {
    decode_with(data, &Limits::default())
}

/// Decodes a pickle of plain data with explicit limits.
pub fn decode_with(data: &[u8], limits: &Limits) -> Result<Value, PickleError> {
    let mut m = Machine::new(data, limits, false)?;
    let (root, offset) = m.run()?;
    m.offset = offset;
    let mut budget = limits.max_output;
    m.to_value(root, 0, &mut budget)
}

/// Decodes a server's answer: `(code, result)` where the result may also be an
/// exception instance (fail2ban sends `(1, exception)` when a command fails).
/// Anything that is not such a pair comes back as [`Reply::Other`].
pub fn decode_reply(data: &[u8]) -> Result<Reply, PickleError> {
    decode_reply_with(data, &Limits::default())
}

/// [`decode_reply`] with explicit limits.
pub fn decode_reply_with(data: &[u8], limits: &Limits) -> Result<Reply, PickleError> {
    let mut m = Machine::new(data, limits, true)?;
    let (root, offset) = m.run()?;
    m.offset = offset;
    let mut budget = limits.max_output;
    if let Node::Tuple(items) = &m.arena[root] {
        if let [code, result] = items[..] {
            if let Node::Scalar(Value::Int(code)) = m.arena[code] {
                if let Node::Exception { module, name, args } = &m.arena[result] {
                    let args = match m.to_value(*args, 1, &mut budget)? {
                        Value::Tuple(a) => a,
                        // Built from a tuple, so always one; kept total anyway.
                        other => vec![other],
                    };
                    return Ok(Reply::Failure {
                        code,
                        error: PyException {
                            module: module.clone(),
                            name: name.clone(),
                            args,
                        },
                    });
                }
                let result = m.to_value(result, 1, &mut budget)?;
                return Ok(Reply::Answer { code, result });
            }
        }
    }
    Ok(Reply::Other(m.to_value(root, 0, &mut budget)?))
}

type Id = usize;

/// A hashable image of a dict key or set item, with Python's equality:
/// `True == 1 == 1.0`, `-0.0 == 0`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Key {
    None,
    Int(i64),
    Float(u64),
    /// NaN equals nothing, not even another NaN object.
    Unique(usize),
    Str(String),
    Bytes(Vec<u8>),
    Tuple(Vec<Key>),
    FrozenSet(Vec<Key>),
}

/// What REDUCE may "call": recognised by name, never resolved.
#[derive(Clone, Debug)]
enum Callable {
    /// `_codecs.encode(str, 'latin1')`: how protocols 0-2 write bytes.
    CodecsEncode,
    /// `bytes()`: how protocols 0-2 write `b''`.
    Bytes,
    /// `set(list)` / `frozenset(list)`: how protocols 0-3 write sets.
    Set { frozen: bool },
    /// `str(text)`: how fail2ban's `IPAddr` (a `str` subclass) pickles itself
    /// (`get JAIL ignoreip` answers a list of them).
    Str,
    /// An exception class, in reply mode only.
    Class { module: String, name: String },
}

impl Callable {
    fn name(&self) -> String {
        match self {
            Callable::CodecsEncode => "_codecs.encode".into(),
            Callable::Bytes => "bytes".into(),
            Callable::Set { frozen: false } => "set".into(),
            Callable::Set { frozen: true } => "frozenset".into(),
            Callable::Str => "str".into(),
            Callable::Class { module, name } => format!("{module}.{name}"),
        }
    }
}

#[derive(Debug)]
enum Node {
    Scalar(Value),
    List(Vec<Id>),
    Tuple(Vec<Id>),
    Dict(Vec<(Id, Id)>, HashMap<Key, usize>),
    Set {
        items: Vec<Id>,
        seen: HashSet<Key>,
        frozen: bool,
    },
    Global(Callable),
    Exception {
        module: String,
        name: String,
        args: Id,
    },
}

impl Node {
    fn kind(&self) -> &'static str {
        match self {
            Node::Scalar(Value::None) => "None",
            Node::Scalar(Value::Bool(_)) => "a bool",
            Node::Scalar(Value::Int(_)) => "an int",
            Node::Scalar(Value::Float(_)) => "a float",
            Node::Scalar(Value::Str(_)) => "a str",
            Node::Scalar(Value::Bytes(_)) => "bytes",
            Node::Scalar(_) => "a value",
            Node::List(_) => "a list",
            Node::Tuple(_) => "a tuple",
            Node::Dict(..) => "a dict",
            Node::Set { frozen: false, .. } => "a set",
            Node::Set { frozen: true, .. } => "a frozenset",
            Node::Global(_) => "a class or function",
            Node::Exception { .. } => "an exception",
        }
    }
}

struct Machine<'a> {
    data: &'a [u8],
    pos: usize,
    /// Offset of the opcode being executed, for error messages.
    offset: usize,
    limits: &'a Limits,
    reply_mode: bool,
    arena: Vec<Node>,
    stack: Vec<Id>,
    marks: Vec<usize>,
    memo: HashMap<u64, Id>,
    nan_count: usize,
    /// Work left for hashing keys and evaluating REDUCE: like the output,
    /// these can be made to repeat through memo references.
    work_left: usize,
}

/// Python's names for the opcodes that would build objects or call code.
fn forbidden_name(op: u8) -> Option<&'static str> {
    Some(match op {
        b'b' => "BUILD",
        b'i' => "INST",
        b'o' => "OBJ",
        b'P' => "PERSID",
        b'Q' => "BINPERSID",
        0x81 => "NEWOBJ",
        0x82 => "EXT1",
        0x83 => "EXT2",
        0x84 => "EXT4",
        0x92 => "NEWOBJ_EX",
        0x96 => "BYTEARRAY8",
        0x97 => "NEXT_BUFFER",
        0x98 => "READONLY_BUFFER",
        _ => return None,
    })
}

impl<'a> Machine<'a> {
    fn new(
        data: &'a [u8],
        limits: &'a Limits,
        reply_mode: bool,
    ) -> Result<Machine<'a>, PickleError> {
        if data.len() > limits.max_size {
            return Err(PickleError {
                offset: 0,
                kind: K::TooLarge {
                    limit: limits.max_size,
                },
            });
        }
        Ok(Machine {
            data,
            pos: 0,
            offset: 0,
            limits,
            reply_mode,
            arena: Vec::new(),
            stack: Vec::new(),
            marks: Vec::new(),
            memo: HashMap::new(),
            nan_count: 0,
            work_left: limits.max_output,
        })
    }

    fn err<T>(&self, kind: K) -> Result<T, PickleError> {
        Err(self.at(kind))
    }

    fn at(&self, kind: K) -> PickleError {
        PickleError {
            offset: self.offset,
            kind,
        }
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], PickleError> {
        match self.pos.checked_add(n) {
            Some(end) if end <= self.data.len() => {
                let s = &self.data[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            _ => self.err(K::Truncated { what }),
        }
    }

    fn take_len(&mut self, n: u64, what: &'static str) -> Result<&'a [u8], PickleError> {
        // A length beyond the input is truncation, whatever its size.
        let n = usize::try_from(n).unwrap_or(usize::MAX);
        self.take(n, what)
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, PickleError> {
        Ok(self.take(1, what)?[0])
    }

    fn le(&mut self, n: usize, what: &'static str) -> Result<u64, PickleError> {
        let b = self.take(n, what)?;
        Ok(b.iter().rev().fold(0u64, |acc, &x| (acc << 8) | x as u64))
    }

    /// A protocol-0 text argument, up to (and without) its newline.
    fn line(&mut self, what: &'static str) -> Result<&'a [u8], PickleError> {
        let rest = &self.data[self.pos..];
        match rest.iter().position(|&c| c == b'\n') {
            Some(n) => {
                self.pos += n + 1;
                Ok(&rest[..n])
            }
            None => self.err(K::Truncated { what }),
        }
    }

    fn push(&mut self, node: Node) {
        self.arena.push(node);
        self.stack.push(self.arena.len() - 1);
    }

    /// Items above the last MARK are all an opcode may pop.
    fn fence(&self) -> usize {
        self.marks.last().copied().unwrap_or(0)
    }

    fn pop(&mut self, opcode: &'static str) -> Result<Id, PickleError> {
        if self.stack.len() <= self.fence() {
            return self.err(K::StackUnderflow { opcode });
        }
        Ok(self.stack.pop().unwrap_or_default())
    }

    fn top(&self, opcode: &'static str) -> Result<Id, PickleError> {
        if self.stack.len() <= self.fence() {
            return self.err(K::StackUnderflow { opcode });
        }
        Ok(self.stack[self.stack.len() - 1])
    }

    fn pop_mark(&mut self, opcode: &'static str) -> Result<Vec<Id>, PickleError> {
        match self.marks.pop() {
            Some(k) => Ok(self.stack.split_off(k)),
            None => self.err(K::NoMark { opcode }),
        }
    }

    /// A protocol-0 text argument as UTF-8.
    fn text(&self, opcode: &'static str, raw: &[u8]) -> Result<String, PickleError> {
        text::utf8(opcode, raw).map_err(|k| self.at(k))
    }

    fn int_text(&self, opcode: &'static str, raw: &[u8]) -> Result<i64, PickleError> {
        text::decimal(opcode, raw).map_err(|k| self.at(k))
    }

    fn memo_put(&mut self, index: u64, opcode: &'static str) -> Result<(), PickleError> {
        let id = self.top(opcode)?;
        if !self.memo.contains_key(&index) && self.memo.len() >= self.limits.max_memo {
            return self.err(K::MemoFull {
                limit: self.limits.max_memo,
            });
        }
        self.memo.insert(index, id);
        Ok(())
    }

    fn memo_get(&mut self, index: u64) -> Result<(), PickleError> {
        match self.memo.get(&index) {
            Some(&id) => {
                self.stack.push(id);
                Ok(())
            }
            None => self.err(K::MemoMissing { index }),
        }
    }

    fn str_node(&self, raw: &[u8]) -> Result<Node, PickleError> {
        match std::str::from_utf8(raw) {
            Ok(s) => Ok(Node::Scalar(Value::Str(s.to_string()))),
            Err(e) => self.err(K::BadString {
                reason: format!("invalid UTF-8 ({e}); lone surrogates are not supported"),
            }),
        }
    }

    /// Python 2 `str` opcodes: Python 3 loads them as ASCII text by default.
    fn ascii_node(&self, raw: &[u8]) -> Result<Node, PickleError> {
        if !raw.is_ascii() {
            return self.err(K::BadString {
                reason: "a Python 2 string holds non-ASCII bytes".into(),
            });
        }
        self.str_node(raw)
    }

    fn int_node(&self, v: i64) -> Node {
        Node::Scalar(Value::Int(v))
    }

    /// Executes opcodes until STOP; returns the result and STOP's offset.
    fn run(&mut self) -> Result<(Id, usize), PickleError> {
        loop {
            self.offset = self.pos;
            let Some(&op) = self.data.get(self.pos) else {
                return self.err(K::MissingStop);
            };
            self.pos += 1;
            match op {
                b'.' => {
                    let id = self.pop("STOP")?;
                    return Ok((id, self.offset));
                }
                0x80 => {
                    let v = self.u8("PROTO")?;
                    if v > 5 {
                        return self.err(K::UnsupportedProtocol { version: v });
                    }
                }
                0x95 => {
                    // FRAME is only a read-ahead hint, but its length must be there.
                    let n = self.le(8, "FRAME")?;
                    let rest = (self.data.len() - self.pos) as u64;
                    if n > rest {
                        return self.err(K::Truncated { what: "a FRAME" });
                    }
                }
                b'(' => self.marks.push(self.stack.len()),
                b'0' => {
                    if self.stack.len() > self.fence() {
                        self.stack.pop();
                    } else if self.marks.pop().is_none() {
                        return self.err(K::StackUnderflow { opcode: "POP" });
                    }
                }
                b'1' => {
                    self.pop_mark("POP_MARK")?;
                }
                b'2' => {
                    let id = self.top("DUP")?;
                    self.stack.push(id);
                }
                b'N' => self.push(Node::Scalar(Value::None)),
                0x88 => self.push(Node::Scalar(Value::Bool(true))),
                0x89 => self.push(Node::Scalar(Value::Bool(false))),
                b'I' => {
                    let raw = self.line("INT")?;
                    let node = match raw {
                        b"00" => Node::Scalar(Value::Bool(false)),
                        b"01" => Node::Scalar(Value::Bool(true)),
                        _ => self.int_node(self.int_text("INT", raw)?),
                    };
                    self.push(node);
                }
                b'L' => {
                    let raw = self.line("LONG")?;
                    let raw = raw.strip_suffix(b"L").unwrap_or(raw);
                    let v = self.int_text("LONG", raw)?;
                    self.push(self.int_node(v));
                }
                b'J' => {
                    let v = self.le(4, "BININT")? as u32 as i32;
                    self.push(self.int_node(v as i64));
                }
                b'K' => {
                    let v = self.u8("BININT1")?;
                    self.push(self.int_node(v as i64));
                }
                b'M' => {
                    let v = self.le(2, "BININT2")?;
                    self.push(self.int_node(v as i64));
                }
                0x8a => {
                    let n = self.u8("LONG1")? as u64;
                    let b = self.take_len(n, "LONG1")?;
                    let v = self.long_bytes(b)?;
                    self.push(self.int_node(v));
                }
                0x8b => {
                    let n = self.le(4, "LONG4")? as u32 as i32;
                    if n < 0 {
                        return self.err(K::BadText {
                            opcode: "LONG4",
                            text: format!("negative length {n}"),
                        });
                    }
                    let b = self.take_len(n as u64, "LONG4")?;
                    let v = self.long_bytes(b)?;
                    self.push(self.int_node(v));
                }
                b'F' => {
                    let raw = self.line("FLOAT")?;
                    let s = self.text("FLOAT", raw)?;
                    match s.trim().parse::<f64>() {
                        Ok(x) => self.push(Node::Scalar(Value::Float(x))),
                        Err(_) => {
                            return self.err(K::BadText {
                                opcode: "FLOAT",
                                text: s,
                            })
                        }
                    }
                }
                b'G' => {
                    let b = self.take(8, "BINFLOAT")?;
                    let mut a = [0u8; 8];
                    a.copy_from_slice(b);
                    self.push(Node::Scalar(Value::Float(f64::from_be_bytes(a))));
                }
                b'S' => {
                    let raw = self.line("STRING")?;
                    let bytes = text::python2_literal(raw).map_err(|k| self.at(k))?;
                    let node = self.ascii_node(&bytes)?;
                    self.push(node);
                }
                b'T' => {
                    let n = self.le(4, "BINSTRING")? as u32 as i32;
                    if n < 0 {
                        return self.err(K::BadText {
                            opcode: "BINSTRING",
                            text: format!("negative length {n}"),
                        });
                    }
                    let b = self.take_len(n as u64, "BINSTRING")?;
                    let node = self.ascii_node(b)?;
                    self.push(node);
                }
                b'U' => {
                    let n = self.u8("SHORT_BINSTRING")? as u64;
                    let b = self.take_len(n, "SHORT_BINSTRING")?;
                    let node = self.ascii_node(b)?;
                    self.push(node);
                }
                b'V' => {
                    let raw = self.line("UNICODE")?;
                    let s = text::raw_unicode_escape_decode(raw).map_err(|k| self.at(k))?;
                    self.push(Node::Scalar(Value::Str(s)));
                }
                b'X' | 0x8c | 0x8d => {
                    let (n, name) = match op {
                        b'X' => (self.le(4, "BINUNICODE")?, "BINUNICODE"),
                        0x8c => (self.u8("SHORT_BINUNICODE")? as u64, "SHORT_BINUNICODE"),
                        _ => (self.le(8, "BINUNICODE8")?, "BINUNICODE8"),
                    };
                    let b = self.take_len(n, name)?;
                    let node = self.str_node(b)?;
                    self.push(node);
                }
                b'B' | b'C' | 0x8e => {
                    let (n, name) = match op {
                        b'B' => (self.le(4, "BINBYTES")?, "BINBYTES"),
                        b'C' => (self.u8("SHORT_BINBYTES")? as u64, "SHORT_BINBYTES"),
                        _ => (self.le(8, "BINBYTES8")?, "BINBYTES8"),
                    };
                    let b = self.take_len(n, name)?;
                    self.push(Node::Scalar(Value::Bytes(b.to_vec())));
                }
                b']' => self.push(Node::List(Vec::new())),
                b')' => self.push(Node::Tuple(Vec::new())),
                b'}' => self.push(Node::Dict(Vec::new(), HashMap::new())),
                0x8f => self.push(Node::Set {
                    items: Vec::new(),
                    seen: HashSet::new(),
                    frozen: false,
                }),
                b'l' => {
                    let items = self.pop_mark("LIST")?;
                    self.push(Node::List(items));
                }
                b't' => {
                    let items = self.pop_mark("TUPLE")?;
                    self.push(Node::Tuple(items));
                }
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    let name = ["TUPLE1", "TUPLE2", "TUPLE3"][n - 1];
                    if self.stack.len() < self.fence() + n {
                        return self.err(K::StackUnderflow { opcode: name });
                    }
                    let items = self.stack.split_off(self.stack.len() - n);
                    self.push(Node::Tuple(items));
                }
                b'd' => {
                    let items = self.pop_mark("DICT")?;
                    self.push(Node::Dict(Vec::new(), HashMap::new()));
                    let id = self.arena.len() - 1;
                    self.set_items(id, &items, "DICT")?;
                }
                0x91 => {
                    let items = self.pop_mark("FROZENSET")?;
                    self.push(Node::Set {
                        items: Vec::new(),
                        seen: HashSet::new(),
                        frozen: true,
                    });
                    let id = self.arena.len() - 1;
                    self.add_items(id, &items)?;
                }
                b'a' => {
                    let v = self.pop("APPEND")?;
                    let list = self.top("APPEND")?;
                    self.append(list, &[v], "APPEND")?;
                }
                b'e' => {
                    let items = self.pop_mark("APPENDS")?;
                    let list = self.top("APPENDS")?;
                    self.append(list, &items, "APPENDS")?;
                }
                b's' => {
                    let v = self.pop("SETITEM")?;
                    let k = self.pop("SETITEM")?;
                    let dict = self.top("SETITEM")?;
                    self.set_items(dict, &[k, v], "SETITEM")?;
                }
                b'u' => {
                    let items = self.pop_mark("SETITEMS")?;
                    let dict = self.top("SETITEMS")?;
                    self.set_items(dict, &items, "SETITEMS")?;
                }
                0x90 => {
                    let items = self.pop_mark("ADDITEMS")?;
                    let set = self.top("ADDITEMS")?;
                    match &self.arena[set] {
                        Node::Set { frozen: false, .. } => {}
                        other => {
                            return self.err(K::WrongType {
                                opcode: "ADDITEMS",
                                expected: "a set",
                                found: other.kind(),
                            })
                        }
                    }
                    self.add_items(set, &items)?;
                }
                b'p' => {
                    let raw = self.line("PUT")?;
                    let i = self.int_text("PUT", raw)?;
                    let i = u64::try_from(i).or_else(|_| {
                        self.err(K::BadText {
                            opcode: "PUT",
                            text: i.to_string(),
                        })
                    })?;
                    self.memo_put(i, "PUT")?;
                }
                b'q' => {
                    let i = self.u8("BINPUT")? as u64;
                    self.memo_put(i, "BINPUT")?;
                }
                b'r' => {
                    let i = self.le(4, "LONG_BINPUT")?;
                    self.memo_put(i, "LONG_BINPUT")?;
                }
                0x94 => {
                    let i = self.memo.len() as u64;
                    self.memo_put(i, "MEMOIZE")?;
                }
                b'g' => {
                    let raw = self.line("GET")?;
                    let i = self.int_text("GET", raw)?;
                    self.memo_get(i as u64)?;
                }
                b'h' => {
                    let i = self.u8("BINGET")? as u64;
                    self.memo_get(i)?;
                }
                b'j' => {
                    let i = self.le(4, "LONG_BINGET")?;
                    self.memo_get(i)?;
                }
                b'c' => {
                    let module = self.line("GLOBAL")?;
                    let module = self.text("GLOBAL", module)?;
                    let name = self.line("GLOBAL")?;
                    let name = self.text("GLOBAL", name)?;
                    let g = self.global(module, name)?;
                    self.push(Node::Global(g));
                }
                0x93 => {
                    let name = self.pop("STACK_GLOBAL")?;
                    let module = self.pop("STACK_GLOBAL")?;
                    let (Node::Scalar(Value::Str(module)), Node::Scalar(Value::Str(name))) =
                        (&self.arena[module], &self.arena[name])
                    else {
                        return self.err(K::WrongType {
                            opcode: "STACK_GLOBAL",
                            expected: "two strings",
                            found: "something else",
                        });
                    };
                    let g = self.global(module.clone(), name.clone())?;
                    self.push(Node::Global(g));
                }
                b'R' => {
                    let args = self.pop("REDUCE")?;
                    let callable = self.pop("REDUCE")?;
                    let node = self.reduce(callable, args)?;
                    self.push(node);
                }
                _ => {
                    return match forbidden_name(op) {
                        Some(opcode) => self.err(K::Forbidden { opcode, code: op }),
                        None => self.err(K::UnknownOpcode { code: op }),
                    }
                }
            }
        }
    }

    /// LONG1/LONG4 payload: little-endian two's complement, any length.
    fn long_bytes(&self, b: &[u8]) -> Result<i64, PickleError> {
        let Some(&last) = b.last() else {
            return Ok(0);
        };
        let negative = last & 0x80 != 0;
        let fill = if negative { 0xff } else { 0 };
        if b.len() > 8 {
            // The extra high bytes must be pure sign extension.
            if b[8..].iter().any(|&x| x != fill) || (b[7] & 0x80 != 0) != negative {
                return self.err(K::IntOutOfRange);
            }
        }
        let mut buf = [fill; 8];
        let n = b.len().min(8);
        buf[..n].copy_from_slice(&b[..n]);
        Ok(i64::from_le_bytes(buf))
    }

    /// The whitelist for GLOBAL / STACK_GLOBAL. Names are matched, never resolved.
    fn global(&self, module: String, name: String) -> Result<Callable, PickleError> {
        let builtin = matches!(module.as_str(), "builtins" | "__builtin__");
        match (module.as_str(), name.as_str()) {
            ("_codecs", "encode") => Ok(Callable::CodecsEncode),
            (_, "bytes") if builtin => Ok(Callable::Bytes),
            (_, "set") if builtin => Ok(Callable::Set { frozen: false }),
            (_, "frozenset") if builtin => Ok(Callable::Set { frozen: true }),
            ("builtins", "str") => Ok(Callable::Str),
            _ if self.reply_mode && is_exception_class(&module, &name) => {
                // Python 2's names, mapped as Python 3's `fix_imports` does.
                let module = if builtin || module == "exceptions" {
                    "builtins".into()
                } else {
                    module
                };
                Ok(Callable::Class { module, name })
            }
            _ => self.err(K::Global { module, name }),
        }
    }

    fn reduce(&mut self, callable: Id, args: Id) -> Result<Node, PickleError> {
        let Node::Global(g) = &self.arena[callable] else {
            return self.err(K::WrongType {
                opcode: "REDUCE",
                expected: "a whitelisted callable",
                found: self.arena[callable].kind(),
            });
        };
        let g = g.clone();
        let Node::Tuple(items) = &self.arena[args] else {
            return self.err(K::WrongType {
                opcode: "REDUCE",
                expected: "an argument tuple",
                found: self.arena[args].kind(),
            });
        };
        // Every accepted shape has at most two arguments: look, don't copy.
        let n = items.len();
        let items: Vec<Id> = items.iter().take(2).copied().collect();
        if n > 2 && !matches!(g, Callable::Class { .. }) {
            return self.err(K::BadReduce {
                callable: g.name(),
                reason: "it takes at most two arguments",
            });
        }

        match g {
            Callable::CodecsEncode => {
                let (Some(Node::Scalar(Value::Str(s))), Some(Node::Scalar(Value::Str(enc))), 2) = (
                    items.first().map(|&i| &self.arena[i]),
                    items.get(1).map(|&i| &self.arena[i]),
                    items.len(),
                ) else {
                    return self.refuse("_codecs.encode", "it expects (str, 'latin1')");
                };
                if enc != "latin1" && enc != "latin-1" {
                    return self.refuse("_codecs.encode", "only the latin1 encoding is accepted");
                }
                let s = s.clone();
                self.charge(s.len())?;
                let mut bytes = Vec::with_capacity(s.len());
                for c in s.chars() {
                    match u8::try_from(c as u32) {
                        Ok(b) => bytes.push(b),
                        Err(_) => return self.refuse("_codecs.encode", "the text is not Latin-1"),
                    }
                }
                Ok(Node::Scalar(Value::Bytes(bytes)))
            }
            Callable::Str => match items[..] {
                [one] => match &self.arena[one] {
                    Node::Scalar(Value::Str(text)) => Ok(Node::Scalar(Value::Str(text.clone()))),
                    _ => self.refuse("str", "only str(text) is accepted"),
                },
                _ => self.refuse("str", "only str(text) is accepted"),
            },
            Callable::Bytes => {
                if !items.is_empty() {
                    return self.refuse("bytes", "only bytes() without arguments is accepted");
                }
                Ok(Node::Scalar(Value::Bytes(Vec::new())))
            }
            Callable::Set { frozen } => {
                let name = if frozen { "frozenset" } else { "set" };
                let members = match items[..] {
                    [] => Vec::new(),
                    [one] => match &self.arena[one] {
                        Node::List(v) | Node::Tuple(v) => v.clone(),
                        Node::Set { items, .. } => items.clone(),
                        _ => return self.refuse(name, "it expects a list, tuple or set"),
                    },
                    _ => return self.refuse(name, "it takes at most one argument"),
                };
                self.charge(members.len() * std::mem::size_of::<Id>())?;
                self.arena.push(Node::Set {
                    items: Vec::new(),
                    seen: HashSet::new(),
                    frozen,
                });
                let id = self.arena.len() - 1;
                self.add_items(id, &members)?;
                // The arena slot is moved out; its place holds a harmless None.
                Ok(std::mem::replace(
                    &mut self.arena[id],
                    Node::Scalar(Value::None),
                ))
            }
            Callable::Class { module, name } => Ok(Node::Exception { module, name, args }),
        }
    }

    fn append(&mut self, list: Id, items: &[Id], opcode: &'static str) -> Result<(), PickleError> {
        match &mut self.arena[list] {
            Node::List(v) => {
                v.extend_from_slice(items);
                Ok(())
            }
            other => {
                let found = other.kind();
                self.err(K::WrongType {
                    opcode,
                    expected: "a list",
                    found,
                })
            }
        }
    }

    fn set_items(
        &mut self,
        dict: Id,
        items: &[Id],
        opcode: &'static str,
    ) -> Result<(), PickleError> {
        if !matches!(self.arena[dict], Node::Dict(..)) {
            return self.err(K::WrongType {
                opcode,
                expected: "a dict",
                found: self.arena[dict].kind(),
            });
        }
        if !items.len().is_multiple_of(2) {
            return self.err(K::OddItems { opcode });
        }
        for pair in items.chunks(2) {
            let key = self.key(pair[0], 0)?;
            if let Node::Dict(entries, index) = &mut self.arena[dict] {
                match index.get(&key) {
                    // Python keeps the first key object and the last value.
                    Some(&at) => entries[at].1 = pair[1],
                    None => {
                        index.insert(key, entries.len());
                        entries.push((pair[0], pair[1]));
                    }
                }
            }
        }
        Ok(())
    }

    fn add_items(&mut self, set: Id, members: &[Id]) -> Result<(), PickleError> {
        for &m in members {
            let key = self.key(m, 0)?;
            if let Node::Set { items, seen, .. } = &mut self.arena[set] {
                if seen.insert(key) {
                    items.push(m);
                }
            }
        }
        Ok(())
    }

    fn refuse<T>(&self, callable: &str, reason: &'static str) -> Result<T, PickleError> {
        self.err(K::BadReduce {
            callable: callable.to_string(),
            reason,
        })
    }

    fn charge(&mut self, units: usize) -> Result<(), PickleError> {
        match self.work_left.checked_sub(units) {
            Some(left) => {
                self.work_left = left;
                Ok(())
            }
            None => self.err(K::TooBig {
                limit: self.limits.max_output,
            }),
        }
    }

    /// The hashable image of a node, or an error for unhashable ones.
    fn key(&mut self, id: Id, depth: usize) -> Result<Key, PickleError> {
        if depth > self.limits.max_depth {
            return self.err(K::TooDeep {
                limit: self.limits.max_depth,
            });
        }
        let payload = match &self.arena[id] {
            Node::Scalar(Value::Str(s)) => s.len(),
            Node::Scalar(Value::Bytes(b)) => b.len(),
            _ => 0,
        };
        self.charge(std::mem::size_of::<Key>() + payload)?;
        Ok(match &self.arena[id] {
            Node::Scalar(v) => match v {
                Value::None => Key::None,
                Value::Bool(b) => Key::Int(*b as i64),
                Value::Int(i) => Key::Int(*i),
                Value::Float(x) if x.is_nan() => {
                    self.nan_count += 1;
                    Key::Unique(self.nan_count)
                }
                // Integral floats equal the int of the same value; -2^63..2^63 is i64's range.
                Value::Float(x)
                    if x.fract() == 0.0 && (i64::MIN as f64..-(i64::MIN as f64)).contains(x) =>
                {
                    Key::Int(*x as i64)
                }
                Value::Float(x) => Key::Float(x.to_bits()),
                Value::Str(s) => Key::Str(s.clone()),
                Value::Bytes(b) => Key::Bytes(b.clone()),
                _ => return self.err(K::Unhashable { found: "a value" }),
            },
            Node::Tuple(items) => {
                let items = items.clone();
                let mut keys = Vec::with_capacity(items.len());
                for i in items {
                    keys.push(self.key(i, depth + 1)?);
                }
                Key::Tuple(keys)
            }
            Node::Set {
                items,
                frozen: true,
                ..
            } => {
                let items = items.clone();
                let mut keys = Vec::with_capacity(items.len());
                for i in items {
                    keys.push(self.key(i, depth + 1)?);
                }
                keys.sort();
                Key::FrozenSet(keys)
            }
            other => {
                let found = other.kind();
                return self.err(K::Unhashable { found });
            }
        })
    }

    /// Copies a node out of the arena into a value tree, within the limits.
    fn to_value(&self, id: Id, depth: usize, budget: &mut usize) -> Result<Value, PickleError> {
        let mut on_path = vec![false; self.arena.len()];
        self.copy_out(id, depth, budget, &mut on_path)
    }

    fn copy_out(
        &self,
        id: Id,
        depth: usize,
        budget: &mut usize,
        on_path: &mut [bool],
    ) -> Result<Value, PickleError> {
        if depth > self.limits.max_depth {
            return self.err(K::TooDeep {
                limit: self.limits.max_depth,
            });
        }
        let node = &self.arena[id];
        let payload = match node {
            Node::Scalar(Value::Str(s)) => s.len(),
            Node::Scalar(Value::Bytes(b)) => b.len(),
            _ => 0,
        };
        let cost = std::mem::size_of::<Value>() + payload;
        if *budget < cost {
            return self.err(K::TooBig {
                limit: self.limits.max_output,
            });
        }
        *budget -= cost;
        if on_path[id] {
            return self.err(K::Recursive);
        }
        on_path[id] = true;
        let mut seq = |items: &[Id], budget: &mut usize| -> Result<Vec<Value>, PickleError> {
            items
                .iter()
                .map(|&i| self.copy_out(i, depth + 1, budget, on_path))
                .collect()
        };
        let v = match node {
            Node::Scalar(v) => v.clone(),
            Node::List(items) => Value::List(seq(items, budget)?),
            Node::Tuple(items) => Value::Tuple(seq(items, budget)?),
            // Sets have no `Value` variant: they become lists, in pickle order.
            Node::Set { items, .. } => Value::List(seq(items, budget)?),
            Node::Dict(entries, _) => {
                let mut out = Vec::with_capacity(entries.len());
                for &(k, v) in entries {
                    let k = self.copy_out(k, depth + 1, budget, on_path)?;
                    let v = self.copy_out(v, depth + 1, budget, on_path)?;
                    out.push((k, v));
                }
                Value::Dict(out)
            }
            Node::Global(_) | Node::Exception { .. } => {
                return self.err(K::NotData { found: node.kind() })
            }
        };
        on_path[id] = false;
        Ok(v)
    }
}

/// Exception classes a reply may name: Python's builtins and fail2ban's own.
fn is_exception_class(module: &str, name: &str) -> bool {
    let module_ok = matches!(module, "builtins" | "exceptions" | "__builtin__")
        || module.starts_with("fail2ban.");
    let ident = !name.is_empty()
        && name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_')
        && !name.as_bytes()[0].is_ascii_digit();
    module_ok
        && ident
        && (name.ends_with("Error") || name.ends_with("Exception") || name.ends_with("Warning"))
}
