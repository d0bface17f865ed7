//! The errors of the action runner, each of which reads as one sentence a
//! server can log as it is.

use crate::stream::str_repr;
use std::fmt;

/// What went wrong while building or running an action.
#[derive(Clone, Debug, PartialEq)]
pub enum ActionError {
    /// A Python action (`action.d/*.py`) was requested; ferroban runs shell
    /// actions only.
    PythonUnsupported {
        jail: String,
        name: String,
        path: String,
    },
    /// `addaction` for a name the jail already has.
    AlreadyExists { jail: String, name: String },
    /// A command refers to an action the jail does not have.
    UnknownAction { jail: String, name: String },
    /// A stream line about actions that does not have the expected shape.
    MalformedCommand { command: String, detail: String },
    /// `set … action NAME KEY …` where KEY names one of CommandAction's
    /// methods rather than a property.
    MethodKey { name: String, key: String },
    /// A property value that must be a duration (`timeout`) is not one.
    InvalidDuration { key: String, value: String },
    /// Tags refer to each other in a loop (fail2ban's ValueError).
    RecursiveTags { detail: String },
    /// The ban command failed, even after the check/repair and retry.
    Ban { ip: String },
    /// The unban command failed, even after the retry.
    Unban { ip: String },
    /// The prolong command failed, even after the retry.
    Prolong { ip: String },
    /// An operation (`starting`, `stopping`, `flushing`, `reloading`)
    /// failed; `cause` is Python's repr of the reason.
    Operation {
        operation: &'static str,
        jail: String,
        name: String,
        cause: String,
    },
}

impl fmt::Display for ActionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ActionError::*;
        match self {
            PythonUnsupported { jail, name, path } => write!(
                f,
                "jail '{jail}' action '{name}': Python actions ({path}) are not supported by ferroban; use a shell action from action.d instead"
            ),
            AlreadyExists { name, .. } => write!(f, "Action {name} already exists"),
            UnknownAction { name, .. } => write!(f, "Invalid Action name: {name}"),
            MalformedCommand { command, detail } => {
                write!(f, "invalid action command {command}: {detail}")
            }
            MethodKey { name, key } => write!(
                f,
                "action '{name}': '{key}' is a method of the action, not a property that can be set"
            ),
            InvalidDuration { key, value } => {
                write!(f, "{key} must be a time span such as 60 or 1m, not {value:?}")
            }
            RecursiveTags { detail } => write!(f, "{detail}"),
            Ban { ip } => write!(f, "Error banning {ip}"),
            Unban { ip } => write!(f, "Error unbanning {ip}"),
            Prolong { ip } => write!(f, "Error prolonging {ip}"),
            Operation {
                operation,
                jail,
                name,
                cause,
            } => write!(
                f,
                "Error {operation} action Jail({})/{name}: {cause}",
                str_repr(jail)
            ),
        }
    }
}

impl std::error::Error for ActionError {}
