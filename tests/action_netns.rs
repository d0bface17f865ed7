//! The stock firewall actions for real, inside private network namespaces:
//! `iptables` (name=Courier, port=143, protocol=tcp), `iptables-multiport`
//! and `nftables-multiport`, with options from the configuration engine,
//! run through start-on-first-ban, ban, unban, flush, repair and stop, and
//! checked with `iptables -S` / `nft list ruleset` inside the namespace.
//!
//! Each test re-runs itself under `unshare --net --mount` (as root); the
//! inner run refuses to act unless it sits in a network namespace other than
//! the outer test's, and the outer test checks that the host's rules are
//! unchanged afterwards. Missing tools fail the test with a clear message.

mod common;

use ferroban::action::{Action, ActionBuilder, BanInfo};
use ferroban::config::{compile, ClientSettings, CompileOptions};
use ferroban::stream::Value;
use std::path::Path;
use std::process::Command;

/// Set in the inner run: the outer network namespace, which it must not be in.
const INNER: &str = "FERROBAN_ACTION_NETNS_OUTER";

fn find_tool(name: &str) -> Option<String> {
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path
        .split(':')
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"])
        .map(|d| format!("{d}/{name}"))
        .find(|p| Path::new(p).is_file());
    found
}

fn require_tools() {
    let missing: Vec<&str> = ["iptables", "ip6tables", "nft", "unshare"]
        .into_iter()
        .filter(|t| find_tool(t).is_none())
        .collect();
    assert!(
        missing.is_empty(),
        "these tests need {missing:?} (apt-get install iptables nftables util-linux)"
    );
    // SAFETY: geteuid has no preconditions.
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "these tests create network namespaces and must run as root"
    );
}

