//! Failure identifiers and hosts as fail2ban's `IPAddr` prints them: IP
//! addresses normalised (IPv4-mapped IPv6 becomes IPv4), subnets with their
//! prefix length, anything else kept raw; and `usedns` resolution.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, ToSocketAddrs};

/// Which address families an identifier may be read as (fail2ban's cidr
/// argument to `IPAddr`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressKind {
    /// Keep the text as it is (`CIDR_RAW`).
    Raw,
    /// Either family; an `/N` suffix or brackets are understood (`CIDR_UNSPEC`).
    Any,
    /// Only IPv4 (`FAM_IPv4`).
    V4,
    /// Only IPv6 (`FAM_IPv6`).
    V6,
    /// Either family, masked to this prefix length.
    Prefix(u32),
}

/// The text fail2ban shows for `IPAddr(text, kind)`.
pub fn normalize(text: &str, kind: AddressKind) -> String {
    match kind {
        AddressKind::Raw => text.to_string(),
        // An IPv4 address that parses is already in its canonical form (the
        // parser takes exactly four decimal parts without leading zeros).
        AddressKind::V4 => text.to_string(),
        AddressKind::V6 => match text.parse::<Ipv6Addr>() {
            Ok(a) => show_v6(a, None),
            Err(_) => text.to_string(),
        },
        AddressKind::Prefix(plen) => with_prefix(text, plen).unwrap_or_else(|| text.to_string()),
        AddressKind::Any => {
            let inner = if text.len() > 2 && text.starts_with('[') && text.ends_with(']') {
                &text[1..text.len() - 1]
            } else {
                text
            };
            match inner.split_once('/') {
                Some((addr, plen)) => match plen.parse::<u32>() {
                    Ok(plen) => with_prefix(addr, plen).unwrap_or_else(|| addr.to_string()),
                    Err(_) => inner.to_string(),
                },
                None => match inner.parse::<IpAddr>() {
                    Ok(IpAddr::V4(_)) => inner.to_string(),
                    Ok(IpAddr::V6(a)) => show_v6(a, None),
                    Err(_) => inner.to_string(),
                },
            }
        }
    }
}

fn with_prefix(text: &str, plen: u32) -> Option<String> {
    match text.parse::<IpAddr>().ok()? {
        IpAddr::V4(a) => {
            let plen = plen.min(32);
            let mask = if plen == 0 {
                0
            } else {
                u32::MAX << (32 - plen)
            };
            let masked = Ipv4Addr::from(u32::from(a) & mask);
            Some(if plen > 0 && plen < 32 {
                format!("{masked}/{plen}")
            } else {
                masked.to_string()
            })
        }
        IpAddr::V6(a) => {
            let plen = plen.min(128);
            let mask = if plen == 0 {
                0
            } else {
                u128::MAX << (128 - plen)
            };
            let masked = Ipv6Addr::from(u128::from(a) & mask);
            Some(show_v6(masked, Some(plen)))
        }
    }
}

/// glibc's `inet_ntop` for IPv6, after fail2ban's IPv4-mapped conversion.
fn show_v6(a: Ipv6Addr, plen: Option<u32>) -> String {
    let segments = a.segments();
    if plen.is_none() && segments[..5].iter().all(|s| *s == 0) && segments[5] == 0xffff {
        return Ipv4Addr::from((u128::from(a) & 0xffff_ffff) as u32).to_string();
    }
    let text = if segments[..6].iter().all(|s| *s == 0) && segments[6] != 0 {
        let v4 = Ipv4Addr::from((u128::from(a) & 0xffff_ffff) as u32);
        format!("::{v4}")
    } else {
        a.to_string()
    };
    match plen {
        Some(p) if p > 0 && p < 128 => format!("{text}/{p}"),
        _ => text,
    }
}

/// Whether `text` is a valid IPv4 or IPv6 address.
pub fn is_ip(text: &str) -> bool {
    text.parse::<IpAddr>().is_ok()
}

/// fail2ban's `DNSUtils.textToIp`: the addresses a host text stands for.
/// With `usedns` `no` or `raw` a name yields nothing.
pub fn text_to_ips(text: &str, use_dns: &str) -> Vec<String> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return vec![normalize(&ip.to_string(), AddressKind::Any)];
    }
    if !matches!(use_dns, "yes" | "warn") {
        return Vec::new();
    }
    let mut ips: Vec<String> = match (text, 0u16).to_socket_addrs() {
        Ok(addrs) => addrs
            .map(|a| normalize(&a.ip().to_string(), AddressKind::Any))
            .collect(),
        Err(_) => Vec::new(),
    };
    ips.sort();
    ips.dedup();
    ips
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_print_like_ipaddr() {
        assert_eq!(normalize("::ffff:1.2.3.4", AddressKind::V6), "1.2.3.4");
        assert_eq!(normalize("2001:DB8::1", AddressKind::V6), "2001:db8::1");
        assert_eq!(
            normalize("192.168.001.002", AddressKind::V4),
            "192.168.001.002"
        );
        assert_eq!(
            normalize("10.1.2.3", AddressKind::Prefix(24)),
            "10.1.2.0/24"
        );
        assert_eq!(normalize("10.1.2.3", AddressKind::Prefix(0)), "0.0.0.0");
        assert_eq!(normalize("[::1]", AddressKind::Any), "::1");
        assert_eq!(normalize("host.example", AddressKind::Any), "host.example");
        assert_eq!(normalize("x y", AddressKind::Raw), "x y");
    }

    #[test]
    fn parsed_ipv4_addresses_are_already_canonical() {
        // normalize keeps the text of an IPv4 address instead of printing
        // the parsed value: the two are the same whenever the text parses.
        for text in [
            "0.0.0.0",
            "1.2.3.4",
            "10.0.0.255",
            "255.255.255.255",
            "01.2.3.4",
            "1.2.3.04",
            "1.2.3",
            "1.2.3.4.5",
            "256.1.1.1",
            "+1.2.3.4",
            "1.2.3.4 ",
            "0x1.2.3.4",
        ] {
            if let Ok(a) = text.parse::<Ipv4Addr>() {
                assert_eq!(a.to_string(), text);
            }
            assert_eq!(normalize(text, AddressKind::V4), text);
        }
        assert_eq!(normalize("1.2.3.4", AddressKind::Any), "1.2.3.4");
    }
}
