//! fail2ban-regex's `-o` formats: `id`, `ip`, `msg`, `row`, a field name, or
//! a template with action-style tags (`<ip> <time> <F-USER>`).

use std::io::{self, Write};

use crate::filter::failure::{FailData, Failure};
use crate::filter::tags::group_name_of_tag;
use crate::stream::str_repr;

fn python_str(v: Option<&str>) -> String {
    v.map(String::from).unwrap_or_else(|| "None".to_string())
}

/// The failure's `ip` (the host when the id is something else, else the id).
fn ip_of(f: &Failure) -> Option<&str> {
    f.data.ip.as_deref().or(f.id.as_deref())
}

/// Python `repr` of the failure data without `matches`, as `-o row` shows it.
pub fn data_repr(data: &FailData) -> String {
    let mut items: Vec<String> = data
        .fields
        .iter()
        .map(|(k, v)| match (k, &data.users) {
            ("users", Some(users)) => {
                let set: Vec<String> = users.iter().map(|u| str_repr(u)).collect();
                format!("'users': {{{}}}", set.join(", "))
            }
            _ => format!(
                "{}: {}",
                str_repr(k),
                v.map(str_repr).unwrap_or_else(|| "None".into())
            ),
        })
        .collect();
    if let Some(ip) = &data.ip {
        items.push(format!("'ip': {}", str_repr(ip)));
    }
    format!("{{{}}}", items.join(", "))
}

/// Writes the failures of one line in format `fmt`.
pub fn write_failures<W: Write>(out: &mut W, fmt: &str, failures: &[Failure]) -> io::Result<()> {
    match fmt {
        "id" | "fid" => {
            for f in failures {
                writeln!(out, "{}", python_str(f.id.as_deref()))?;
            }
        }
        "ip" => {
            for f in failures {
                writeln!(out, "{}", python_str(ip_of(f)))?;
            }
        }
        "msg" => {
            for f in failures {
                for m in &f.data.matches {
                    writeln!(out, "{m}")?;
                }
            }
        }
        "row" => {
            for f in failures {
                let id =
                    f.id.as_deref()
                        .map(str_repr)
                        .unwrap_or_else(|| "None".into());
                let time = f
                    .time
                    .map(|t| t.to_string())
                    .unwrap_or_else(|| "None".into());
                writeln!(out, "[{id},\t{time},\t{}],", data_repr(&f.data))?;
            }
        }
        key if !key.contains('<') => {
            for f in failures {
                let v = match key {
                    "matches" => Some(format!("{:?}", f.data.matches)),
                    "ip" => f.data.ip.clone(),
                    _ => f.data.get(key).map(String::from),
                };
                writeln!(out, "{}", python_str(v.as_deref()))?;
            }
        }
        template => {
            let mut multiline_rows: Vec<(&Failure, String)> = Vec::new();
            let mut wrap = false;
            for f in failures {
                let single = !wrap && f.data.matches.len() <= 1;
                if !single {
                    wrap = true;
                }
                let v = fill_template(template, f, single);
                if wrap {
                    multiline_rows.push((f, v));
                    continue;
                }
                writeln!(out, "{v}")?;
            }
            for (f, v) in multiline_rows {
                for m in &f.data.matches {
                    writeln!(out, "{}", v.replace("\x00msg\x00", m))?;
                }
            }
        }
    }
    Ok(())
}

/// Replaces action-style tags as fail2ban's `replaceDynamicTags` does for
/// `fail2ban-regex -o`.
fn fill_template(template: &str, f: &Failure, msg_inline: bool) -> String {
    let time = f.time.map(|t| t.to_string()).unwrap_or_default();
    let matches = f.data.matches.join("\n");
    let mut out = String::new();
    let mut rest = template;
    // First pass: plain tags `<name>` (no spaces or angle brackets inside).
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let end = after.find(['<', '>', ' ']);
        match end {
            Some(e) if after.as_bytes()[e] == b'>' && e > 0 => {
                let tag = &after[..e];
                let value: Option<String> = match tag {
                    "ip" => ip_of(f).map(String::from),
                    "fid" => f.id.clone(),
                    "time" => Some(time.clone()),
                    "matches" => Some(matches.clone()),
                    "msg" => Some(if msg_inline {
                        matches.clone()
                    } else {
                        "\x00msg\x00".into()
                    }),
                    "failures" | "bancount" | "restored" => Some("0".into()),
                    "br" => Some("\n".into()),
                    "sp" => Some(" ".into()),
                    _ => None,
                };
                match value {
                    Some(v) => out
                        .push_str(&v.replace('\x00', if tag == "msg" { "\x00" } else { "\\x00" })),
                    None => out.push_str(&rest[start..start + e + 2]),
                }
                rest = &after[e + 1..];
            }
            _ => {
                out.push('<');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    // Second pass: `<F-NAME>` capture tags; unknown ones become empty.
    let mut result = String::new();
    let mut rest = out.as_str();
    while let Some(start) = rest.find("<F-") {
        result.push_str(&rest[..start]);
        let after = &rest[start + 3..];
        let name_len = after
            .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_' || c == '-'))
            .unwrap_or(after.len());
        if name_len > 0 && after[name_len..].starts_with('>') {
            let key = group_name_of_tag(&after[..name_len]);
            if let Some(v) = f.data.get(&key) {
                result.push_str(&v.replace('\x00', "\\x00"));
            }
            rest = &after[name_len + 1..];
        } else {
            result.push_str("<F-");
            rest = after;
        }
    }
    result.push_str(rest);
    result
}
