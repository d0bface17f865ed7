//! Ban information: what the ban engine knows about one ban, and the dynamic
//! tags (`<ip>`, `<failures>`, `<matches>`, `<F-USER>` …) fail2ban's
//! `Actions.ActionInfo` derives from it.
//!
//! Most of these values come from log lines, so none of them is ever pasted
//! into a command unchecked: see [`super::tags::replace_dynamic_tags`].

use super::hostname;
use crate::config::tags::py_str;
use crate::stream::{float_repr, Value};
use std::net::IpAddr;

/// An address family, as fail2ban names it in `?family=` conditionals.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    Inet4,
    Inet6,
}

impl Family {
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Inet4 => "inet4",
            Family::Inet6 => "inet6",
        }
    }
}

/// Parses a ticket id the way fail2ban's `IPAddr` does for the common cases:
/// an IPv4 or IPv6 address, optionally with a `/prefix`; IPv4-mapped IPv6
/// addresses become IPv4. Returns the normalised text and the family, or
/// `None` for ids that are not addresses (host names, user names).
pub fn parse_address(id: &str) -> Option<(String, Family, IpAddr)> {
    let (addr, prefix) = match id.split_once('/') {
        Some((a, p)) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => (a, Some(p)),
        Some(_) => return None,
        None => (id, None),
    };
    let addr = addr.trim_start_matches('[').trim_end_matches(']');
    let ip: IpAddr = addr.parse().ok()?;
    let ip = match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    };
    let family = if ip.is_ipv4() {
        Family::Inet4
    } else {
        Family::Inet6
    };
    let text = match prefix {
        Some(p) => format!("{ip}/{p}"),
        None => ip.to_string(),
    };
    Some((text, family, ip))
}

/// Everything the engine knows about a ban; the action turns it into tags.
///
/// Build it with [`BanInfo::new`] and fill in what the ticket has; the
/// defaults are those of a fresh fail2ban ticket.
#[derive(Clone, Debug, PartialEq)]
pub struct BanInfo {
    /// `<ip>`: the address (or raw id when it is not an address).
    pub ip: String,
    /// `<family>`: `None` for ids that are not addresses (Python's `None`).
    pub family: Option<Family>,
    /// `<fid>`: the ticket id, normally the same as `ip`.
    pub fid: String,
    /// `<failures>`: failures counted for this ticket.
    pub failures: u64,
    /// `<time>`: time of the ticket (Unix seconds).
    pub time: f64,
    /// `<bantime>`: the effective ban time in seconds (the ticket's own or
    /// the jail's).
    pub bantime: i64,
    /// The ticket's own ban time if it has one (shown by `<raw-ticket>`).
    pub ticket_bantime: Option<i64>,
    /// `<bancount>`.
    pub bancount: u64,
    /// `<matches>`: the log lines that matched, joined by newlines.
    pub matches: Vec<String>,
    /// `<restored>`: the ban was restored from the database at start.
    pub restored: bool,
    /// `<F-NAME>`: values captured by the filter, by fail2ban's ticket data
    /// key (the group name lower-cased without `F-`: `user`, `fid`,
    /// `fport`, …).
    pub data: Vec<(String, Value)>,
    /// `<ip-host>`: the host name of the address, when the engine resolved it
    /// (`None` prints as Python's `None`, what fail2ban shows when
    /// resolution fails).
    pub ip_host: Option<String>,
    /// `<ipmatches>` / `<ipfailures>`: merged over every jail (from the
    /// database); without them fail2ban falls back to this ticket.
    pub ipmatches: Option<Vec<String>>,
    pub ipfailures: Option<u64>,
    /// `<ipjailmatches>` / `<ipjailfailures>`: merged over this jail.
    pub ipjailmatches: Option<Vec<String>>,
    pub ipjailfailures: Option<u64>,
    /// `<jail.banned>`, `<jail.banned_total>`, `<jail.found>`,
    /// `<jail.found_total>`.
    pub jail_banned: u64,
    pub jail_banned_total: u64,
    pub jail_found: u64,
    pub jail_found_total: u64,
}

