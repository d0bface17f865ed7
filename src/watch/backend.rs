//! The `backend` jail option: `auto`, `pyinotify`, `gamin`, `polling`,
//! `systemd`, each possibly with options (`systemd[journalflags=1]`).

use super::error::WatchError;

/// A jail's backend as configured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Backend {
    /// fail2ban tries pyinotify, gamin, polling, systemd in this order: for
    /// us that is inotify, else polling.
    #[default]
    Auto,
    /// inotify underneath (one shared instance).
    Pyinotify,
    /// Long gone from distributions; served by inotify like `pyinotify`.
    Gamin,
    /// `stat` every poll interval.
    Polling,
    /// The journal, through `journalctl` (see [`super::journal`]).
    Systemd,
}

impl Backend {
    /// Parses `name[opt=value, …]`, case-insensitive in the name as fail2ban.
    pub fn parse(spec: &str) -> Result<(Backend, Vec<(String, String)>), WatchError> {
        let (name, opts) = crate::config::extract_options(spec.trim())
            .map_err(|_| WatchError::UnknownBackend(spec.to_string()))?;
        let b = match name.to_ascii_lowercase().as_str() {
            "auto" => Backend::Auto,
            "pyinotify" => Backend::Pyinotify,
            "gamin" => Backend::Gamin,
            "polling" => Backend::Polling,
            "systemd" => Backend::Systemd,
            _ => return Err(WatchError::UnknownBackend(spec.to_string())),
        };
        Ok((b, opts))
    }

    /// Whether files of this backend are followed through inotify (when the
    /// kernel gives us an instance).
    pub fn wants_inotify(self) -> bool {
        matches!(self, Backend::Auto | Backend::Pyinotify | Backend::Gamin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_options() {
        assert_eq!(Backend::parse("auto").unwrap().0, Backend::Auto);
        assert_eq!(Backend::parse("Polling").unwrap().0, Backend::Polling);
        let (b, o) = Backend::parse("systemd[journalflags=1]").unwrap();
        assert_eq!(b, Backend::Systemd);
        assert_eq!(o, vec![("journalflags".to_string(), "1".to_string())]);
        assert!(Backend::parse("fanotify").is_err());
    }
}
