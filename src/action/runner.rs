//! Running one action command the way fail2ban's `Utils.executeCmd` does:
//! `/bin/sh -c SCRIPT [VALUES…]` in a new session (so a timeout can kill the
//! whole process group), stdout and stderr captured, and fail2ban's log
//! lines for failures.
//!
//! fail2ban runs one command at a time across the process (`_cmd_lock`);
//! here the caller decides: the ban engine runs the ban commands of one
//! batch of bans a few at a time ([`super::Action::ban_many`]), everything
//! else one after the other.
//!
//! Unlike Python, output is drained while the command runs (a chatty command
//! cannot block on a full pipe), and a background child that keeps the pipes
//! open cannot make the caller wait past the timeout.

use super::duration::as_f64;
use super::escape::ShellCommand;
use crate::config::tags::py_str;
use crate::stream::{str_repr, Value};
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The logger fail2ban uses for command execution.
const TARGET: &str = "fail2ban.utils";

/// Captured output is kept up to this size per stream.
const MAX_CAPTURE: usize = 1 << 20;

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

/// A started `/bin/sh`: its pid, a pidfd when the kernel has them, and the
/// read ends of its stdout and stderr.
struct Child {
    pid: libc::pid_t,
    pidfd: Option<OwnedFd>,
    pipes: [Option<OwnedFd>; 2],
    output: [Vec<u8>; 2],
}

/// A pipe whose ends are both close-on-exec and above 2, so that the
/// child's dup2 onto 1 and 2 can never overwrite one with the other.
fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two descriptors into the array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut owned = fds.map(|fd| {
        // SAFETY: fresh descriptors from pipe2, owned once each.
        unsafe { OwnedFd::from_raw_fd(fd) }
    });
    for fd in &mut owned {
        if fd.as_raw_fd() < 3 {
            // SAFETY: F_DUPFD_CLOEXEC returns a new descriptor or -1.
            let high = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 3) };
            if high < 0 {
                return Err(std::io::Error::last_os_error());
            }
            // SAFETY: a fresh descriptor, owned once.
            *fd = unsafe { OwnedFd::from_raw_fd(high) };
        }
    }
    let [r, w] = owned;
    Ok((r, w))
}

extern "C" {
    static environ: *const *mut libc::c_char;
}

/// Why a spawn failed: the C call that failed and its errno.
fn spawn_error(call: &str, rc: i32) -> std::io::Error {
    let e = std::io::Error::from_raw_os_error(rc);
    std::io::Error::new(e.kind(), format!("{call}: {e}"))
}

/// Starts `/bin/sh -c SCRIPT [VALUES…]` with `posix_spawn` (a vfork: no
/// copy of the server's memory map per command, unlike fork) in a new
/// session (fail2ban's `preexec_fn=os.setsid`, so a timeout can kill the
/// whole group), stdin from /dev/null, stdout and stderr piped, SIGPIPE and
/// SIGXFSZ back to default (Python's `restore_signals`), no signal blocked.
fn spawn(cmd: &ShellCommand) -> std::io::Result<Child> {
    let to_c = |s: &str| {
        CString::new(s).map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "the command contains a NUL byte",
            )
        })
    };
    let mut args = vec![to_c("/bin/sh")?, to_c("-c")?];
    for a in cmd.sh_args() {
        args.push(to_c(&a)?);
    }
    let mut argv: Vec<*mut libc::c_char> = args.iter().map(|a| a.as_ptr() as *mut _).collect();
    argv.push(std::ptr::null_mut());
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let mut pid: libc::pid_t = 0;
    // SAFETY: the attribute and file-action objects are initialised before
    // use and destroyed once; every pointer handed to posix_spawn (path,
    // argv, environ) stays valid for the call, and the descriptors are open.
    unsafe {
        let mut fa: libc::posix_spawn_file_actions_t = std::mem::zeroed();
        let mut attr: libc::posix_spawnattr_t = std::mem::zeroed();
        let rc = libc::posix_spawn_file_actions_init(&mut fa);
        if rc != 0 {
            return Err(spawn_error("posix_spawn_file_actions_init", rc));
        }
        let rc = libc::posix_spawnattr_init(&mut attr);
        if rc != 0 {
            libc::posix_spawn_file_actions_destroy(&mut fa);
            return Err(spawn_error("posix_spawnattr_init", rc));
        }
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        let mut default: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut default);
        libc::sigaddset(&mut default, libc::SIGPIPE);
        libc::sigaddset(&mut default, libc::SIGXFSZ);
        let mut rc = libc::posix_spawn_file_actions_addopen(
            &mut fa,
            0,
            c"/dev/null".as_ptr(),
            libc::O_RDONLY,
            0,
        );
        for (fd, to) in [(&out_w, 1), (&err_w, 2)] {
            if rc == 0 {
                rc = libc::posix_spawn_file_actions_adddup2(&mut fa, fd.as_raw_fd(), to);
            }
        }
        if rc == 0 {
            rc = libc::posix_spawnattr_setflags(
                &mut attr,
                libc::POSIX_SPAWN_SETSID
                    | (libc::POSIX_SPAWN_SETSIGMASK | libc::POSIX_SPAWN_SETSIGDEF) as libc::c_short,
            );
        }
        if rc == 0 {
            rc = libc::posix_spawnattr_setsigmask(&mut attr, &none);
        }
        if rc == 0 {
            rc = libc::posix_spawnattr_setsigdefault(&mut attr, &default);
        }
        if rc == 0 {
            rc = libc::posix_spawn(
                &mut pid,
                c"/bin/sh".as_ptr(),
                &fa,
                &attr,
                argv.as_ptr(),
                environ,
            );
        }
        libc::posix_spawn_file_actions_destroy(&mut fa);
        libc::posix_spawnattr_destroy(&mut attr);
        if rc != 0 {
            return Err(spawn_error("posix_spawn", rc));
        }
    }
    drop((out_w, err_w));
    for fd in [&out_r, &err_r] {
        // SAFETY: plain fcntl on our own descriptor.
        unsafe {
            let flags = libc::fcntl(fd.as_raw_fd(), libc::F_GETFL);
            libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK);
        }
    }
    // SAFETY: pidfd_open only reads the pid (our unreaped child).
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as i32;
    Ok(Child {
        pid,
        // SAFETY: a fresh descriptor, owned once.
        pidfd: (pidfd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(pidfd) }),
        pipes: [Some(out_r), Some(err_r)],
        output: [Vec::new(), Vec::new()],
    })
}

