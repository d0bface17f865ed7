//! Commands about jails as a whole: `add`, `start`, `reload`, `banned`,
//! `unban`, `server-stream`, `config-error`. ferroban's server does not run
//! jails yet: adding one is refused with a clear error, and the queries
//! answer for an empty jail list, as fail2ban's server would.

use super::{arg, dispatch, exception, unknown_jail, Outcome};
use crate::server::state::State;
use crate::stream::Value;

pub fn run(state: &mut State, name: &str, cmd: &[Value]) -> Outcome {
    match name {
        "add" => {
            let jail = arg(cmd, 1)?;
            if jail == "--all" {
                return Err(exception(format!(
                    "Reserved name {}",
                    crate::stream::str_repr(&jail)
                )));
            }
            Err(exception(format!(
                "ferroban's server cannot run jails yet; jail {} was not added",
                crate::stream::str_repr(&jail)
            )))
        }
        "start" => Err(unknown_jail(&arg(cmd, 1)?)),
        "reload" => {
            // An empty reload (no jails configured) succeeds; any jail is refused by `add`.
            let stream = cmd.get(3).and_then(Value::as_list).unwrap_or(&[]);
            for c in stream {
                if let Some(c) = c.as_list() {
                    dispatch(state, c)?;
                }
            }
            Ok(Value::str("OK"))
        }
        "banned" => Ok(Value::List(
            cmd[1..].iter().map(|_| Value::List(vec![])).collect(),
        )),
        "unban" => {
            arg(cmd, 1)?;
            Ok(Value::Int(0))
        }
        "server-stream" => {
            let stream = cmd.get(1).and_then(Value::as_list).unwrap_or(&[]);
            for c in stream {
                if let Some(c) = c.as_list() {
                    dispatch(state, c)?;
                }
            }
            Ok(Value::None)
        }
        _ => {
            log::error!(target: "fail2ban.transmitter", "{}", arg(cmd, 1)?);
            Ok(Value::None)
        }
    }
}
