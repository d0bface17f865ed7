//! Running one action command the way fail2ban's `Utils.executeCmd` does:
//! `/bin/sh -c SCRIPT [VALUES…]` in a new session (so a timeout can kill the
//! whole process group), stdout and stderr captured, one command at a time
//! across the process, and fail2ban's log lines for failures.
//!
//! Unlike Python, output is drained while the command runs (a chatty command
//! cannot block on a full pipe), and a background child that keeps the pipes
//! open cannot make the caller wait past the timeout.

use super::duration::as_f64;
use super::escape::ShellCommand;
use crate::config::tags::py_str;
use crate::stream::{str_repr, Value};
use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The logger fail2ban uses for command execution.
const TARGET: &str = "fail2ban.utils";

/// Captured output is kept up to this size per stream.
const MAX_CAPTURE: usize = 1 << 20;

/// fail2ban runs one command at a time (`_cmd_lock`).
static CMD_LOCK: Mutex<()> = Mutex::new(());

/// Stands in for Python's `id(realCmd)` in log lines: a number that ties
/// the lines of one execution together.
static NEXT_ID: AtomicU64 = AtomicU64::new(0x7f00_0000_0000);

/// What happened to a command.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outcome {
    /// Exit status 0.
    pub success: bool,
    /// Python's `returncode`: the exit code, or minus the signal number;
    /// `None` when the process could not be killed.
    pub retcode: Option<i32>,
    /// The timeout expired and the process group was killed.
    pub timed_out: bool,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

fn signal_name(sig: i32) -> String {
    let name = match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGCHLD => "SIGCHLD",
        libc::SIGCONT => "SIGCONT",
        libc::SIGSTOP => "SIGSTOP",
        libc::SIGTSTP => "SIGTSTP",
        libc::SIGXCPU => "SIGXCPU",
        libc::SIGXFSZ => "SIGXFSZ",
        libc::SIGSYS => "SIGSYS",
        _ => return format!("signal {sig}"),
    };
    name.to_string()
}

fn reader(mut stream: impl Read + Send + 'static) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut kept = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let room = MAX_CAPTURE.saturating_sub(kept.len());
                    kept.extend_from_slice(&buf[..n.min(room)]);
                }
            }
        }
        let _ = tx.send(kept);
    });
    rx
}

fn poll(child: &mut Child) -> Option<i32> {
    match child.try_wait() {
        Ok(Some(status)) => Some(
            status
                .code()
                .unwrap_or_else(|| -status.signal().unwrap_or(0)),
        ),
        _ => None,
    }
}

/// Waits for the child to exit until `deadline`. A pidfd (Linux 5.3+) wakes
/// us the moment it exits; without one, a short back-off poll is used.
fn wait_exit(child: &mut Child, deadline: Instant) -> Option<i32> {
    // SAFETY: pidfd_open only reads the pid; the descriptor is closed below.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, child.id() as libc::pid_t, 0) } as i32;
    if pidfd >= 0 {
        let mut code = poll(child);
        while code.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let mut fds = [libc::pollfd {
                fd: pidfd,
                events: libc::POLLIN,
                revents: 0,
            }];
            let ms = left.as_millis().clamp(1, i32::MAX as u128) as i32;
            // SAFETY: one valid pollfd.
            unsafe { libc::poll(fds.as_mut_ptr(), 1, ms) };
            code = poll(child);
        }
        // SAFETY: our own descriptor, closed once.
        unsafe { libc::close(pidfd) };
        return code;
    }
    let mut code = poll(child);
    let mut pause = Duration::from_micros(500);
    while code.is_none() && Instant::now() < deadline {
        std::thread::sleep(pause.min(deadline.saturating_duration_since(Instant::now())));
        pause = (pause * 2).min(Duration::from_millis(50));
        code = poll(child);
    }
    code
}

fn killpg(pgid: i32, sig: i32) {
    // SAFETY: plain syscall; the group is the one the child leads (setsid).
    unsafe {
        libc::killpg(pgid, sig);
    }
}