fn netns_id() -> String {
    std::fs::read_link("/proc/self/ns/net")
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

fn sh(cmd: &str) -> String {
    let out = Command::new("/bin/sh")
        .arg("-c")
        .arg(cmd)
        .output()
        .expect("/bin/sh runs");
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// Everything the host's firewall shows.
fn host_firewall() -> String {
    sh("iptables -w -S; ip6tables -w -S; nft list ruleset")
}

/// Runs `test` again in a new network and mount namespace; checks the host
/// firewall did not change.
fn in_private_netns(test: &str, inner: fn()) {
    if let Ok(outer) = std::env::var(INNER) {
        assert_ne!(
            netns_id(),
            outer,
            "refusing to touch the firewall: not in a private network namespace"
        );
        inner();
        println!("NETNS-INNER-DONE {test}");
        return;
    }
    require_tools();
    let before = host_firewall();
    let out = Command::new(find_tool("unshare").unwrap())
        .args(["--net", "--mount", "--"])
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(INNER, netns_id())
        .output()
        .expect("unshare runs");
    let after = host_firewall();
    assert_eq!(before, after, "the host firewall changed");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains(&format!("NETNS-INNER-DONE {test}")),
        "inner run failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The options the configuration engine gives a stock action.
fn stock_action(jail_conf: &str, action: &str) -> Vec<(String, Value)> {
    let tree = common::Scratch::with_stock(&format!("action-netns-{action}"));
    tree.write("jail.d/zz-action-test.local", jail_conf);
    let compiled = compile(
        tree.str(),
        &ClientSettings::default(),
        &CompileOptions {
            allow_no_files: true,
            ..CompileOptions::default()
        },
    );
    let stream = compiled.stream.expect("the test tree compiles");
    for line in &stream {
        let items = line.as_list().unwrap();
        if items.first().and_then(Value::as_str) == Some("multi-set")
            && items.get(3).and_then(Value::as_str) == Some(action)
        {
            return items[4]
                .as_list()
                .unwrap()
                .iter()
                .map(|p| {
                    let p = p.as_list().unwrap();
                    (p[0].as_str().unwrap().to_string(), p[1].clone())
                })
                .collect();
        }
    }
    panic!("no options for {action} in the stream");
}

fn build(jail: &str, name: &str, opts: Vec<(String, Value)>) -> Action {
    let mut b = ActionBuilder::new(jail, name);
    b.ipv6_allowed(true).options(opts);
    b.build().unwrap()
}

fn ban(ip: &str) -> BanInfo {
    let mut b = BanInfo::new(ip, 1.0, 600);
    b.failures = 5;
    b
}

fn ipt() -> String {
    sh("iptables -w -S")
}

fn ip6t() -> String {
    sh("ip6tables -w -S")
}

fn iptables_courier() {
    let opts = stock_action(
        "[courier-iptables]\nenabled = true\nfilter = sshd\nlogpath = /dev/null\n\
         action = iptables[name=Courier, port=143, protocol=tcp]\n",
        "iptables-Courier",
    );
    let mut a = build("courier-iptables", "iptables-Courier", opts);
    let rule = "-A f2b-Courier -s 192.0.2.1/32 -j REJECT --reject-with icmp-port-unreachable";
    let jump = "-A INPUT -p tcp -m tcp --dport 143 -j f2b-Courier";

    a.start().unwrap();
    assert!(
        !ipt().contains("f2b-Courier"),
        "started before the first ban:\n{}",
        ipt()
    );
    a.ban(&ban("192.0.2.1")).unwrap();
    let s = ipt();
    for want in ["-N f2b-Courier", rule, jump, "-A f2b-Courier -j RETURN"] {
        assert!(s.contains(want), "missing {want:?} after ban:\n{s}");
    }
    assert!(
        !ip6t().contains("f2b-Courier"),
        "IPv6 started without an IPv6 ban"
    );

    a.unban(&ban("192.0.2.1")).unwrap();
    let s = ipt();
    assert!(!s.contains(rule) && s.contains(jump), "after unban:\n{s}");

    a.ban(&ban("192.0.2.1")).unwrap();
    a.ban(&ban("2001:db8::1")).unwrap();
    let s6 = ip6t();
    assert!(
        s6.contains(
            "-A f2b-Courier -s 2001:db8::1/128 -j REJECT --reject-with icmp6-port-unreachable"
        ),
        "after IPv6 ban:\n{s6}"
    );
    a.flush().unwrap();
    assert!(
        !ipt().contains(rule) && !ip6t().contains("2001:db8::1"),
        "after flush"
    );

    // Someone removes the chain: the ban fails, actioncheck fails, and with
    // no actionrepair fail2ban restarts the action and bans again.
    sh("iptables -w -D INPUT -p tcp --dport 143 -j f2b-Courier; iptables -w -F f2b-Courier; iptables -w -X f2b-Courier");
    assert!(!ipt().contains("f2b-Courier"));
    a.ban(&ban("192.0.2.1")).unwrap();
    let s = ipt();
    assert!(s.contains(rule) && s.contains(jump), "after repair:\n{s}");
    assert_eq!(a.ban_epoch(), 1);

    a.stop().unwrap();
    assert!(!ipt().contains("f2b-Courier"), "after stop:\n{}", ipt());
    assert!(!ip6t().contains("f2b-Courier"), "after stop:\n{}", ip6t());
}

fn iptables_multiport() {
    let opts = stock_action(
        "[sshd]\nenabled = true\nlogpath = /dev/null\nbackend = auto\n",
        "iptables-multiport",
    );
    let mut a = build("sshd", "iptables-multiport", opts);
    let rule = "-A f2b-sshd -s 198.51.100.7/32 -j REJECT --reject-with icmp-port-unreachable";
    a.start().unwrap();
    assert!(!ipt().contains("f2b-sshd"));
    a.ban(&ban("198.51.100.7")).unwrap();
    let s = ipt();
    assert!(s.contains(rule), "after ban:\n{s}");
    assert!(
        s.contains("-A INPUT -p tcp -m multiport --dports 22 -j f2b-sshd"),
        "after ban:\n{s}"
    );
    a.unban(&ban("198.51.100.7")).unwrap();
    assert!(!ipt().contains(rule));
    a.ban(&ban("198.51.100.8")).unwrap();
    a.stop().unwrap();
    assert!(!ipt().contains("f2b-sshd"), "after stop:\n{}", ipt());
}

fn nft() -> String {
    sh("nft list ruleset")
}

fn nftables_multiport() {
    let opts = stock_action(
        "[nft]\nenabled = true\nfilter = sshd\nlogpath = /dev/null\n\
         banaction = nftables-multiport\naction = %(action_)s\n",
        "nftables-multiport",
    );
    let mut a = build("nft", "nftables-multiport", opts);
    a.start().unwrap();
    assert!(!nft().contains("f2b-table"), "started before the first ban");
    a.ban(&ban("203.0.113.5")).unwrap();
    let s = nft();
    for want in [
        "table inet f2b-table",
        "set addr-set-nft",
        "203.0.113.5",
        "chain f2b-chain",
    ] {
        assert!(s.contains(want), "missing {want:?} after ban:\n{s}");
    }
    assert!(
        s.contains("@addr-set-nft reject"),
        "no rule for the set:\n{s}"
    );
    a.ban(&ban("2001:db8::5")).unwrap();
    let s = nft();
    assert!(
        s.contains("set addr6-set-nft") && s.contains("2001:db8::5"),
        "{s}"
    );
    a.unban(&ban("203.0.113.5")).unwrap();
    let s = nft();
    assert!(
        !s.contains("203.0.113.5") && s.contains("2001:db8::5"),
        "after unban:\n{s}"
    );
    a.stop().unwrap();
    assert!(!nft().contains("f2b-table"), "after stop:\n{}", nft());
}

#[test]
fn iptables_courier_in_a_private_netns() {
    in_private_netns("iptables_courier_in_a_private_netns", iptables_courier);
}

#[test]
fn iptables_multiport_in_a_private_netns() {
    in_private_netns("iptables_multiport_in_a_private_netns", iptables_multiport);
}

#[test]
fn nftables_multiport_in_a_private_netns() {
    in_private_netns("nftables_multiport_in_a_private_netns", nftables_multiport);
}
