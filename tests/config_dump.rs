//! `fail2ban-client -d` / `--dp` / `-t` against the real fail2ban-client on
//! the same directories: the stock tree, a many-jail jail.local, a 0.8-era
//! Courier tree, every stock jail enabled, a tree exercising the dialect, and
//! broken trees.

mod common;
use common::*;

/// Sorts runs of consecutive `addlogpath` lines: glob results come in
/// directory-listing order, the only order-dependent part of the output.
fn normalise(out: &str) -> Vec<String> {
    let mut lines: Vec<String> = out.lines().map(str::to_string).collect();
    let mut i = 0;
    while i < lines.len() {
        let mut j = i;
        while j < lines.len() && lines[j].contains("'addlogpath'") {
            j += 1;
        }
        lines[i..j].sort();
        i = j.max(i + 1);
    }
    lines
}

/// Runs both clients with `args` on `dir`; asserts equal stdout and status.
fn assert_same(dir: &str, args: &[&str]) -> String {
    let mut theirs = reference_client();
    theirs.arg("-c").arg(dir).args(args);
    let mut ours = our_client();
    ours.arg("-c").arg(dir).args(args);
    let (t, o) = (run(theirs), run(ours));
    let (ts, os) = (normalise(&stdout(&t)), normalise(&stdout(&o)));
    for (n, (a, b)) in ts.iter().zip(os.iter()).enumerate() {
        assert_eq!(
            a,
            b,
            "line {} of `-c {dir} {args:?}` differs\nstderr: {}",
            n + 1,
            stderr(&o)
        );
    }
    assert_eq!(
        ts.len(),
        os.len(),
        "line counts differ for {dir} {args:?}\nstderr: {}",
        stderr(&o)
    );
    assert_eq!(
        t.status.code(),
        o.status.code(),
        "exit status differs for {dir} {args:?}"
    );
    stdout(&o)
}

#[test]
fn stock_configuration_dumps_identically() {
    require_reference();
    let out = assert_same(STOCK_CONF, &["-d"]);
    assert!(out.contains("['start', 'sshd']"), "{out}");
    assert_same(STOCK_CONF, &["--dp"]);
}

#[test]
fn many_jails_with_actions_and_globs_dump_identically() {
    let tree = Scratch::with_stock("many");
    let logs = tree.path.join("logs");
    for f in [
        "auth.log",
        "mail.log",
        "mail.log.1",
        "nginx-a.error.log",
        "nginx-b.error.log",
        "fail2ban.log",
    ] {
        tree.write(&format!("logs/{f}"), "");
    }
    let l = logs.to_str().unwrap();
    tree.write(
        "jail.local",
        format!(
            "[DEFAULT]\nbanaction = iptables-multiport\nbanaction_allports = iptables-allports\n\
             ignoreip = 127.0.0.1/8 ::1 192.0.2.0/24\n\
             [sshd]\nenabled = true\nmode = aggressive\nlogpath = {l}/auth.log\naction = %(action_mwl)s\n\
             [courier-auth]\nenabled = true\nlogpath = {l}/mail.log*\nbantime = 1h\nfindtime = 20m\nmaxretry = 5\n\
             [postfix]\nenabled = true\nmode = more\nlogpath = {l}/mail.log tail\naction = %(action_)s\n  %(action_xarf)s\n\
             [dovecot]\nenabled = true\nlogpath = {l}/mail.log\nbanaction = nftables-multiport\nbantime.increment = true\nbantime.factor = 2\n\
             [recidive]\nenabled = true\nlogpath = {l}/fail2ban.log\n\
             [nginx-http-auth]\nenabled = true\nlogpath = {l}/nginx-*.error.log\naction = iptables[name=web, port=\"80,443\", protocol=tcp]\n  iptables-ipset[name=web6]\n"
        ),
    );
    let out = assert_same(tree.str(), &["-d"]);
    for jail in [
        "sshd",
        "courier-auth",
        "postfix",
        "dovecot",
        "recidive",
        "nginx-http-auth",
    ] {
        assert!(
            out.contains(&format!("['start', '{jail}']")),
            "{jail} missing:\n{out}"
        );
    }
    assert_same(tree.str(), &["--dp"]);
    assert_same(tree.str(), &["-t"]);
}

