//! Private network namespaces for the tests that run real firewalls and real
//! servers (never the host's): processes that hold a namespace open and are
//! killed by PID when dropped, commands and threads run inside one, and a
//! dump of the host's rules to prove they did not change.

use std::os::unix::io::AsRawFd;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Whether the test runs as root (namespaces and firewalls need it).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Whether `tool` is an executable path or a command found in PATH.
pub fn have_tool(tool: &str) -> bool {
    if tool.starts_with('/') {
        return Path::new(tool).exists();
    }
    Command::new("which")
        .arg(tool)
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Fails the test unless it runs as root and every tool is installed.
pub fn require_root_and_tools(tools: &[&str]) {
    assert!(
        is_root(),
        "this test needs root (CI runs as root) for network namespaces"
    );
    for tool in tools {
        assert!(
            have_tool(tool),
            "{tool} is needed (apt-get install iptables nftables util-linux)"
        );
    }
}

/// The namespace file `kind` (net, mnt, pid_for_children…) of process `pid`.
pub fn ns_path(pid: u32, kind: &str) -> String {
    format!("/proc/{pid}/ns/{kind}")
}

fn ns_id(pid: u32, kind: &str) -> Option<std::path::PathBuf> {
    std::fs::read_link(ns_path(pid, kind)).ok()
}

/// `tool args` inside the network namespace of process `pid`; its stdout.
/// Fails the test when the command fails.
pub fn firewall_in(pid: u32, tool: &str, args: &[&str]) -> String {
    let o = Command::new("nsenter")
        .arg(format!("--net={}", ns_path(pid, "net")))
        .arg(tool)
        .args(args)
        .output()
        .expect("nsenter runs");
    assert!(
        o.status.success(),
        "{tool} {args:?} in the namespace: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The host's iptables, ip6tables, nftables rules and ipset sets (read only).
pub fn host_rules() -> String {
    let run = |tool: &str, args: &[&str]| {
        Command::new(tool)
            .args(args)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    };
    run("iptables", &["-S"])
        + &run("ip6tables", &["-S"])
        + &run("nft", &["list", "ruleset"])
        + &run("ipset", &["list", "-n"])
}

/// `tool args` inside the network namespace of process `pid`; its stdout,
/// empty when the command fails (a chain or set that does not exist yet).
pub fn firewall_dump(pid: u32, tool: &str, args: &[&str]) -> String {
    Command::new("nsenter")
        .arg(format!("--net={}", ns_path(pid, "net")))
        .arg(tool)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// A process of ours that keeps a namespace alive; killed by PID (and
/// waited for) when dropped.
pub struct Holder(pub Child);

impl Holder {
    /// A new, empty network namespace (loopback up).
    pub fn new_net() -> Holder {
        let h = Holder::spawn(
            Command::new("unshare").args(["--net", "sleep", "3600"]),
            &["net"],
        );
        h.run(&["ip", "link", "set", "lo", "up"]);
        h
    }

    /// A holder inside the network namespace of process `pid`, so that the
    /// namespace outlives that process.
    pub fn join_net(pid: u32) -> Holder {
        let h = Holder(
            Command::new("nsenter")
                .arg(format!("--net={}", ns_path(pid, "net")))
                .args(["sleep", "3600"])
                .spawn()
                .expect("nsenter runs"),
        );
        let target = ns_id(pid, "net");
        assert!(target.is_some(), "process {pid} has no network namespace");
        h.wait_until("the namespace holder", || ns_id(h.pid(), "net") == target);
        h
    }

    /// Runs `cmd` (an `unshare` that makes the namespaces `kinds`) and waits
    /// until it is in them, so that nothing is ever run in the host's.
    pub fn spawn(cmd: &mut Command, kinds: &[&str]) -> Holder {
        let h = Holder(cmd.spawn().expect("unshare runs"));
        let me = std::process::id();
        h.wait_until("the new namespaces", || {
            kinds
                .iter()
                .all(|k| ns_id(h.pid(), k).is_some_and(|id| Some(id) != ns_id(me, k)))
        });
        h
    }

    fn wait_until(&self, what: &str, mut f: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while !f() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn pid(&self) -> u32 {
        self.0.id()
    }

    /// `args` run in this network namespace; fails the test if it fails.
    pub fn run(&self, args: &[&str]) -> String {
        firewall_in(self.pid(), args[0], &args[1..])
    }

    /// Runs `f` on a thread that has joined this network namespace (only
    /// that thread: sockets it opens live there).
    pub fn in_net<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        self.spawn_in_net(f).join().expect("namespace thread")
    }

    /// `in_net` without waiting: the thread's handle.
    pub fn spawn_in_net<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> std::thread::JoinHandle<T> {
        let ns = std::fs::File::open(ns_path(self.pid(), "net")).expect("namespace file");
        std::thread::spawn(move || {
            // SAFETY: setns on a valid namespace descriptor changes only
            // this thread's network namespace.
            let r = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(r, 0, "setns: {}", std::io::Error::last_os_error());
            f()
        })
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A veth pair from the namespace of `a` (named `a_name`, address
/// `a_addr`) to that of `b` (`b_name`, `b_addr`); addresses in CIDR form.
/// Made inside `a`'s namespace, so the host's links never change.
pub fn veth(a: &Holder, a_name: &str, a_addr: &str, b: &Holder, b_name: &str, b_addr: &str) {
    let b_pid = b.pid().to_string();
    a.run(&[
        "ip", "link", "add", a_name, "type", "veth", "peer", "name", b_name, "netns", &b_pid,
    ]);
    a.run(&["ip", "addr", "add", a_addr, "dev", a_name]);
    a.run(&["ip", "link", "set", a_name, "up"]);
    b.run(&["ip", "addr", "add", b_addr, "dev", b_name]);
    b.run(&["ip", "link", "set", b_name, "up"]);
}

/// A server that `fail2ban-client -c DIR start` started inside a new
/// network namespace. Dropped in field order: the guard stops the server,
/// then the holder, which kept the namespace alive so that checks after
/// `stop` look at the same namespace, is killed.
pub struct NetServer {
    /// The server's PID (from its pidfile `s.pid`).
    pub pid: u32,
    pub guard: super::StopOnDrop,
    pub holder: Holder,
}

/// Starts a server with `client` (ours or the reference) and config `conf`
/// in a new network namespace, and joins that namespace.
pub fn start_in_new_net(client: &str, conf: &super::Scratch) -> NetServer {
    let start = Command::new("unshare")
        .arg("--net")
        .arg(client)
        .args(["-c", conf.str(), "start"])
        .output()
        .unwrap();
    assert!(
        start.status.success(),
        "{}{}",
        super::stdout(&start),
        super::stderr(&start)
    );
    let guard = super::StopOnDrop::new(client, conf.str());
    let pid: u32 = std::fs::read_to_string(conf.path.join("s.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    NetServer {
        pid,
        guard,
        holder: Holder::join_net(pid),
    }
}
