//! Executing one command of fail2ban's protocol against the server state,
//! answering `(0, result)` or `(1, exception)` as fail2ban's `Transmitter`
//! does. One file per group of commands.

mod basic;
mod get;
mod jails;
mod set;
mod status;
mod stop;

use super::state::State;
use crate::protocol::{PyException, Reply};
use crate::stream::Value;

/// What a command returns: a value, or the exception fail2ban would raise.
pub type Outcome = Result<Value, PyException>;

/// A plain `Exception(message)`.
pub fn exception(message: impl Into<String>) -> PyException {
    PyException::builtin("Exception", &message.into())
}

/// `UnknownJailException(name)`.
pub fn unknown_jail(name: &str) -> PyException {
    PyException {
        module: "fail2ban.exceptions".into(),
        name: "UnknownJailException".into(),
        args: vec![Value::str(name)],
    }
}

/// `IndexError('list index out of range')`: a command with too few arguments.
pub fn too_few_arguments() -> PyException {
    PyException::builtin("IndexError", "list index out of range")
}

/// The command's argument `i` as text.
pub fn arg(cmd: &[Value], i: usize) -> Result<String, PyException> {
    cmd.get(i)
        .map(crate::config::tags::py_str)
        .ok_or_else(too_few_arguments)
}

/// Executes one request (a list of values) and builds the reply.
pub fn execute(state: &mut State, request: &Value) -> Reply {
    let Some(cmd) = request.as_list() else {
        return Reply::Failure {
            code: 1,
            error: exception("Invalid command"),
        };
    };
    match dispatch(state, cmd) {
        Ok(result) => Reply::Answer { code: 0, result },
        Err(error) => {
            log::error!(target: "fail2ban.transmitter", "Command {request} has failed. Received {error}");
            Reply::Failure { code: 1, error }
        }
    }
}

/// fail2ban's `__commandHandler`.
pub fn dispatch(state: &mut State, cmd: &[Value]) -> Outcome {
    let name = arg(cmd, 0)?;
    match name.as_str() {
        "ping" | "echo" | "version" | "server-status" | "sleep" | "flushlogs" => {
            basic::run(state, &name, cmd)
        }
        "status" => status::run(state, &cmd[1..]),
        "stop" => stop::run(state, &cmd[1..]),
        "get" => get::run(state, &cmd[1..]),
        "set" => set::run(state, &cmd[1..], false),
        "multi-set" => set::run(state, &cmd[1..], true),
        "add" | "start" | "reload" | "banned" | "unban" | "server-stream" | "config-error" => {
            jails::run(state, &name, cmd)
        }
        _ => Err(exception("Invalid command")),
    }
}
