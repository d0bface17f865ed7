//! The whole pipeline on every stock filter, ours beside Debian's
//! fail2ban-server in the same run.
//!
//! One configuration tree is built from the installed /etc/fail2ban (copied
//! at run time) with a generated jail.local: every stock jail of jail.conf
//! whose filter has a sample log in the installed package's
//! `tests/files/logs`, plus one jail per `# filterOptions:` variant of those
//! logs (the filter's modes), two with findtime 600 and five with maxretry 3.
//! Each has its own empty log file, the polling backend, permanent bans,
//! `maxretry = 1` and a findtime of 63 years (so the samples' old dates
//! count on the first read) unless said otherwise, and an action that only
//! appends `jail ip` to a file. Both servers run on copies of that tree and
//! follow the same log files.
//!
//! Compared, answer by answer: `status`, each jail's settings (`get JAIL
//! failregex`, …), then twice `banned`, each jail's `status JAIL` and `get
//! JAIL banip` and the bans its action recorded: after the samples' lines are appended
//! to the empty files (fail2ban's first read, which keeps the lines' own
//! dates) and after they are appended once more (in operation, where
//! fail2ban treats a date more than a minute off as now). Differences are
//! printed as a table; any not in [`ALLOWED`] (each also explained in
//! compat/DIFFERENCES.md) fails the test. The sample logs are never copied
//! into this repository.

mod common;

use common::*;
use ferroban::client::beautify::{beautify, beautify_error};
use ferroban::protocol::{Client, Reply};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where the installed fail2ban keeps its sample logs.
const SAMPLES: &str = "/usr/lib/python3/dist-packages/fail2ban/tests/files/logs";

/// Known, explained differences: (jail or `*`, what was compared (its first
/// word), why). Each is also listed in compat/DIFFERENCES.md as
/// `` `JAIL` `WHAT` `` (the test checks it is there).
const ALLOWED: &[(&str, &str, &str)] = &[
    (
        "*",
        "actionproperties",
        "fail2ban lists dir() of its Python action object, class internals included (ESCAPE_CRE, ESCAPE_VN_CRE)",
    ),
    (
        "*",
        "actionmethods",
        "fail2ban lists dir() of its Python action object, helper methods included (escapeTag, executeCmd, replaceTag, ...)",
    ),
];

/// A findtime reaching back 63 years, before the oldest sample date.
const LONG_FINDTIME: &str = "2000000000";

/// One jail under test: its name, the `filter =` it gets (None keeps the
/// stock jail's) and the sample log whose lines it is fed.
struct JailPlan {
    name: String,
    filter: Option<String>,
    sample: String,
    findtime: &'static str,
    maxretry: u32,
}

/// The stock jails of jail.conf with the filter each uses (its base name).
fn stock_jails(jail_conf: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut section: Option<String> = None;
    let mut filter: Option<String> = None;
    let mut flush = |section: &Option<String>, filter: &Option<String>| {
        if let Some(s) = section {
            if s != "DEFAULT" && s != "INCLUDES" {
                // jail.conf's DEFAULT: filter = %(__name__)s[mode=%(mode)s].
                let f = filter.clone().unwrap_or_else(|| s.clone());
                let base = f.split('[').next().unwrap_or("").trim();
                let base = base.replace("%(__name__)s", s);
                out.push((s.clone(), base));
            }
        }
    };
    for line in jail_conf.lines() {
        let t = line.trim_end();
        if let Some(name) = t.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            flush(&section, &filter);
            section = Some(name.to_string());
            filter = None;
        } else if let Some((k, v)) = t.split_once('=') {
            if k.trim() == "filter" && !t.starts_with([' ', '\t', '#', ';']) {
                filter = Some(v.trim().to_string());
            }
        }
    }
    flush(&section, &filter);
    out
}