impl BanInfo {
    /// Ban information for a ticket id (an address, or any other id), at
    /// `time`, with `bantime` as the effective ban time.
    pub fn new(id: &str, time: f64, bantime: i64) -> BanInfo {
        let (ip, family) = match parse_address(id) {
            Some((text, family, _)) => (text, Some(family)),
            None => (id.to_string(), None),
        };
        BanInfo {
            fid: ip.clone(),
            ip,
            family,
            failures: 0,
            time,
            bantime,
            ticket_bantime: None,
            bancount: 0,
            matches: Vec::new(),
            restored: false,
            data: Vec::new(),
            ip_host: None,
            ipmatches: None,
            ipfailures: None,
            ipjailmatches: None,
            ipjailfailures: None,
            jail_banned: 0,
            jail_banned_total: 0,
            jail_found: 0,
            jail_found_total: 0,
        }
    }

    /// The "empty ticket" fail2ban uses for start/stop/flush/reload commands.
    pub fn for_operation(time: f64, bantime: i64) -> BanInfo {
        BanInfo::new("", time, bantime)
    }

    /// Adds a filter capture (`user` for `<F-USER>`).
    pub fn with_data(mut self, key: &str, value: impl Into<Value>) -> BanInfo {
        self.data.push((key.to_string(), value.into()));
        self
    }

