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

/// This machine's own addresses (for `ignoreself`), read again at most
/// every 5 minutes as fail2ban caches `getSelfIPs`: asking the kernel for
/// every failure would cost a netlink round trip per log line.
pub fn own_addresses() -> Vec<IpAddr> {
    use std::sync::Mutex;
    use std::time::{Duration, Instant};
    static CACHE: Mutex<Option<(Instant, Vec<IpAddr>)>> = Mutex::new(None);
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    match cache.as_ref() {
        Some((at, ips)) if at.elapsed() < Duration::from_secs(300) => ips.clone(),
        _ => {
            let ips = read_own_addresses();
            *cache = Some((Instant::now(), ips.clone()));
            ips
        }
    }
}

fn read_own_addresses() -> Vec<IpAddr> {
    let mut out = vec!["127.0.0.1".parse().unwrap(), "::1".parse().unwrap()];
    let mut ifap: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills a list we walk read-only and free once.
    unsafe {
        if libc::getifaddrs(&mut ifap) == 0 {
            let mut cur = ifap;
            while !cur.is_null() {
                let sa = (*cur).ifa_addr;
                if !sa.is_null() {
                    match (*sa).sa_family as i32 {
                        libc::AF_INET => {
                            let sin = &*(sa as *const libc::sockaddr_in);
                            out.push(IpAddr::V4(u32::from_be(sin.sin_addr.s_addr).into()));
                        }
                        libc::AF_INET6 => {
                            let sin6 = &*(sa as *const libc::sockaddr_in6);
                            out.push(IpAddr::V6(sin6.sin6_addr.s6_addr.into()));
                        }
                        _ => {}
                    }
                }
                cur = (*cur).ifa_next;
            }
            libc::freeifaddrs(ifap);
        }
    }
    out
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
