//! The server's single event loop: `poll(2)` over the control socket, the
//! client connections and the signal pipes. Requests are read until
//! fail2ban's terminator, executed in order and answered on the same
//! connection; SIGTERM/SIGINT stop the server, SIGUSR1 reopens the log file.

use super::commands;
use super::state::State;
use crate::logging::ServerLog;
use crate::protocol::{self, Reply};
use crate::stream::Value;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::Duration;

/// How long a reply may take to write to a slow client.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// One client connection and the bytes of its unfinished request.
struct Connection {
    stream: UnixStream,
    buf: Vec<u8>,
    /// Where the terminator search resumes.
    scanned: usize,
}

impl Connection {
    /// Reads what is available; false when the connection is finished.
    fn read(&mut self, state: &mut State) -> bool {
        let mut chunk = [0u8; 16384];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return false,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => return false,
            }
        }
        while let Some(end) =
            find(&self.buf[self.scanned..], protocol::END).map(|i| i + self.scanned)
        {
            let message: Vec<u8> = self
                .buf
                .drain(..end + protocol::END.len())
                .take(end)
                .collect();
            self.scanned = 0;
            if protocol::is_close(&message) {
                return false;
            }
            let reply = match protocol::decode(&message) {
                Ok(request) => commands::execute(state, &request),
                Err(e) => Reply::Other(Value::Str(format!("ERROR: {e}"))),
            };
            if !self.write(&protocol::reply_message(&reply)) {
                return false;
            }
            if state.quit {
                return false;
            }
        }
        self.scanned = self.buf.len().saturating_sub(protocol::END.len());
        if self.buf.len() > protocol::MAX_MESSAGE {
            let reply = Reply::Other(Value::str("ERROR: the request is too large"));
            self.write(&protocol::reply_message(&reply));
            return false;
        }
        true
    }

    fn write(&mut self, bytes: &[u8]) -> bool {
        let ok = self.stream.set_nonblocking(false).is_ok()
            && self.stream.set_write_timeout(Some(WRITE_TIMEOUT)).is_ok()
            && self.stream.write_all(bytes).is_ok();
        ok && self.stream.set_nonblocking(true).is_ok()
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A pipe written to by a signal handler.
struct SignalPipe {
    read: UnixStream,
    _write: UnixStream,
}

impl SignalPipe {
    fn new(signals: &[i32]) -> std::io::Result<SignalPipe> {
        let (read, write) = UnixStream::pair()?;
        read.set_nonblocking(true)?;
        write.set_nonblocking(true)?;
        for &s in signals {
            signal_hook::low_level::pipe::register(s, write.try_clone()?)?;
        }
        Ok(SignalPipe {
            read,
            _write: write,
        })
    }

    /// Empties the pipe; true if a signal came.
    fn drain(&mut self) -> bool {
        let mut buf = [0u8; 64];
        let mut got = false;
        while let Ok(n) = self.read.read(&mut buf) {
            if n == 0 {
                break;
            }
            got = true;
        }
        got
    }
}

/// Serves until `stop` or a terminating signal.
pub fn run(state: &mut State, listener: &UnixListener) -> Result<(), String> {
    use signal_hook::consts::{SIGINT, SIGTERM, SIGUSR1};
    let mut term =
        SignalPipe::new(&[SIGTERM, SIGINT]).map_err(|e| format!("cannot handle signals: {e}"))?;
    let mut usr1 =
        SignalPipe::new(&[SIGUSR1]).map_err(|e| format!("cannot handle signals: {e}"))?;
    let mut conns: Vec<Connection> = Vec::new();
    while !state.quit {
        // Bans may have ended while commands were being served.
        state.expire(super::state::now());
        let watch_fds = super::watching::fds(state);
        let first_conn = 3 + watch_fds.len();
        let mut fds: Vec<libc::pollfd> = [
            listener.as_raw_fd(),
            term.read.as_raw_fd(),
            usr1.read.as_raw_fd(),
        ]
        .into_iter()
        .chain(watch_fds)
        .chain(conns.iter().map(|c| c.stream.as_raw_fd()))
        .map(|fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
        // Sleep until the next ban ends or the watcher's next poll, or until something happens.
        let mut timeout = state.next_expiry().map_or(-1, |end| {
            (((end - super::state::now()) * 1000.0).ceil().max(0.0) as i64 + 1).min(i32::MAX as i64)
                as i32
        });
        if let Some(w) = state.watching.as_ref() {
            let due = if w.watcher.has_backlog() {
                0
            } else {
                let d = w
                    .watcher
                    .next_deadline()
                    .saturating_duration_since(std::time::Instant::now());
                (d.as_millis() as i64 + 1).min(i32::MAX as i64) as i32
            };
            timeout = if timeout < 0 { due } else { timeout.min(due) };
        }
        // SAFETY: `fds` is a valid array of pollfd for its length.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == ErrorKind::Interrupted {
                continue;
            }
            return Err(format!("poll failed: {e}"));
        }
        super::watching::pump(state);
        state.purge_db(super::state::now());
        state.expire(super::state::now());
        if fds[1].revents != 0 && term.drain() {
            log::info!(target: "fail2ban.server", "Received signal to stop the server");
            state.quit = true;
        }
        if fds[2].revents != 0 && usr1.drain() {
            if let Some(log) = ServerLog::get() {
                if let Err(e) = log.reopen() {
                    log::error!(target: "fail2ban.server", "Unable to reopen the log file: {e}");
                }
            }
        }
        // Serve ready connections (newest indices first, so removal is safe).
        for i in (0..conns.len()).rev() {
            if fds[first_conn + i].revents != 0 && !conns[i].read(state) {
                conns.swap_remove(i);
            }
        }
        if fds[0].revents != 0 {
            loop {
                match listener.accept() {
                    Ok((stream, _)) => {
                        if stream.set_nonblocking(true).is_ok() {
                            conns.push(Connection {
                                stream,
                                buf: Vec::new(),
                                scanned: 0,
                            });
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(e) => {
                        log::error!(target: "fail2ban.server", "accept failed: {e}");
                        break;
                    }
                }
            }
        }
    }
    Ok(())
}
