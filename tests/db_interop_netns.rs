//! The database between the two servers, for real (issue 6): one server
//! bans addresses in two jails (`iptables-multiport`, each in a private
//! network namespace, never the host's firewall) and stops; the other
//! server starts on the same `dbfile` in a fresh namespace, logs
//! `Restore Ban` for each, puts every rule back in the right chain, and
//! lists them in `status` and `banned`. Once from Debian's fail2ban 1.0.2
//! to ferroban, once the other way.

mod common;
use common::netns::{host_rules, ns_path, require_root_and_tools, Holder};
use common::*;
use std::process::{Command, Output};

/// `program` to be run inside the namespace `ns` holds.
fn inside(ns: &Holder, program: &str) -> Command {
    let mut c = Command::new("nsenter");
    c.arg(format!("--net={}", ns_path(ns.pid(), "net")))
        .arg(program);
    c
}

/// `iptables -S CHAIN` inside `ns` (empty when there is no such chain).
fn chain(ns: &Holder, name: &str) -> String {
    let o = inside(ns, "iptables")
        .args(["-w", "-S", name])
        .output()
        .expect("nsenter runs");
    stdout(&o)
}

/// (jail, port, addresses banned in it). 203.0.113.5 is in both jails.
const BANS: &[(&str, &str, &[&str])] = &[
    ("alpha", "143", &["192.0.2.1", "192.0.2.2", "203.0.113.5"]),
    ("beta", "110", &["198.51.100.7", "203.0.113.5"]),
];

#[derive(Clone, Copy, Debug)]
enum Tool {
    Reference,
    Ours,
}

impl Tool {
    fn client(self) -> &'static str {
        match self {
            Tool::Reference => REFERENCE_CLIENT,
            Tool::Ours => env!("CARGO_BIN_EXE_fail2ban-client"),
        }
    }

    fn log_name(self) -> &'static str {
        match self {
            Tool::Reference => "fail2ban.log",
            Tool::Ours => "ferroban.log",
        }
    }
}

/// A copy of /etc/fail2ban with the two jails, each on its own empty log.
fn tree(name: &str) -> Scratch {
    let conf = Scratch::server_tree(name);
    conf.write(
        "filter.d/itest.conf",
        "[Definition]\nfailregex = LOGIN FAILED, user=\\S+, ip=\\[<HOST>\\]\n",
    );
    let mut jails = String::new();
    for (jail, port, _) in BANS {
        let log = conf.write(&format!("{jail}.log"), "");
        jails += &format!(
            "[{jail}]\nenabled = true\nfilter = itest\nlogpath = {}\n\
             action = iptables-multiport[name={jail}, port=\"{port}\", protocol=tcp]\n\
             maxretry = 3\nfindtime = 600\nbantime = 3600\n\n",
            log.display()
        );
    }
    conf.write("jail.local", jails);
    conf
}

/// Points the tree's server settings at `tool`'s own log, and the shared database.
fn configure_for(conf: &Scratch, tool: Tool) {
    let p = conf.str();
    conf.write(
        "fail2ban.local",
        format!(
            "[Definition]\nloglevel = INFO\nlogtarget = {p}/{}\nsocket = {p}/run/s.sock\npidfile = {p}/s.pid\n\
             dbfile = {p}/lib/fail2ban.sqlite3\n",
            tool.log_name()
        ),
    );
    std::fs::create_dir_all(conf.path.join("lib")).unwrap();
}

fn log_of(conf: &Scratch, tool: Tool) -> String {
    std::fs::read_to_string(conf.path.join(tool.log_name())).unwrap_or_default()
}

fn client(conf: &Scratch, tool: Tool, args: &[&str]) -> Output {
    let mut c = Command::new(tool.client());
    c.args(["-c", conf.str()]).args(args);
    run(c)
}

fn ok(conf: &Scratch, tool: Tool, what: &str, o: Output) -> String {
    assert!(
        o.status.success(),
        "{tool:?}: {what} failed: {}{}\n{}",
        stdout(&o),
        stderr(&o),
        log_of(conf, tool)
    );
    stdout(&o)
}

/// Starts `tool`'s server inside `ns` on the tree.
fn start(conf: &Scratch, tool: Tool, ns: &Holder) {
    configure_for(conf, tool);
    let o = inside(ns, tool.client())
        .args(["-c", conf.str(), "start"])
        .output()
        .unwrap();
    ok(conf, tool, "start", o);
}

/// Kills the server a failed test left running (by its pidfile's PID).
struct KillOnPanic<'a>(&'a Scratch);

