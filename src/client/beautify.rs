//! fail2ban-client's output: the server's raw answers turned into the text
//! fail2ban 1.0.2's `Beautifier` prints (`Server replied: pong`, the status
//! tree with a tab after every colon, lists with `|-` and `` `- ``).

use crate::config::tags::py_str;
use crate::protocol::PyException;
use crate::stream::{str_repr, Value};

/// Python's `str()` of a list element in `" ".join(map(str, …))`.
fn join_str(items: &[Value]) -> String {
    items.iter().map(py_str).collect::<Vec<_>>().join(" ")
}

fn list_or_value(v: &Value) -> String {
    match v {
        Value::List(items) => join_str(items),
        other => py_str(other),
    }
}

/// A (name, value) pair of a status answer.
fn pair(v: &Value) -> Option<(String, &Value)> {
    let items = v.as_list()?;
    match items {
        [name, value] => Some((py_str(name), value)),
        _ => None,
    }
}

fn strings(v: &Value) -> Option<Vec<String>> {
    v.as_list().map(|items| items.iter().map(py_str).collect())
}

/// The text for a successful answer to `cmd`.
pub fn beautify(cmd: &[String], response: &Value) -> String {
    beautify_known(cmd, response).unwrap_or_else(|| py_str(response))
}

fn tree(lines: &[String], last_prefix: &str, mid_prefix: &str) -> String {
    let mut out = String::new();
    for (i, l) in lines.iter().enumerate() {
        out.push_str(if i + 1 == lines.len() {
            last_prefix
        } else {
            mid_prefix
        });
        out.push_str(l);
        if i + 1 < lines.len() {
            out.push('\n');
        }
    }
    out
}

fn beautify_known(cmd: &[String], response: &Value) -> Option<String> {
    let c = |i: usize| cmd.get(i).map(String::as_str);
    let s = |v: &Value| v.as_str().map(str::to_string);
    match c(0)? {
        "ping" => return Some(format!("Server replied: {}", s(response)?)),
        "version" => return Some(py_str(response)),
        "start" => return Some("Jail started".into()),
        "stop" if *response == Value::None => {
            return Some(
                if cmd.len() == 1 {
                    "Shutdown successful"
                } else {
                    "Jail stopped"
                }
                .into(),
            )
        }
        "stop" => return None,
        "add" => return Some(format!("Added jail {}", s(response)?)),
        "flushlogs" => return Some(format!("logs: {}", s(response)?)),
        "echo" => return Some(join_str(response.as_list()?)),
        "status" => return status(cmd, response),
        _ => {}
    }
    let arg1 = c(1)?;
    match arg1 {
        "syslogsocket" => return Some(format!("Current syslog socket is:\n`- {}", s(response)?)),
        "logtarget" => return Some(format!("Current logging target is:\n`- {}", s(response)?)),
        "loglevel" => {
            let name = match response {
                Value::Int(i) => str_repr(&crate::logging::numeric_level_name(*i)),
                other => other.to_string(),
            };
            return Some(format!("Current logging level is {name}"));
        }
        "dbfile" => {
            return Some(match response {
                Value::None => "Database currently disabled".into(),
                v => format!("Current database file is:\n`- {}", s(v)?),
            })
        }
        "dbpurgeage" => {
            return Some(match response {
                Value::None => "Database currently disabled".into(),
                Value::Int(i) => format!("Current database purge age is:\n`- {i}seconds"),
                Value::Float(f) => format!(
                    "Current database purge age is:\n`- {}seconds",
                    f.trunc() as i64
                ),
                _ => return None,
            })
        }
        _ => {}
    }
    let arg2 = c(2)?;
    let list = || strings(response);
    Some(match arg2 {
        "logpath" | "addlogpath" | "dellogpath" => {
            let l = list()?;
            if l.is_empty() {
                "No file is currently monitored".into()
            } else {
                format!("Current monitored log file(s):\n{}", tree(&l, "`- ", "|- "))
            }
        }
        "logencoding" => format!("Current log encoding is set to:\n{}", s(response)?),
        "journalmatch" | "addjournalmatch" | "deljournalmatch" => {
            let groups = response.as_list()?;
            if groups.is_empty() {
                "No journal match filter set".into()
            } else {
                let parts: Vec<String> = groups
                    .iter()
                    .map(|g| strings(g).unwrap_or_default().join(" "))
                    .collect();
                format!("Current match filter:\n{}", parts.join(" + "))
            }
        }
        "datepattern" => {
            let text = match response {
                Value::None => "Not set/required".to_string(),
                v => match v.as_list()? {
                    [Value::None, b] => py_str(b),
                    [a, b] => format!("{} ({})", py_str(a), py_str(b)),
                    _ => return None,
                },
            };
            format!("Current date pattern set to: {text}")
        }
        "ignoreip" | "addignoreip" | "delignoreip" => {
            let l = list()?;
            if l.is_empty() {
                "No IP address/network is ignored".into()
            } else {
                format!(
                    "These IP addresses/networks are ignored:\n{}",
                    tree(&l, "`- ", "|- ")
                )
            }
        }
        "failregex" | "addfailregex" | "delfailregex" | "ignoreregex" | "addignoreregex"
        | "delignoreregex" => {
            let l = list()?;
            if l.is_empty() {
                "No regular expression is defined".into()
            } else {
                let numbered: Vec<String> = l
                    .iter()
                    .enumerate()
                    .map(|(i, r)| format!("[{i}]: {r}"))
                    .collect();
                format!(
                    "The following regular expression are defined:\n{}",
                    tree(&numbered, "`- ", "|- ")
                )
            }
        }
        "actions" => {
            let l = list()?;
            if l.is_empty() {
                format!("No actions for jail {arg1}")
            } else {
                format!(
                    "The jail {arg1} has the following actions:\n{}",
                    l.join(", ")
                )
            }
        }
        "actionproperties" | "actionmethods" => {
            let what = if arg2 == "actionproperties" {
                "properties"
            } else {
                "methods"
            };
            let l = list()?;
            let action = c(3).unwrap_or("");
            if l.is_empty() {
                format!("No {what} for jail {arg1} action {action}")
            } else {
                format!(
                    "The jail {arg1} action {action} has the following {what}:\n{}",
                    l.join(", ")
                )
            }
        }
        "banip" if c(0) == Some("get") => {
            let l = list()?;
            let sep = match c(3) {
                None => " ",
                Some("--with-time") => "\n",
                Some(other) => other,
            };
            l.join(sep)
        }
        _ => return None,
    })
}

