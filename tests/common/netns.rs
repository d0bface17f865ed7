//! Private network namespaces for tests that touch a firewall (never the
//! host's): a namespace held open by a `sleep` this test started, commands
//! run inside it through `nsenter`, and the host's rules to compare before
//! and after.

use std::process::{Child, Command, Output};

/// Fails the test unless it runs as root with `tools` installed.
pub fn require_root_and(tools: &[&str]) {
    // SAFETY: geteuid has no preconditions.
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "this test needs root (CI runs as root) for network namespaces"
    );
    for tool in tools {
        let found = Command::new("which")
            .arg(tool)
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            found,
            "{tool} is needed (apt-get install iptables nftables util-linux)"
        );
    }
}

/// The host's rules (iptables, ip6tables, nft), to check they never change.
pub fn host_rules() -> String {
    let run = |tool: &str, args: &[&str]| {
        Command::new(tool)
            .args(args)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    };
    run("iptables", &["-S"]) + &run("ip6tables", &["-S"]) + &run("nft", &["list", "ruleset"])
}

/// A new network namespace, alive as long as this value: its holder
/// process (a `sleep` under `unshare --net`) is ended by PID on drop.
pub struct NetNs {
    holder: Child,
}

impl NetNs {
    pub fn new() -> NetNs {
        let holder = Command::new("unshare")
            .args(["--net", "sleep", "600"])
            .spawn()
            .expect("unshare runs");
        let ns = NetNs { holder };
        // The holder is in its namespace once its link differs from ours.
        let own = std::fs::read_link("/proc/self/ns/net").unwrap();
        super::wait_for("the new network namespace", || {
            std::fs::read_link(ns.path()).is_ok_and(|l| l != own)
        });
        ns
    }

    /// The namespace's file, for `nsenter --net=`.
    pub fn path(&self) -> String {
        format!("/proc/{}/ns/net", self.holder.id())
    }

    /// `program args…` run inside the namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("nsenter");
        c.arg(format!("--net={}", self.path())).arg(program);
        c
    }

    /// Runs `program args…` inside the namespace and returns its output.
    pub fn run(&self, program: &str, args: &[&str]) -> Output {
        self.command(program)
            .args(args)
            .output()
            .expect("nsenter runs")
    }

    /// `iptables -S CHAIN` inside the namespace (empty when there is no chain).
    pub fn chain(&self, chain: &str) -> String {
        let o = self.run("iptables", &["-w", "-S", chain]);
        String::from_utf8_lossy(&o.stdout).into_owned()
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}
