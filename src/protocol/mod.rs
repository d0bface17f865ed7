//! fail2ban's wire protocol: pickles over a unix socket.
//!
//! The client sends a pickled list of strings (its command) followed by
//! `<F2B_END_COMMAND>`; the server answers with a pickled `(code, result)`
//! followed by the same terminator, where `code` is 0 on success and 1 when
//! the command failed, the result then being the exception. Both ends of
//! fail2ban 1.0.2 pickle with `HIGHEST_PROTOCOL`, 5 on current Pythons.
//!
//! # The pickle subset
//!
//! Pickle is a program for a stack machine that can import and call anything;
//! here it is only a data format. [`decode`] accepts protocols 0 to 5 for
//! `str`, `bytes`, `int`, `float`, `bool`, `None`, `list`, `tuple`, `dict`,
//! `set` and `frozenset`, with every opcode Python writes for them: PROTO,
//! FRAME, MARK, STOP, POP, POP_MARK, DUP, the memo (PUT, BINPUT, LONG_BINPUT,
//! MEMOIZE, GET, BINGET, LONG_BINGET), the numbers (INT, BININT, BININT1,
//! BININT2, LONG, LONG1, LONG4, NEWTRUE, NEWFALSE, FLOAT, BINFLOAT, NONE), the
//! strings (UNICODE, BINUNICODE, SHORT_BINUNICODE, BINUNICODE8, and Python 2's
//! STRING, BINSTRING, SHORT_BINSTRING decoded as ASCII like Python 3 does), the
//! bytes (BINBYTES, SHORT_BINBYTES, BINBYTES8) and the containers (EMPTY_LIST,
//! LIST, APPEND, APPENDS, EMPTY_TUPLE, TUPLE, TUPLE1-3, EMPTY_DICT, DICT,
//! SETITEM, SETITEMS, EMPTY_SET, ADDITEMS, FROZENSET).
//!
//! Protocols 0 to 2 have no opcode for bytes and protocols 0 to 3 none for
//! sets: Python writes them as GLOBAL + REDUCE of `_codecs.encode(str,
//! 'latin1')`, `bytes()`, `set(list)` and `frozenset(list)`. These four names
//! are recognised (as text, never imported) and their REDUCE is evaluated by
//! the decoder itself; any other GLOBAL or STACK_GLOBAL is refused, naming the
//! global. BUILD, INST, OBJ, NEWOBJ, NEWOBJ_EX, EXT1/2/4, PERSID, BINPERSID and
//! the protocol 5 buffer opcodes are refused with [`PickleErrorKind::Forbidden`],
//! unknown bytes with [`PickleErrorKind::UnknownOpcode`]; every error carries
//! the offset of the opcode.
//!
//! Mapping onto [`Value`] (which cannot change):
//! - `set` and `frozenset` become [`Value::List`] in pickle order (there is no
//!   set variant, and fail2ban only iterates them). While decoding
//!   they keep set semantics: duplicates are dropped with Python's equality.
//! - dicts keep Python semantics too: a repeated key (`1`, `1.0` and `True` are
//!   the same key) keeps its first position and takes the last value; lists,
//!   dicts and sets as keys are refused, as Python would refuse them.
//! - integers outside `i64` are refused ([`PickleErrorKind::IntOutOfRange`]):
//!   nothing in fail2ban's protocol needs them and a float would silently lose
//!   digits.
//! - strings must be valid UTF-8; Python's lone surrogates are refused.
//! - a container holding itself (possible through the memo) is refused.
//! - bytes after STOP are ignored, as Python's `loads` ignores them (the
//!   Python client even passes the terminator along to `loads`).
//! - protocol 0 INT, LONG, PUT and GET take decimal text (what every pickler
//!   writes); Python's `int(text, 0)` would also take `0x..` and the like.
//!
//! Decoding is bounded by [`Limits`]: input size, nesting depth, memo entries
//! and the size of the decoded value with memo references expanded.
//!
//! [`encode`] writes what CPython's `pickle.dumps` writes for the same value,
//! byte for byte in every protocol (framing included), except that it never
//! refers back to an earlier object through the memo: a [`Value`] tree has no
//! object identity to share.
//!
//! # Replies
//!
//! A failed command is answered with `(1, exception)`, a pickled exception
//! instance (`builtins.ValueError('...')`, `fail2ban.exceptions.UnknownJailException('x')`).
//! [`decode_reply`] accepts exactly that shape as well: a class from
//! `builtins` or `fail2ban.*` whose name ends in `Error`, `Exception` or `Warning`,
//! applied by REDUCE to a tuple of plain data, as the result of a 2-tuple. It
//! becomes a [`PyException`]; nothing is instantiated. [`encode_reply`] writes
//! the same shapes, so a Python client can read our server's failures.
//! Exceptions that carry extra state (a BUILD after the REDUCE) are refused.
//!
//! # Wire
//!
//! [`read_message`] / [`read_message_timeout`] read one message body with a
//! size limit (and a total deadline), [`frame`] appends the terminator,
//! [`reply_message`] is a server's pickled and framed answer and [`Client`]
//! is the client side of a conversation. After a timeout or a bad message the
//! conversation is out of step: open a new connection.
//!
//! A server's connection loop, as fail2ban's asyncserver behaves:
//!
//! ```no_run
//! use std::io::{BufReader, Write};
//! use std::os::unix::net::UnixStream;
//! use std::time::Duration;
//! use ferroban::protocol::{self, Reply};
//! use ferroban::stream::Value;
//!
//! fn serve(stream: UnixStream) -> Result<(), protocol::WireError> {
//!     let mut writer = stream.try_clone()?;
//!     let mut reader = BufReader::new(stream);
//!     // Ok(None): the client hung up between messages. A framing error
//!     // (too large, timeout, truncated) ends the connection.
//!     while let Some(msg) =
//!         protocol::read_message_timeout(&mut reader, 1 << 20, Duration::from_secs(30))?
//!     {
//!         if protocol::is_close(&msg) {
//!             break;
//!         }
//!         let reply = match protocol::decode(&msg) {
//!             // Run the command here; answer (0, result) or (1, exception).
//!             Ok(command) => Reply::Answer { code: 0, result: command },
//!             // fail2ban answers an unreadable request with a bare string.
//!             Err(e) => Reply::Other(Value::str(format!("ERROR: {e}"))),
//!         };
//!         writer.write_all(&protocol::reply_message(&reply))?;
//!     }
//!     Ok(())
//! }
//! ```

