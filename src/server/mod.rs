//! `fail2ban-server`: one event loop that owns the state, listens on the
//! control socket and executes the commands the client compiled from the
//! configuration. It never reads configuration files itself.
//!
//! `listener` sets up the socket, `event_loop` multiplexes the socket,
//! connections and signals with `poll(2)`, `commands` executes one command
//! against the `state`, and `daemon` detaches into the background.

pub mod cli;
pub mod commands;
pub mod daemon;
pub mod event_loop;
pub mod listener;
pub mod state;
pub mod watching;

use crate::logging::ServerLog;
use state::State;

/// fail2ban-server's settings from its command line.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    pub socket: String,
    pub pidfile: String,
    pub background: bool,
    pub force: bool,
    pub loglevel: String,
    pub logtarget: String,
    pub syslogsocket: String,
    /// The configuration to apply at start (when not started by the client).
    pub stream: Option<Vec<crate::stream::Value>>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            socket: "/var/run/fail2ban/fail2ban.sock".into(),
            pidfile: "/var/run/fail2ban/fail2ban.pid".into(),
            background: true,
            force: false,
            loglevel: "INFO".into(),
            logtarget: "STDERR".into(),
            syslogsocket: "auto".into(),
            stream: None,
        }
    }
}

/// Runs the server until it is told to stop; returns the exit status.
pub fn run(opts: ServerOptions) -> i32 {
    let log = ServerLog::install();
    let mut state = State::new(&opts);
    if let Err(e) = state.apply_logging(log) {
        eprintln!("ERROR: {e}");
        return 255;
    }
    if opts.background {
        if let Err(e) = daemon::detach() {
            log::error!(target: "fail2ban.server", "Could not create daemon: {e}");
            return 255;
        }
    }
    log::info!(target: "fail2ban.server", "{}", "-".repeat(50));
    log::info!(target: "fail2ban.server", "Starting Fail2ban v{}", crate::config::reader::FAIL2BAN_VERSION);
    if opts.background {
        log::info!(target: "fail2ban.server", "Daemon started");
    }
    let listener = match listener::bind(&opts.socket, opts.force) {
        Ok(l) => l,
        Err(e) => {
            log::error!(target: "fail2ban.server", "Could not start server: {e}");
            return 255;
        }
    };
    if let Err(e) = std::fs::write(&opts.pidfile, format!("{}\n", std::process::id())) {
        log::error!(target: "fail2ban.server", "Unable to create PID file: {e}");
    }
    if let Some(stream) = opts.stream.clone() {
        let request = crate::stream::Value::List(vec![
            crate::stream::Value::str("server-stream"),
            crate::stream::Value::List(stream),
        ]);
        if let crate::protocol::Reply::Failure { error, .. } =
            commands::execute(&mut state, &request)
        {
            log::error!(target: "fail2ban.server", "Could not configure the server: {}", error.message());
            state.stop_all_jails();
            let _ = std::fs::remove_file(&opts.socket);
            let _ = std::fs::remove_file(&opts.pidfile);
            return 255;
        }
    }
    let result = event_loop::run(&mut state, &listener);
    log::info!(target: "fail2ban.server", "Shutdown in progress...");
    // The file goes first: a client that can still connect knows the server
    // is not gone yet, and once it cannot, no socket file is left behind.
    let _ = std::fs::remove_file(&opts.socket);
    drop(listener);
    if let Err(e) = std::fs::remove_file(&opts.pidfile) {
        log::error!(target: "fail2ban.server", "Unable to remove PID file: {e}");
    }
    log::info!(target: "fail2ban.server", "Exiting Fail2ban");
    match result {
        Ok(()) => 0,
        Err(e) => {
            log::error!(target: "fail2ban.server", "{e}");
            255
        }
    }
}
