//! Addresses a jail never bans: `ignoreip` (addresses, networks, host names),
//! `ignoreself` (this machine's own addresses) and `ignorecommand` (a shell
//! command whose success means "ignore"), as fail2ban checks them.

use std::net::IpAddr;

/// One `ignoreip` entry.
#[derive(Clone, Debug, PartialEq)]
enum Entry {
    Net {
        addr: IpAddr,
        prefix: u8,
        text: String,
    },
    Name(String),
}

/// Parses `a.b.c.d[/n]` or an IPv6 address with an optional prefix; the
/// network address is normalised (`127.0.0.1/8` → `127.0.0.0/8`), as
/// fail2ban's `IPAddr` does.
fn parse_net(s: &str) -> Option<(IpAddr, u8)> {
    let (addr, prefix) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let addr: IpAddr = addr
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        None => max,
        Some(p) => match p.parse::<u8>() {
            Ok(n) if n <= max => n,
            _ => {
                // A netmask such as 255.255.255.0.
                let mask: std::net::Ipv4Addr = p.parse().ok()?;
                u32::from(mask).count_ones() as u8
            }
        },
    };
    Some((mask(addr, prefix), prefix))
}

fn mask(addr: IpAddr, prefix: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let m = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - prefix)
            };
            IpAddr::V4((u32::from(a) & m).into())
        }
        IpAddr::V6(a) => {
            let m = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - prefix)
            };
            IpAddr::V6((u128::from(a) & m).into())
        }
    }
}

/// An address as fail2ban compares it: IPv4-mapped IPv6 becomes IPv4.
pub fn normalise(ip: &str) -> Option<IpAddr> {
    let addr: IpAddr = ip.parse().ok()?;
    Some(match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(addr),
        v4 => v4,
    })
}

/// The `ignoreip` list.
#[derive(Clone, Debug, Default)]
pub struct IgnoreList {
    entries: Vec<Entry>,
}

impl IgnoreList {
    /// Adds an entry (an address, a network, or a host name).
    pub fn add(&mut self, value: &str) {
        let entry = match parse_net(value) {
            Some((addr, prefix)) => {
                let max = if addr.is_ipv4() { 32 } else { 128 };
                let text = if prefix == max {
                    addr.to_string()
                } else {
                    format!("{addr}/{prefix}")
                };
                Entry::Net { addr, prefix, text }
            }
            None => Entry::Name(value.to_string()),
        };
        if !self.entries.contains(&entry) {
            self.entries.push(entry);
        }
    }

    /// Removes an entry given as it was added.
    pub fn remove(&mut self, value: &str) {
        let mut probe = IgnoreList::default();
        probe.add(value);
        if let Some(e) = probe.entries.first() {
            self.entries.retain(|x| x != e);
        }
    }

    /// The list as fail2ban shows it: networks and names first, then single
    /// addresses (fail2ban keeps those in a set, so its order varies from run
    /// to run; ours is the order they were added).
    pub fn list(&self) -> Vec<String> {
        let text = |e: &Entry| match e {
            Entry::Net { text, .. } => text.clone(),
            Entry::Name(n) => n.clone(),
        };
        let is_net = |e: &Entry| match e {
            Entry::Net { addr, prefix, .. } => *prefix < if addr.is_ipv4() { 32 } else { 128 },
            Entry::Name(_) => true,
        };
        let mut out: Vec<String> = self
            .entries
            .iter()
            .filter(|e| is_net(e))
            .map(text)
            .collect();
        out.extend(self.entries.iter().filter(|e| !is_net(e)).map(text));
        out
    }

    /// Whether `ip` is covered by the list (names are resolved as fail2ban
    /// does, through the system resolver).
    pub fn contains(&self, ip: &str) -> bool {
        let Some(addr) = normalise(ip) else {
            return self
                .entries
                .iter()
                .any(|e| matches!(e, Entry::Name(n) if n == ip));
        };
        self.entries.iter().any(|e| match e {
            Entry::Net {
                addr: net, prefix, ..
            } => net.is_ipv4() == addr.is_ipv4() && mask(addr, *prefix) == *net,
            Entry::Name(name) => resolve(name).contains(&addr),
        })
    }
}

