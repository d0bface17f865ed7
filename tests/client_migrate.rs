//! `fail2ban-client migrate` on a copy of a Python fail2ban setup: the
//! classic 0.8-era Courier jail is reported as matching none of today's
//! Courier 5 lines, a Python action is named with its file and line, and the
//! service swap is printed as steps; bans in a Python fail2ban database are
//! reported, and restored by ferroban started on the same tree.

mod common;
use common::*;

/// Writes `log`, 50 Courier failures at time `t` from `prefix`.0 to
/// `prefix`.49, and the 0.8-era courierlogin filter
/// (`LOGIN FAILED, .*, ip=\[<HOST>\]$`), which no longer matches them.
fn old_courier_setup(tree: &Scratch, log: &str, t: f64, prefix: &str) -> std::path::PathBuf {
    let lines: String = (0..50)
        .map(|i| courier_failure(t, &format!("{prefix}.{i}")))
        .collect();
    let path = tree.write(log, lines);
    tree.write(
        "filter.d/courierlogin.conf",
        "[Definition]\nfailregex = LOGIN FAILED, .*, ip=\\[<HOST>\\]$\n",
    );
    path
}

#[test]
fn migrate_reports_the_dead_courier_filter_and_unsupported_actions() {
    let tree = Scratch::with_stock("migrate");
    let maillog = old_courier_setup(&tree, "maillog", unix_now() - 3600.0, "192.0.2");
    tree.write(
        "jail.local",
        format!(
            "[courier-iptables]\nenabled = true\nfilter = courierlogin\naction = iptables[name=Courier, port=143, protocol=tcp]\n         smtp.py[dest=root]\nlogpath = {m}\n\
             [courier-auth]\nenabled = true\nlogpath = {m}\n",
            m = maillog.display()
        ),
    );
    let (out, code) = client_in(&tree, &["migrate"]);
    assert_eq!(code, Some(0), "{out}");
    let m = maillog.display();
    assert!(
        out.contains(&format!(
            "courier-iptables: {m}: 0 of 50 lines match  WARNING: the filter matches none of them"
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!("courier-auth: {m}: 50 of 50 lines match\n")),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "{}/jail.local:4: jail 'courier-iptables': Python action",
            tree.str()
        )),
        "{out}"
    );
    assert!(
        out.contains("courier-iptables: bans after 5 failures within 600 s for 600 s (1 log file(s)), actions: iptables-Courier"),
        "{out}"
    );
    assert!(out.contains("1. systemctl stop fail2ban"), "{out}");
}

