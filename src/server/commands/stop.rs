//! `stop` (the server), `stop --all` and `stop JAIL`.

use super::{arg, unknown_jail, Outcome};
use crate::server::state::State;
use crate::stream::Value;

pub fn run(state: &mut State, args: &[Value]) -> Outcome {
    if args.is_empty() {
        state.quit = true;
        return Ok(Value::None);
    }
    let name = arg(args, 0)?;
    if name == "--all" {
        return Ok(Value::None);
    }
    Err(unknown_jail(&name))
}