mod decode;
mod encode;
mod error;
mod text;
mod wire;

use std::fmt;

use crate::stream::Value;

pub use decode::{decode, decode_reply, decode_reply_with, decode_with, Limits};
pub use encode::{encode, encode_reply, HIGHEST_PROTOCOL};
pub use error::{EncodeError, PickleError, PickleErrorKind, WireError};
pub use wire::{
    frame, is_close, read_message, read_message_timeout, reply_message, Client, CLOSE, END,
    MAX_MESSAGE,
};

/// A server's answer to one command.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// `(code, result)`: code 0 means success.
    Answer { code: i64, result: Value },
    /// `(code, exception)`: the command failed (code 1 in fail2ban).
    Failure { code: i64, error: PyException },
    /// Anything else, e.g. the bare `'ERROR: ...'` string fail2ban's server
    /// sends when it cannot load a request.
    Other(Value),
}

/// A Python exception instance as it travels in a reply: class and arguments.
#[derive(Clone, Debug, PartialEq)]
pub struct PyException {
    /// The class's module, e.g. `builtins` or `fail2ban.exceptions`.
    pub module: String,
    /// The class name, e.g. `ValueError`.
    pub name: String,
    /// The exception's `args`.
    pub args: Vec<Value>,
}

impl PyException {
    /// A `builtins` exception, e.g. `PyException::builtin("ValueError", "bad")`.
    pub fn builtin(name: &str, message: &str) -> PyException {
        PyException {
            module: "builtins".into(),
            name: name.into(),
            args: vec![Value::str(message)],
        }
    }

