//! `fail2ban-client`: its command line (fail2ban 1.0.2's options), the modes
//! that work on the configuration alone (`-d`/`--dp` print the command stream
//! the configuration compiles to, `-t` checks it), and commands sent to a
//! running server over its socket, answered as fail2ban prints them.

pub mod beautify;
pub mod migrate;
pub mod pretty;
pub mod usage;

use crate::cli::CommonArgs;
use crate::config::{self, ClientSettings, CompileOptions};
use crate::protocol::{Client, Reply};
use crate::stream::Value;
use clap::Parser;
use std::time::Duration;

/// fail2ban-client's options (Python getopt: `hc:s:p:xfbdtviqV` and the long ones).
#[derive(Parser, Debug)]
#[command(
    name = "fail2ban-client",
    disable_help_flag = true,
    disable_version_flag = true,
    infer_long_args = true,
    about = "Fail2Ban: a set of server and client programs to limit brute force authentication attempts (ferroban)"
)]
pub struct Args {
    #[command(flatten)]
    pub common: CommonArgs,
    /// dump configuration. For debugging
    #[arg(short = 'd')]
    pub dump: bool,
    /// dump the configuration using more human readable representation
    #[arg(long = "dp", alias = "dump-pretty")]
    pub dump_pretty: bool,
    /// test configuration (can be also specified with start parameters)
    #[arg(short = 't', long = "test")]
    pub test: bool,
    /// convert time abbreviation format to seconds
    #[arg(long = "str2sec", value_name = "STRING", allow_hyphen_values = true)]
    pub str2sec: Option<String>,
    /// the command and its arguments
    #[arg(trailing_var_arg = true)]
    pub command: Vec<String>,
}

/// Parses the command line; a bad one gives a one-line error and status 255.
pub fn parse_args() -> Result<Args, i32> {
    Args::try_parse().map_err(crate::cli::report_parse_error)
}

/// Runs fail2ban-client; returns the process exit status (0 or 255, as fail2ban).
pub fn run(args: Args) -> i32 {
    let level = match args.common.verbosity() {
        i32::MIN..=0 => log::LevelFilter::Error,
        1 => log::LevelFilter::Warn,
        2 => log::LevelFilter::Info,
        3 => log::LevelFilter::Debug,
        _ => log::LevelFilter::Trace,
    };
    crate::logging::init_stderr(level);
    if args.common.help {
        print!("{}", usage::usage(&program_name()));
        return 0;
    }
    if args.common.version || args.common.short_version {
        println!("{}", version_text(args.common.short_version));
        return 0;
    }
    if let Some(value) = &args.str2sec {
        return match crate::duration::str2seconds(value) {
            Ok(n) => {
                println!("{n}");
                0
            }
            Err(e) => {
                println!("ERROR: {e}");
                eprintln!("Init of command line failed");
                255
            }
        };
    }
    let mut settings = args.common.settings();
    if let Err(e) = settings.complete(&args.common.conf) {
        println!("ERROR: {e}");
        return 255;
    }
    if let Some(level) = &settings.loglevel {
        if let Err(e) = config::fail2ban::log_level(level) {
            println!("ERROR: {e}");
            return 255;
        }
    }
    let dump = args.dump || args.dump_pretty;
    if dump {
        let compiled = config::compile(
            &args.common.conf,
            &settings,
            &CompileOptions {
                allow_no_files: true,
                strict: args.test,
                ..Default::default()
            },
        );
        match &compiled.stream {
            Some(stream) => {
                for cmd in stream {
                    if args.dump_pretty {
                        println!("{}", pretty::pformat(cmd));
                    } else {
                        println!("{cmd}");
                    }
                }
            }
            None => {
                println!("ERROR: The configuration stream failed because of the invalid syntax.")
            }
        }
        if !args.test {
            return if compiled.ok { 0 } else { 255 };
        }
    }
    if args.test {
        let report = config::check(&args.common.conf, &settings);
        for e in &report.errors {
            eprintln!("{e}");
        }
        for w in &report.warnings {
            match &w.origin {
                Some(o) => eprintln!("{o}: warning: {}", w.kind),
                None => eprintln!("warning: {}", w.kind),
            }
        }
        if !report.ok {
            log::error!(target: "fail2ban", "ERROR: test configuration failed");
            return 255;
        }
        if args.command.is_empty() {
            println!("OK: configuration test is successful");
            return 0;
        }
    }
    let socket_path = settings
        .socket
        .clone()
        .unwrap_or_else(|| "/var/run/fail2ban/fail2ban.sock".into());
    if args.common.interactive {
        return interactive(&args, &settings, &socket_path);
    }
    if args.command.is_empty() {
        let mut cmd = <Args as clap::CommandFactory>::command();
        println!("{}", cmd.render_usage());
        return 255;
    }
    let socket = settings
        .socket
        .clone()
        .unwrap_or_else(|| "/var/run/fail2ban/fail2ban.sock".into());
    match process_command(&args, &settings, &socket, args.command.clone()) {
        true => 0,
        false => 255,
    }
}

