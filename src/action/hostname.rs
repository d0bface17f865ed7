//! The host's own names for the `<sh-hostname>` and `<fq-hostname>` tags
//! (Python's `socket.gethostname()` and `socket.getfqdn()`), computed once.

use std::ffi::{CStr, CString};
use std::sync::OnceLock;

/// `socket.gethostname()`.
pub fn short_hostname() -> String {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| {
        let mut buf = [0u8; 256];
        // SAFETY: gethostname writes at most buf.len() bytes into buf.
        let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
        if rc != 0 {
            return String::new();
        }
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        String::from_utf8_lossy(&buf[..end]).into_owned()
    })
    .clone()
}

/// fail2ban's own `getfqdn()`: the canonical names `getaddrinfo` gives for
/// the host name, preferring one that starts with `NAME.`; when resolution
/// fails, Python's `socket.getfqdn()` (the name the address resolves back
/// to, or the short name).
pub fn fq_hostname() -> String {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| {
        let short = short_hostname();
        match canonical_names(&short) {
            Some(names) => {
                let pref = format!("{short}.");
                names
                    .iter()
                    .find(|n| n.starts_with(&pref))
                    .or(names.first())
                    .cloned()
                    // fail2ban returns None here, which prints as "None".
                    .unwrap_or_else(|| "None".into())
            }
            None => reverse_of_forward(&short).unwrap_or(short),
        }
    })
    .clone()
}

/// The non-empty canonical names of `getaddrinfo(name, AI_CANONNAME)`, or
/// `None` when resolution fails.
fn canonical_names(name: &str) -> Option<Vec<String>> {
    let cname = CString::new(name).ok()?;
    // SAFETY: getaddrinfo with valid pointers; the list is only read before
    // freeaddrinfo releases it.
    unsafe {
        let mut hints: libc::addrinfo = std::mem::zeroed();
        hints.ai_family = libc::AF_UNSPEC;
        hints.ai_socktype = libc::SOCK_DGRAM;
        hints.ai_flags = libc::AI_CANONNAME;
        let mut res: *mut libc::addrinfo = std::ptr::null_mut();
        if libc::getaddrinfo(cname.as_ptr(), std::ptr::null(), &hints, &mut res) != 0 {
            return None;
        }
        let mut names = Vec::new();
        let mut ai = res;
        while !ai.is_null() {
            let c = (*ai).ai_canonname;
            if !c.is_null() {
                let n = CStr::from_ptr(c).to_string_lossy().into_owned();
                if !n.is_empty() {
                    names.push(n);
                }
            }
            ai = (*ai).ai_next;
        }
        libc::freeaddrinfo(res);
        Some(names)
    }
}

/// Python's `socket.getfqdn(name)` without aliases: the name the first
/// address of `name` resolves back to.
fn reverse_of_forward(name: &str) -> Option<String> {
    let cname = CString::new(name).ok()?;
    // SAFETY: plain getaddrinfo/getnameinfo calls with valid buffers; the
    // result list is freed before returning.
    unsafe {
        let mut hints: libc::addrinfo = std::mem::zeroed();
        hints.ai_family = libc::AF_UNSPEC;
        hints.ai_socktype = libc::SOCK_STREAM;
        let mut res: *mut libc::addrinfo = std::ptr::null_mut();
        if libc::getaddrinfo(cname.as_ptr(), std::ptr::null(), &hints, &mut res) != 0
            || res.is_null()
        {
            return None;
        }
        let mut host = [0 as libc::c_char; 1025];
        let rc = libc::getnameinfo(
            (*res).ai_addr,
            (*res).ai_addrlen,
            host.as_mut_ptr(),
            host.len() as libc::socklen_t,
            std::ptr::null_mut(),
            0,
            libc::NI_NAMEREQD,
        );
        libc::freeaddrinfo(res);
        if rc != 0 {
            return None;
        }
        Some(CStr::from_ptr(host.as_ptr()).to_string_lossy().into_owned())
    }
}