/// The classic Courier guide's 0.8-era tree, with 1.0.2's action.d.
fn courier_tree(name: &str, (maxretry, findtime, bantime): (u32, u32, u32)) -> Scratch {
    require_reference();
    let tree = Scratch::new(name);
    copy_dir(
        &std::path::Path::new(STOCK_CONF).join("action.d"),
        &tree.path.join("action.d"),
    );
    tree.write(
        "fail2ban.conf",
        "# ferroban test: a fail2ban.conf in 0.8 style\n[Definition]\nloglevel = 3\nlogtarget = /var/log/fail2ban.log\nsocket = /var/run/fail2ban/fail2ban.sock\n",
    );
    tree.write(
        "jail.conf",
        format!(
            "# ferroban test: the classic Courier jail\n[DEFAULT]\nignoreip = 127.0.0.1\nbantime  = 600\nmaxretry = 3\nbackend = polling\n\n\
             [ssh-iptables]\nenabled  = false\nfilter   = sshd\naction   = iptables[name=SSH, port=ssh, protocol=tcp]\nlogpath  = /var/log/secure\n\n\
             [courier-iptables]\nenabled  = true\nfilter   = courierlogin\naction   = iptables[name=Courier, port=143, protocol=tcp]\n\
             logpath  = /var/log/maillog\nbantime = {bantime}\nfindtime = {findtime}\nmaxretry = {maxretry}\n"
        ),
    );
    tree.write(
        "filter.d/courierlogin.conf",
        "# ferroban test: the 0.8-era courierlogin filter\n[Definition]\nfailregex = LOGIN FAILED, .*, ip=\\[<HOST>\\]$\nignoreregex =\n",
    );
    tree
}

#[test]
fn classic_courier_tree_dumps_identically() {
    let tree = courier_tree("courier08", (3, 600, 600));
    let out = assert_same(tree.str(), &["-d"]);
    assert!(
        out.contains("['set', 'courier-iptables', 'maxretry', 3]"),
        "{out}"
    );
    assert!(
        out.contains("['set', 'courier-iptables', 'findtime', '600']"),
        "{out}"
    );
    assert!(
        out.contains("['set', 'courier-iptables', 'addaction', 'iptables-Courier']"),
        "{out}"
    );
    assert!(
        out.contains("-p $proto --dport 143 -j f2b-Courier"),
        "{out}"
    );
    assert!(
        out.contains(
            "['set', 'courier-iptables', 'addfailregex', 'LOGIN FAILED, .*, ip=\\\\[<HOST>\\\\]$']"
        ),
        "{out}"
    );
}

#[test]
fn changed_courier_limits_show_in_the_dump() {
    let tree = courier_tree("courier08b", (5, 1200, 3600));
    let out = assert_same(tree.str(), &["-d"]);
    assert!(
        out.contains("['set', 'courier-iptables', 'maxretry', 5]"),
        "{out}"
    );
    assert!(
        out.contains("['set', 'courier-iptables', 'findtime', '1200']"),
        "{out}"
    );
    assert!(
        out.contains("['set', 'courier-iptables', 'bantime', '3600']"),
        "{out}"
    );
}

#[test]
fn courier_tree_without_action_d_reports_the_missing_action() {
    let tree = courier_tree("courier08c", (3, 600, 600));
    std::fs::remove_dir_all(tree.path.join("action.d")).unwrap();
    let out = assert_same(tree.str(), &["-d"]);
    assert!(
        out.contains("config-error") && out.contains("Unable to read action 'iptables'"),
        "{out}"
    );
    let o = run({
        let mut c = our_client();
        c.args(["-c", tree.str(), "-t"]);
        c
    });
    assert_eq!(o.status.code(), Some(255));
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "{}/jail.conf:17: unable to read the action 'iptables'",
            tree.str()
        )),
        "{err}"
    );
}

