//! Our own actions (`etc/fail2ban/action.d`) for real, in private network
//! namespaces (never the host's firewall), on the courierlogin jail of our
//! jail.conf: `iptables[name=Courier, port=143, protocol=tcp]` and
//! `nftables-multiport` (run by ferroban's server and by Debian's fail2ban
//! 1.0.2, since the tree is a drop-in for it), the jail as shipped
//! (iptables-multiport on the IMAP/POP3 ports), and the iptables-allports
//! and nftables-allports banactions. Starting the jail creates nothing; two
//! failures change nothing; the third bans (an IPv4 and an IPv6 host);
//! other hosts are untouched; the ban's rule or set element goes when the
//! ban expires; `stop` leaves no chain, jump, set or table; and the host's
//! rules are the same before and after. After a server is killed, the
//! next one's first ban reuses the chain or set left behind.

mod common;
use common::netns::*;
use common::*;
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn wait_for(what: &str, mut f: impl FnMut() -> bool, show: impl Fn() -> String) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}:\n{}",
            show()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Which fail2ban-client (and so which server) runs the scenario.
#[derive(Clone, Copy)]
enum Client {
    Ours,
    Reference,
}

impl Client {
    fn path(self) -> &'static str {
        match self {
            Client::Ours => env!("CARGO_BIN_EXE_fail2ban-client"),
            Client::Reference => {
                require_reference();
                REFERENCE_CLIENT
            }
        }
    }

    fn run(self, conf: &Scratch, args: &[&str]) -> std::process::Output {
        let mut c = Command::new(self.path());
        c.args(["-c", conf.str()]).args(args);
        run(c)
    }
}

/// What a scenario looks for in the namespace's firewall.
struct Expect<'a> {
    /// The dump of the namespace's rules: (tool, args) per command.
    dump: &'a [(&'a str, &'a [&'a str])],
    /// Present once both hosts are banned.
    banned: &'a [&'a str],
    /// Present as long as the jail's action is started (survives expiry).
    started: &'a [&'a str],
    /// Text that only this jail's action puts there (absent before the
    /// first ban and after stop).
    ours: &'a [&'a str],
}

