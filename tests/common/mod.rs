//! Helpers shared by the integration tests: scratch directories, the
//! reference fail2ban binaries (always by absolute path) and ours (by build
//! path), so the two are never mixed up.
#![allow(dead_code)]

pub mod netns;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Debian's fail2ban, the reference.
pub const REFERENCE_CLIENT: &str = "/usr/bin/fail2ban-client";
/// The installed reference configuration (read at run time, never copied into the repo).
pub const STOCK_CONF: &str = "/etc/fail2ban";

/// Panics with a clear message unless the reference is installed: a missing
/// reference must fail the suite, not skip it.
pub fn require_reference() {
    assert!(
        Path::new(REFERENCE_CLIENT).exists() && Path::new(STOCK_CONF).is_dir(),
        "Debian's fail2ban must be installed (apt-get install fail2ban): it is the reference"
    );
}

/// Our fail2ban-client.
pub fn our_client() -> Command {
    Command::new(env!("CARGO_BIN_EXE_fail2ban-client"))
}

/// The reference fail2ban-client.
pub fn reference_client() -> Command {
    require_reference();
    Command::new(REFERENCE_CLIENT)
}

/// A scratch directory removed when dropped.
pub struct Scratch {
    pub path: PathBuf,
}

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let path = std::env::temp_dir().join(format!("ferroban-{}-{}", name, std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Scratch { path }
    }

    /// A copy of the installed /etc/fail2ban.
    pub fn with_stock(name: &str) -> Scratch {
        require_reference();
        let s = Scratch::new(name);
        copy_dir(Path::new(STOCK_CONF), &s.path);
        s
    }

    /// Writes a file (creating directories) relative to the scratch root.
    pub fn write(&self, rel: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, content).unwrap();
        p
    }

    pub fn str(&self) -> &str {
        self.path.to_str().unwrap()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

pub fn run(mut cmd: Command) -> Output {
    cmd.output().expect("runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Debian's fail2ban-server, the reference.
pub const REFERENCE_SERVER: &str = "/usr/bin/fail2ban-server";

/// The reference fail2ban-server on a private socket, with no jails and no
/// database (`dbfile = None`, so nothing is written under /var/lib), killed
/// by PID when dropped.
pub struct ReferenceServer {
    pub dir: Scratch,
    child: Option<std::process::Child>,
}

impl ReferenceServer {
    pub fn start(name: &str) -> ReferenceServer {
        require_reference();
        let dir = Scratch::new(name);
        let sock = dir.path.join("s.sock");
        let pid = dir.path.join("s.pid");
        dir.write(
            "fail2ban.conf",
            format!(
                "[Definition]\nloglevel = INFO\nlogtarget = STDOUT\nsyslogsocket = auto\nsocket = {}\npidfile = {}\n\
                 allowipv6 = auto\ndbfile = None\ndbmaxmatches = 10\ndbpurgeage = 1d\n",
                sock.display(),
                pid.display()
            ),
        );
        dir.write("jail.conf", "[DEFAULT]\n");
        let log = std::fs::File::create(dir.path.join("server.log")).unwrap();
        let child = Command::new(REFERENCE_SERVER)
            .args(["-f", "-x", "--logtarget", "STDOUT", "-c"])
            .arg(&dir.path)
            .arg("-s")
            .arg(&sock)
            .arg("-p")
            .arg(&pid)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut server = ReferenceServer {
            dir,
            child: Some(child),
        };
        server.wait_ready();
        server
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path.join("s.sock")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path.join("server.log")).unwrap_or_default()
    }

    fn wait_ready(&mut self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while std::os::unix::net::UnixStream::connect(self.socket()).is_err() {
            let child = self.child.as_mut().unwrap();
            assert!(
                child.try_wait().unwrap().is_none(),
                "fail2ban-server exited: {}",
                self.log()
            );
            assert!(
                std::time::Instant::now() < deadline,
                "fail2ban-server never listened: {}",
                self.log()
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

impl Drop for ReferenceServer {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Scratch {
    /// A copy of the installed /etc/fail2ban for running a server of our
    /// own: Debian's default sshd jail removed, and the server's log,
    /// socket and pidfile inside the scratch directory, no database.
    pub fn server_tree(name: &str) -> Scratch {
        let conf = Scratch::with_stock(name);
        std::fs::remove_file(conf.path.join("jail.d/defaults-debian.conf")).unwrap();
        let p = conf.path.display().to_string();
        conf.write(
            "fail2ban.local",
            format!(
                "[Definition]\nlogtarget = {p}/server.log\nsocket = {p}/run/s.sock\npidfile = {p}/s.pid\ndbfile = None\n"
            ),
        );
        conf
    }

    /// The server log of a `server_tree`.
    pub fn server_log(&self) -> String {
        std::fs::read_to_string(self.path.join("server.log")).unwrap_or_default()
    }
}

/// Our client with `-c conf` and `args`: (stdout, exit status).
pub fn client_in(conf: &Scratch, args: &[&str]) -> (String, Option<i32>) {
    let mut c = our_client();
    c.args(["-c", conf.str()]).args(args);
    let o = run(c);
    (stdout(&o), o.status.code())
}

/// Stops a server (`CLIENT -c CONF stop`) when the test ends, even on
/// failure; `stop` does it at once and checks that it worked.
pub struct StopOnDrop {
    client: String,
    conf: String,
    done: bool,
}

impl StopOnDrop {
    /// Stops through `client` (ours or the reference) with config `conf`.
    pub fn new(client: &str, conf: &str) -> StopOnDrop {
        StopOnDrop {
            client: client.to_string(),
            conf: conf.to_string(),
            done: false,
        }
    }

    /// Stops our server running on `conf`.
    pub fn ours(conf: &Scratch) -> StopOnDrop {
        StopOnDrop::new(env!("CARGO_BIN_EXE_fail2ban-client"), conf.str())
    }

    pub fn stop(&mut self) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        let mut c = Command::new(&self.client);
        c.args(["-c", &self.conf, "stop"]);
        let o = run(c);
        assert!(
            o.status.success() || std::thread::panicking(),
            "{} stop failed: {}{}",
            self.client,
            stdout(&o),
            stderr(&o)
        );
    }
}

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Waits up to 15 s for `f`, failing the test with `what` otherwise.
pub fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while !f() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The clock in Unix seconds.
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// A Courier 5 failed-login line at time `t` (local time, as syslog writes it).
pub fn courier_failure(t: f64, ip: &str) -> String {
    format!(
        "{} mail imapd: LOGIN FAILED, user=mallory, ip=[::ffff:{ip}], port=[32932]\n",
        ferroban::jail::time_str(t)
    )
}