    /// A captured value by ticket data key.
    pub fn data_value(&self, key: &str) -> Option<&Value> {
        self.data
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    /// fail2ban's `IPAddr.getPTR('')`: `4.3.2.1.` / nibbles for IPv6.
    pub fn ip_rev(&self) -> String {
        let Some((_, _, ip)) = parse_address(&self.ip) else {
            return String::new();
        };
        let mut out = String::new();
        match ip {
            IpAddr::V4(v4) => {
                for o in v4.octets().iter().rev() {
                    out.push_str(&format!("{o}."));
                }
            }
            IpAddr::V6(v6) => {
                let hex = format!("{:032x}", u128::from(v6));
                for c in hex.chars().rev() {
                    out.push(c);
                    out.push('.');
                }
            }
        }
        out
    }

    /// Python's repr of the ticket data dict (`<F-*>`).
    fn data_repr(&self) -> String {
        let mut items = vec![
            (
                Value::str("matches"),
                Value::List(self.matches.iter().cloned().map(Value::Str).collect()),
            ),
            (Value::str("failures"), Value::Int(self.failures as i64)),
        ];
        for (k, v) in &self.data {
            match items.iter_mut().find(|(ik, _)| ik.as_str() == Some(k)) {
                Some(slot) => slot.1 = v.clone(),
                None => items.push((Value::str(k.clone()), v.clone())),
            }
        }
        Value::Dict(items).to_string()
    }

    /// `<raw-ticket>`: Python's repr of the BanTicket.
    fn raw_ticket(&self) -> String {
        let matches = Value::List(self.matches.iter().cloned().map(Value::Str).collect());
        format!(
            "BanTicket: ip={} time={} bantime={} bancount={} #attempts={} matches={}",
            self.fid,
            float_repr(self.time),
            self.ticket_bantime
                .map_or_else(|| "None".to_string(), |b| b.to_string()),
            self.bancount,
            self.failures,
            matches
        )
    }

    /// The value of a dynamic tag, as fail2ban's `ActionInfo` computes it;
    /// `None` for tags it does not know (they stay in the command).
    pub fn tag(&self, tag: &str) -> Option<String> {
        Some(match tag {
            "ip" => self.ip.clone(),
            "family" => self.family.map_or("None", Family::as_str).to_string(),
            "ip-rev" => self.ip_rev(),
            "ip-host" => self.ip_host.clone().unwrap_or_else(|| "None".into()),
            "fid" => self.fid.clone(),
            "failures" => self.failures.to_string(),
            "time" => float_repr(self.time),
            "bantime" => self.bantime.to_string(),
            "bancount" => self.bancount.to_string(),
            "matches" => self.matches.join("\n"),
            "restored" => u8::from(self.restored).to_string(),
            "F-*" => self.data_repr(),
            "ipmatches" => self.ipmatches.as_ref().unwrap_or(&self.matches).join("\n"),
            "ipjailmatches" => self
                .ipjailmatches
                .as_ref()
                .unwrap_or(&self.matches)
                .join("\n"),
            "ipfailures" => self.ipfailures.unwrap_or(self.failures).to_string(),
            "ipjailfailures" => self.ipjailfailures.unwrap_or(self.failures).to_string(),
            "raw-ticket" => self.raw_ticket(),
            "jail.banned" => self.jail_banned.to_string(),
            "jail.banned_total" => self.jail_banned_total.to_string(),
            "jail.found" => self.jail_found.to_string(),
            "jail.found_total" => self.jail_found_total.to_string(),
            _ => return None,
        })
    }

    /// A `<F-NAME>` capture as text (Python's `str()` of the value).
    pub fn capture(&self, key: &str) -> Option<String> {
        self.data_value(key).map(py_str)
    }
}

/// fail2ban's additional tags, known everywhere: `<br>`, `<sp>` and the
/// host's names.
pub fn additional_tag(tag: &str) -> Option<String> {
    Some(match tag {
        "br" => "\n".into(),
        "sp" => " ".into(),
        "fq-hostname" => hostname::fq_hostname(),
        "sh-hostname" => hostname::short_hostname(),
        _ => return None,
    })
}

/// fail2ban's `mapTag2Opt`: `<F-ID>` is the ticket's `fid`, `<F-PORT>` its
/// `fport`, every other name lower-cased.
pub fn capture_key(name: &str) -> String {
    let lower = name.to_lowercase();
    match lower.as_str() {
        "id" => "fid".into(),
        "port" => "fport".into(),
        _ => lower,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_and_normalisation() {
        assert_eq!(
            BanInfo::new("192.0.2.1", 0.0, 600).family,
            Some(Family::Inet4)
        );
        let v6 = BanInfo::new("2001:DB8::1", 0.0, 600);
        assert_eq!(
            (v6.ip.as_str(), v6.family),
            ("2001:db8::1", Some(Family::Inet6))
        );
        assert_eq!(BanInfo::new("::ffff:192.0.2.7", 0.0, 1).ip, "192.0.2.7");
        assert_eq!(BanInfo::new("evil.example", 0.0, 1).family, None);
        assert_eq!(
            BanInfo::new("192.0.2.0/24", 0.0, 1).family,
            Some(Family::Inet4)
        );
    }

    #[test]
    fn ptr_names() {
        assert_eq!(BanInfo::new("192.0.2.1", 0.0, 1).ip_rev(), "1.2.0.192.");
        let r = BanInfo::new("2001:db8::1", 0.0, 1).ip_rev();
        assert!(
            r.starts_with("1.0.0.0.") && r.ends_with("8.b.d.0.1.0.0.2."),
            "{r}"
        );
    }

    #[test]
    fn tags() {
        let mut b = BanInfo::new("192.0.2.1", 1700000000.5, 600).with_data("user", "bob");
        b.failures = 3;
        b.matches = vec!["l1".into(), "l2".into()];
        assert_eq!(b.tag("matches").unwrap(), "l1\nl2");
        assert_eq!(b.tag("time").unwrap(), "1700000000.5");
        assert_eq!(b.tag("ipfailures").unwrap(), "3");
        assert_eq!(b.capture(&capture_key("USER")).unwrap(), "bob");
        assert_eq!(
            b.tag("raw-ticket").unwrap(),
            "BanTicket: ip=192.0.2.1 time=1700000000.5 bantime=None bancount=0 #attempts=3 matches=['l1', 'l2']"
        );
        assert_eq!(b.tag("nope"), None);
    }
}