/// Runs `cmd` through `/bin/sh -c` with `timeout` seconds (a number value,
/// as the `timeout` property holds it) and logs like fail2ban.
pub fn execute(cmd: &ShellCommand, timeout: &Value) -> Outcome {
    let id = NEXT_ID.fetch_add(0x30, Ordering::Relaxed);
    log::trace!(target: "fail2ban.action", "{cmd}");
    if cmd.is_empty() {
        log::debug!(target: "fail2ban.action", "Nothing to do");
        return Outcome {
            success: true,
            retcode: Some(0),
            ..Outcome::default()
        };
    }
    let _guard = CMD_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let secs = as_f64(timeout).max(0.0);
    let deadline = Instant::now() + Duration::from_secs_f64(secs.min(1e9));
    let mut logged_cmd = false;
    let log_cmd_err = |logged: &mut bool| {
        if !*logged {
            log::error!(target: TARGET, "{id:x} -- exec: {cmd}");
            *logged = true;
        }
    };

    let mut command = Command::new("/bin/sh");
    command
        .arg("-c")
        .args(cmd.sh_args())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: setsid is async-signal-safe; a new session makes the shell the
    // leader of a process group that killpg can end as a whole.
    unsafe {
        command.pre_exec(|| {
            if libc::setsid() == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = match command.spawn() {
        Ok(c) => c,
        Err(e) => {
            log_cmd_err(&mut logged_cmd);
            log::error!(target: TARGET, "{cmd} -- failed with {e}");
            return Outcome::default();
        }
    };
    let pgid = child.id() as i32;
    let out_rx = reader(child.stdout.take().expect("stdout is piped"));
    let err_rx = reader(child.stderr.take().expect("stderr is piped"));

    let mut retcode = wait_exit(&mut child, deadline);
    let mut timed_out = false;
    if retcode.is_none() {
        timed_out = true;
        log_cmd_err(&mut logged_cmd);
        log::error!(target: TARGET, "{id:x} -- timed out after {} seconds.", py_str(timeout));
        killpg(pgid, libc::SIGTERM);
        std::thread::sleep(Duration::from_millis(200));
        retcode = poll(&mut child);
        // fail2ban kills the whole tree even when SIGTERM ended the shell.
        killpg(pgid, libc::SIGKILL);
        std::thread::sleep(Duration::from_millis(200));
        if retcode.is_none() {
            retcode = poll(&mut child);
        }
        if retcode.is_none() {
            // Reap it whenever it goes, so no zombie stays behind.
            std::thread::spawn(move || {
                let _ = child.wait();
            });
        }
    }

    // Output: everything until the pipes close, but never past the deadline
    // (or a short grace after a kill).
    let grace = if timed_out {
        Instant::now() + Duration::from_millis(200)
    } else {
        deadline.max(Instant::now() + Duration::from_millis(200))
    };
    let collect = |rx: &mpsc::Receiver<Vec<u8>>| {
        rx.recv_timeout(grace.saturating_duration_since(Instant::now()))
            .unwrap_or_default()
    };
    let stdout = collect(&out_rx);
    let stderr = collect(&err_rx);

    let success = retcode == Some(0);
    let level = if success {
        log::Level::Debug
    } else {
        log::Level::Error
    };
    if log::log_enabled!(target: TARGET, level) {
        if success {
            log::trace!(target: TARGET, "{id:x} -- exec: {cmd}");
        } else {
            log_cmd_err(&mut logged_cmd);
        }
        for (name, data) in [("stdout", &stdout), ("stderr", &stderr)] {
            for line in String::from_utf8_lossy(data).lines() {
                log::log!(target: TARGET, level, "{id:x} -- {name}: {}", str_repr(line));
            }
        }
    }
    match retcode {
        Some(0) => log::debug!(target: TARGET, "{id:x} -- returned successfully 0"),
        None => log::error!(target: TARGET, "{id:x} -- unable to kill PID {pgid}"),
        Some(rc) if !(0..=128).contains(&rc) => {
            let sig = if rc < 0 { -rc } else { rc - 128 };
            log::error!(
                target: TARGET,
                "{id:x} -- killed with {} (return code: {rc})",
                signal_name(sig)
            );
        }
        Some(rc) => {
            log::error!(target: TARGET, "{id:x} -- returned {rc}");
            if rc == 127 {
                log::info!(
                    target: TARGET,
                    "HINT on 127: \"Command not found\".  Make sure that all commands in {} are in the PATH of fail2ban-server process (grep -a PATH= /proc/`pidof -x fail2ban-server`/environ). You may want to start \"fail2ban-server -f\" separately, initiate it with \"fail2ban-client reload\" in another shell session and observe if additional informative error messages appear in the terminals.",
                    cmd.repr()
                );
            }
        }
    }
    Outcome {
        success,
        retcode,
        timed_out,
        stdout,
        stderr,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(script: &str, timeout: f64) -> Outcome {
        execute(&ShellCommand::new(script), &Value::Float(timeout))
    }

    #[test]
    fn captures_output_and_exit_code() {
        let o = run("echo out; echo err >&2; exit 3", 10.0);
        assert!(!o.success);
        assert_eq!(o.retcode, Some(3));
        assert_eq!(o.stdout, b"out\n");
        assert_eq!(o.stderr, b"err\n");
        assert!(run("true", 10.0).success);
    }

    #[test]
    fn values_arrive_as_variables_not_code() {
        let mut c = ShellCommand::new("printf '%s' \"$f2bV_x\"");
        c.set_var("f2bV_x".into(), "$(echo no) `echo no`; echo no".into());
        let o = execute(&c, &Value::Int(10));
        assert!(o.success);
        assert_eq!(o.stdout, b"$(echo no) `echo no`; echo no");
    }

    #[test]
    fn timeout_kills_the_process_group() {
        let start = Instant::now();
        let o = run("sleep 30 & sleep 30; echo never", 0.3);
        assert!(o.timed_out && !o.success);
        assert!(start.elapsed() < Duration::from_secs(5));
        assert_eq!(o.stdout, b"");
    }

    #[test]
    fn a_long_output_does_not_block() {
        let o = run("head -c 300000 /dev/zero", 20.0);
        assert!(o.success);
        assert_eq!(o.stdout.len(), 300000);
    }
}