#[test]
fn every_stock_jail_enabled_dumps_identically() {
    let tree = Scratch::with_stock("alljails");
    let jail_conf = std::fs::read_to_string(tree.path.join("jail.conf")).unwrap();
    let mut local = String::new();
    for line in jail_conf.lines() {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            if !matches!(name, "INCLUDES" | "DEFAULT" | "Definition") {
                local.push_str(&format!("[{name}]\nenabled = true\n\n"));
            }
        }
    }
    assert!(local.matches("enabled").count() > 80);
    tree.write("jail.d/zz-all.local", local);
    assert_same(tree.str(), &["-d"]);
    assert_same(tree.str(), &["--dp"]);
}

/// A tree of our own that exercises the dialect: includes with .local twins,
/// [Init] and [Init?family=inet6], known/ and section references, nested tags,
/// inline comments, multi-line values with comments inside, several actions
/// with options, a Python action, journalmatch, and fail2ban.conf's [Thread].
#[test]
fn dialect_features_dump_identically() {
    require_reference();
    let tree = Scratch::new("dialect");
    let t = tree.str().to_string();
    tree.write(
        "fail2ban.conf",
        "[Definition]\nloglevel = NOTICE\nlogtarget = STDOUT\n[Thread]\nstacksize = 32\n",
    );
    tree.write(
        "fail2ban.d/db.local",
        "[Definition]\ndbpurgeage = 2d\ndbmaxmatches = 7\n",
    );
    tree.write(
        "jail.conf",
        format!(
            "[INCLUDES]\nbefore = paths.conf\n\
             [DEFAULT]\nignoreip = 127.0.0.1/8 ::1,  10.0.0.0/8\nbantime  = 1h\nfindtime: 10m ; an inline comment\nmaxretry = 3\n\
             backend = polling\nbanaction = myact\nmode = normal\nport = 0:65535\nchain = <known/chain>\nprotocol = tcp\n\
             action_ = %(banaction)s[name=%(__name__)s, port=\"%(port)s\", protocol=\"%(protocol)s\", chain=\"%(chain)s\"]\n\
             action = %(action_)s\n\
             [courier]\nenabled  = true\nfilter   = courierlogin[mode=%(mode)s, extra=\"a,b\"]\n\
             action   = myact[name=Courier, port=143, protocol=tcp]\n           myact[name=Courier2, port=\"80,443\"]\n           other.py[actname=py1, x=1]\n\
             logpath  = %(mylog)s\n           {t}/logs/*.log tail\nmaxretry = 5\nbantime.increment = yes\nbantime.factor = 2\nusedns = no\n\
             ignorecommand = /bin/true <ip>\nfailregex = %(known/failregex)s\n            extra <HOST> line\n\
             [off]\nenabled = false\nfilter = missing\n\
             [second]\nenabled = 1\nfilter = courierlogin\nlogpath = /nonexistent\naction = %(action_)s\n\
             datepattern = {{^LN-BEG}}\njournalmatch = _SYSTEMD_UNIT=x.service + _COMM=x\n\
             [third]\nenabled = true\nfilter = courierlogin[logtype=journal]\nbackend = systemd\naction = %(default/action_)s\n"
        ),
    );
    tree.write(
        "jail.d/extra.conf",
        "[courier]\nmaxmatches = %(maxretry)s\n",
    );
    tree.write(
        "paths.conf",
        format!("[DEFAULT]\nmylog = {t}/logs/main.log\n"),
    );
    tree.write(
        "paths.local",
        format!("[DEFAULT]\nmylog = {t}/logs/local.log\n"),
    );
    tree.write(
        "filter.d/common.conf",
        "[DEFAULT]\n__prefix_line = ^(?:\\S+\\s+)?%(_daemon)s(?:\\[\\d+\\])?:\\s+\n_daemon = \\S*\n",
    );
    tree.write(
        "filter.d/courierlogin.conf",
        "[INCLUDES]\nbefore = common.conf\n[Definition]\n_daemon = (?:courier)?(?:imapd?|pop3d?)(?:login)?(?:-ssl)?\n\
         failregex = %(__prefix_line)sLOGIN FAILED, .*, ip=\\[<HOST>\\]$\n            <mode_re>\n    # commented out\n\
         \x20           second <HOST> <extra>\nignoreregex =\ndatepattern = ^%%Y-%%m\n\
         [Init]\nmode_re = mode is <mode>\nmaxlines = 2\n[Init?family=inet6]\nmode_re = six\n",
    );
    tree.write(
        "filter.d/courierlogin.local",
        "[Definition]\nprefregex = ^<F-CONTENT>.+</F-CONTENT>$\n",
    );
    tree.write(
        "action.d/myact.conf",
        "[INCLUDES]\nafter = myact-after.conf\n[Definition]\nactionstart = echo start <name> <port> <chain>\n\
         actionban = echo ban <ip> <name> <matches> <bantime> <timeout> <cmd>\nactionunban = echo unban <ip>\n    second line \\\n\
         norestored = yes\nactionstart_on_demand = false\ncmd = <_cmd_<protocol>>\n_cmd_tcp = TCP!\n_cmd_udp = UDP!\n\
         [Init]\nchain = INPUT\ntimeout = 30\nblocktype = REJECT\n[Init?family=inet6]\nblocktype = REJECT6\n",
    );
    tree.write(
        "action.d/myact-after.conf",
        "[Definition]\nactionunban = echo overridden <ip> %(known/actionunban)s\n",
    );
    for f in ["main.log", "local.log", "a.log", "b.log"] {
        tree.write(&format!("logs/{f}"), "");
    }
    let out = assert_same(&t, &["-d"]);
    assert!(
        out.contains("['set', 'thread', {'stacksize': 32}]"),
        "{out}"
    );
    assert!(
        out.contains("<_cmd_<protocol>>") && out.contains("TCP!"),
        "{out}"
    );
    assert_same(&t, &["--dp"]);
    assert_same(&t, &["-t"]);
}

