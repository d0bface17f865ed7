//! `get OPTION` for the server's settings and `get JAIL OPTION`.

use super::{arg, exception, unknown_jail, Outcome};
use crate::server::state::State;
use crate::stream::Value;

/// The jail options fail2ban's `get` knows.
const JAIL_OPTIONS: [&str; 24] = [
    "banned",
    "logpath",
    "logencoding",
    "journalmatch",
    "ignoreself",
    "ignoreip",
    "ignorecommand",
    "ignorecache",
    "prefregex",
    "failregex",
    "ignoreregex",
    "usedns",
    "findtime",
    "datepattern",
    "logtimezone",
    "maxmatches",
    "maxretry",
    "maxlines",
    "bantime",
    "banip",
    "actions",
    "action",
    "actionproperties",
    "actionmethods",
];

pub fn run(state: &mut State, args: &[Value]) -> Outcome {
    let name = arg(args, 0)?;
    match name.as_str() {
        "loglevel" => return Ok(Value::str(state.loglevel.as_str())),
        "logtarget" => return Ok(Value::str(state.logtarget.as_str())),
        "syslogsocket" => return Ok(Value::str(state.syslogsocket.as_str())),
        "thread" => return Ok(Value::Dict(vec![(Value::str("stacksize"), Value::Int(0))])),
        "dbfile" | "dbmaxmatches" | "dbpurgeage" => {
            return Ok(match (&state.db, name.as_str()) {
                (None, _) => Value::None,
                (Some(db), "dbfile") => Value::str(db.borrow().filename()),
                (Some(_), "dbpurgeage") => Value::Int(state.dbpurgeage),
                (Some(db), _) => Value::Int(db.borrow().max_matches() as i64),
            })
        }
        _ => {}
    }
    let option = arg(args, 1)?;
    if !(JAIL_OPTIONS.contains(&option.as_str()) || option.starts_with("bantime.")) {
        return Err(exception(
            "Invalid command (no get action or not yet implemented)",
        ));
    }
    let jail = state.jails.get(&name).ok_or_else(|| unknown_jail(&name))?;
    jail.get(&option, &args[2..])
}
