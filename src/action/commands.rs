//! The action lines of the command stream, parsed:
//!
//! ```text
//! ['set', JAIL, 'addaction', NAME]
//! ['set', JAIL, 'addaction', NAME, PATH.py, JSON]      (Python action)
//! ['multi-set', JAIL, 'action', NAME, [[KEY, VALUE], …]]
//! ['set', JAIL, 'action', NAME, KEY, VALUE]
//! ['set', JAIL, 'delaction', NAME]
//! ```

use super::error::ActionError;
use crate::stream::Value;

/// One action line of the stream.
#[derive(Clone, Debug, PartialEq)]
pub enum ActionCommand {
    /// `addaction`: a new shell action with default properties.
    Add { jail: String, name: String },
    /// `delaction`.
    Delete { jail: String, name: String },
    /// `action` (single `set` or `multi-set`): properties to set, in order.
    Set {
        jail: String,
        name: String,
        options: Vec<(String, Value)>,
    },
}

impl ActionCommand {
    pub fn jail(&self) -> &str {
        match self {
            ActionCommand::Add { jail, .. }
            | ActionCommand::Delete { jail, .. }
            | ActionCommand::Set { jail, .. } => jail,
        }
    }
}

fn malformed(cmd: &Value, detail: &str) -> ActionError {
    ActionError::MalformedCommand {
        command: cmd.to_string(),
        detail: detail.to_string(),
    }
}

fn text<'a>(cmd: &Value, v: Option<&'a Value>, what: &str) -> Result<&'a str, ActionError> {
    v.and_then(Value::as_str)
        .ok_or_else(|| malformed(cmd, &format!("{what} must be a string")))
}

/// Parses a stream line; `Ok(None)` when it is not about actions. A Python
/// action gives [`ActionError::PythonUnsupported`].
pub fn parse_action_command(cmd: &Value) -> Result<Option<ActionCommand>, ActionError> {
    let Some(items) = cmd.as_list() else {
        return Ok(None);
    };
    let word = |i: usize| items.get(i).and_then(Value::as_str);
    let (Some(verb), Some(what)) = (word(0), word(2)) else {
        return Ok(None);
    };
    let multi = match verb {
        "set" => false,
        "multi-set" => true,
        _ => return Ok(None),
    };
    if !matches!(what, "addaction" | "delaction" | "action") {
        return Ok(None);
    }
    let jail = text(cmd, items.get(1), "the jail name")?.to_string();
    let name = text(cmd, items.get(3), "the action name")?.to_string();
    match (what, multi) {
        ("addaction", false) => match items.len() {
            4 => Ok(Some(ActionCommand::Add { jail, name })),
            6 => Err(ActionError::PythonUnsupported {
                jail,
                name,
                path: text(cmd, items.get(4), "the action path")?.to_string(),
            }),
            _ => Err(malformed(
                cmd,
                "addaction takes a name, or a name, a path and options",
            )),
        },
        ("delaction", false) if items.len() == 4 => Ok(Some(ActionCommand::Delete { jail, name })),
        ("action", false) => {
            if items.len() != 6 {
                return Err(malformed(cmd, "expected a key and a value"));
            }
            let key = text(cmd, items.get(4), "the key")?.to_string();
            Ok(Some(ActionCommand::Set {
                jail,
                name,
                options: vec![(key, items[5].clone())],
            }))
        }
        ("action", true) => {
            let pairs = items
                .get(4)
                .and_then(Value::as_list)
                .filter(|_| items.len() == 5)
                .ok_or_else(|| malformed(cmd, "expected a list of [key, value] pairs"))?;
            let mut options = Vec::with_capacity(pairs.len());
            for pair in pairs {
                match pair.as_list() {
                    Some([Value::Str(k), v]) => options.push((k.clone(), v.clone())),
                    _ => {
                        return Err(malformed(
                            cmd,
                            &format!("{pair} is not a [key, value] pair"),
                        ))
                    }
                }
            }
            Ok(Some(ActionCommand::Set {
                jail,
                name,
                options,
            }))
        }
        _ => Err(malformed(cmd, "unexpected form")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command;

    #[test]
    fn parses_the_stream_forms() {
        assert_eq!(
            parse_action_command(&command!["set", "sshd", "addaction", "iptables"]).unwrap(),
            Some(ActionCommand::Add {
                jail: "sshd".into(),
                name: "iptables".into()
            })
        );
        let multi = Value::List(vec![
            "multi-set".into(),
            "sshd".into(),
            "action".into(),
            "x".into(),
            Value::List(vec![
                command!["actionban", "echo <ip>"],
                Value::List(vec!["norestored".into(), Value::Bool(true)]),
            ]),
        ]);
        let Some(ActionCommand::Set { options, .. }) = parse_action_command(&multi).unwrap() else {
            panic!("not a set");
        };
        assert_eq!(options[1], ("norestored".into(), Value::Bool(true)));
        assert_eq!(
            parse_action_command(&command!["set", "j", "action", "x", "port", "22"]).unwrap(),
            Some(ActionCommand::Set {
                jail: "j".into(),
                name: "x".into(),
                options: vec![("port".into(), "22".into())]
            })
        );
        assert_eq!(
            parse_action_command(&command!["set", "j", "maxretry", 3]).unwrap(),
            None
        );
    }

    #[test]
    fn python_actions_are_unsupported() {
        let e = parse_action_command(&command![
            "set",
            "j",
            "addaction",
            "smtp",
            "/etc/fail2ban/action.d/smtp.py",
            "{}"
        ])
        .unwrap_err();
        assert!(matches!(e, ActionError::PythonUnsupported { .. }));
        let msg = e.to_string();
        assert!(msg.contains("smtp.py") && msg.contains("not supported") && !msg.contains('\n'));
    }

    #[test]
    fn malformed_lines_are_errors() {
        assert!(parse_action_command(&command!["set", "j", "action", "x", "k"]).is_err());
        assert!(parse_action_command(&command!["multi-set", "j", "action", "x", "k"]).is_err());
    }

    #[test]
    fn odd_shapes_never_panic() {
        let odd = [
            Value::None,
            Value::List(vec![]),
            command!["set"],
            command!["set", "j"],
            command!["set", "j", "addaction"],
            Value::List(vec![
                "set".into(),
                Value::Int(1),
                "addaction".into(),
                "x".into(),
            ]),
            Value::List(vec![
                "set".into(),
                "j".into(),
                "addaction".into(),
                Value::None,
            ]),
            command!["set", "j", "addaction", "x", "p"],
            Value::List(vec![
                "set".into(),
                "j".into(),
                "addaction".into(),
                "x".into(),
                Value::Int(3),
                "{}".into(),
            ]),
            command!["set", "j", "delaction", "x", "y"],
            Value::List(vec![
                "multi-set".into(),
                "j".into(),
                "action".into(),
                "x".into(),
                Value::List(vec![Value::List(vec![Value::Int(1), "v".into()])]),
            ]),
            Value::List(vec![
                "multi-set".into(),
                "j".into(),
                "action".into(),
                "x".into(),
                Value::List(vec![command!["only-key"]]),
            ]),
            command!["multi-set", "j", "addaction", "x"],
        ];
        for v in odd {
            match parse_action_command(&v) {
                Ok(None) => {}
                Ok(Some(c)) => panic!("{v} parsed as {c:?}"),
                Err(e) => assert!(!e.to_string().is_empty()),
            }
        }
    }
}