/// `fail2ban-client -i`: commands read from standard input, one per line,
/// split like a shell does, until `exit`, `quit` or the end of input.
fn interactive(args: &Args, settings: &ClientSettings, socket: &str) -> i32 {
    use std::io::{BufRead, Write};
    if !args.command.is_empty() && !process_command(args, settings, socket, args.command.clone()) {
        return 255;
    }
    println!(
        "Fail2Ban v{} reads log file that contains password failure report",
        config::reader::FAIL2BAN_VERSION
    );
    println!("and bans the corresponding IP addresses using firewall rules.");
    println!();
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    loop {
        print!("fail2ban> ");
        let _ = std::io::stdout().flush();
        let Some(Ok(line)) = lines.next() else {
            println!();
            return 0;
        };
        let line = line.trim();
        match line {
            "exit" | "quit" => return 0,
            "" => {}
            "help" => print!("{}", usage::usage(&program_name())),
            _ => match config::definition::shlex_split(line) {
                Ok(words) if !words.is_empty() => {
                    process_command(args, settings, socket, words);
                }
                Ok(_) => {}
                Err(e) => log::error!(target: "fail2ban", "{e}"),
            },
        }
    }
}

/// fail2ban's `__processCommand`: the commands that need more than one
/// request, then everything else as one request to the server.
fn process_command(
    args: &Args,
    settings: &ClientSettings,
    socket: &str,
    mut cmd: Vec<String>,
) -> bool {
    match cmd[0].as_str() {
        "migrate" => {
            migrate::run(
                &args.common.conf,
                settings,
                cmd.iter().any(|c| c == "--apply"),
            ) == 0
        }
        "start" if cmd.len() == 1 => start_server(args, settings, socket),
        "restart" if cmd.len() == 1 => {
            if send(socket, &["stop".to_string()], None, true) != Some(true)
                || !wait_on_server(socket, false, args)
            {
                log::error!(target: "fail2ban", "Could not stop server");
                return false;
            }
            start_server(args, settings, socket)
        }
        "stop" if cmd.len() == 1 => {
            let ok = send(socket, &cmd, None, true).unwrap_or(false);
            // Like fail2ban, return once the server is gone, so that `start` may follow.
            ok && wait_on_server(socket, false, args)
        }
        "restart" => {
            cmd.splice(0..1, ["reload".to_string(), "--restart".to_string()]);
            process_command(args, settings, socket, cmd)
        }
        "reload" => {
            let mut opts = Vec::new();
            while cmd.len() >= 2
                && matches!(cmd[1].as_str(), "--restart" | "--unban" | "--if-exists")
            {
                opts.push(Value::Str(cmd.remove(1)));
            }
            if cmd.len() > 2 {
                log::error!(target: "fail2ban", "Unexpected argument(s) for reload: {}", Value::List(cmd[1..].iter().map(|s| Value::str(s.as_str())).collect()));
                return false;
            }
            if send(socket, &["ping".to_string()], None, false).is_none() {
                log::error!(target: "fail2ban", "Could not find server");
                return false;
            }
            let jail = cmd.get(1).filter(|j| *j != "--all").cloned();
            let compiled = config::compile(
                &args.common.conf,
                settings,
                &CompileOptions {
                    jail: jail.clone(),
                    force_enable: jail.is_some(),
                    ..Default::default()
                },
            );
            let Some(stream) = compiled.stream.filter(|_| compiled.ok) else {
                return false;
            };
            let request = vec![
                Value::str("reload"),
                Value::Str(jail.unwrap_or_else(|| "--all".into())),
                Value::List(opts),
                Value::List(stream),
            ];
            send_value(socket, &["reload".to_string()], request, None, true).unwrap_or(false)
        }
        "ping" if cmd.len() > 1 => {
            let timeout = cmd[1].parse::<f64>().ok().map(Duration::from_secs_f64);
            send(socket, &cmd, timeout, true).unwrap_or(false)
        }
        _ => send(socket, &cmd, None, true).unwrap_or(false),
    }
}

/// How long the client waits for the server (fail2ban's `--timeout`, 30 s by default).
fn wait_time(args: &Args) -> Duration {
    args.common
        .timeout
        .as_deref()
        .and_then(|t| crate::duration::str2seconds(t).ok())
        .map_or(Duration::from_secs(30), |n| {
            Duration::from_secs_f64(n.as_f64().max(0.0))
        })
}

