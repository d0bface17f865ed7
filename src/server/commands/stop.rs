//! `stop` (the server, after stopping every jail), `stop --all` and `stop JAIL`.

use super::{arg, unknown_jail, Outcome};
use crate::server::state::State;
use crate::stream::Value;

pub fn run(state: &mut State, args: &[Value]) -> Outcome {
    if args.is_empty() {
        state.stop_all_jails();
        state.quit = true;
        return Ok(Value::None);
    }
    let name = arg(args, 0)?;
    if name == "--all" {
        state.stop_all_jails();
        return Ok(Value::None);
    }
    let mut jail = state
        .jails
        .remove(&name)
        .ok_or_else(|| unknown_jail(&name))?;
    if let Some(w) = state.watching.as_mut() {
        w.remove(&name);
    }
    jail.stop();
    Ok(Value::None)
}