/// Bans in Python fail2ban's database are reported (read from a copy: the
/// file is left as it was) as what ferroban's first start restores.
#[test]
fn migrate_reports_the_bans_in_fail2bans_database() {
    let tree = Scratch::with_stock("migrate-db");
    let db = tree.path.join("f2b.sqlite3");
    let log = tree.write("auth.log", "");
    tree.write(
        "fail2ban.local",
        format!("[Definition]\ndbfile = {}\n", db.display()),
    );
    tree.write(
        "jail.local",
        format!("[sshd]\nenabled = true\nlogpath = {}\n", log.display()),
    );
    // Python fail2ban's own database code writes two active bans for sshd.
    let script = format!(
        "import sys, time\nsys.path.insert(0, '/usr/lib/python3/dist-packages')\n\
         from fail2ban.server.database import Fail2BanDb\nfrom fail2ban.server.ticket import FailTicket\n\
         class A:\n    def getBanTime(self): return 600\n\
         class J:\n    name = 'sshd'\n    actions = A()\n    def getMaxMatches(self): return 5\n\
         db = Fail2BanDb('{}')\nj = J()\ndb.addJail(j)\n\
         for ip in ('192.0.2.1', '192.0.2.2'):\n    t = FailTicket(ip, time.time())\n    t.setBanTime(86400)\n    db.addBan(j, t)\n",
        db.display()
    );
    let o = std::process::Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(&script)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let before = std::fs::read(&db).unwrap();
    let (out, code) = client_in(&tree, &["migrate"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("  sshd: 2 active"), "{out}");
    assert_eq!(
        std::fs::read(&db).unwrap(),
        before,
        "the report must not change the database"
    );
}

/// The whole move on a copy of a Python fail2ban setup with active bans:
/// Debian's fail2ban-server runs the classic Courier jail (0.8-era filter,
/// `iptables[name=Courier, port=143, protocol=tcp]`, its database in the
/// copy) and bans two addresses; it is stopped; `migrate` reports the dead
/// filter and the two bans; ferroban's server, started on the same tree,
/// restores both bans ("Restore Ban", `banned`, the REJECT rules). Both
/// servers run in private network namespaces, never on the host's firewall.
#[test]
fn migrate_carries_the_bans_of_a_python_setup_over() {
    use common::netns::*;
    require_root_and_tools(&["unshare", "nsenter", "iptables"]);
    let host_before = host_rules();
    let tree = Scratch::server_tree("migrate-carry");
    let p = tree.str().to_string();
    tree.write(
        "fail2ban.local",
        format!(
            "[Definition]\nlogtarget = {p}/server.log\nsocket = {p}/run/s.sock\n\
             pidfile = {p}/s.pid\ndbfile = {p}/fail2ban.sqlite3\n"
        ),
    );
    let maillog = old_courier_setup(&tree, "mail.log", unix_now() - 60.0, "198.51.100");
    tree.write(
        "jail.local",
        format!(
            "[courier-iptables]\nenabled = true\nfilter = courierlogin\n\
             action = iptables[name=Courier, port=143, protocol=tcp]\nlogpath = {}\n\
             maxretry = 3\nfindtime = 600\nbantime = 3600\n",
            maillog.display()
        ),
    );
    let banned = ["192.0.2.1", "192.0.2.2"];
    let rule = |ip: &str| format!("-A f2b-Courier -s {ip}/32 -j REJECT");

    // Python fail2ban, the setup being moved: two bans, then stopped.
    let start = run({
        let mut c = std::process::Command::new("unshare");
        c.arg("--net")
            .arg(REFERENCE_CLIENT)
            .args(["-c", &p, "start"]);
        c
    });
    assert!(
        start.status.success(),
        "{}{}",
        stdout(&start),
        stderr(&start)
    );
    let mut python_server = StopOnDrop::new(REFERENCE_CLIENT, &p);
    let python = |args: &[&str]| {
        let mut c = reference_client();
        c.args(["-c", &p]).args(args);
        run(c)
    };
    let ban = python(&["set", "courier-iptables", "banip", banned[0], banned[1]]);
    assert!(ban.status.success(), "{}{}", stdout(&ban), stderr(&ban));
    let status = stdout(&python(&["status", "courier-iptables"]));
    assert!(status.contains("Currently banned:\t2"), "{status}");
    python_server.stop();
    let python_log = tree.server_log();
    std::fs::write(tree.path.join("server.log"), "").unwrap();

    // The report: the dead filter and the two bans.
    let (out, code) = client_in(&tree, &["migrate"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains(&format!(
            "courier-iptables: {}: 0 of 50 lines match  WARNING: the filter matches none of them",
            maillog.display()
        )),
        "{out}"
    );
    assert!(
        out.contains("  courier-iptables: 2 active"),
        "{out}\n{python_log}"
    );

    // ferroban on the same tree restores both bans.
    let start = run({
        let mut c = std::process::Command::new("unshare");
        c.arg("--net")
            .arg(env!("CARGO_BIN_EXE_fail2ban-client"))
            .args(["-c", &p, "start"]);
        c
    });
    assert!(
        start.status.success(),
        "{}{}",
        stdout(&start),
        stderr(&start)
    );
    let mut ours = StopOnDrop::new(env!("CARGO_BIN_EXE_fail2ban-client"), &p);
    let pid: u32 = std::fs::read_to_string(tree.path.join("s.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // Keeps the namespace for the check after `stop`.
    let holder = Holder::join_net(pid);
    let rules = || firewall_in(holder.pid(), "iptables", &["-S"]);
    wait_for("both bans restored in the firewall", || {
        let r = rules();
        banned.iter().all(|ip| r.contains(&rule(ip)))
    });
    let log = tree.server_log();
    for ip in banned {
        assert!(
            log.contains(&format!("NOTICE  [courier-iptables] Restore Ban {ip}")),
            "{log}"
        );
    }
    let (list, _) = client_in(&tree, &["get", "courier-iptables", "banned"]);
    assert!(
        banned.iter().all(|ip| list.contains(ip)),
        "banned lists both: {list}"
    );
    ours.stop();
    assert!(!rules().contains("f2b-Courier"), "{}", rules());
    drop(holder);
    assert_eq!(
        host_before,
        host_rules(),
        "the host firewall must not change"
    );
}
