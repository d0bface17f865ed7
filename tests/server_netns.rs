//! The classic Courier jail on real iptables, with ferroban's own server in a
//! private network namespace (never the host's firewall): two failures
//! change nothing, the third adds `-A f2b-Courier -s IP/32 -j REJECT …`,
//! other addresses are untouched, the rule goes when the ban expires, and
//! `stop` removes the chain and its jump.

mod common;
use common::*;
use std::io::Write;
use std::process::Command;

fn firewall_in(pid: i32, tool: &str, args: &[&str]) -> String {
    let o = Command::new("nsenter")
        .arg(format!("--net=/proc/{pid}/ns/net"))
        .arg(tool)
        .args(args)
        .output()
        .expect("nsenter runs");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn host_rules() -> String {
    let run = |tool: &str, args: &[&str]| {
        Command::new(tool)
            .args(args)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    };
    run("iptables", &["-S"]) + &run("ip6tables", &["-S"]) + &run("nft", &["list", "ruleset"])
}

#[test]
fn courier_jail_bans_with_real_iptables_in_a_private_namespace() {
    // SAFETY: geteuid has no preconditions.
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "this test needs root (CI runs as root) for network namespaces"
    );
    for tool in ["unshare", "nsenter", "iptables"] {
        assert!(
            Command::new("which")
                .arg(tool)
                .output()
                .unwrap()
                .status
                .success(),
            "{tool} is needed (apt-get install iptables util-linux)"
        );
    }
    let host_before = host_rules();
    let conf = Scratch::server_tree("netns");
    conf.write(
        "filter.d/courierlogin.conf",
        "[Definition]\nfailregex = LOGIN FAILED, user=\\S+, ip=\\[<HOST>\\]\n",
    );
    let log = conf.write("maillog", "");
    conf.write(
        "jail.local",
        format!(
            "[courier-iptables]\nenabled = true\nfilter = courierlogin\naction = iptables[name=Courier, port=143, protocol=tcp]\n\
             logpath = {}\nmaxretry = 3\nfindtime = 600\nbantime = 4\n",
            log.display()
        ),
    );
    // The client starts the server inside a new network namespace; the socket is a file, reachable from here.
    let start = Command::new("unshare")
        .arg("--net")
        .arg(env!("CARGO_BIN_EXE_fail2ban-client"))
        .args(["-c", conf.str(), "start"])
        .output()
        .unwrap();
    assert!(
        start.status.success(),
        "{}{}",
        stdout(&start),
        stderr(&start)
    );
    let pid: i32 = std::fs::read_to_string(conf.path.join("s.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let ours = |args: &[&str]| {
        let mut c = our_client();
        c.args(["-c", conf.str()]).args(args);
        run(c)
    };
    let guard = StopOnDrop(&ours);
    // A process of ours that keeps the namespace alive after the server exits,
    // so the checks after `stop` look at the same namespace.
    let holder = Holder(
        Command::new("nsenter")
            .arg(format!("--net=/proc/{pid}/ns/net"))
            .args(["sleep", "120"])
            .spawn()
            .unwrap(),
    );
    let ns = holder.0.id() as i32;
    wait_for("the namespace holder", || {
        firewall_in(ns, "iptables", &["-S"]).contains("-P INPUT")
    });
    let rules = || firewall_in(ns, "iptables", &["-S"]);
    assert!(
        !rules().contains("f2b-Courier"),
        "start must not touch the firewall yet:\n{}",
        rules()
    );

    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    let fail = |ip: &str| {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        format!(
            "{} mail imapd: LOGIN FAILED, user=mallory, ip=[::ffff:{ip}], port=[32932]\n",
            ferroban::jail::time_str(t)
        )
    };
    for _ in 0..2 {
        f.write_all(fail("192.0.2.1").as_bytes()).unwrap();
    }
    f.write_all(fail("192.0.2.77").as_bytes()).unwrap();
    wait_for("three failures", || {
        stdout(&ours(&["status", "courier-iptables"])).contains("Total failed:\t3")
    });
    assert!(
        !rules().contains("-s 192.0.2.1/32"),
        "two failures change nothing:\n{}",
        rules()
    );
    f.write_all(fail("192.0.2.1").as_bytes()).unwrap();
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
    wait_for("the rule to go when the ban expires", || {
        !rules().contains("192.0.2.1/32")
    });
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

/// Ends the namespace holder (a process this test started), by PID.
struct Holder(std::process::Child);

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Stops the server when the test ends, even on failure.
struct StopOnDrop<'a>(&'a dyn Fn(&[&str]) -> std::process::Output);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        let o = (self.0)(&["stop"]);
        assert!(
            o.status.success() || std::thread::panicking(),
            "stop failed: {}",
            stdout(&o)
        );
    }
}
