//! The protocol's typed errors: what went wrong decoding a pickle, encoding
//! one, or talking over the socket. Every `Display` reads as a sentence.

use std::fmt;
use std::io;

/// Why a pickle was refused. Decoding never panics; every refusal is one of these.
#[derive(Debug, Clone, PartialEq)]
pub enum PickleErrorKind {
    /// The input ended in the middle of `what`.
    Truncated { what: &'static str },
    /// The input ended between opcodes, before STOP.
    MissingStop,
    /// The input is larger than the decoder's size limit.
    TooLarge { limit: usize },
    /// An opcode that builds arbitrary objects or calls code.
    Forbidden { opcode: &'static str, code: u8 },
    /// A byte that is no pickle opcode at all.
    UnknownOpcode { code: u8 },
    /// PROTO announced a protocol newer than 5.
    UnsupportedProtocol { version: u8 },
    /// GLOBAL / STACK_GLOBAL named something outside the fixed whitelist.
    Global { module: String, name: String },
    /// REDUCE on a whitelisted callable with arguments of the wrong shape.
    BadReduce {
        callable: String,
        reason: &'static str,
    },
    /// An opcode needed more items on the stack (above the last MARK) than there were.
    StackUnderflow { opcode: &'static str },
    /// An opcode needed a MARK and there was none.
    NoMark { opcode: &'static str },
    /// An opcode found the wrong kind of object on the stack.
    WrongType {
        opcode: &'static str,
        expected: &'static str,
        found: &'static str,
    },
    /// A text argument (protocol 0) could not be parsed.
    BadText { opcode: &'static str, text: String },
    /// An integer outside the signed 64-bit range.
    IntOutOfRange,
    /// A string that is not valid UTF-8 / ASCII, or holds a lone surrogate.
    BadString { reason: String },
    /// GET of a memo index that was never PUT.
    MemoMissing { index: u64 },
    /// More memo entries than the limit allows.
    MemoFull { limit: usize },
    /// A list, dict or set used as a dict key or set item.
    Unhashable { found: &'static str },
    /// Containers nested deeper than the limit.
    TooDeep { limit: usize },
    /// The decoded value (with shared memo references expanded) is larger than the limit.
    TooBig { limit: usize },
    /// A container that contains itself; a `Value` tree cannot represent it.
    Recursive,
    /// A class or exception where plain data was expected.
    NotData { found: &'static str },
    /// SETITEMS / DICT with an odd number of items.
    OddItems { opcode: &'static str },
}

/// A pickle that could not be decoded, with the offset of the offending opcode.
#[derive(Debug, Clone, PartialEq)]
pub struct PickleError {
    /// Byte offset of the opcode being decoded when the error was found.
    pub offset: usize,
    pub kind: PickleErrorKind,
}

impl fmt::Display for PickleErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use PickleErrorKind::*;
        match self {
            Truncated { what } => write!(f, "the pickle ends in the middle of {what}"),
            MissingStop => f.write_str("the pickle ends without a STOP opcode"),
            TooLarge { limit } => write!(f, "the pickle is larger than the limit of {limit} bytes"),
            Forbidden { opcode, code } => write!(
                f,
                "opcode {opcode} (0x{code:02x}) is not allowed: it would build an object or call code"
            ),
            UnknownOpcode { code } => write!(f, "0x{code:02x} is not a pickle opcode"),
            UnsupportedProtocol { version } => {
                write!(f, "pickle protocol {version} is not supported (0 to 5 are)")
            }
            Global { module, name } => write!(
                f,
                "global {module}.{name} is not allowed: only bytes, set and frozenset constructors are"
            ),
            BadReduce { callable, reason } => write!(f, "REDUCE on {callable} is refused: {reason}"),
            StackUnderflow { opcode } => write!(f, "{opcode} found too few items on the stack"),
            NoMark { opcode } => write!(f, "{opcode} needs a MARK and there is none"),
            WrongType { opcode, expected, found } => {
                write!(f, "{opcode} expects {expected} but found {found}")
            }
            BadText { opcode, text } => write!(f, "{opcode} has an unreadable argument {text:?}"),
            IntOutOfRange => f.write_str("an integer does not fit in 64 bits"),
            BadString { reason } => write!(f, "a string cannot be decoded: {reason}"),
            MemoMissing { index } => write!(f, "memo entry {index} is read before it is written"),
            MemoFull { limit } => write!(f, "the memo holds more than {limit} entries"),
            Unhashable { found } => write!(f, "{found} cannot be a dict key or set item"),
            TooDeep { limit } => write!(f, "containers are nested deeper than {limit} levels"),
            TooBig { limit } => write!(f, "the decoded value is larger than the limit of {limit}"),
            Recursive => f.write_str("a container contains itself, which a value tree cannot hold"),
            NotData { found } => write!(f, "{found} appears where plain data is expected"),
            OddItems { opcode } => write!(f, "{opcode} has an odd number of items"),
        }
    }
}

impl fmt::Display for PickleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad pickle at byte {}: {}", self.offset, self.kind)
    }
}

impl std::error::Error for PickleError {}

/// A pickle that cannot be written.
#[derive(Debug, Clone, PartialEq)]
pub enum EncodeError {
    /// Only protocols 0 to 5 exist.
    UnsupportedProtocol { version: u8 },
    /// Protocols 1 to 3 cannot hold a str or bytes over 4 GiB.
    TooLarge { what: &'static str, protocol: u8 },
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::UnsupportedProtocol { version } => {
                write!(f, "pickle protocol {version} is not supported (0 to 5 are)")
            }
            EncodeError::TooLarge { what, protocol } => {
                write!(
                    f,
                    "pickle protocol {protocol} cannot hold {what} larger than 4 GiB"
                )
            }
        }
    }
}

impl std::error::Error for EncodeError {}

/// A failure talking to the other end of the socket.
#[derive(Debug)]
pub enum WireError {
    /// Could not connect to the socket.
    Connect { path: String, source: io::Error },
    /// Reading or writing failed.
    Io(io::Error),
    /// No complete message arrived within the time allowed.
    Timeout,
    /// A message grew beyond the size limit before its terminator.
    TooLarge { limit: usize },
    /// The peer closed the connection in the middle of a message.
    Truncated,
    /// The peer closed the connection before answering.
    Closed,
    /// The message arrived but its pickle is bad.
    Pickle(PickleError),
    /// The message could not be encoded.
    Encode(EncodeError),
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Connect { path, source } => {
                write!(f, "cannot connect to the socket {path}: {source}")
            }
            WireError::Io(e) => write!(f, "the socket failed: {e}"),
            WireError::Timeout => f.write_str("no complete message arrived in time"),
            WireError::TooLarge { limit } => {
                write!(f, "a message is larger than the limit of {limit} bytes")
            }
            WireError::Truncated => {
                f.write_str("the peer closed the connection in the middle of a message")
            }
            WireError::Closed => f.write_str("the peer closed the connection without answering"),
            WireError::Pickle(e) => write!(f, "the message cannot be decoded: {e}"),
            WireError::Encode(e) => write!(f, "the message cannot be encoded: {e}"),
        }
    }
}

impl std::error::Error for WireError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            WireError::Connect { source, .. } => Some(source),
            WireError::Io(e) => Some(e),
            WireError::Pickle(e) => Some(e),
            WireError::Encode(e) => Some(e),
            _ => None,
        }
    }
}

impl From<PickleError> for WireError {
    fn from(e: PickleError) -> WireError {
        WireError::Pickle(e)
    }
}

impl From<EncodeError> for WireError {
    fn from(e: EncodeError) -> WireError {
        WireError::Encode(e)
    }
}

impl From<io::Error> for WireError {
    fn from(e: io::Error) -> WireError {
        match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => WireError::Timeout,
            _ => WireError::Io(e),
        }
    }
}