    /// Python's `str(exception)`: the lone argument itself (its repr for
    /// KeyError and its subclasses), or the repr of the argument tuple.
    pub fn message(&self) -> String {
        match &self.args[..] {
            [] => String::new(),
            [Value::Str(s)] if !self.is_key_error() => s.clone(),
            [one] => one.to_string(),
            many => Value::Tuple(many.to_vec()).to_string(),
        }
    }

    fn is_key_error(&self) -> bool {
        self.name == "KeyError" || self.name == "UnknownJailException"
    }
}

/// Python's `repr(exception)`: `ValueError('bad')`.
impl fmt::Display for PyException {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}(", self.name)?;
        for (i, a) in self.args.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{a}")?;
        }
        f.write_str(")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_addresses_as_fail2ban_pickles_them_decode_as_strings() {
        // pickle.dumps((0, [IPAddr('127.0.0.1/8')]), 5): IPAddr reduces to builtins.str.
        let p = b"\x80\x05\x95\x26\x00\x00\x00\x00\x00\x00\x00K\x00]\x94(\x8c\x08builtins\x94\x8c\x03str\x94\x93\x94\x8c\x0b127.0.0.0/8\x94\x85\x94R\x94e\x86\x94.";
        assert_eq!(decode(p).unwrap().to_string(), "(0, ['127.0.0.0/8'])");
        // Anything but a string stays refused.
        let bad = b"\x80\x05\x8c\x08builtins\x8c\x03str\x93K\x01\x85R.";
        assert!(decode(bad).is_err());
    }

    #[test]
    fn exceptions_print_like_python() {
        let e = PyException::builtin("ValueError", "bad");
        assert_eq!(e.to_string(), "ValueError('bad')");
        assert_eq!(e.message(), "bad");
        let k = PyException {
            module: "fail2ban.exceptions".into(),
            name: "UnknownJailException".into(),
            args: vec![Value::str("x")],
        };
        assert_eq!(k.message(), "'x'");
        let none = PyException {
            args: vec![],
            ..e.clone()
        };
        assert_eq!(none.to_string(), "ValueError()");
        assert_eq!(none.message(), "");
        let two = PyException {
            args: vec![Value::str("a"), Value::Int(1)],
            ..e
        };
        assert_eq!(two.message(), "('a', 1)");
    }

    #[test]
    fn every_protocol_round_trips() {
        let v = Value::List(vec![
            Value::str("a\\u0041\\\\u\n\u{e9}\u{1f600}"),
            Value::Bytes(vec![0, 0x80, 0xff]),
            Value::Int(i64::MIN),
            Value::Int(i64::MAX),
            Value::Tuple(vec![Value::None, Value::Bool(false)]),
            Value::Dict(vec![(Value::Int(1), Value::Float(-2.5))]),
        ]);
        for p in 0..=HIGHEST_PROTOCOL {
            let data = encode(&v, p).unwrap();
            assert_eq!(decode(&data).unwrap(), v, "protocol {p}");
        }
        assert!(encode(&v, 6).is_err());
    }

    #[test]
    fn replies_round_trip() {
        for r in [
            Reply::Answer {
                code: 0,
                result: Value::str("pong"),
            },
            Reply::Failure {
                code: 1,
                error: PyException::builtin("Exception", "Invalid command"),
            },
            Reply::Other(Value::str("ERROR: x")),
        ] {
            for p in 0..=HIGHEST_PROTOCOL {
                assert_eq!(decode_reply(&encode_reply(&r, p).unwrap()).unwrap(), r);
            }
        }
        let msg = reply_message(&Reply::Answer {
            code: 0,
            result: Value::None,
        });
        assert!(msg.ends_with(END));
    }
}
