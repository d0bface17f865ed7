//! `fail2ban-client`: its command line (fail2ban 1.0.2's options), and the
//! modes that work on the configuration alone: `-d`/`--dp` print the command
//! stream the configuration compiles to, `-t` checks the configuration.

pub mod pretty;

use crate::config::{self, ClientSettings, CompileOptions};
use clap::Parser;

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
    /// configuration directory
    #[arg(short = 'c', long = "conf", value_name = "DIR", default_value = config::DEFAULT_CONF_DIR)]
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
    /// dump configuration. For debugging
    #[arg(short = 'd')]
    pub dump: bool,
    /// dump the configuration using more human readable representation
    #[arg(long = "dp", alias = "dump-pretty")]
    pub dump_pretty: bool,
    /// test configuration (can be also specified with start parameters)
    #[arg(short = 't', long = "test")]
    pub test: bool,
    /// interactive mode
    #[arg(short = 'i')]
    pub interactive: bool,
    /// increase verbosity
    #[arg(short = 'v', action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// decrease verbosity
    #[arg(short = 'q', action = clap::ArgAction::Count)]
    pub quiet: u8,
    /// start server in background (default)
    #[arg(short = 'b')]
    pub background: bool,
    /// start server in foreground
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
    /// convert time abbreviation format to seconds
    #[arg(long = "str2sec", value_name = "STRING")]
    pub str2sec: Option<String>,
    /// display this help message
    #[arg(short = 'h', long = "help")]
    pub help: bool,
    /// print the version (-V returns machine-readable short format)
    #[arg(short = 'V', long = "version")]
    pub version: bool,
    /// the command and its arguments
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

impl Args {
    fn verbosity(&self) -> i32 {
        1 + self.verbose as i32 - self.quiet as i32
    }

    fn settings(&self) -> ClientSettings {
        ClientSettings {
            socket: self.socket.clone(),
            pidfile: self.pidfile.clone(),
            loglevel: self.loglevel.clone(),
            logtarget: self.logtarget.clone(),
            syslogsocket: self.syslogsocket.clone(),
        }
    }
}

/// Runs fail2ban-client; returns the process exit status (0 or 255, as fail2ban).
pub fn run(args: Args) -> i32 {
    let level = match args.verbosity() {
        i32::MIN..=0 => log::LevelFilter::Error,
        1 => log::LevelFilter::Warn,
        2 => log::LevelFilter::Info,
        3 => log::LevelFilter::Debug,
        _ => log::LevelFilter::Trace,
    };
    crate::logging::init_stderr(level);
    if args.help {
        let mut cmd = <Args as clap::CommandFactory>::command();
        println!("{}", cmd.render_help());
        return 0;
    }
    if args.version {
        println!("{}", version_text());
        return 0;
    }
    let mut settings = args.settings();
    if let Err(e) = settings.complete(&args.conf) {
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
            &args.conf,
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
        let report = config::check(&args.conf, &settings);
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
    if args.command.is_empty() {
        let mut cmd = <Args as clap::CommandFactory>::command();
        println!("{}", cmd.render_usage());
        return 255;
    }
    println!(
        "ERROR: ferroban's fail2ban-client does not talk to a server yet; only -d, --dp and -t work. Command: {}",
        args.command.join(" ")
    );
    255
}

/// `fail2ban-client -V` text.
pub fn version_text() -> String {
    format!(
        "ferroban v{} (compatible with Fail2Ban v{})",
        env!("CARGO_PKG_VERSION"),
        config::reader::FAIL2BAN_VERSION
    )
}
