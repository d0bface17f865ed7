//! fail2ban-server's command line (fail2ban 1.0.2's options). Like
//! fail2ban, the server reads only the early options (socket, pidfile,
//! logging) from `fail2ban.conf`; everything else comes over the socket.

use super::ServerOptions;
use crate::cli::CommonArgs;
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
    #[command(flatten)]
    pub common: CommonArgs,
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
    if args.common.help {
        print!(
            "{}",
            crate::client::usage::usage(&crate::client::program_name())
        );
        return 0;
    }
    if args.common.version || args.common.short_version {
        println!("{}", crate::client::version_text(args.common.short_version));
        return 0;
    }
    // Any command but a lone `start` makes fail2ban-server a client, as in fail2ban.
    if args.common.interactive || !(args.command.is_empty() || args.command == ["start"]) {
        return match crate::client::parse_args() {
            Ok(client_args) => crate::client::run(client_args),
            Err(code) => code,
        };
    }
    let mut settings = args.common.settings();
    if !args.common.r#async {
        if let Err(e) = settings.complete(&args.common.conf) {
            println!("ERROR: {e}");
            return 255;
        }
    }
    // Started directly (by systemd, say) rather than by the client: read the
    // configuration as the client would, and configure the server with it.
    let stream = if args.common.r#async {
        None
    } else {
        let compiled = crate::config::compile(
            &args.common.conf,
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
        background: !args.common.foreground,
        force: args.common.force,
        loglevel: settings.loglevel.unwrap_or(d.loglevel),
        logtarget: settings.logtarget.unwrap_or(d.logtarget),
        syslogsocket: settings.syslogsocket.unwrap_or(d.syslogsocket),
        stream,
    })
}
