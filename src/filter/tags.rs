//! Expansion of fail2ban's regex tags (`<HOST>`, `<F-USER>…</F-USER>`,
//! `<SKIPLINES>`, …) into plain regular expressions, as fail2ban 1.0.2's
//! `Regex._resolveHostTag` does.

use std::collections::HashSet;

const IP4: &str = r"(?:\d{1,3}\.){3}\d{1,3}";
/// fail2ban's IPv6 regex, as it shows in expanded regexes.
const IP6: &str = r"(?:[0-9a-fA-F]{1,4}::?|::){1,7}(?:[0-9a-fA-F]{1,4}|(?<=:):)";
/// The same, for matching: after `(…:){1,7}` the lookbehind `(?<=:)` is
/// always true, and dropping it lets fancy-regex use its linear-time engine.
const IP6_FAST: &str = r"(?:[0-9a-fA-F]{1,4}::?|::){1,7}(?:[0-9a-fA-F]{1,4}|:)";

/// Rewrites fail2ban's IPv6 regex inside an expanded regex into its
/// equivalent without lookbehind.
pub fn without_ipv6_lookbehind(expanded: &str) -> String {
    expanded.replace(IP6, IP6_FAST)
}

fn host_ip4() -> String {
    format!(r"(?:::f{{4,6}}:)?(?P<ip4>{IP4})")
}
fn host_ip6() -> String {
    format!(r"(?P<ip6>{IP6})")
}
const HOST_DNS: &str = r"(?P<dns>[\w\-.^_]*\w)";
const HOST_CIDR: &str = r"(?P<cidr>\d+)";

fn host_addr() -> String {
    format!(r"\[?(?:{}|{})\]?", host_ip4(), host_ip6())
}
fn host_any() -> String {
    format!(r"(?:{}|{})", host_addr(), HOST_DNS)
}
fn host_subnet() -> String {
    format!(
        r"\[?(?:{}|{})(?:/{})?\]?",
        host_ip4(),
        host_ip6(),
        HOST_CIDR
    )
}

/// The replacement fail2ban gives a fixed tag (its `RH4TAG` table).
fn fixed_tag(name: &str) -> Option<String> {
    Some(match name {
        "IP4" | "F-IP4/" => host_ip4(),
        "IP6" | "F-IP6/" => host_ip6(),
        "ADDR" | "F-ADDR/" => host_addr(),
        "CIDR" | "F-CIDR/" => HOST_CIDR.to_string(),
        "SUBNET" | "F-SUBNET/" => host_subnet(),
        "DNS" | "F-DNS/" => HOST_DNS.to_string(),
        "F-ID/" => r"(?P<fid>\S+)".to_string(),
        "F-PORT/" => r"(?P<fport>\w+)".to_string(),
        _ => return None,
    })
}

/// The group name a custom `<F-NAME>` tag captures into (fail2ban's `mapTag2Opt`).
pub fn group_name_of_tag(tag: &str) -> String {
    let lower = tag.to_lowercase();
    match lower.as_str() {
        "id" => "fid".to_string(),
        "port" => "fport".to_string(),
        _ => lower,
    }
}

/// Whether `usedns` lets `<HOST>` match host names as well as addresses.
fn host_matches_names(use_dns: &str) -> bool {
    use_dns != "no"
}

/// Expands every fail2ban tag in `regex`. `use_dns` is the filter's usedns
/// setting: with `no`, `<HOST>` matches addresses only.
pub fn expand_tags(regex: &str, use_dns: &str) -> String {
    let mut out = String::with_capacity(regex.len() * 2);
    let mut open_tags: HashSet<String> = HashSet::new();
    let mut skiplines = 0;
    let mut rest = regex;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let candidate = &rest[start..];
        match tag_length(candidate) {
            Some(len) => {
                let tag = &candidate[..len];
                out.push_str(&replace_tag(tag, use_dns, &mut open_tags, &mut skiplines));
                rest = &candidate[len..];
            }
            None => {
                out.push('<');
                rest = &candidate[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Length of a tag matching fail2ban's `</?[\w\-]+/?>` at the start of `s`.
fn tag_length(s: &str) -> Option<usize> {
    let mut chars = s.char_indices().skip(1).peekable();
    if let Some((_, '/')) = chars.peek() {
        chars.next();
    }
    let mut name_chars = 0;
    while let Some(&(_, c)) = chars.peek() {
        if c.is_alphanumeric() || c == '_' || c == '-' {
            name_chars += 1;
            chars.next();
        } else {
            break;
        }
    }
    if name_chars == 0 {
        return None;
    }
    if let Some((_, '/')) = chars.peek() {
        chars.next();
    }
    match chars.next() {
        Some((i, '>')) => Some(i + 1),
        _ => None,
    }
}

fn replace_tag(
    tag: &str,
    use_dns: &str,
    open_tags: &mut HashSet<String>,
    skiplines: &mut usize,
) -> String {
    let name = &tag[1..tag.len() - 1];
    if name == "HOST" {
        return if host_matches_names(use_dns) {
            host_any()
        } else {
            host_addr()
        };
    }
    if name == "SKIPLINES" {
        let n = *skiplines;
        *skiplines += 1;
        return format!(r"\n(?P<skiplines{n}>(?:(?:.*\n)*?))");
    }
    if let Some(replacement) = fixed_tag(name) {
        return replacement;
    }
    // Custom field tags: `<F-NAME>` opens a named group, `</F-NAME>` closes it.
    let (closing, body) = match name.strip_prefix('/') {
        Some(body) => (true, body),
        None => (false, name),
    };
    if let Some(field) = body.strip_prefix("F-") {
        let valid = !field.is_empty()
            && field
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if valid {
            if closing {
                return if open_tags.contains(field) {
                    ")".to_string()
                } else {
                    tag.to_string()
                };
            }
            open_tags.insert(field.to_string());
            return format!("(?P<{}>", group_name_of_tag(field));
        }
    }
    tag.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_tag_depends_on_usedns() {
        assert!(expand_tags("<HOST>", "yes").contains("(?P<dns>"));
        assert!(!expand_tags("<HOST>", "no").contains("(?P<dns>"));
        assert!(expand_tags("<HOST>", "no").contains("(?P<ip6>"));
    }

    #[test]
    fn field_tags_open_and_close_named_groups() {
        assert_eq!(
            expand_tags("u=<F-USER>\\S+</F-USER>", "yes"),
            "u=(?P<user>\\S+)"
        );
        assert_eq!(expand_tags("<F-ID>x</F-ID>", "yes"), "(?P<fid>x)");
        assert_eq!(expand_tags("</F-USER>", "yes"), "</F-USER>");
        assert_eq!(
            expand_tags("<F-ALT_USER1>a</F-ALT_USER1>", "yes"),
            "(?P<alt_user1>a)"
        );
        assert_eq!(expand_tags("<f-user>", "yes"), "<f-user>");
        assert_eq!(expand_tags("a <b c>", "yes"), "a <b c>");
    }

    #[test]
    fn skiplines_are_numbered() {
        let r = expand_tags("a<SKIPLINES>b<SKIPLINES>", "yes");
        assert!(r.contains("skiplines0") && r.contains("skiplines1"), "{r}");
    }
}
