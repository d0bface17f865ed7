//! A minimal safe wrapper over Linux inotify (through `libc`): one
//! non-blocking, close-on-exec instance, directory watches, and decoding of
//! the event records. One instance serves every jail, which is what keeps
//! hundreds of jails clear of `fs.inotify.max_user_instances` (128 by
//! default), the limit fail2ban's one-instance-per-jail pyinotify hits.

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// One decoded event.
#[derive(Debug, Clone)]
pub struct Event {
    pub wd: i32,
    pub mask: u32,
    /// The entry's name inside a watched directory (empty for the directory itself).
    pub name: OsString,
}

/// An inotify instance.
#[derive(Debug)]
pub struct Inotify {
    fd: OwnedFd,
}

/// What a directory watch reports: entries appearing, disappearing, being
/// written, and the directory itself going away.
pub const DIR_MASK: u32 = libc::IN_MODIFY
    | libc::IN_CREATE
    | libc::IN_MOVED_TO
    | libc::IN_MOVED_FROM
    | libc::IN_DELETE
    | libc::IN_ATTRIB
    | libc::IN_DELETE_SELF
    | libc::IN_MOVE_SELF
    | libc::IN_ONLYDIR;

impl Inotify {
    pub fn new() -> io::Result<Inotify> {
        // SAFETY: plain system call; the fd is owned right away.
        let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh descriptor nobody else owns.
        Ok(Inotify {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// Watches a directory; the same directory always gets the same wd.
    pub fn add_dir(&self, dir: &Path) -> io::Result<i32> {
        let c = CString::new(dir.as_os_str().as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in path"))?;
        // SAFETY: c is a valid NUL-terminated string for the call's duration.
        let wd = unsafe { libc::inotify_add_watch(self.fd.as_raw_fd(), c.as_ptr(), DIR_MASK) };
        if wd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(wd)
    }

    pub fn remove(&self, wd: i32) {
        // SAFETY: plain system call; a stale wd only yields EINVAL.
        unsafe { libc::inotify_rm_watch(self.fd.as_raw_fd(), wd) };
    }

    /// Reads the queued events without blocking: all of them, or at most
    /// 16 reads' worth (the descriptor then stays readable), so a flood of
    /// events cannot keep the caller's loop here.
    pub fn read_events(&self) -> io::Result<Vec<Event>> {
        let mut out = Vec::new();
        // Aligned for inotify_event; large enough for many records per read.
        let mut buf = vec![0u64; 8192];
        for _ in 0..16 {
            let bytes = buf.len() * 8;
            // SAFETY: buf is valid for `bytes` bytes.
            let n = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), bytes) };
            if n < 0 {
                let e = io::Error::last_os_error();
                match e.kind() {
                    io::ErrorKind::WouldBlock => return Ok(out),
                    io::ErrorKind::Interrupted => continue,
                    _ => return Err(e),
                }
            }
            if n == 0 {
                return Ok(out);
            }
            // SAFETY: the kernel wrote n bytes; we view them as bytes.
            let data = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), n as usize) };
            let header = std::mem::size_of::<libc::inotify_event>();
            let mut i = 0;
            while i + header <= data.len() {
                // SAFETY: a full header lies at i; read_unaligned copes with any alignment.
                let ev: libc::inotify_event =
                    unsafe { std::ptr::read_unaligned(data[i..].as_ptr().cast()) };
                let name_start = i + header;
                let name_end = (name_start + ev.len as usize).min(data.len());
                let raw = &data[name_start..name_end];
                let name = &raw[..raw.iter().position(|&b| b == 0).unwrap_or(raw.len())];
                out.push(Event {
                    wd: ev.wd,
                    mask: ev.mask,
                    name: OsStr::from_bytes(name).to_os_string(),
                });
                i = name_end;
            }
        }
        Ok(out)
    }
}

impl AsRawFd for Inotify {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}
