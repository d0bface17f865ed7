//! fail2ban's log line format on top of `log` + `env_logger`:
//! `2026-11-25 13:00:00,123 fail2ban.configreader   [1234]: WARNING message`,
//! with the logger name (the `log` target) padded to 24 columns, local time,
//! and fail2ban's level names.

use std::io::Write;

/// The local time as fail2ban prints it: `YYYY-MM-DD HH:MM:SS,mmm`.
pub fn timestamp() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let civil = crate::filter::clock::CivilTime::from_local_seconds(now.as_secs() as i64);
    format!("{},{:03}", civil.format(' '), now.subsec_millis())
}

/// fail2ban's name for a level.
pub fn level_name(level: log::Level) -> &'static str {
    match level {
        log::Level::Error => "ERROR",
        log::Level::Warn => "WARNING",
        log::Level::Info => "INFO",
        log::Level::Debug => "DEBUG",
        log::Level::Trace => "HEAVY",
    }
}

/// Sends log records to standard error in fail2ban's format, from `level` up.
pub fn init_stderr(level: log::LevelFilter) {
    let pid = std::process::id();
    let _ = env_logger::Builder::new()
        .filter_level(level)
        .format(move |buf, record| {
            writeln!(
                buf,
                "{} {:<24}[{}]: {:<7} {}",
                timestamp(),
                record.target(),
                pid,
                level_name(record.level()),
                record.args()
            )
        })
        .target(env_logger::Target::Stderr)
        .try_init();
}

/// fail2ban's numeric levels (Python's logging plus NOTICE, MSG, TRACEDEBUG, HEAVYDEBUG).
pub mod level {
    pub const CRITICAL: i64 = 50;
    pub const ERROR: i64 = 40;
    pub const WARNING: i64 = 30;
    pub const NOTICE: i64 = 25;
    pub const INFO: i64 = 20;
    pub const DEBUG: i64 = 10;
    pub const HEAVYDEBUG: i64 = 5;
}

/// A numeric level's name as fail2ban prints it.
pub fn numeric_level_name(level: i64) -> String {
    match level {
        50 => "CRITICAL".into(),
        40 => "ERROR".into(),
        30 => "WARNING".into(),
        25 => "NOTICE".into(),
        20 => "INFO".into(),
        18 => "MSG".into(),
        10 => "DEBUG".into(),
        7 => "TRACE".into(),
        5 => "HEAVY".into(),
        0 => "NOTSET".into(),
        1..=49 => format!("#{level:02}-Lev."),
        _ => format!("Level {level}"),
    }
}

fn numeric(level: log::Level) -> i64 {
    match level {
        log::Level::Error => level::ERROR,
        log::Level::Warn => level::WARNING,
        log::Level::Info => level::INFO,
        log::Level::Debug => level::DEBUG,
        log::Level::Trace => level::HEAVYDEBUG,
    }
}

/// Where the server logs (fail2ban's `logtarget`).
enum Sink {
    Stdout,
    Stderr,
    File { path: String, file: std::fs::File },
    Syslog,
    Journal(std::os::unix::net::UnixDatagram),
}

/// systemd-journald's native socket (`FERROBAN_JOURNAL_SOCKET` overrides it, for tests).
fn journal_socket() -> String {
    std::env::var("FERROBAN_JOURNAL_SOCKET")
        .unwrap_or_else(|_| "/run/systemd/journal/socket".into())
}

/// One field of journald's native protocol; values with a newline use the
/// binary form (name, newline, 64-bit little-endian length, data).
fn journal_field(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    if value.contains('\n') {
        out.push(b'\n');
        out.extend_from_slice(&(value.len() as u64).to_le_bytes());
    } else {
        out.push(b'=');
    }
    out.extend_from_slice(value.as_bytes());
    out.push(b'\n');
}

struct ServerLogState {
    level: i64,
    sink: Sink,
}

/// The server's logger: level and target can change at run time (`set
/// loglevel`, `set logtarget`), and a log file can be reopened (`flushlogs`,
/// SIGUSR1) for logrotate.
pub struct ServerLog {
    state: std::sync::Mutex<ServerLogState>,
}

static SERVER_LOG: std::sync::OnceLock<ServerLog> = std::sync::OnceLock::new();

