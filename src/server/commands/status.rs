//! `status` and `status JAIL [FLAVOR]`.

use super::{arg, exception, unknown_jail, Outcome};
use crate::server::state::State;
use crate::stream::Value;

pub fn run(state: &mut State, args: &[Value]) -> Outcome {
    match args.len() {
        0 => {
            let mut names: Vec<&str> = state.jails.keys().collect();
            names.sort();
            Ok(Value::List(vec![
                Value::Tuple(vec![
                    Value::str("Number of jail"),
                    Value::Int(names.len() as i64),
                ]),
                Value::Tuple(vec![Value::str("Jail list"), Value::Str(names.join(", "))]),
            ]))
        }
        1 | 2 => {
            let name = arg(args, 0)?;
            let flavor = args
                .get(1)
                .map(crate::config::tags::py_str)
                .unwrap_or_else(|| "basic".into());
            let jail = state.jails.get(&name).ok_or_else(|| unknown_jail(&name))?;
            Ok(jail.status(&flavor))
        }
        _ => Err(exception("Invalid command (no status)")),
    }
}
