//! Our own configuration tree, `etc/fail2ban/`, read by both clients:
//! `fail2ban-client -c DIR -d` prints the same command stream with Debian's
//! fail2ban 1.0.2 and with ours, for the courierlogin jail with each of our
//! actions, and `-t` passes with both when the jail's log exists. Also
//! checks the tree's own promises: every file opens with a comment, every
//! jail is off until a `.local` turns it on, the defaults are 600/600/3,
//! the paths files place Courier's log in Debian's mail.log, and no comment
//! or command line of ours is taken from fail2ban's (GPL) files.

mod common;
use common::*;
use std::path::{Path, PathBuf};

/// The tree under test, in the repository.
fn our_etc() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("etc/fail2ban")
}

/// A scratch copy of our tree (so jail.local and logs can be added).
fn copy_of_our_etc(name: &str) -> Scratch {
    let s = Scratch::new(name);
    copy_dir(&our_etc(), &s.path);
    s
}

/// Runs `-c DIR ARGS` with both clients; (stdout, exit status) of each.
fn both(conf: &Scratch, args: &[&str]) -> ((String, Option<i32>), (String, Option<i32>)) {
    let go = |mut c: std::process::Command| {
        c.args(["-c", conf.str()]).args(args);
        let o = run(c);
        (stdout(&o), o.status.code())
    };
    (go(reference_client()), go(our_client()))
}

const ACTIONS: [&str; 6] = [
    "iptables[name=Courier, port=143, protocol=tcp]",
    "iptables-multiport",
    "iptables-allports",
    "nftables-multiport",
    "nftables-allports",
    "dummy",
];

#[test]
fn courierlogin_with_each_action_compiles_identically_and_tests_ok() {
    let conf = copy_of_our_etc("etc-actions");
    let log = conf.write("mail.log", "");
    for action in ACTIONS {
        conf.write(
            "jail.local",
            format!(
                "[courierlogin]\nenabled = true\nlogpath = {}\naction = {action}\n",
                log.display()
            ),
        );
        let (reference, ours) = both(&conf, &["-d"]);
        assert_eq!(
            reference.1,
            Some(0),
            "{action}: reference -d failed:\n{}",
            reference.0
        );
        assert_eq!(ours, reference, "{action}: -d differs");
        let dump = &ours.0;
        let file = action.split('[').next().unwrap();
        for expected in [
            "['add', 'courierlogin', 'auto']".to_string(),
            format!(
                "['set', 'courierlogin', 'addlogpath', '{}', 'head']",
                log.display()
            ),
            format!("['set', 'courierlogin', 'addaction', '{file}"),
            "['start', 'courierlogin']".to_string(),
        ] {
            assert!(
                dump.contains(&expected),
                "{action}: {expected} missing:\n{dump}"
            );
        }
        assert!(
            dump.contains("LOGIN FAILED"),
            "{action}: no failregex:\n{dump}"
        );
        let (reference, ours) = both(&conf, &["-t"]);
        assert_eq!(
            reference,
            ("OK: configuration test is successful\n".into(), Some(0)),
            "{action}: reference -t"
        );
        assert_eq!(ours, reference, "{action}: our -t");
    }
}

#[test]
fn each_action_sends_what_it_promises() {
    let conf = copy_of_our_etc("etc-promises");
    let log = conf.write("mail.log", "");
    let dump = |action: &str| {
        conf.write(
            "jail.local",
            format!(
                "[courierlogin]\nenabled = true\nlogpath = {}\naction = {action}\n",
                log.display()
            ),
        );
        let mut c = our_client();
        c.args(["-c", conf.str(), "-d"]);
        let o = run(c);
        assert!(o.status.success(), "{action}: {}", stderr(&o));
        stdout(&o)
    };
    // The classic single-port form: chain f2b-Courier, REJECT with ICMP
    // port-unreachable (ICMPv6 for IPv6 hosts), started at the first ban.
    let d = dump("iptables[name=Courier, port=143, protocol=tcp]");
    for expected in [
        "-j f2b-Courier",
        "--dport 143",
        "['blocktype', 'REJECT --reject-with icmp-port-unreachable']",
        "['blocktype?family=inet6', 'REJECT --reject-with icmp6-port-unreachable']",
        "['iptables?family=inet6', 'ip6tables <lockingopt>']",
        "['actionstart_on_demand', True]",
        "['actionban', '<iptables> -I f2b-Courier 1 -s <ip> -j <blocktype>']",
    ] {
        assert!(d.contains(expected), "{expected} missing:\n{d}");
    }
    // Named bare, an action takes its own default port (ssh), as in fail2ban.
    let d = dump("iptables-multiport");
    assert!(
        d.contains("-m multiport --dports ssh -j f2b-courierlogin"),
        "{d}"
    );
    let d = dump("iptables-multiport[port=\"imap,imaps,pop3,pop3s\"]");
    assert!(
        d.contains("-m multiport --dports imap,imaps,pop3,pop3s -j f2b-courierlogin"),
        "{d}"
    );
    let d = dump("iptables-allports");
    assert!(
        d.contains("-p $proto  -j f2b-courierlogin") && !d.contains("dport"),
        "{d}"
    );
    let d = dump("nftables-multiport");
    for expected in [
        "['actionstart_on_demand', True]",
        "$proto dport \\\\{ $(echo 'ssh' | tr ':' '-') \\\\} <addr_family> saddr @<addr_set> reject",
        "['addr_set?family=inet6', 'addr6-set-<name>']",
    ] {
        assert!(d.contains(expected), "{expected} missing:\n{d}");
    }
    let d = dump("nftables-allports");
    assert!(
        d.contains("meta l4proto \\\\{ tcp \\\\}") && !d.contains("dport"),
        "{d}"
    );
    let d = dump("dummy");
    assert!(
        d.contains("['actionban', \"echo '+<ip>' >> /var/run/fail2ban/fail2ban.dummy\"]"),
        "{d}"
    );
}

