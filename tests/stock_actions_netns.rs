//! The installed package's `iptables-allports`, `nftables-allports` and
//! `iptables-ipset` actions, unchanged from /etc/fail2ban, run by ferroban's
//! own server inside a private network namespace (never the host's
//! firewall): nothing before the third failure, the ban puts the address in
//! the rule or set (IPv4 and IPv6), other addresses are untouched, expiry
//! takes it out, and `stop` leaves nothing of the action behind.

mod common;
use common::netns::*;
use common::*;
use std::io::Write;

/// What the namespace's firewall shows for one action.
struct Expect<'a> {
    /// The commands whose output is searched.
    dump: &'a [(&'a str, &'a [&'a str])],
    /// Present while the addresses are banned.
    banned: &'a [&'a str],
    /// Present from the first ban until stop (survives expiry).
    started: &'a [&'a str],
    /// Text only this action puts there: absent before the first ban and after stop.
    ours: &'a [&'a str],
}

fn failure(t: f64, ip: &str) -> String {
    format!(
        "{} mail imapd: LOGIN FAILED, user=mallory, ip=[{ip}], port=[32932]\n",
        ferroban::jail::time_str(t)
    )
}

/// Runs the jail `courier` with `action` (from the installed action.d) in a
/// private namespace and checks the firewall at each step.
fn scenario(name: &str, action: &str, tools: &[&str], expect: Expect) {
    require_root_and_tools(&[&["unshare", "nsenter"], tools].concat());
    let host_before = host_rules();
    let conf = Scratch::server_tree(name);
    assert!(
        std::path::Path::new(STOCK_CONF)
            .join("action.d")
            .join(format!("{}.conf", action.split('[').next().unwrap()))
            .is_file(),
        "the installed package has no {action}"
    );
    conf.write(
        "filter.d/courierlogin.conf",
        "[Definition]\nfailregex = LOGIN FAILED, user=\\S+, ip=\\[<HOST>\\]\n",
    );
    let log = conf.write("maillog", "");
    conf.write(
        "jail.local",
        format!(
            "[courier]\nenabled = true\nfilter = courierlogin\naction = {action}\n\
             logpath = {}\nmaxretry = 3\nfindtime = 600\nbantime = 4\n",
            log.display()
        ),
    );
    let NetServer {
        mut guard, holder, ..
    } = start_in_new_net(env!("CARGO_BIN_EXE_fail2ban-client"), &conf);
    let ns = holder.pid();
    let rules = || {
        expect
            .dump
            .iter()
            .map(|(tool, args)| firewall_dump(ns, tool, args))
            .collect::<String>()
    };
    let none_of_ours = |r: &str| expect.ours.iter().all(|s| !r.contains(s));
    assert!(
        none_of_ours(&rules()),
        "start must not touch the firewall yet:\n{}",
        rules()
    );

    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    let mut fail = |ip: &str| {
        f.write_all(failure(unix_now(), ip).as_bytes()).unwrap();
    };
    for ip in ["192.0.2.1", "192.0.2.1", "2001:db8::1", "2001:db8::1"] {
        fail(ip);
    }
    fail("192.0.2.77");
    wait_for("the failures", || {
        client_in(&conf, &["status", "courier"])
            .0
            .contains("Total failed:\t5")
    });
    assert!(
        none_of_ours(&rules()),
        "two failures each change nothing:\n{}",
        rules()
    );
    fail("192.0.2.1");
    fail("2001:db8::1");
    wait_for("both bans in the firewall", || {
        let r = rules();
        expect
            .banned
            .iter()
            .chain(expect.started)
            .all(|s| r.contains(s))
    });
    let r = rules();
    assert!(
        !r.contains("192.0.2.77"),
        "other addresses are untouched:\n{r}"
    );
    let (status, _) = client_in(&conf, &["status", "courier"]);
    assert!(status.contains("Currently banned:\t2"), "{status}");
    wait_for("the bans to expire", || {
        let r = rules();
        expect.banned.iter().all(|s| !r.contains(s)) && expect.started.iter().all(|s| r.contains(s))
    });
    guard.stop();
    let r = rules();
    assert!(none_of_ours(&r), "stop leaves nothing of the action:\n{r}");
    let log_text = conf.server_log();
    for expected in [
        "NOTICE  [courier] Ban 192.0.2.1",
        "NOTICE  [courier] Ban 2001:db8::1",
        "NOTICE  [courier] Unban 192.0.2.1",
        "NOTICE  [courier] Unban 2001:db8::1",
    ] {
        assert!(
            log_text.contains(expected),
            "{expected:?} missing:\n{log_text}"
        );
    }
    assert!(!log_text.contains("ERROR"), "an action failed:\n{log_text}");
    drop(guard);
    drop(holder);
    assert_eq!(
        host_before,
        host_rules(),
        "the host firewall must not change"
    );
}

#[test]
fn installed_iptables_allports() {
    scenario(
        "stock-ipt-all",
        "iptables-allports[name=Courier, protocol=tcp]",
        &["iptables", "ip6tables"],
        Expect {
            dump: &[("iptables", &["-S"]), ("ip6tables", &["-S"])],
            banned: &[
                "-A f2b-Courier -s 192.0.2.1/32 -j REJECT --reject-with icmp-port-unreachable",
                "-A f2b-Courier -s 2001:db8::1/128 -j REJECT --reject-with icmp6-port-unreachable",
            ],
            started: &["-N f2b-Courier", "-A INPUT -p tcp -j f2b-Courier"],
            ours: &["f2b-Courier"],
        },
    );
}

#[test]
fn installed_nftables_allports() {
    scenario(
        "stock-nft-all",
        "nftables-allports[name=Courier, protocol=tcp]",
        &["nft"],
        Expect {
            dump: &[("nft", &["list", "ruleset"])],
            banned: &["elements = { 192.0.2.1 }", "elements = { 2001:db8::1 }"],
            started: &[
                "table inet f2b-table",
                "meta l4proto tcp ip saddr @addr-set-Courier reject",
                "meta l4proto tcp ip6 saddr @addr6-set-Courier reject",
            ],
            ours: &["f2b-table", "Courier"],
        },
    );
}

#[test]
fn installed_iptables_ipset() {
    scenario(
        "stock-ipset",
        "iptables-ipset[name=Courier, port=143, protocol=tcp]",
        &["iptables", "ip6tables", "ipset"],
        Expect {
            dump: &[
                ("iptables", &["-S"]),
                ("ip6tables", &["-S"]),
                ("ipset", &["list"]),
            ],
            banned: &["\n192.0.2.1 timeout 0\n", "\n2001:db8::1 timeout 0\n"],
            started: &[
                "Name: f2b-Courier\n",
                "Name: f2b-Courier6\n",
                "-m set --match-set f2b-Courier src -j REJECT --reject-with icmp-port-unreachable",
                "-m set --match-set f2b-Courier6 src -j REJECT --reject-with icmp6-port-unreachable",
            ],
            ours: &["f2b-Courier"],
        },
    );
}