impl ServerLog {
    /// Installs the server logger (once per process), logging to standard error at INFO.
    pub fn install() -> &'static ServerLog {
        let log = SERVER_LOG.get_or_init(|| ServerLog {
            state: std::sync::Mutex::new(ServerLogState {
                level: level::INFO,
                sink: Sink::Stderr,
            }),
        });
        if log::set_logger(log).is_ok() {
            log::set_max_level(log::LevelFilter::Trace);
        }
        log
    }

    /// The installed server logger, if any.
    pub fn get() -> Option<&'static ServerLog> {
        SERVER_LOG.get()
    }

    pub fn set_level(&self, level: i64) {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).level = level;
    }

    /// Switches to a target: STDOUT, STDERR, SYSLOG or a file path.
    pub fn set_target(&self, target: &str) -> std::io::Result<()> {
        let sink = match target.to_uppercase().as_str() {
            "STDOUT" | "SYSOUT" => Sink::Stdout,
            "STDERR" => Sink::Stderr,
            "SYSTEMD-JOURNAL" => {
                let sock = std::os::unix::net::UnixDatagram::unbound()?;
                sock.connect(journal_socket())?;
                Sink::Journal(sock)
            }
            "SYSLOG" => {
                // SAFETY: openlog keeps the pointer: the identifier is a static C string.
                unsafe { libc::openlog(c"fail2ban".as_ptr(), libc::LOG_PID, libc::LOG_DAEMON) };
                Sink::Syslog
            }
            _ => Sink::File {
                path: target.to_string(),
                file: open_append(target)?,
            },
        };
        self.state.lock().unwrap_or_else(|e| e.into_inner()).sink = sink;
        Ok(())
    }

    /// Reopens a log file (after logrotate moved it); true if the target is a file.
    pub fn reopen(&self) -> std::io::Result<bool> {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Sink::File { path, file } = &mut st.sink {
            *file = open_append(path)?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Writes one record at a fail2ban level (NOTICE included).
    pub fn emit(&self, level: i64, logger: &str, message: &str) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if level < st.level {
            return;
        }
        let name = numeric_level_name(level);
        let line = format!(
            "{} {:<24}[{}]: {:<7} {}\n",
            timestamp(),
            logger,
            std::process::id(),
            name,
            message
        );
        let _ = match &mut st.sink {
            Sink::Stdout => std::io::stdout().write_all(line.as_bytes()),
            Sink::Stderr => std::io::stderr().write_all(line.as_bytes()),
            Sink::File { file, .. } => file.write_all(line.as_bytes()),
            Sink::Journal(sock) => {
                let prio = match level {
                    l if l >= level::ERROR => 3,
                    l if l >= level::WARNING => 4,
                    l if l >= level::NOTICE => 5,
                    l if l >= level::INFO => 6,
                    _ => 7,
                };
                let mut msg = Vec::new();
                // As python-systemd's JournalHandler without a formatter: the bare message.
                journal_field(&mut msg, "MESSAGE", message);
                journal_field(&mut msg, "PRIORITY", &prio.to_string());
                journal_field(&mut msg, "SYSLOG_IDENTIFIER", "fail2ban");
                journal_field(&mut msg, "LOGGER", logger);
                sock.send(&msg).map(|_| ())
            }
            Sink::Syslog => {
                let text = format!("{}[{}]: {} {}", logger, std::process::id(), name, message);
                let prio = match level {
                    l if l >= level::ERROR => libc::LOG_ERR,
                    l if l >= level::WARNING => libc::LOG_WARNING,
                    l if l >= level::NOTICE => libc::LOG_NOTICE,
                    l if l >= level::INFO => libc::LOG_INFO,
                    _ => libc::LOG_DEBUG,
                };
                if let Ok(c) = std::ffi::CString::new(text) {
                    // SAFETY: both strings are valid, NUL-terminated C strings.
                    unsafe { libc::syslog(prio, c"%s".as_ptr(), c.as_ptr()) };
                }
                Ok(())
            }
        };
    }
}

fn open_append(path: &str) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
}

impl log::Log for ServerLog {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        numeric(metadata.level()) >= self.state.lock().map(|s| s.level).unwrap_or(level::INFO)
    }

    fn log(&self, record: &log::Record) {
        self.emit(
            numeric(record.level()),
            record.target(),
            &record.args().to_string(),
        );
    }

    fn flush(&self) {}
}

/// Logs at NOTICE (fail2ban's level between INFO and WARNING, used for
/// `Found`, `Ban`, `Unban`) through the server logger, or as a warning
/// through `log` when no server logger is installed.
pub fn notice(logger: &str, message: &str) {
    match ServerLog::get() {
        Some(l) => l.emit(level::NOTICE, logger, message),
        None => log::warn!(target: "fail2ban", "{message}"),
    }
}