/// Waits until the server answers (`alive`) or is gone.
fn wait_on_server(socket: &str, alive: bool, args: &Args) -> bool {
    let deadline = std::time::Instant::now() + wait_time(args);
    loop {
        let up = if alive {
            std::path::Path::new(socket).exists()
                && send(
                    socket,
                    &["ping".to_string()],
                    Some(Duration::from_millis(200)),
                    false,
                ) == Some(true)
        } else {
            // Gone means nobody listens any more, not merely slow to answer:
            // a stopping server still holds its socket for a moment, and a
            // `start` right after would find it there.
            std::os::unix::net::UnixStream::connect(socket).is_ok()
        };
        if up == alive {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `fail2ban-client start`: reads the configuration, starts
/// `fail2ban-server` (the one beside this client) and sends it the stream.
fn start_server(args: &Args, settings: &ClientSettings, socket: &str) -> bool {
    if send(
        socket,
        &["ping".to_string()],
        Some(Duration::from_millis(500)),
        false,
    ) == Some(true)
    {
        log::error!(target: "fail2ban", "Server already running");
        return false;
    }
    let compiled = config::compile(&args.common.conf, settings, &CompileOptions::default());
    let Some(stream) = compiled.stream.filter(|_| compiled.ok) else {
        return false;
    };
    if !args.common.force && std::path::Path::new(socket).exists() {
        log::error!(target: "fail2ban", "Fail2ban seems to be in unexpected state (not running but the socket exists)");
        return false;
    }
    let server = std::env::current_exe()
        .map(|p| p.with_file_name("fail2ban-server"))
        .ok()
        .filter(|p| p.exists())
        .unwrap_or_else(|| std::path::PathBuf::from("fail2ban-server"));
    let mut cmd = std::process::Command::new(&server);
    cmd.arg("--async")
        .arg(if args.common.foreground { "-f" } else { "-b" });
    cmd.args(["-s", socket]);
    cmd.args([
        "-p",
        settings
            .pidfile
            .as_deref()
            .unwrap_or("/var/run/fail2ban/fail2ban.pid"),
    ]);
    if args.common.force {
        cmd.arg("-x");
    }
    for (opt, value) in [
        ("--loglevel", &settings.loglevel),
        ("--logtarget", &settings.logtarget),
        ("--syslogsocket", &settings.syslogsocket),
    ] {
        if let Some(v) = value {
            cmd.args([opt, v]);
        }
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            log::error!(target: "fail2ban", "Exception while starting server: {} {e}", server.display());
            return false;
        }
    };
    if !args.common.foreground {
        // The server daemonises: its first process exits at once.
        let _ = child.wait();
    }
    if !wait_on_server(socket, true, args) {
        log::error!(target: "fail2ban", "Could not find server, waiting failed");
        return false;
    }
    let request = vec![Value::str("server-stream"), Value::List(stream)];
    if send_value(socket, &["server-stream".to_string()], request, None, false) != Some(true) {
        return false;
    }
    if send(socket, &["server-status".to_string()], None, false) != Some(true) {
        return false;
    }
    if args.common.foreground {
        return child.wait().map(|s| s.success()).unwrap_or(false);
    }
    true
}

/// Sends one command and prints the answer as fail2ban does. `None` when the
/// server could not be reached.
fn send(socket: &str, cmd: &[String], timeout: Option<Duration>, show: bool) -> Option<bool> {
    let request = cmd.iter().map(|s| Value::str(s.as_str())).collect();
    send_value(socket, cmd, request, timeout, show)
}

fn send_value(
    socket: &str,
    cmd: &[String],
    request: Vec<Value>,
    timeout: Option<Duration>,
    show: bool,
) -> Option<bool> {
    let reply = Client::connect(socket).and_then(|mut c| {
        c.set_timeout(timeout)?;
        c.send(&request)
    });
    let reply = match reply {
        Ok(r) => r,
        Err(e) => {
            if show {
                if !std::path::Path::new(socket).exists() {
                    log::error!(target: "fail2ban", "Failed to access socket path: {socket}. Is fail2ban running?");
                } else {
                    log::error!(target: "fail2ban", "[{e}] Unable to contact server. Is it running?");
                }
            }
            return None;
        }
    };
    Some(match reply {
        Reply::Answer { code: 0, result } => {
            if show || matches!(cmd[0].as_str(), "echo" | "server-status") {
                println!("{}", beautify::beautify(cmd, &result));
            }
            true
        }
        Reply::Failure { error, .. } => {
            log::error!(target: "fail2ban", "NOK: {}", Value::Tuple(error.args.clone()));
            if show {
                println!("{}", beautify::beautify_error(&error));
            }
            false
        }
        Reply::Answer { result, .. } | Reply::Other(result) => {
            log::error!(target: "fail2ban", "NOK: {result}");
            if show {
                println!("{}", crate::config::tags::py_str(&result));
            }
            false
        }
    })
}

/// The version text: `short` (`-V`) gives the bare version of fail2ban we
/// match, which scripts compare; `--version` says which program this is.
pub fn version_text(short: bool) -> String {
    if short {
        return config::reader::FAIL2BAN_VERSION.to_string();
    }
    format!(
        "Fail2Ban v{} (ferroban v{})",
        config::reader::FAIL2BAN_VERSION,
        env!("CARGO_PKG_VERSION")
    )
}

/// The name this program was called by, as fail2ban shows it in usage.
pub fn program_name() -> String {
    std::env::args()
        .next()
        .as_deref()
        .map(std::path::Path::new)
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "fail2ban-client".to_string())
}
