//! Commands about jails as a whole: `add`, `start`, `reload`, `banned`,
//! `unban`, `server-stream`, `config-error`.

use super::{arg, dispatch, exception, unknown_jail, Outcome};
use crate::jail::Jail;
use crate::protocol::PyException;
use crate::server::state::State;
use crate::stream::Value;

fn duplicate_jail(name: &str) -> PyException {
    PyException {
        module: "fail2ban.exceptions".into(),
        name: "DuplicateJailException".into(),
        args: vec![Value::str(name)],
    }
}

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
            let backend = cmd
                .get(2)
                .map(crate::config::tags::py_str)
                .unwrap_or_else(|| "auto".into());
            if let Some(pending) = state.reloading.as_mut() {
                if let Some(i) = pending.iter().position(|j| *j == jail) {
                    // A jail kept across a reload: its bans stay, its settings are read again.
                    pending.remove(i);
                    log::info!(target: "fail2ban.server", "Reload jail {}", crate::stream::str_repr(&jail));
                    if let Some(j) = state.jails.get_mut(&jail) {
                        j.reset_settings();
                        j.actions.begin_reload();
                    }
                    return Ok(Value::Str(jail));
                }
            }
            if state.jails.contains_key(&jail) {
                return Err(duplicate_jail(&jail));
            }
            let mut new = Jail::new(&jail, &backend);
            new.db = state.db.clone();
            state.jails.insert(jail.clone(), new);
            log::info!(target: "fail2ban.jail", "Creating new jail '{jail}'");
            Ok(Value::Str(jail))
        }
        "start" => {
            let jail = arg(cmd, 1)?;
            let j = state
                .jails
                .get_mut(&jail)
                .ok_or_else(|| unknown_jail(&jail))?;
            if !j.started {
                j.start();
                crate::server::watching::start_jail(state, &jail);
            }
            Ok(Value::None)
        }
        "reload" => {
            let target = arg(cmd, 1)?;
            let opts: Vec<String> = cmd
                .get(2)
                .and_then(Value::as_list)
                .unwrap_or(&[])
                .iter()
                .map(crate::config::tags::py_str)
                .collect();
            let all = target == "--all";
            log::info!(target: "fail2ban.server", "Reload {}", if all { "all jails".to_string() } else { format!("jail {target}") });
            if !all
                && !state.jails.contains_key(&target)
                && !opts.iter().any(|o| o == "--if-exists")
            {
                return Err(unknown_jail(&target));
            }
            let scope: Vec<String> = state
                .jails
                .keys()
                .filter(|n| all || *n == target)
                .map(str::to_string)
                .collect();
            for name in &scope {
                if opts.iter().any(|o| o == "--unban") {
                    if let Some(j) = state.jails.get_mut(name) {
                        let ids: Vec<String> = j
                            .bans
                            .ids_in_order()
                            .into_iter()
                            .map(str::to_string)
                            .collect();
                        for id in ids {
                            j.unban(&id);
                        }
                    }
                }
                if opts.iter().any(|o| o == "--restart") {
                    if let Some(mut j) = state.jails.remove(name) {
                        if let Some(w) = state.watching.as_mut() {
                            w.remove(name);
                        }
                        j.stop();
                    }
                }
            }
            let before: Vec<String> = scope
                .into_iter()
                .filter(|n| state.jails.contains_key(n))
                .collect();
            state.reloading = Some(before.clone());
            let stream = cmd.get(3).and_then(Value::as_list).unwrap_or(&[]).to_vec();
            let mut result = Ok(Value::str("OK"));
            for c in &stream {
                if let Some(c) = c.as_list() {
                    if let Err(e) = dispatch(state, c) {
                        result = Err(e);
                        break;
                    }
                }
            }
            // Jails the new configuration no longer has are stopped; kept
            // ones drop the actions it no longer has.
            let gone = state.reloading.take().unwrap_or_default();
            for name in &gone {
                if let Some(mut j) = state.jails.remove(name) {
                    if let Some(w) = state.watching.as_mut() {
                        w.remove(name);
                    }
                    j.stop();
                }
            }
            for name in before.iter().filter(|n| !gone.contains(n)) {
                if let Some(j) = state.jails.get_mut(name) {
                    j.finish_reload();
                }
                // Its log paths may have changed: follow them again.
                if state.jails.get(name).is_some_and(|j| j.started) {
                    crate::server::watching::start_jail(state, name);
                }
            }
            log::info!(target: "fail2ban.server", "Reload finished.");
            result
        }
        "banned" => {
            let ips: Vec<String> = cmd[1..].iter().map(crate::config::tags::py_str).collect();
            if ips.is_empty() {
                return Ok(Value::List(
                    state
                        .jails
                        .iter()
                        .map(|(n, j)| {
                            Value::Dict(vec![(
                                Value::str(n),
                                Value::List(
                                    j.bans.ids_in_order().into_iter().map(Value::str).collect(),
                                ),
                            )])
                        })
                        .collect(),
                ));
            }
            Ok(Value::List(
                ips.iter()
                    .map(|ip| {
                        Value::List(
                            state
                                .jails
                                .iter()
                                .filter(|(_, j)| j.bans.contains(ip))
                                .map(|(n, _)| Value::str(n))
                                .collect(),
                        )
                    })
                    .collect(),
            ))
        }
        "unban" => {
            let first = arg(cmd, 1)?;
            let mut n = 0;
            for j in state.jails.values_mut() {
                let ids: Vec<String> = if first == "--all" && cmd.len() == 2 {
                    j.bans
                        .ids_in_order()
                        .into_iter()
                        .map(str::to_string)
                        .collect()
                } else {
                    cmd[1..].iter().map(crate::config::tags::py_str).collect()
                };
                n += ids.iter().filter(|ip| j.unban(ip)).count();
            }
            Ok(Value::Int(n as i64))
        }
        "server-stream" => {
            let stream = cmd.get(1).and_then(Value::as_list).unwrap_or(&[]).to_vec();
            for c in &stream {
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