#[test]
fn enabled_true_is_all_a_courier_user_needs() {
    let conf = copy_of_our_etc("etc-enable");
    // Nothing runs without a .local: every jail is off by default.
    let (reference, ours) = both(&conf, &["-d"]);
    assert_eq!(reference.1, Some(0), "{}", reference.0);
    assert_eq!(ours, reference);
    assert!(
        !ours.0.contains("['add'"),
        "a jail is on by default:\n{}",
        ours.0
    );

    // Debian's mail log, moved by paths-overrides.local to a file of ours.
    let log = conf.write("mail.log", "");
    conf.write(
        "paths-overrides.local",
        format!("[DEFAULT]\nsyslog_mail = {}\n", log.display()),
    );
    conf.write("jail.local", "[courierlogin]\nenabled = true\n");
    let (reference, ours) = both(&conf, &["-d"]);
    assert_eq!(reference.1, Some(0), "{}", reference.0);
    assert_eq!(ours, reference);
    let d = ours.0;
    for expected in [
        "['add', 'courierlogin', 'auto']".to_string(),
        "['set', 'courierlogin', 'maxretry', 3]".into(),
        "['set', 'courierlogin', 'findtime', '600']".into(),
        "['set', 'courierlogin', 'bantime', '600']".into(),
        format!(
            "['set', 'courierlogin', 'addlogpath', '{}', 'head']",
            log.display()
        ),
        "['set', 'courierlogin', 'addaction', 'iptables-multiport']".into(),
        "['port', 'imap,imaps,pop3,pop3s']".into(),
        "['start', 'courierlogin']".into(),
    ] {
        assert!(d.contains(&expected), "{expected} missing:\n{d}");
    }
    let (reference, ours) = both(&conf, &["-t"]);
    assert_eq!(
        reference,
        ("OK: configuration test is successful\n".into(), Some(0))
    );
    assert_eq!(ours, reference);

    // Without the override the jail follows Debian's /var/log/mail.log:
    // `-t` passes with both clients if it exists, and fails with both if not.
    std::fs::remove_file(conf.path.join("paths-overrides.local")).unwrap();
    let (reference, ours) = both(&conf, &["-t"]);
    let expected = if Path::new("/var/log/mail.log").exists() {
        0
    } else {
        255
    };
    assert_eq!(reference.1, Some(expected), "{}", reference.0);
    assert_eq!(ours.1, reference.1, "{}", ours.0);
    let (reference, ours) = both(&conf, &["-d"]);
    assert_eq!(ours, reference);
    assert_eq!(
        ours.0
            .contains("['set', 'courierlogin', 'addlogpath', '/var/log/mail.log', 'head']"),
        expected == 0,
        "{}",
        ours.0
    );
}

/// Every file of ours, relative to etc/fail2ban.
fn our_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.push(p);
            }
        }
    }
    let mut v = Vec::new();
    walk(&our_etc(), &mut v);
    v.sort();
    v
}

#[test]
fn every_file_opens_with_a_comment_saying_what_it_is_for() {
    let files = our_files();
    assert!(files.len() >= 13, "{files:?}");
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        assert!(
            text.starts_with("# ferroban: "),
            "{} does not open with its purpose",
            f.display()
        );
    }
}

#[test]
fn no_comment_or_command_is_taken_from_fail2bans_files() {
    require_reference();
    let mut stock = std::collections::HashSet::new();
    fn walk(dir: &Path, stock: &mut std::collections::HashSet<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, stock);
            } else if let Ok(t) = std::fs::read_to_string(&p) {
                stock.extend(t.lines().map(|l| l.trim().to_string()));
            }
        }
    }
    walk(Path::new(STOCK_CONF), &mut stock);
    assert!(stock.len() > 1000, "the stock tree was not read");
    let mut shared = Vec::new();
    for f in our_files() {
        for line in std::fs::read_to_string(&f).unwrap().lines() {
            let l = line.trim();
            // Option names with their default values are the interface we
            // stay compatible with; prose and commands must be our own.
            let is_setting = l.split_once('=').is_some_and(|(k, v)| {
                let k = k.trim();
                let is_command = k.starts_with("action") && k.len() > "action".len();
                let uses_tool = v.contains("<iptables>") || v.contains("<nftables>");
                !(k.contains(' ') || is_command || uses_tool)
            });
            let is_section = l.starts_with('[') && l.ends_with(']');
            if l.len() >= 16 && stock.contains(l) && !is_setting && !is_section {
                shared.push(format!("{}: {l}", f.display()));
            }
        }
    }
    assert!(
        shared.is_empty(),
        "lines identical to fail2ban's:\n{}",
        shared.join("\n")
    );
}

#[test]
fn server_settings_are_debians() {
    // fail2ban.conf: the server part of the stream (everything before the
    // jails) is the same as with Debian's own tree.
    let server_part = |conf: &str| {
        let o = run({
            let mut c = reference_client();
            c.args(["-c", conf, "-d"]);
            c
        });
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o)
            .lines()
            .take_while(|l| !l.starts_with("['add'"))
            .map(|l| format!("{l}\n"))
            .collect::<String>()
    };
    let stock = Scratch::with_stock("etc-server-stock");
    std::fs::remove_dir_all(stock.path.join("jail.d")).unwrap();
    let ours = copy_of_our_etc("etc-server-ours");
    let expected = server_part(stock.str());
    assert!(
        expected.contains("['set', 'dbpurgeage', '1d']"),
        "{expected}"
    );
    assert_eq!(server_part(ours.str()), expected);
}
