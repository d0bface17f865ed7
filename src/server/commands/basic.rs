//! `ping`, `echo`, `version`, `server-status`, `sleep`, `flushlogs`.

use super::{arg, exception, Outcome};
use crate::logging::ServerLog;
use crate::server::state::State;
use crate::stream::Value;

pub fn run(state: &mut State, name: &str, cmd: &[Value]) -> Outcome {
    Ok(match name {
        "ping" => Value::str("pong"),
        "echo" => Value::List(cmd[1..].to_vec()),
        "version" => Value::str(crate::config::reader::FAIL2BAN_VERSION),
        "server-status" => Value::str("Server ready"),
        "sleep" => {
            let secs: f64 = arg(cmd, 1)?
                .parse()
                .map_err(|_| exception(format!("could not convert string to float: {}", cmd[1])))?;
            // Bounded: the loop serves nobody else meanwhile.
            std::thread::sleep(std::time::Duration::from_secs_f64(secs.clamp(0.0, 10.0)));
            Value::None
        }
        _ => {
            let is_file = !matches!(
                state.logtarget.to_uppercase().as_str(),
                "STDERR" | "STDOUT" | "SYSLOG" | "SYSTEMD-JOURNAL"
            );
            if let Some(log) = ServerLog::get() {
                log.reopen()
                    .map_err(|e| exception(format!("Unable to reopen the log file: {e}")))?;
            }
            if is_file {
                log::info!(target: "fail2ban.server", "rollover performed on {}", state.logtarget);
                Value::str("rolled over")
            } else {
                log::info!(target: "fail2ban.server", "flush performed on {}", state.logtarget);
                Value::str("flushed")
            }
        }
    })
}
