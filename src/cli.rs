//! The command-line options fail2ban-client and fail2ban-server share
//! (fail2ban 1.0.2's `hc:s:p:xfbdtviqV` family), and turning them into the
//! settings read before the configuration.

use crate::config::{ClientSettings, DEFAULT_CONF_DIR};
use clap::Args;

#[derive(Args, Debug, Clone)]
pub struct CommonArgs {
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
    /// logging target (FILE, SYSLOG, SYSTEMD-JOURNAL, STDERR, STDOUT)
    #[arg(long = "logtarget", value_name = "TARGET")]
    pub logtarget: Option<String>,
    /// syslog socket path
    #[arg(long = "syslogsocket", value_name = "SOCKET")]
    pub syslogsocket: Option<String>,
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
    /// display this help message
    #[arg(short = 'h', long = "help")]
    pub help: bool,
    /// print the version in fail2ban's short, machine-readable form
    #[arg(short = 'V')]
    pub short_version: bool,
    /// print the version
    #[arg(long = "version")]
    pub version: bool,
}

impl CommonArgs {
    /// What the command line says of the early settings (the rest comes
    /// from fail2ban.conf).
    pub fn settings(&self) -> ClientSettings {
        ClientSettings {
            socket: self.socket.clone(),
            pidfile: self.pidfile.clone(),
            loglevel: self.loglevel.clone(),
            logtarget: self.logtarget.clone(),
            syslogsocket: self.syslogsocket.clone(),
        }
    }

    /// fail2ban's verbosity: 1, plus one per `-v`, minus one per `-q`.
    pub fn verbosity(&self) -> i32 {
        1 + self.verbose as i32 - self.quiet as i32
    }
}

/// A command-line error as one `ERROR:` line on standard output, status 255.
pub fn report_parse_error(e: clap::Error) -> i32 {
    let text = e.to_string();
    let first = text.lines().next().unwrap_or("invalid command line");
    println!("ERROR: {}", first.trim_start_matches("error: "));
    255
}