fn resolve(name: &str) -> Vec<IpAddr> {
    use std::net::ToSocketAddrs;
    (name, 0)
        .to_socket_addrs()
        .map(|it| it.map(|a| a.ip()).collect())
        .unwrap_or_default()
}

/// This machine's own addresses (for `ignoreself`): as in fail2ban, the
/// addresses its own names resolve to (`localhost`, the host name and its
/// canonical name), not every interface's address. Kept for five minutes,
/// as fail2ban caches them.
pub fn own_addresses() -> Vec<IpAddr> {
    use std::sync::Mutex;
    use std::time::{Duration, Instant};
    static CACHE: Mutex<Option<(Instant, Vec<IpAddr>)>> = Mutex::new(None);
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((at, ips)) = cache.as_ref() {
        if at.elapsed() < Duration::from_secs(300) {
            return ips.clone();
        }
    }
    let mut out: Vec<IpAddr> = Vec::new();
    for name in self_names() {
        for ip in resolve(&name) {
            if !out.contains(&ip) {
                out.push(ip);
            }
        }
    }
    *cache = Some((Instant::now(), out.clone()));
    out
}

/// fail2ban's `DNSUtils.getSelfNames`: localhost, the host name and its
/// canonical (fully qualified) name.
fn self_names() -> Vec<String> {
    let mut names = vec!["localhost".to_string()];
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into buf.
    let host = unsafe {
        if libc::gethostname(buf.as_mut_ptr() as *mut libc::c_char, buf.len()) == 0 {
            let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
            String::from_utf8_lossy(&buf[..end]).into_owned()
        } else {
            String::new()
        }
    };
    if !host.is_empty() {
        if let Some(canonical) = canonical_name(&host) {
            names.push(canonical);
        }
        names.push(host);
    }
    names.dedup();
    names
}

/// The canonical name getaddrinfo gives for `host` (AI_CANONNAME).
fn canonical_name(host: &str) -> Option<String> {
    let c_host = std::ffi::CString::new(host).ok()?;
    let mut res: *mut libc::addrinfo = std::ptr::null_mut();
    // SAFETY: hints is zeroed apart from the flags; res is freed once.
    unsafe {
        let mut hints: libc::addrinfo = std::mem::zeroed();
        hints.ai_flags = libc::AI_CANONNAME;
        if libc::getaddrinfo(c_host.as_ptr(), std::ptr::null(), &hints, &mut res) != 0 {
            return None;
        }
        let name = if res.is_null() || (*res).ai_canonname.is_null() {
            None
        } else {
            Some(
                std::ffi::CStr::from_ptr((*res).ai_canonname)
                    .to_string_lossy()
                    .into_owned(),
            )
        };
        libc::freeaddrinfo(res);
        name
    }
}

/// Runs `ignorecommand` with `<ip>` replaced (escaped); exit status 0 means ignore.
pub fn command_says_ignore(command: &str, ip: &str) -> bool {
    if command.is_empty() {
        return false;
    }
    let script = command.replace("<ip>", &crate::action::escape::escape_tag(ip));
    std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(script)
        .stdin(std::process::Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_like_fail2ban_and_matches_networks() {
        let mut l = IgnoreList::default();
        for v in ["127.0.0.1/8", "::1", "192.0.2.7", "10.0.0.0/8"] {
            l.add(v);
        }
        assert_eq!(
            l.list(),
            vec!["127.0.0.0/8", "10.0.0.0/8", "::1", "192.0.2.7"]
        );
        assert!(l.contains("127.1.2.3") && l.contains("10.9.9.9") && l.contains("::ffff:10.1.1.1"));
        assert!(!l.contains("192.0.2.8"));
        l.remove("::1");
        assert_eq!(l.list(), vec!["127.0.0.0/8", "10.0.0.0/8", "192.0.2.7"]);
    }
}