impl Drop for KillOnPanic<'_> {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let pid = std::fs::read_to_string(self.0.path.join("s.pid"))
            .ok()
            .and_then(|p| p.trim().parse::<i32>().ok());
        if let Some(pid) = pid {
            // SAFETY: kill has no memory preconditions; the PID is the server this test started.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

fn stop(conf: &Scratch, tool: Tool) {
    let o = client(conf, tool, &["stop"]);
    ok(conf, tool, "stop", o);
}

/// The rule iptables-multiport adds for `ip` in `jail`'s chain.
fn rule(jail: &str, ip: &str) -> String {
    format!("-A f2b-{jail} -s {ip}/32 -j REJECT --reject-with icmp-port-unreachable")
}

/// Waits until every ban's rule is in its chain, and no other address is.
fn wait_for_rules(ns: &Holder, conf: &Scratch, tool: Tool) {
    for (jail, _, ips) in BANS {
        let chain = || chain(ns, &format!("f2b-{jail}"));
        let complete = |c: &str| ips.iter().all(|ip| c.contains(&rule(jail, ip)));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !complete(&chain()) {
            assert!(
                std::time::Instant::now() < deadline,
                "{tool:?}: the rules of {jail} are not all there:\n{}\n{}",
                chain(),
                log_of(conf, tool)
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let c = chain();
        let n = c.lines().filter(|l| l.contains(" -s ")).count();
        assert_eq!(n, ips.len(), "{tool:?}: one rule per ban in {jail}:\n{c}");
    }
}

/// The bans stored in the file (`bips`), read without writing to it.
fn stored(conf: &Scratch) -> Vec<(String, String)> {
    let path = conf.path.join("lib/fail2ban.sqlite3");
    let Ok(db) =
        rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    else {
        return Vec::new();
    };
    let rows = db
        .prepare("SELECT jail, ip FROM bips ORDER BY jail, ip")
        .and_then(|mut st| {
            st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()
        });
    rows.unwrap_or_default()
}

fn expected_rows() -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = BANS
        .iter()
        .flat_map(|(jail, _, ips)| ips.iter().map(|ip| (jail.to_string(), ip.to_string())))
        .collect();
    v.sort();
    v
}

/// `writer` bans everything in a namespace and stops; `reader` starts on the
/// same database in a fresh namespace and must restore it all.
fn hand_over(name: &str, writer: Tool, reader: Tool) {
    require_reference();
    require_root_and_tools(&["unshare", "nsenter", "iptables"]);
    let host_before = host_rules();
    let conf = tree(name);
    let _cleanup = KillOnPanic(&conf);

    let first = Holder::new_net();
    start(&conf, writer, &first);
    for (jail, _, ips) in BANS {
        for ip in *ips {
            let o = client(&conf, writer, &["set", jail, "banip", ip]);
            ok(&conf, writer, "banip", o);
        }
    }
    wait_for_rules(&first, &conf, writer);
    // fail2ban stores its bans a moment later (its observer thread).
    wait_for("the bans in the database", || {
        stored(&conf) == expected_rows()
    });
    stop(&conf, writer);
    for (jail, _, _) in BANS {
        assert_eq!(
            chain(&first, &format!("f2b-{jail}")),
            "",
            "{writer:?}: stop removes the chain"
        );
    }
    drop(first);
    assert_eq!(stored(&conf), expected_rows(), "stop keeps the bans");

    let second = Holder::new_net();
    start(&conf, reader, &second);
    wait_for_rules(&second, &conf, reader);
    let log = log_of(&conf, reader);
    for (jail, _, ips) in BANS {
        for ip in *ips {
            let line = format!("NOTICE  [{jail}] Restore Ban {ip}\n");
            assert!(log.contains(&line), "{reader:?} logs {line:?}:\n{log}");
        }
        let status = ok(
            &conf,
            reader,
            "status",
            client(&conf, reader, &["status", jail]),
        );
        assert!(
            status.contains(&format!("Currently banned:\t{}\n", ips.len())),
            "{reader:?}:\n{status}"
        );
        let listed = status
            .lines()
            .find_map(|l| l.split_once("Banned IP list:\t"))
            .map(|(_, list)| {
                let mut v: Vec<&str> = list.split_whitespace().collect();
                v.sort();
                v.join(" ")
            })
            .unwrap_or_default();
        let mut want = ips.to_vec();
        want.sort();
        assert_eq!(
            listed,
            want.join(" "),
            "{reader:?} status {jail}:\n{status}"
        );
    }
    let banned = ok(&conf, reader, "banned", client(&conf, reader, &["banned"]));
    for (jail, _, ips) in BANS {
        for ip in *ips {
            assert!(banned.contains(&format!("'{ip}'")), "{jail} {ip}: {banned}");
        }
    }
    // A restored ban is not stored a second time.
    let rows: i64 = {
        let db = rusqlite::Connection::open_with_flags(
            conf.path.join("lib/fail2ban.sqlite3"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap();
        db.query_row("SELECT count(*) FROM bans", [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(rows as usize, expected_rows().len(), "one bans row per ban");
    stop(&conf, reader);
    for (jail, _, _) in BANS {
        assert_eq!(chain(&second, &format!("f2b-{jail}")), "");
    }
    drop(second);
    assert_eq!(
        host_before,
        host_rules(),
        "the host firewall must not change"
    );
}

#[test]
fn ferroban_restores_the_bans_fail2ban_stored() {
    hand_over("db-interop-from-py", Tool::Reference, Tool::Ours);
}

#[test]
fn fail2ban_restores_the_bans_ferroban_stored() {
    hand_over("db-interop-to-py", Tool::Ours, Tool::Reference);
}
