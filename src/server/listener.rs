//! The control socket: its directory is created 0700 and the socket is made
//! 0600, so only root talks to the server. A socket left by a dead server is
//! only replaced with `-x`, as in fail2ban.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;

/// Why the socket could not be set up.
#[derive(Debug)]
pub enum ListenError {
    AlreadyRunning(String),
    Io(String, std::io::Error),
}

impl std::fmt::Display for ListenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ListenError::AlreadyRunning(p) => write!(
                f,
                "Server already running (the socket {p} exists; use -x to replace a stale one)"
            ),
            ListenError::Io(p, e) => write!(f, "cannot listen on {p}: {e}"),
        }
    }
}

impl std::error::Error for ListenError {}

/// Binds the control socket at `path`.
pub fn bind(path: &str, force: bool) -> Result<UnixListener, ListenError> {
    let p = Path::new(path);
    if p.exists() {
        let alive = UnixStream::connect(p).is_ok();
        if !force || alive {
            log::error!(target: "fail2ban.server", "Fail2ban seems to be already running");
            return Err(ListenError::AlreadyRunning(path.to_string()));
        }
        std::fs::remove_file(p).map_err(|e| ListenError::Io(path.to_string(), e))?;
    }
    if let Some(dir) = p
        .parent()
        .filter(|d| !d.as_os_str().is_empty() && !d.exists())
    {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| ListenError::Io(path.to_string(), e))?;
    }
    let listener = UnixListener::bind(p).map_err(|e| ListenError::Io(path.to_string(), e))?;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| ListenError::Io(path.to_string(), e))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| ListenError::Io(path.to_string(), e))?;
    Ok(listener)
}
