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
    let secs = now.as_secs() as libc::time_t;
    // SAFETY: localtime_r only writes the struct we pass it.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    unsafe { libc::localtime_r(&secs, &mut tm) };
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02},{:03}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        now.subsec_millis()
    )
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
