//! The classic Courier jail on real iptables, with ferroban's own server in a
//! private network namespace (never the host's firewall): below maxretry
//! nothing changes, the next failure adds `-A f2b-Courier -s IP/32 -j REJECT
//! …`, other addresses are untouched, the rule goes when the ban expires, and
//! `stop` removes the chain and its jump. Once with 3/600/600-style limits,
//! once with 5/1200/3600.

mod common;
use common::netns::*;
use common::*;
use std::io::Write;

/// The Courier scenario with `maxretry`, `findtime` and `bantime`; the
/// expiry is waited for only when the ban is short.
fn courier_scenario(name: &str, maxretry: usize, findtime: u32, bantime: u32) {
    require_root_and_tools(&["unshare", "nsenter", "iptables"]);
    let host_before = host_rules();
    let conf = Scratch::server_tree(name);
    conf.write(
        "filter.d/courierlogin.conf",
        "[Definition]\nfailregex = LOGIN FAILED, user=\\S+, ip=\\[<HOST>\\]\n",
    );
    let log = conf.write("maillog", "");
    conf.write(
        "jail.local",
        format!(
            "[courier-iptables]\nenabled = true\nfilter = courierlogin\naction = iptables[name=Courier, port=143, protocol=tcp]\n\
             logpath = {}\nmaxretry = {maxretry}\nfindtime = {findtime}\nbantime = {bantime}\n",
            log.display()
        ),
    );
    // The client starts the server inside a new network namespace; the socket is a file, reachable from here.
    let NetServer { guard, holder, .. } =
        start_in_new_net(env!("CARGO_BIN_EXE_fail2ban-client"), &conf);
    let ns = holder.pid();
    let rules = || firewall_in(ns, "iptables", &["-S"]);
    assert!(
        !rules().contains("f2b-Courier"),
        "start must not touch the firewall yet:\n{}",
        rules()
    );

    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    for _ in 0..maxretry - 1 {
        f.write_all(courier_failure(unix_now(), "192.0.2.1").as_bytes())
            .unwrap();
    }
    f.write_all(courier_failure(unix_now(), "192.0.2.77").as_bytes())
        .unwrap();
    let seen = format!("Total failed:\t{maxretry}");
    wait_for("the failures", || {
        client_in(&conf, &["status", "courier-iptables"])
            .0
            .contains(&seen)
    });
    assert!(
        !rules().contains("-s 192.0.2.1/32"),
        "{} failures change nothing:\n{}",
        maxretry - 1,
        rules()
    );
    f.write_all(courier_failure(unix_now(), "192.0.2.1").as_bytes())
        .unwrap();
    wait_for("the REJECT rule", || {
        rules().contains(
            "-A f2b-Courier -s 192.0.2.1/32 -j REJECT --reject-with icmp-port-unreachable",
        )
    });
    let r = rules();
    assert!(
        r.contains("-A INPUT -p tcp -m tcp --dport 143 -j f2b-Courier"),
        "{r}"
    );
    assert!(
        !r.contains("192.0.2.77"),
        "other addresses are untouched:\n{r}"
    );
    let (status, _) = client_in(&conf, &["status", "courier-iptables"]);
    assert!(status.contains("Banned IP list:\t192.0.2.1"), "{status}");
    if bantime < 30 {
        wait_for("the rule to go when the ban expires", || {
            !rules().contains("192.0.2.1/32")
        });
    }
    drop(guard);
    let r = rules();
    assert!(
        r.contains("-P INPUT ACCEPT"),
        "the namespace is still readable:\n{r}"
    );
    assert!(
        !r.contains("f2b-Courier"),
        "stop leaves no chain or jump:\n{r}"
    );
    drop(holder);
    assert_eq!(
        host_before,
        host_rules(),
        "the host firewall must not change"
    );
}

#[test]
fn classic_limits_ban_on_the_third_failure_and_expire() {
    courier_scenario("netns-3", 3, 600, 4);
}

#[test]
fn stricter_limits_ban_on_the_fifth_failure() {
    courier_scenario("netns-5", 5, 1200, 3600);
}