fn scenario(client: Client, name: &str, jail_extra: &str, expect: Expect) {
    require_root_and_tools(&["unshare", "nsenter", "iptables", "ip6tables", "nft"]);
    let host_before = host_rules();
    let conf = Scratch::new(name);
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("etc/fail2ban"),
        &conf.path,
    );
    let p = conf.path.display().to_string();
    conf.write(
        "fail2ban.local",
        format!("[Definition]\nlogtarget = {p}/server.log\nsocket = {p}/run/s.sock\npidfile = {p}/s.pid\ndbfile = None\n"),
    );
    let log = conf.write("mail.log", "");
    // Only what a user writes: the jail on, where its log is, a short ban
    // for the test, and the scenario's action. maxretry 3 and findtime 600
    // are our jail.conf's.
    conf.write(
        "jail.local",
        format!(
            "[courierlogin]\nenabled = true\nlogpath = {}\nbantime = 4\n{jail_extra}",
            log.display()
        ),
    );
    let NetServer {
        mut guard, holder, ..
    } = start_in_new_net(client.path(), &conf);
    let ns = holder.pid();
    let rules = || {
        expect
            .dump
            .iter()
            .map(|(tool, args)| firewall_in(ns, tool, args))
            .collect::<String>()
    };
    let server_log = || std::fs::read_to_string(conf.path.join("server.log")).unwrap_or_default();
    let none_of_ours = |r: &str| expect.ours.iter().all(|s| !r.contains(s));
    assert!(
        none_of_ours(&rules()),
        "starting must not touch the firewall:\n{}",
        rules()
    );

    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    let mut fail = |ip: &str, daemon: &str| {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let line = format!(
            "{} mail {daemon}: LOGIN FAILED, user=mallory, ip=[{ip}], port=[32932]\n",
            ferroban::jail::time_str(t)
        );
        f.write_all(line.as_bytes()).unwrap();
    };
    fail("::ffff:192.0.2.1", "imapd");
    fail("::ffff:192.0.2.1", "pop3d");
    fail("2001:db8::1", "imapd-ssl");
    fail("2001:db8::1", "pop3d-ssl");
    fail("::ffff:192.0.2.77", "imapd");
    let status = || stdout(&client.run(&conf, &["status", "courierlogin"]));
    wait_for(
        "five failures",
        || status().contains("Total failed:\t5"),
        || status() + &server_log(),
    );
    assert!(
        none_of_ours(&rules()),
        "two failures each change nothing:\n{}",
        rules()
    );

    fail("::ffff:192.0.2.1", "imapd");
    fail("2001:db8::1", "imapd");
    wait_for(
        "both bans in the firewall",
        || {
            let r = rules();
            expect
                .banned
                .iter()
                .chain(expect.started)
                .all(|s| r.contains(s))
        },
        || rules() + &server_log(),
    );
    let r = rules();
    assert!(
        !r.contains("192.0.2.77"),
        "other addresses are untouched:\n{r}"
    );
    assert!(status().contains("Currently banned:\t2"), "{}", status());

    wait_for(
        "the bans to expire",
        || {
            let r = rules();
            expect.banned.iter().all(|s| !r.contains(s))
                && expect.started.iter().all(|s| r.contains(s))
        },
        || rules() + &server_log(),
    );
    guard.stop();
    let r = rules();
    assert!(none_of_ours(&r), "stop leaves nothing of ours:\n{r}");
    let log_text = server_log();
    for expected in [
        "NOTICE  [courierlogin] Ban 192.0.2.1",
        "NOTICE  [courierlogin] Ban 2001:db8::1",
        "NOTICE  [courierlogin] Unban 192.0.2.1",
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

fn classic_iptables(client: Client, name: &str) {
    scenario(
        client,
        name,
        "action = iptables[name=Courier, port=143, protocol=tcp]\n",
        Expect {
            dump: &[("iptables", &["-S"]), ("ip6tables", &["-S"])],
            banned: &[
                "-A f2b-Courier -s 192.0.2.1/32 -j REJECT --reject-with icmp-port-unreachable",
                "-A f2b-Courier -s 2001:db8::1/128 -j REJECT --reject-with icmp6-port-unreachable",
            ],
            started: &[
                "-N f2b-Courier",
                "-A INPUT -p tcp -m tcp --dport 143 -j f2b-Courier",
                "-A f2b-Courier -j RETURN",
            ],
            ours: &["f2b-Courier"],
        },
    );
}

fn nftables_multiport(client: Client, name: &str) {
    scenario(
        client,
        name,
        "banaction = nftables-multiport\n",
        Expect {
            dump: &[("nft", &["list", "ruleset"])],
            banned: &["elements = { 192.0.2.1 }", "elements = { 2001:db8::1 }"],
            started: &[
                "table inet f2b-table",
                "set addr-set-courierlogin",
                "set addr6-set-courierlogin",
                "tcp dport { 110, 143, 993, 995 } ip saddr @addr-set-courierlogin reject",
                "tcp dport { 110, 143, 993, 995 } ip6 saddr @addr6-set-courierlogin reject",
            ],
            ours: &["f2b-table", "courierlogin"],
        },
    );
}

#[test]
fn shipped_jail_bans_with_iptables_multiport() {
    scenario(
        Client::Ours,
        "etc-netns-default",
        "",
        Expect {
            dump: &[("iptables", &["-S"]), ("ip6tables", &["-S"])],
            banned: &[
                "-A f2b-courierlogin -s 192.0.2.1/32 -j REJECT --reject-with icmp-port-unreachable",
                "-A f2b-courierlogin -s 2001:db8::1/128 -j REJECT --reject-with icmp6-port-unreachable",
            ],
            started: &["-A INPUT -p tcp -m multiport --dports 143,993,110,995 -j f2b-courierlogin"],
            ours: &["f2b-courierlogin"],
        },
    );
}

#[test]
fn classic_iptables_action_on_port_143() {
    classic_iptables(Client::Ours, "etc-netns-ipt");
}

#[test]
fn classic_iptables_action_on_port_143_under_fail2ban() {
    classic_iptables(Client::Reference, "etc-netns-ipt-ref");
}

#[test]
fn nftables_multiport_on_the_jails_mail_ports() {
    nftables_multiport(Client::Ours, "etc-netns-nft");
}

#[test]
fn nftables_multiport_on_the_jails_mail_ports_under_fail2ban() {
    nftables_multiport(Client::Reference, "etc-netns-nft-ref");
}

#[test]
fn iptables_allports_blocks_every_port() {
    scenario(
        Client::Ours,
        "etc-netns-ipt-all",
        "banaction = iptables-allports\n",
        Expect {
            dump: &[("iptables", &["-S"]), ("ip6tables", &["-S"])],
            banned: &[
                "-A f2b-courierlogin -s 192.0.2.1/32 -j REJECT --reject-with icmp-port-unreachable",
                "-A f2b-courierlogin -s 2001:db8::1/128 -j REJECT --reject-with icmp6-port-unreachable",
            ],
            started: &["-A INPUT -p tcp -j f2b-courierlogin"],
            ours: &["f2b-courierlogin"],
        },
    );
}

#[test]
fn nftables_allports_blocks_every_port() {
    scenario(
        Client::Ours,
        "etc-netns-nft-all",
        "banaction = nftables-allports\n",
        Expect {
            dump: &[("nft", &["list", "ruleset"])],
            banned: &["elements = { 192.0.2.1 }", "elements = { 2001:db8::1 }"],
            started: &[
                "meta l4proto tcp ip saddr @addr-set-courierlogin reject",
                "meta l4proto tcp ip6 saddr @addr6-set-courierlogin reject",
            ],
            ours: &["f2b-table", "courierlogin"],
        },
    );
}

/// A server killed with SIGKILL leaves its chain or set behind; the next
/// server's first ban must reuse them, not add a second jump or rule, and
/// its `stop` must still leave nothing.
fn restart_after_a_crash(name: &str, jail_extra: &str, dump: &[&str], jump: &str, ours: &str) {
    require_root_and_tools(&["unshare", "nsenter", "iptables", "ip6tables", "nft"]);
    let host_before = host_rules();
    let conf = Scratch::new(name);
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("etc/fail2ban"),
        &conf.path,
    );
    let p = conf.path.display().to_string();
    conf.write(
        "fail2ban.local",
        format!("[Definition]\nlogtarget = {p}/server.log\nsocket = {p}/run/s.sock\npidfile = {p}/s.pid\ndbfile = None\n"),
    );
    let log = conf.write("mail.log", "");
    conf.write(
        "jail.local",
        format!(
            "[courierlogin]\nenabled = true\nlogpath = {}\nbantime = 600\n{jail_extra}",
            log.display()
        ),
    );
    let NetServer {
        pid: first,
        mut guard,
        holder,
    } = start_in_new_net(env!("CARGO_BIN_EXE_fail2ban-client"), &conf);
    let pid_of_server = || -> u32 {
        std::fs::read_to_string(conf.path.join("s.pid"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    let ns = holder.pid();
    let server_log = || std::fs::read_to_string(conf.path.join("server.log")).unwrap_or_default();
    let rules = || firewall_in(ns, dump[0], &dump[1..]);
    let count = |r: &str, s: &str| r.lines().filter(|l| l.contains(s)).count();
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    for _ in 0..3 {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let line = format!(
            "{} mail imapd: LOGIN FAILED, user=mallory, ip=[::ffff:192.0.2.1], port=[32932]\n",
            ferroban::jail::time_str(t)
        );
        f.write_all(line.as_bytes()).unwrap();
    }
    wait_for(
        "the first ban",
        || count(&rules(), jump) == 1,
        || rules() + &server_log(),
    );

    // The crash: the server (started by this test's client) is killed by PID.
    // SAFETY: kill has no memory preconditions; the PID is our server's.
    assert_eq!(unsafe { libc::kill(first as i32, libc::SIGKILL) }, 0);
    wait_for(
        "the server to die",
        || {
            !Path::new(&format!("/proc/{first}")).exists()
                || std::fs::read_to_string(format!("/proc/{first}/stat"))
                    .is_ok_and(|s| s.contains(") Z "))
        },
        String::new,
    );
    assert_eq!(
        count(&rules(), jump),
        1,
        "the crash leaves the firewall as it was:\n{}",
        rules()
    );

    // The next server, in the same namespace, reads the same three failures
    // (within findtime) and bans again on what is already there.
    let again = Command::new("nsenter")
        .arg(format!("--net=/proc/{ns}/ns/net"))
        .arg(env!("CARGO_BIN_EXE_fail2ban-client"))
        .args(["-x", "-c", conf.str(), "start"])
        .output()
        .unwrap();
    assert!(
        again.status.success(),
        "{}{}",
        stdout(&again),
        stderr(&again)
    );
    assert_ne!(pid_of_server(), first);
    wait_for(
        "the second ban",
        || {
            server_log()
                .matches("NOTICE  [courierlogin] Ban 192.0.2.1")
                .count()
                == 2
        },
        || rules() + &server_log(),
    );
    let r = rules();
    assert_eq!(count(&r, jump), 1, "one jump or rule, not two:\n{r}");
    assert!(!server_log().contains("ERROR"), "{}", server_log());
    guard.stop();
    let r = rules();
    assert!(!r.contains(ours), "stop leaves nothing of ours:\n{r}");
    drop(guard);
    drop(holder);
    assert_eq!(
        host_before,
        host_rules(),
        "the host firewall must not change"
    );
}

#[test]
fn iptables_after_a_crash_reuses_its_chain() {
    restart_after_a_crash(
        "etc-netns-crash-ipt",
        "action = iptables[name=Courier, port=143, protocol=tcp]\n",
        &["iptables", "-S"],
        "-j f2b-Courier",
        "f2b-Courier",
    );
}

#[test]
fn nftables_after_a_crash_reuses_its_set() {
    restart_after_a_crash(
        "etc-netns-crash-nft",
        "banaction = nftables-multiport\n",
        &["nft", "list", "ruleset"],
        "ip saddr @addr-set-courierlogin",
        "f2b-table",
    );
}