/// Broken trees: the same dump and status as fail2ban, and `-t` naming the
/// file and line of each problem.
#[test]
fn broken_trees_fail_like_fail2ban_and_name_file_and_line() {
    let cases: &[(&str, &[u8], &str)] = &[
        (
            "nofilter",
            b"[sshd]\nenabled = true\nfilter = nosuch\n",
            "jail.local:3: unable to read the filter 'nosuch'",
        ),
        (
            "noaction",
            b"[sshd]\nenabled = true\naction = nosuchaction[name=x]\n",
            "jail.local:3: unable to read the action 'nosuchaction'",
        ),
        (
            "parse",
            b"[sshd]\nenabled = true\njunk line\n",
            "jail.local:3: cannot parse this line",
        ),
        (
            "dup",
            b"[sshd]\nenabled = true\nenabled = false\n",
            "jail.local:3: option 'enabled' appears twice in section [sshd]",
        ),
        (
            "loop",
            b"[sshd]\nenabled = true\nbantime = %(x)s\nx = %(bantime)s\n",
            "jail.local:3: option 'bantime' in [sshd] nests",
        ),
        (
            "undef",
            b"[sshd]\nenabled = true\nbantime = %(nothere)s\n",
            "jail.local:3: option 'bantime' in [sshd] refers to %(nothere)s, which is not defined",
        ),
        (
            "badsyntax",
            b"[sshd]\nenabled = true\nbantime = 5%\n",
            "jail.local:3: option 'bantime' in [sshd] has a '%'",
        ),
        (
            "badopt",
            b"[sshd]\nenabled = true\naction = iptables[name=\"x\" y]\n",
            "jail.local:3: invalid options in",
        ),
        (
            "header",
            b"enabled = true\n",
            "jail.local:1: an option comes before any [section] header",
        ),
        (
            "garbage",
            b"[sshd]\nenabled = true\nport = \xff\xfe\n",
            "jail.local:3: warning: the file is not valid UTF-8",
        ),
        (
            "badint",
            b"[sshd]\nenabled = true\nmaxretry = five\n",
            "jail.local:3: warning: 'maxretry' should be an integer, not \"five\"",
        ),
        (
            "typo",
            b"[sshd]\nenabled = true\nport = 22\nmaxretyr = 3\n",
            "jail.local:4: warning: option 'maxretyr' in [sshd] is not a jail option",
        ),
    ];
    for (name, jail_local, expected) in cases {
        let tree = Scratch::with_stock(&format!("broken-{name}"));
        tree.write("jail.local", jail_local);
        assert_same(tree.str(), &["-d"]);
        let o = run({
            let mut c = our_client();
            c.args(["-c", tree.str(), "-t"]);
            c
        });
        assert_eq!(o.status.code(), Some(255), "{name}: -t must fail");
        let err = stderr(&o);
        let want = format!("{}/{expected}", tree.str());
        assert!(
            err.lines().any(|l| l.starts_with(&want)),
            "{name}: expected {want:?} in:\n{err}"
        );
        assert!(!err.contains("panicked"), "{name}: {err}");
    }
}

