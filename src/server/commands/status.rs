//! `status` and `status JAIL [FLAVOR]`.

use super::{arg, exception, unknown_jail, Outcome};
use crate::server::state::State;
use crate::stream::Value;

pub fn run(_state: &mut State, args: &[Value]) -> Outcome {
    match args.len() {
        0 => Ok(Value::List(vec![
            Value::List(vec![Value::str("Number of jail"), Value::Int(0)]),
            Value::List(vec![Value::str("Jail list"), Value::str("")]),
        ])),
        1 | 2 => Err(unknown_jail(&arg(args, 0)?)),
        _ => Err(exception("Invalid command (no status)")),
    }
}
