//! fail2ban-server's command line (fail2ban 1.0.2's options). Like
//! fail2ban, the server reads only the early options (socket, pidfile,
//! logging) from `fail2ban.conf`; everything else comes over the socket.

use super::ServerOptions;
use crate::config::{ClientSettings, DEFAULT_CONF_DIR};
use clap::Parser;

#[derive(Parser, Debug)]
#[command(
    name = "fail2ban-server",
    disable_help_flag = true,
    disable_version_flag = true,
    infer_long_args = true,
    about = "Fail2Ban: a set of server and client programs to limit brute force authentication attempts (ferroban)"
)]
pub struct Args {
    /// configuration directory
    #[arg(short = 'c', long = "conf", value_name = "DIR", default_value = DEFAULT_CONF_DIR)]
    pub conf: String,
    /// socket path
    #[arg(short = 's', long = "socket", value_name = "FILE")]
    pub socket: Option<String>,
    /// pidfile path
    #[arg(short = 'p', long = "pidfile", value_name = "FILE")]
    pub pidfile: Option<String>,
    /// name of the process (main thread) to identify instance
    #[arg(long = "pname", value_name = "NAME")]
    pub pname: Option<String>,
    /// logging level
    #[arg(long = "loglevel", value_name = "LEVEL")]
    pub loglevel: Option<String>,
    /// logging target (FILE, SYSLOG, STDERR, STDOUT)
    #[arg(long = "logtarget", value_name = "TARGET")]
    pub logtarget: Option<String>,
    /// syslog socket path
    #[arg(long = "syslogsocket", value_name = "SOCKET")]
    pub syslogsocket: Option<String>,
    /// start in background (default)
    #[arg(short = 'b')]
    pub background: bool,
    /// start in foreground
    #[arg(short = 'f')]
    pub foreground: bool,
    /// force execution of the server (remove socket file)
    #[arg(short = 'x')]
    pub force: bool,
    /// start server in async mode (for internal usage only, don't read configuration)
    #[arg(long = "async")]
    pub r#async: bool,
    /// timeout to wait for the server (for internal usage only, don't read configuration)
    #[arg(long = "timeout", value_name = "TIME")]
    pub timeout: Option<String>,
    /// display this help message
    #[arg(short = 'h', long = "help")]
    pub help: bool,
    /// print the version (-V returns machine-readable short format)
    #[arg(short = 'V', long = "version")]
    pub version: bool,
    /// increase verbosity
    #[arg(short = 'v', action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// decrease verbosity
    #[arg(short = 'q', action = clap::ArgAction::Count)]
    pub quiet: u8,
    /// interactive mode (as fail2ban-client)
    #[arg(short = 'i')]
    pub interactive: bool,
    /// `start`, or a client command (then the server acts as fail2ban-client)
    #[arg(trailing_var_arg = true)]
    pub command: Vec<String>,
}

/// Parses the command line and runs the server; returns the exit status.
pub fn main() -> i32 {
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) => {
            let text = e.to_string();
            println!(
                "ERROR: {}",
                text.lines()
                    .next()
                    .unwrap_or("")
                    .trim_start_matches("error: ")
            );
            return 255;
        }
    };
    if args.help {
        let mut cmd = <Args as clap::CommandFactory>::command();
        println!("{}", cmd.render_help());
        return 0;
    }
    if args.version {
        println!("{}", crate::client::version_text());
        return 0;
    }
    // Any command but a lone `start` makes fail2ban-server a client, as in fail2ban.
    if args.interactive || !(args.command.is_empty() || args.command == ["start"]) {
        return match crate::client::parse_args() {
            Ok(client_args) => crate::client::run(client_args),
            Err(code) => code,
        };
    }
    let mut settings = ClientSettings {
        socket: args.socket.clone(),
        pidfile: args.pidfile.clone(),
        loglevel: args.loglevel.clone(),
        logtarget: args.logtarget.clone(),
        syslogsocket: args.syslogsocket.clone(),
    };
    if !args.r#async {
        if let Err(e) = settings.complete(&args.conf) {
            println!("ERROR: {e}");
            return 255;
        }
    }
    // Started directly (by systemd, say) rather than by the client: read the
    // configuration as the client would, and configure the server with it.
    let stream = if args.r#async {
        None
    } else {
        let compiled = crate::config::compile(
            &args.conf,
            &settings,
            &crate::config::CompileOptions::default(),
        );
        match compiled.stream.filter(|_| compiled.ok) {
            Some(s) => Some(s),
            None => {
                for e in &compiled.errors {
                    eprintln!("ERROR: {e}");
                }
                return 255;
            }
        }
    };
    let d = ServerOptions::default();
    super::run(ServerOptions {
        socket: settings.socket.unwrap_or(d.socket),
        pidfile: settings.pidfile.unwrap_or(d.pidfile),
        background: !args.foreground,
        force: args.force,
        loglevel: settings.loglevel.unwrap_or(d.loglevel),
        logtarget: settings.logtarget.unwrap_or(d.logtarget),
        syslogsocket: settings.syslogsocket.unwrap_or(d.syslogsocket),
        stream,
    })
}
