//! Detaching into the background as fail2ban's server does: fork, new
//! session, fork again, `/` as working directory, standard streams on
//! /dev/null, and SIGHUP ignored.

use std::io;

/// Turns the process into a daemon; only the grandchild returns.
pub fn detach() -> io::Result<()> {
    // SAFETY: plain POSIX process calls; the process has no other threads yet.
    unsafe {
        match libc::fork() {
            -1 => return Err(io::Error::last_os_error()),
            0 => {}
            _ => libc::_exit(0),
        }
        if libc::setsid() == -1 {
            return Err(io::Error::last_os_error());
        }
        libc::signal(libc::SIGHUP, libc::SIG_IGN);
        match libc::fork() {
            -1 => return Err(io::Error::last_os_error()),
            0 => {}
            _ => libc::_exit(0),
        }
        libc::chdir(c"/".as_ptr());
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        if null >= 0 {
            for fd in 0..3 {
                libc::dup2(null, fd);
            }
            if null > 2 {
                libc::close(null);
            }
        }
    }
    Ok(())
}