/// The distinct option sets of a sample log's `# filterOptions:` lines
/// (test-only `test.*` keys dropped), as `key=value` lists.
fn filter_variants(sample: &str) -> Vec<Vec<(String, String)>> {
    let mut out: Vec<Vec<(String, String)>> = Vec::new();
    for line in sample.lines() {
        let Some(rest) = line
            .strip_prefix('#')
            .map(str::trim_start)
            .and_then(|r| r.strip_prefix("filterOptions:"))
        else {
            continue;
        };
        // The options are flat JSON objects of strings: {"mode": "aggressive"}.
        for obj in rest.split('}') {
            let Some(body) = obj.split('{').nth(1) else {
                continue;
            };
            let mut opts: Vec<(String, String)> = body
                .split(',')
                .filter_map(|kv| {
                    let (k, v) = kv.split_once(':')?;
                    let k = k.trim().trim_matches('"').to_string();
                    let v = v.trim().trim_matches('"').to_string();
                    (!k.starts_with("test.")).then_some((k, v))
                })
                .collect();
            opts.sort();
            if !out.contains(&opts) {
                out.push(opts);
            }
        }
    }
    out
}

/// The jails to run: stock jails whose filter has a sample, then one jail per
/// filterOptions variant of each sample.
fn plan(conf: &Path) -> Vec<JailPlan> {
    let samples = Path::new(SAMPLES);
    let has_filter = |f: &str| conf.join(format!("filter.d/{f}.conf")).is_file();
    let jail_conf = std::fs::read_to_string(conf.join("jail.conf")).expect("jail.conf readable");
    let mut plans: Vec<JailPlan> = Vec::new();
    let mut filters: BTreeSet<String> = BTreeSet::new();
    for (jail, filter) in stock_jails(&jail_conf) {
        if samples.join(&filter).is_file() && has_filter(&filter) {
            filters.insert(filter.clone());
            plans.push(JailPlan {
                name: jail,
                filter: None,
                sample: filter,
                findtime: LONG_FINDTIME,
                maxretry: 1,
            });
        }
    }
    for f in &filters {
        let text = String::from_utf8_lossy(&std::fs::read(samples.join(f)).unwrap()).into_owned();
        for opts in filter_variants(&text) {
            let suffix = if opts.is_empty() {
                "plain".to_string()
            } else {
                opts.iter()
                    .map(|(k, v)| format!("{k}-{v}"))
                    .collect::<Vec<_>>()
                    .join("_")
            };
            let args = opts
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", ");
            plans.push(JailPlan {
                name: format!("{f}_{suffix}"),
                filter: Some(format!("{f}[{args}]")),
                sample: f.clone(),
                findtime: LONG_FINDTIME,
                maxretry: 1,
            });
        }
    }
    // With fail2ban's usual findtime the samples' dates are too old for the
    // first read and count as "now" in operation.
    for f in ["sshd", "nginx-http-auth"] {
        plans.push(JailPlan {
            name: format!("{f}_findtime-600"),
            filter: Some(f.to_string()),
            sample: f.to_string(),
            findtime: "600",
            maxretry: 1,
        });
    }
    // A few with maxretry 3, so that failures are also counted without a ban.
    for f in ["sshd", "dovecot", "postfix", "apache-auth", "exim"] {
        plans.push(JailPlan {
            name: format!("{f}_maxretry-3"),
            filter: Some(f.to_string()),
            sample: f.to_string(),
            findtime: LONG_FINDTIME,
            maxretry: 3,
        });
    }
    plans
}