#[test]
fn test_mode_succeeds_on_a_sound_tree() {
    let tree = courier_tree("courier-ok", (3, 600, 600));
    let log = tree.write("maillog", "");
    let jail = std::fs::read_to_string(tree.path.join("jail.conf")).unwrap();
    tree.write(
        "jail.conf",
        jail.replace("/var/log/maillog", log.to_str().unwrap()),
    );
    assert_same(tree.str(), &["-t"]);
    let o = run({
        let mut c = our_client();
        c.args(["-c", tree.str(), "-t"]);
        c
    });
    assert_eq!(stdout(&o).trim(), "OK: configuration test is successful");
    assert_eq!(o.status.code(), Some(0));
}

#[test]
fn missing_directory_and_bad_loglevel_are_one_line_errors() {
    let o = run({
        let mut c = our_client();
        c.args(["-c", "/nonexistent/ferroban", "-d"]);
        c
    });
    assert_eq!(o.status.code(), Some(255));
    assert!(!stderr(&o).contains("panicked"));
    let tree = courier_tree("badlevel", (3, 600, 600));
    tree.write("fail2ban.local", "[Definition]\nloglevel = LOUD\n");
    let o = run({
        let mut c = our_client();
        c.args(["-c", tree.str(), "-d"]);
        c
    });
    assert_eq!(o.status.code(), Some(255));
    assert!(
        stdout(&o).contains("invalid log level 'LOUD'"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn a_huge_broken_file_gives_a_short_report() {
    let tree = Scratch::with_stock("huge");
    let mut text = String::from("[sshd]\nenabled = true\n");
    for i in 0..200_000 {
        text.push_str(&format!("junk line {i}\n"));
    }
    tree.write("jail.local", text);
    // Not compared with fail2ban here: Python builds its parse error message
    // by repeated concatenation and takes minutes on this file.
    let o = run({
        let mut c = our_client();
        c.args(["-c", tree.str(), "-d"]);
        c
    });
    assert_eq!(o.status.code(), Some(255));
    assert!(
        stdout(&o).contains("ERROR: The configuration stream failed"),
        "{}",
        stdout(&o)
    );
    let o = run({
        let mut c = our_client();
        c.args(["-c", tree.str(), "-t"]);
        c
    });
    assert_eq!(o.status.code(), Some(255));
    let err = stderr(&o);
    let listed = err.lines().filter(|l| l.starts_with(tree.str())).count();
    assert!((2..=22).contains(&listed), "{listed} lines:\n{err}");
    assert!(err.contains("and 199980 more lines with errors"), "{err}");
}

#[test]
fn unknown_command_line_options_give_one_line() {
    let o = run({
        let mut c = our_client();
        c.arg("--no-such-option");
        c
    });
    assert_eq!(o.status.code(), Some(255));
    assert_eq!(stdout(&o).lines().count(), 1, "{}", stdout(&o));
    assert!(stdout(&o).contains("--no-such-option"));
}
