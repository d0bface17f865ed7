//! `set OPTION VALUE` for the server's settings and `set JAIL OPTION …`
//! (and `multi-set`, its many-values form).

use super::{arg, exception, unknown_jail, Outcome};
use crate::logging::ServerLog;
use crate::server::state::State;
use crate::stream::Value;

/// The jail options fail2ban's `set` knows.
const JAIL_OPTIONS: [&str; 30] = [
    "idle",
    "ignoreself",
    "addignoreip",
    "delignoreip",
    "ignorecommand",
    "ignorecache",
    "addlogpath",
    "dellogpath",
    "logencoding",
    "addjournalmatch",
    "deljournalmatch",
    "prefregex",
    "addfailregex",
    "delfailregex",
    "addignoreregex",
    "delignoreregex",
    "usedns",
    "findtime",
    "datepattern",
    "logtimezone",
    "maxmatches",
    "maxretry",
    "maxlines",
    "bantime",
    "attempt",
    "banip",
    "unbanip",
    "addaction",
    "delaction",
    "action",
];

pub fn run(state: &mut State, args: &[Value], multiple: bool) -> Outcome {
    let name = arg(args, 0)?;
    match name.as_str() {
        "loglevel" => {
            let value = arg(args, 1)?.to_uppercase();
            let level =
                crate::config::fail2ban::log_level(&value).map_err(|e| exception(e.to_string()))?;
            if let Some(log) = ServerLog::get() {
                log.set_level(level);
            }
            state.loglevel = value;
            return Ok(Value::str(state.loglevel.as_str()));
        }
        "logtarget" => {
            let value = arg(args, 1)?;
            if value != state.logtarget {
                if let Some(log) = ServerLog::get() {
                    if let Err(e) = log.set_target(&value) {
                        log::error!(target: "fail2ban.server", "Unable to log to {}: {e}", crate::stream::str_repr(&value));
                        return Err(exception("Failed to change log target"));
                    }
                }
                state.logtarget = value;
            }
            return Ok(Value::str(state.logtarget.as_str()));
        }
        "syslogsocket" => {
            state.syslogsocket = arg(args, 1)?;
            return Ok(Value::str(state.syslogsocket.as_str()));
        }
        "allowipv6" => {
            state.allowipv6 = arg(args, 1)?;
            return Ok(args[1].clone());
        }
        "thread" => return Ok(Value::None),
        "dbfile" => {
            let value = arg(args, 1)?;
            if !state.jails.is_empty() {
                return Err(exception(
                    "Cannot change database when there are jails present",
                ));
            }
            state.db = None;
            let db = crate::db::DbFile::parse(&value)
                .open()
                .map_err(|e| exception(e.to_string()))?;
            let Some(db) = db else {
                return Ok(Value::None);
            };
            if let Err(e) = db.del_all_jails() {
                log::error!(target: "fail2ban.database", "{e}");
            }
            let name = db.filename().to_string();
            state.db = Some(std::rc::Rc::new(std::cell::RefCell::new(db)));
            state.last_purge = 0.0;
            return Ok(Value::Str(name));
        }
        "dbmaxmatches" | "dbpurgeage" => {
            let Some(db) = state.db.clone() else {
                log::info!(target: "fail2ban.server", "{name} setting was not in effect since no db yet");
                return Ok(Value::None);
            };
            let value = arg(args, 1)?;
            if name == "dbpurgeage" {
                state.dbpurgeage =
                    crate::duration::seconds(&value).map_err(|e| exception(e.to_string()))?;
                return Ok(Value::Int(state.dbpurgeage));
            }
            let n = crate::config::reader::py_int(&value).ok_or_else(|| {
                exception(format!("invalid literal for int() with base 10: {value:?}"))
            })?;
            db.borrow_mut().set_max_matches(n.max(0) as usize);
            return Ok(Value::Int(n));
        }
        _ => {}
    }
    let option = arg(args, 1)?;
    if !(JAIL_OPTIONS.contains(&option.as_str()) || option.starts_with("bantime.")) {
        return Err(exception(format!(
            "Invalid command {} (no set action or not yet implemented)",
            crate::stream::str_repr(&option)
        )));
    }
    let jail = state
        .jails
        .get_mut(&name)
        .ok_or_else(|| unknown_jail(&name))?;
    jail.set(&option, &args[2..], multiple, crate::server::state::now())
}
