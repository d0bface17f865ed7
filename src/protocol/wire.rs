//! Framing on fail2ban's socket, and the client side of a conversation.
//!
//! A message is a pickle followed by `<F2B_END_COMMAND>`; the client sends a
//! pickled list (its command), the server answers with a pickled
//! `(code, result)`. A client says goodbye with `<F2B_CLOSE_COMMAND>` before
//! closing. Python's server splits on the terminator exactly (asynchat), so
//! the reader here never consumes a byte beyond it.

use std::io::{BufRead, BufReader, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use super::decode::decode_reply;
use super::encode::{encode, encode_reply, HIGHEST_PROTOCOL};
use super::error::WireError;
use super::Reply;
use crate::stream::Value;

/// Ends every message (`CSPROTO.END`).
pub const END: &[u8] = b"<F2B_END_COMMAND>";
/// A client's goodbye, sent as a message of its own (`CSPROTO.CLOSE`).
pub const CLOSE: &[u8] = b"<F2B_CLOSE_COMMAND>";
/// The default largest message, terminator excluded.
pub const MAX_MESSAGE: usize = 64 << 20;

/// Whether a message body is the client's goodbye rather than a pickle.
pub fn is_close(message: &[u8]) -> bool {
    message == CLOSE
}

/// A pickle framed for the wire: the pickle, then [`END`].
pub fn frame(mut pickle: Vec<u8>) -> Vec<u8> {
    pickle.extend_from_slice(END);
    pickle
}

/// A server's answer ready for the wire: pickled with protocol 5 as
/// fail2ban's server does, then the terminator.
pub fn reply_message(reply: &Reply) -> Vec<u8> {
    // Protocol 5 is always supported, so encoding cannot fail.
    frame(encode_reply(reply, HIGHEST_PROTOCOL).unwrap_or_default())
}

/// Reads one message body (without its terminator), at most `limit` bytes.
/// Returns `None` when the stream ends cleanly between messages. A read
/// timeout set on the underlying socket surfaces as [`WireError::Timeout`].
pub fn read_message<R: BufRead>(
    reader: &mut R,
    limit: usize,
) -> Result<Option<Vec<u8>>, WireError> {
    read_until_end(reader, limit, |_| Ok(()))
}

/// Reads one message body from a unix socket, giving up after `timeout` in
/// total, however slowly the bytes trickle in. It works by setting the
/// socket's read timeout before each read, and leaves the last one set.
pub fn read_message_timeout(
    reader: &mut BufReader<UnixStream>,
    limit: usize,
    timeout: Duration,
) -> Result<Option<Vec<u8>>, WireError> {
    let deadline = Instant::now() + timeout;
    read_until_end(reader, limit, |r: &mut BufReader<UnixStream>| {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(WireError::Timeout);
        }
        r.get_ref().set_read_timeout(Some(left))?;
        Ok(())
    })
}

fn read_until_end<R: BufRead>(
    reader: &mut R,
    limit: usize,
    mut before_read: impl FnMut(&mut R) -> Result<(), WireError>,
) -> Result<Option<Vec<u8>>, WireError> {
    let mut msg = Vec::new();
    loop {
        before_read(reader)?;
        let buf = match reader.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        if buf.is_empty() {
            return if msg.is_empty() {
                Ok(None)
            } else {
                Err(WireError::Truncated)
            };
        }
        // The terminator may straddle two reads: search from just before the new bytes.
        let old = msg.len();
        let from = old.saturating_sub(END.len() - 1);
        msg.extend_from_slice(buf);
        let found = msg[from..].windows(END.len()).position(|w| w == END);
        let n = buf.len();
        match found {
            Some(p) => {
                let end = from + p;
                reader.consume(end + END.len() - old);
                msg.truncate(end);
                if end > limit {
                    return Err(WireError::TooLarge { limit });
                }
                return Ok(Some(msg));
            }
            None => {
                reader.consume(n);
                if msg.len() > limit + END.len() {
                    return Err(WireError::TooLarge { limit });
                }
            }
        }
    }
}

/// A connection to a fail2ban server's socket.
#[derive(Debug)]
pub struct Client {
    reader: BufReader<UnixStream>,
    timeout: Option<Duration>,
    limit: usize,
    closed: bool,
}

impl Client {
    /// Connects to the server's unix socket.
    pub fn connect(path: impl AsRef<Path>) -> Result<Client, WireError> {
        let path = path.as_ref();
        let stream = UnixStream::connect(path).map_err(|source| WireError::Connect {
            path: path.display().to_string(),
            source,
        })?;
        Ok(Client {
            reader: BufReader::new(stream),
            timeout: None,
            limit: MAX_MESSAGE,
            closed: false,
        })
    }

    /// Limits the wait for each answer (`None`: wait as long as it takes).
    pub fn set_timeout(&mut self, timeout: Option<Duration>) -> Result<(), WireError> {
        self.timeout = timeout;
        let stream = self.reader.get_ref();
        stream.set_write_timeout(timeout)?;
        // read_message_timeout leaves its last per-read timeout behind.
        stream.set_read_timeout(None)?;
        Ok(())
    }

    /// Limits the size of each answer.
    pub fn set_limit(&mut self, limit: usize) {
        self.limit = limit;
    }

    /// Sends a command of strings, e.g. `["status", "sshd"]`, and reads the answer.
    pub fn send_strs(&mut self, command: &[&str]) -> Result<Reply, WireError> {
        let items: Vec<Value> = command.iter().map(|&s| Value::str(s)).collect();
        self.send(&items)
    }

    /// Sends a command (pickled as a list, protocol 5, like fail2ban-client)
    /// and reads the answer.
    pub fn send(&mut self, command: &[Value]) -> Result<Reply, WireError> {
        let msg = frame(encode(&Value::List(command.to_vec()), HIGHEST_PROTOCOL)?);
        self.reader.get_mut().write_all(&msg)?;
        let body = match self.timeout {
            Some(t) => read_message_timeout(&mut self.reader, self.limit, t)?,
            None => read_message(&mut self.reader, self.limit)?,
        };
        let body = body.ok_or(WireError::Closed)?;
        Ok(decode_reply(&body)?)
    }

    /// Says goodbye to the server and closes the connection.
    pub fn close(mut self) -> Result<(), WireError> {
        self.goodbye()
    }

    fn goodbye(&mut self) -> Result<(), WireError> {
        if self.closed {
            return Ok(());
        }
        self.closed = true;
        let mut msg = CLOSE.to_vec();
        msg.extend_from_slice(END);
        let stream = self.reader.get_mut();
        stream.write_all(&msg)?;
        // The server may already be gone (after `stop`); that is not an error.
        let _ = stream.shutdown(Shutdown::Both);
        Ok(())
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        // Best effort, like Python's CSocket.__del__.
        let _ = self.goodbye();
    }
}
