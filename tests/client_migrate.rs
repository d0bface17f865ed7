//! `fail2ban-client migrate` on a copy of a Python fail2ban setup: the
//! classic 0.8-era Courier jail is reported as matching none of today's
//! Courier 5 lines, a Python action is named with its file and line, and the
//! service swap is printed as steps.

mod common;
use common::*;

#[test]
fn migrate_reports_the_dead_courier_filter_and_unsupported_actions() {
    let tree = Scratch::with_stock("migrate");
    let t = unix_now() - 3600.0;
    let log: String = (0..50)
        .map(|i| courier_failure(t, &format!("192.0.2.{i}")))
        .collect();
    let maillog = tree.write("maillog", log);
    tree.write(
        "filter.d/courierlogin.conf",
        "[Definition]\nfailregex = LOGIN FAILED, .*, ip=\\[<HOST>\\]$\n",
    );
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