fn status(cmd: &[String], response: &Value) -> Option<String> {
    let entries = response.as_list()?;
    let mut out = Vec::new();
    if cmd.len() > 1 {
        out.push(format!("Status for the jail: {}", cmd[1]));
        for (n, e) in entries.iter().enumerate() {
            let (name, inner) = pair(e)?;
            let last = n + 1 == entries.len();
            out.push(format!("{} {}", if last { "`-" } else { "|-" }, name));
            let prefix = if last { "   " } else { "|  " };
            let inner = inner.as_list()?;
            for (m, e2) in inner.iter().enumerate() {
                let (k, v) = pair(e2)?;
                let p2 = if m + 1 == inner.len() { "`-" } else { "|-" };
                out.push(format!("{prefix}{p2} {k}:\t{}", list_or_value(v)));
            }
        }
    } else {
        out.push("Status".into());
        for (n, e) in entries.iter().enumerate() {
            let (name, v) = pair(e)?;
            let p = if n + 1 == entries.len() { "`-" } else { "|-" };
            out.push(format!("{p} {name}:\t{}", list_or_value(v)));
        }
    }
    Some(out.join("\n"))
}

/// The text for a failed command.
pub fn beautify_error(exc: &PyException) -> String {
    let first = exc.args.first().map(py_str).unwrap_or_default();
    match exc.name.as_str() {
        "UnknownJailException" => format!("Sorry but the jail '{first}' does not exist"),
        "IndexError" => "Sorry but the command is invalid".into(),
        "DuplicateJailException" => format!("The jail '{first}' already exists"),
        _ => exc.message(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(s: &str) -> Vec<String> {
        s.split(' ').map(str::to_string).collect()
    }

    fn l(items: Vec<Value>) -> Value {
        Value::List(items)
    }

    #[test]
    fn status_trees_like_fail2ban() {
        let resp = l(vec![
            l(vec![Value::str("Number of jail"), Value::Int(1)]),
            l(vec![Value::str("Jail list"), Value::str("sshd")]),
        ]);
        assert_eq!(
            beautify(&cmd("status"), &resp),
            "Status\n|- Number of jail:\t1\n`- Jail list:\tsshd"
        );
        let jail = l(vec![
            l(vec![
                Value::str("Filter"),
                l(vec![
                    l(vec![Value::str("Currently failed"), Value::Int(0)]),
                    l(vec![
                        Value::str("File list"),
                        l(vec![Value::str("/var/log/a"), Value::str("/var/log/b")]),
                    ]),
                ]),
            ]),
            l(vec![
                Value::str("Actions"),
                l(vec![l(vec![Value::str("Banned IP list"), l(vec![])])]),
            ]),
        ]);
        assert_eq!(
            beautify(&cmd("status sshd"), &jail),
            "Status for the jail: sshd\n|- Filter\n|  |- Currently failed:\t0\n|  `- File list:\t/var/log/a /var/log/b\n`- Actions\n   `- Banned IP list:\t"
        );
    }

    #[test]
    fn simple_answers() {
        assert_eq!(
            beautify(&cmd("ping"), &Value::str("pong")),
            "Server replied: pong"
        );
        assert_eq!(
            beautify(&cmd("echo a b"), &l(vec![Value::str("a"), Value::str("b")])),
            "a b"
        );
        assert_eq!(beautify(&cmd("get sshd maxretry"), &Value::Int(5)), "5");
        assert_eq!(
            beautify(&cmd("get loglevel"), &Value::str("INFO")),
            "Current logging level is 'INFO'"
        );
        assert_eq!(
            beautify(&cmd("get dbpurgeage"), &Value::Int(86400)),
            "Current database purge age is:\n`- 86400seconds"
        );
        assert_eq!(beautify(&cmd("stop"), &Value::None), "Shutdown successful");
    }
}