/// A sample log's lines without its `#` comments and blank lines, as bytes
/// (some are not UTF-8 or end in CRLF, and stay so).
fn sample_lines(sample: &str) -> Vec<u8> {
    let bytes = std::fs::read(Path::new(SAMPLES).join(sample)).unwrap();
    let mut out = Vec::new();
    for line in bytes.split(|&b| b == b'\n') {
        if line.starts_with(b"#") || line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    out
}

/// The generated jail.local: every planned jail on its own log file.
fn jail_local(plans: &[JailPlan], logs: &Path) -> String {
    let mut s = String::new();
    for p in plans {
        s.push_str(&format!("[{}]\nenabled = true\n", p.name));
        if let Some(f) = &p.filter {
            s.push_str(&format!("filter = {f}\n"));
        }
        s.push_str(&format!(
            "backend = polling\nlogpath = {}/{}.log\nusedns = no\nmaxretry = {}\n\
             findtime = {}\nbantime = -1\naction = stockdiff-record[name={}]\n\n",
            logs.display(),
            p.name,
            p.maxretry,
            p.findtime,
            p.name
        ));
    }
    s
}

/// The only action: `jail ip` appended to the file named by $STOCKDIFF_BANS.
const RECORD_ACTION: &str = "[Definition]\nactionstart =\nactionstop =\nactioncheck =\n\
actionban = echo '<name> <ip>' >> \"$STOCKDIFF_BANS\"\nactionunban =\n\n[Init]\nname = default\n";

/// One server (ours or fail2ban's) on its own copy of the tree, killed by
/// PID when dropped.
struct Server {
    label: &'static str,
    conf: Scratch,
    bans: PathBuf,
    child: Option<Child>,
}

impl Server {
    fn start(label: &'static str, binary: &str, jail_local: &str, loglevel: &str) -> Server {
        let conf = Scratch::server_tree(&format!("stockdiff-{label}"));
        std::fs::create_dir_all(conf.path.join("run")).unwrap();
        let p = conf.path.display().to_string();
        conf.write(
            "fail2ban.local",
            format!(
                "[Definition]\nloglevel = {loglevel}\nlogtarget = {p}/server.log\n\
                 socket = {p}/run/s.sock\npidfile = {p}/s.pid\ndbfile = None\n"
            ),
        );
        conf.write("jail.local", jail_local);
        conf.write("action.d/stockdiff-record.conf", RECORD_ACTION);
        let bans = conf.write("bans.txt", "");
        let out = std::fs::File::create(conf.path.join("stdout.txt")).unwrap();
        let child = Command::new(binary)
            .args(["-xf", "-c", conf.str(), "start"])
            .env("STOCKDIFF_BANS", &bans)
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        Server {
            label,
            conf,
            bans,
            child: Some(child),
        }
    }

    fn socket(&self) -> PathBuf {
        self.conf.path.join("run/s.sock")
    }

    fn alive(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    /// A connection, once the server listens.
    fn connect(&mut self) -> Client {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(mut c) = Client::connect(self.socket()) {
                c.set_timeout(Some(Duration::from_secs(30))).unwrap();
                return c;
            }
            assert!(
                self.alive(),
                "{} server exited: {}",
                self.label,
                self.conf.server_log()
            );
            assert!(
                Instant::now() < deadline,
                "{} server never listened",
                self.label
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The recorded bans, by jail, sorted.
    fn bans(&self) -> BTreeMap<String, Vec<String>> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for line in std::fs::read_to_string(&self.bans)
            .unwrap_or_default()
            .lines()
        {
            let (jail, ip) = line.split_once(' ').unwrap_or((line, ""));
            out.entry(jail.to_string())
                .or_default()
                .push(ip.to_string());
        }
        for v in out.values_mut() {
            v.sort();
        }
        out
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A command's answer as fail2ban-client prints it.
fn ask(client: &mut Client, cmd: &[&str]) -> String {
    let owned: Vec<String> = cmd.iter().map(|s| s.to_string()).collect();
    let answer = match client.send_strs(cmd) {
        Ok(Reply::Answer { code: 0, result }) => beautify(&owned, &result),
        Ok(Reply::Answer { code, result }) => format!("code {code}: {result}"),
        Ok(Reply::Failure { error, .. }) => format!("ERROR {}", beautify_error(&error)),
        Ok(Reply::Other(v)) => format!("OTHER {v}"),
        Err(e) => format!("WIRE ERROR {e}"),
    };
    // Each server has its own copy of the tree (e.g. in ignorecommand paths).
    let tree = std::env::temp_dir().join("ferroban-stockdiff-");
    let pid = format!("-{}", std::process::id());
    let mut out = answer;
    for label in ["ours", "python"] {
        out = out.replace(&format!("{}{label}{pid}", tree.display()), "TREE");
    }
    out
}

/// One difference: (phase, jail, what, ours, fail2ban's).
type Diff = (String, String, String, String, String);

/// The per-jail settings compared right after start.
const GETS: &[&[&str]] = &[
    &["logpath"],
    &["logencoding"],
    &["journalmatch"],
    &["ignoreself"],
    &["ignorecommand"],
    &["failregex"],
    &["prefregex"],
    &["ignoreregex"],
    &["usedns"],
    &["maxretry"],
    &["maxmatches"],
    &["findtime"],
    &["bantime"],
    &["datepattern"],
    &["logtimezone"],
    &["maxlines"],
    &["actions"],
    &["action", "stockdiff-record", "actionban"],
    &["actionproperties", "stockdiff-record"],
    &["actionmethods", "stockdiff-record"],
    &["bantime.increment"],
    &["ignorecache"],
];

/// Each jail's `status` on both servers, until the answers stop changing
/// for 3 s (fail2ban polls every second).
fn settled_status(ours: &mut Server, theirs: &mut Server, jails: &[String]) {
    let mut a = ours.connect();
    let mut b = theirs.connect();
    let snapshot = |c: &mut Client, s: &Server| -> String {
        let mut out = String::new();
        for j in jails {
            out.push_str(&ask(c, &["status", j]));
        }
        out.push_str(&std::fs::read_to_string(&s.bans).unwrap_or_default());
        out
    };
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut last = (String::new(), String::new());
    let mut quiet_since = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(400));
        let now = (snapshot(&mut a, ours), snapshot(&mut b, theirs));
        if now != last {
            last = now;
            quiet_since = Instant::now();
        } else if quiet_since.elapsed() > Duration::from_secs(3) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the servers never settled after 90 s"
        );
    }
}

/// Compares the jails' state after the lines of one phase.
fn compare_state(
    phase: &str,
    ours: &mut Server,
    theirs: &mut Server,
    jails: &[String],
    diffs: &mut Vec<Diff>,
) {
    settled_status(ours, theirs, jails);
    let mut a = ours.connect();
    let mut b = theirs.connect();
    for j in jails {
        for cmd in [
            &["status", j.as_str()][..],
            &["get", j.as_str(), "banip"][..],
        ] {
            let (x, y) = (ask(&mut a, cmd), ask(&mut b, cmd));
            if x != y {
                diffs.push((phase.into(), j.clone(), cmd.join(" "), x, y));
            }
        }
    }
    let (x, y) = (ask(&mut a, &["banned"]), ask(&mut b, &["banned"]));
    if x != y {
        diffs.push((phase.into(), "-".into(), "banned".into(), x, y));
    }
    let (x, y) = (ours.bans(), theirs.bans());
    for j in jails {
        let (bx, by) = (x.get(j).cloned(), y.get(j).cloned());
        if bx != by {
            diffs.push((
                phase.into(),
                j.clone(),
                "recorded bans".into(),
                format!("{bx:?}"),
                format!("{by:?}"),
            ));
        }
    }
}

/// Appends every jail's sample lines to its log file.
fn append_samples(plans: &[JailPlan], logs: &Path) {
    use std::io::Write;
    for p in plans {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(logs.join(format!("{}.log", p.name)))
            .unwrap();
        f.write_all(&sample_lines(&p.sample)).unwrap();
    }
}

#[test]
fn stock_filters_through_both_servers() {
    require_reference();
    assert!(
        Path::new(SAMPLES).is_dir(),
        "fail2ban's sample logs are needed (apt-get install fail2ban); looked in {SAMPLES}"
    );
    let started = Instant::now();
    let logs = Scratch::new("stockdiff-logs");
    let plans = plan(Path::new(STOCK_CONF));
    assert!(plans.len() > 80, "too few jails planned: {}", plans.len());
    for p in &plans {
        logs.write(&format!("{}.log", p.name), "");
    }
    let local = jail_local(&plans, &logs.path);
    let mut ours = Server::start(
        "ours",
        env!("CARGO_BIN_EXE_fail2ban-server"),
        &local,
        "INFO",
    );
    // DEBUG: fail2ban logs "<file> has been modified" at its first poll.
    let mut theirs = Server::start("python", REFERENCE_SERVER, &local, "DEBUG");

    let jails: Vec<String> = plans.iter().map(|p| p.name.clone()).collect();
    let mut diffs: Vec<Diff> = Vec::new();
    let want_started = |s: &mut Server| {
        let mut c = s.connect();
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let st = ask(&mut c, &["status"]);
            if st.contains(&format!("Number of jail:\t{}", jails.len())) {
                return st;
            }
            assert!(
                Instant::now() < deadline,
                "{} never started all jails: {st}\n{}",
                s.label,
                s.conf.server_log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let (sa, sb) = (want_started(&mut ours), want_started(&mut theirs));
    if sa != sb {
        diffs.push(("start".into(), "-".into(), "status".into(), sa, sb));
    }
    // Lines must arrive after each server's first look at the empty files:
    // fail2ban would otherwise seek them by time as a backlog.
    wait_for_polls(&theirs, &plans, &logs.path, 1);
    println!(
        "both servers ready after {:.1} s",
        started.elapsed().as_secs_f64()
    );

    {
        let mut a = ours.connect();
        let mut b = theirs.connect();
        for j in &jails {
            for get in GETS {
                let cmd: Vec<&str> = ["get", j.as_str()]
                    .iter()
                    .chain(get.iter())
                    .copied()
                    .collect();
                let (x, y) = (ask(&mut a, &cmd), ask(&mut b, &cmd));
                if x != y {
                    diffs.push(("settings".into(), j.clone(), get.join(" "), x, y));
                }
            }
        }
    }

    append_samples(&plans, &logs.path);
    wait_for_polls(&theirs, &plans, &logs.path, 2);
    println!(
        "fail2ban read every file after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    compare_state("first read", &mut ours, &mut theirs, &jails, &mut diffs);
    println!(
        "first read compared after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    append_samples(&plans, &logs.path);
    wait_for_polls(&theirs, &plans, &logs.path, 3);
    compare_state("in operation", &mut ours, &mut theirs, &jails, &mut diffs);
    println!(
        "in operation compared after {:.1} s",
        started.elapsed().as_secs_f64()
    );

    report(&plans, diffs);
}

/// Waits until fail2ban's log shows `polls` reads of every log file (its
/// first look at the empty file, then one per append).
fn wait_for_polls(theirs: &Server, plans: &[JailPlan], logs: &Path, polls: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let log = theirs.conf.server_log();
        let missing: Vec<&str> = plans
            .iter()
            .filter(|p| {
                let seen = format!("{}/{}.log has been modified", logs.display(), p.name);
                log.matches(&seen).count() < polls
            })
            .map(|p| p.name.as_str())
            .collect();
        if missing.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "fail2ban never polled {missing:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Prints the differences as a table and fails on any not allowed.
fn report(plans: &[JailPlan], diffs: Vec<Diff>) {
    let differences = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("compat/DIFFERENCES.md"),
    )
    .unwrap_or_default();
    for (jail, what, reason) in ALLOWED {
        assert!(
            differences.contains(&format!("`{jail}` `{what}`")),
            "allowed difference {jail}/{what} ({reason}) is not explained in compat/DIFFERENCES.md"
        );
    }
    println!(
        "{} jails ({} stock, {} filter-option variants), {} differences",
        plans.len(),
        plans.iter().filter(|p| p.filter.is_none()).count(),
        plans.iter().filter(|p| p.filter.is_some()).count(),
        diffs.len()
    );
    // Allowed differences: one summary row each (with the first instance);
    // the others in full.
    let mut allowed_seen: BTreeMap<&str, usize> = BTreeMap::new();
    let mut unexplained = 0;
    println!("| phase | jail | compared | allowed because |");
    for (phase, jail, what, ours, theirs) in &diffs {
        let allowed = ALLOWED
            .iter()
            .find(|(j, w, _)| (*j == "*" || j == jail) && what.split(' ').next() == Some(*w))
            .map(|(_, _, r)| *r);
        match allowed {
            Some(reason) => {
                let n = allowed_seen.entry(reason).or_default();
                *n += 1;
                if *n > 1 {
                    continue;
                }
            }
            None => unexplained += 1,
        }
        println!(
            "| {phase} | {jail} | {what} | {} |\n  ours:    {ours:?}\n  fail2ban: {theirs:?}",
            allowed.unwrap_or("NOT ALLOWED")
        );
    }
    for (reason, n) in &allowed_seen {
        println!("allowed {n} times: {reason}");
    }
    assert_eq!(
        unexplained, 0,
        "{unexplained} unexplained differences (table above)"
    );
}