impl Child {
    /// The exit code if the child ended (Python's `returncode`: minus the
    /// signal number when killed), reaping it.
    fn try_wait(&mut self) -> Option<i32> {
        let mut status = 0;
        // SAFETY: waitpid on our own child, WNOHANG.
        let r = unsafe { libc::waitpid(self.pid, &mut status, libc::WNOHANG) };
        if r == self.pid {
            self.pidfd = None;
            return Some(if libc::WIFSIGNALED(status) {
                -libc::WTERMSIG(status)
            } else {
                libc::WEXITSTATUS(status)
            });
        }
        // Reaped by someone else: Python's Popen.poll then says 0.
        (r < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ECHILD)).then_some(0)
    }

    /// Reads what the pipes hold now; a pipe at its end is closed.
    fn read_pipes(&mut self) {
        let mut buf = [0u8; 16384];
        for i in 0..2 {
            while let Some(fd) = &self.pipes[i] {
                // SAFETY: reading into a buffer of the given length.
                let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
                if n > 0 {
                    let room = MAX_CAPTURE.saturating_sub(self.output[i].len());
                    self.output[i].extend_from_slice(&buf[..(n as usize).min(room)]);
                    continue;
                }
                let e = std::io::Error::last_os_error().kind();
                if n < 0 && e == std::io::ErrorKind::Interrupted {
                    continue;
                }
                if n == 0 || e != std::io::ErrorKind::WouldBlock {
                    self.pipes[i] = None;
                }
                break;
            }
        }
    }

    /// Reads the pipes until `until`; returns early with the exit code once
    /// the child ends (`exit`), or once both pipes are closed (not `exit`).
    /// Without a pidfd the exit is noticed by a short back-off poll.
    fn wait(&mut self, exit: bool, until: Instant) -> Option<i32> {
        let mut pause = Duration::from_micros(500);
        loop {
            if exit {
                if let Some(code) = self.try_wait() {
                    return Some(code);
                }
            } else if self.pipes.iter().all(Option::is_none) {
                return None;
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            let mut fds: Vec<libc::pollfd> = self
                .pipes
                .iter()
                .flatten()
                .chain(self.pidfd.iter().filter(|_| exit))
                .map(|fd| libc::pollfd {
                    fd: fd.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                })
                .collect();
            let mut wait = left;
            if exit && self.pidfd.is_none() {
                wait = wait.min(pause);
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            let ms = (wait.as_micros().div_ceil(1000)).clamp(1, i32::MAX as u128) as i32;
            // SAFETY: a valid array of pollfd for its length.
            unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
            self.read_pipes();
        }
    }
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
    let secs = as_f64(timeout).max(0.0);
    let deadline = Instant::now() + Duration::from_secs_f64(secs.min(1e9));
    let mut logged_cmd = false;
    let log_cmd_err = |logged: &mut bool| {
        if !*logged {
            log::error!(target: TARGET, "{id:x} -- exec: {cmd}");
            *logged = true;
        }
    };

    let mut child = match spawn(cmd) {
        Ok(c) => c,
        Err(e) => {
            log_cmd_err(&mut logged_cmd);
            log::error!(target: TARGET, "{cmd} -- failed with {e}");
            return Outcome::default();
        }
    };
    let pgid = child.pid;

    let mut retcode = child.wait(true, deadline);
    let mut timed_out = false;
    if retcode.is_none() {
        timed_out = true;
        log_cmd_err(&mut logged_cmd);
        log::error!(target: TARGET, "{id:x} -- timed out after {} seconds.", py_str(timeout));
        killpg(pgid, libc::SIGTERM);
        std::thread::sleep(Duration::from_millis(200));
        retcode = child.try_wait();
        // fail2ban kills the whole tree even when SIGTERM ended the shell.
        killpg(pgid, libc::SIGKILL);
        std::thread::sleep(Duration::from_millis(200));
        if retcode.is_none() {
            retcode = child.try_wait();
        }
        if retcode.is_none() {
            // Reap it whenever it goes, so no zombie stays behind.
            let pid = child.pid;
            std::thread::spawn(move || {
                let mut status = 0;
                // SAFETY: a blocking waitpid on our own child.
                unsafe { libc::waitpid(pid, &mut status, 0) };
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
    child.wait(false, grace);
    child.read_pipes();
    let [stdout, stderr] = std::mem::take(&mut child.output);

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
