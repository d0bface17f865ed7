//! Differential tests of the action runner against fail2ban's own
//! `CommandAction` (Debian's python3 module): the same options, the same
//! lifecycle steps and the same ban information must produce the same
//! commands, byte for byte, in the same order, with the same results.
//!
//! Both sides use a recording executor instead of a shell; commands whose
//! script contains one of the scenario's "failing" words report failure, so
//! retries, checks, repairs and restarts are compared too.

mod common;

use ferroban::action::{Action, ActionBuilder, BanInfo, Executor, ShellCommand};
use ferroban::config::{compile, ClientSettings, CompileOptions};
use ferroban::stream::{float_repr, str_repr, Value};
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};

const HARNESS: &str = r#"
import sys
from fail2ban.server.action import CommandAction
from fail2ban.server.actions import Actions
from fail2ban.server.ticket import BanTicket
from fail2ban.server.ipdns import DNSUtils
from fail2ban.server.mytime import MyTime
DNSUtils.setIPv6IsAllowed(True)
class BM:
    def size(self): return 0
    def getBanTotal(self): return 0
class FM:
    def size(self): return 0
    def getFailTotal(self): return 0
class Flt:
    failManager = FM()
class Acts:
    banEpoch = 0
    banManager = BM()
    def getBanTime(self): return 600
    def _getActionInfo(self, ticket):
        if not ticket: ticket = BanTicket("", MyTime.time())
        return Actions.ActionInfo(ticket, JAIL)
class Jail:
    name = 'j'
    database = None
    filter = Flt()
    def __init__(self): self.actions = Acts()
    def __repr__(self): return "Jail('j')"
JAIL = Jail()
LOG = []
FAILS = []
def ex(realCmd, timeout=60, **kw):
    LOG.append('EXEC %r T=%r' % (realCmd, timeout))
    s = realCmd if isinstance(realCmd, str) else realCmd[0]
    return not any(f in s for f in FAILS)
def info(ip, time, failures, matches, data, bancount, restored):
    d = dict(data)
    d['failures'] = failures
    t = BanTicket(ip, time, matches, data=d)
    t.setBanCount(bancount)
    t.restored = restored
    return Actions.ActionInfo(t, JAIL)
def scenario(opts, fails, steps):
    del LOG[:]
    FAILS[:] = fails
    act = CommandAction(JAIL, 'act')
    act.executeCmd = ex
    for k, v in opts:
        setattr(act, k, v)
    for step in steps:
        name, args = step[0], step[1:]
        if name.startswith('set:'):
            k, v = name[4:].split(':=', 1)
            setattr(act, k, v)
            continue
        try:
            r = getattr(act, name)(*[info(*a) for a in args])
            LOG.append('%s -> %r' % (name, r))
        except Exception as e:
            LOG.append('%s ERR %s' % (name, e))
    for l in LOG:
        print(repr(l))
    print('=====')
for o, f, s in SCENARIOS:
    scenario(o, f, s)
"#;

/// A lifecycle step: an operation name (fail2ban's method name) and, for
/// ban/unban/reban/prolong, the ban information; `set:KEY:=VALUE` sets a
/// property at run time.
struct Step(&'static str, Option<BanInfo>);

fn py_info(b: &BanInfo) -> String {
    let matches = Value::List(b.matches.iter().cloned().map(Value::Str).collect());
    let data = Value::Dict(
        b.data
            .iter()
            .map(|(k, v)| (Value::str(k.clone()), v.clone()))
            .collect(),
    );
    format!(
        "({}, {}, {}, {}, {}, {}, {})",
        str_repr(&b.fid),
        float_repr(b.time),
        b.failures,
        matches,
        data,
        b.bancount,
        if b.restored { "True" } else { "False" }
    )
}

/// One scenario: options, failing words, steps.
type Scenario<'a> = (&'a [(String, Value)], &'a [&'a str], &'a [Step]);

fn py_scenario((opts, fails, steps): &Scenario) -> String {
    let opts = Value::List(
        opts.iter()
            .map(|(k, v)| Value::List(vec![Value::str(k.clone()), v.clone()]))
            .collect(),
    );
    let fails = Value::List(fails.iter().map(|f| Value::str(*f)).collect());
    let steps: Vec<String> = steps
        .iter()
        .map(|Step(name, info)| match info {
            Some(b) => format!("({}, {})", str_repr(name), py_info(b)),
            None => format!("({},)", str_repr(name)),
        })
        .collect();
    format!("({opts}, {fails}, [{}])", steps.join(", "))
}

/// What fail2ban's CommandAction does in each scenario, in one python run.
fn python_many(scenarios: &[Scenario]) -> Vec<Vec<String>> {
    let list: Vec<String> = scenarios.iter().map(py_scenario).collect();
    let script = format!("SCENARIOS = [{}]\n{HARNESS}", list.join(",\n"));
    let mut child = Command::new("/usr/bin/python3")
        .arg("-")
        .current_dir("/")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("/usr/bin/python3 runs");
    // The script can be larger than a pipe buffer: write it from a thread.
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(script.as_bytes()));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(
        out.status.success(),
        "python harness failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut all = vec![Vec::new()];
    for line in text.lines() {
        if line == "=====" {
            all.push(Vec::new());
        } else {
            all.last_mut().unwrap().push(line.to_string());
        }
    }
    all.pop();
    assert_eq!(all.len(), scenarios.len(), "python output: {text}");
    all
}

fn python(opts: &[(String, Value)], fails: &[&str], steps: &[Step]) -> Vec<String> {
    python_many(&[(opts, fails, steps)]).remove(0)
}

/// Our action with `opts`, whose commands are recorded (`EXEC …` lines in
/// the returned log) instead of run; a command fails when its script
/// contains one of `fails`.
fn recorded_action(opts: &[(String, Value)], fails: &[&str]) -> (Arc<Mutex<Vec<String>>>, Action) {
    let log = Arc::new(Mutex::new(Vec::<String>::new()));
    let fails: Vec<String> = fails.iter().map(|s| s.to_string()).collect();
    let rec = log.clone();
    let exec: Executor = Arc::new(move |cmd: &ShellCommand, timeout: &Value| {
        rec.lock()
            .unwrap()
            .push(format!("EXEC {} T={timeout}", cmd.repr()));
        !fails.iter().any(|f| cmd.sh_args()[0].contains(f.as_str()))
    });
    let mut b = ActionBuilder::new("j", "act");
    b.ipv6_allowed(true).jail_bantime(600).executor(exec);
    for (k, v) in opts {
        b.option(k.clone(), v.clone());
    }
    (log, b.build().expect("options are accepted"))
}

fn ours(opts: &[(String, Value)], fails: &[&str], steps: &[Step]) -> Vec<String> {
    let (log, mut action) = recorded_action(opts, fails);
    for Step(name, info) in steps {
        if let Some((k, v)) = name.strip_prefix("set:").and_then(|kv| kv.split_once(":=")) {
            action.set(k, Value::str(v)).unwrap();
            continue;
        }
        let r: Result<String, String> = match (*name, info) {
            ("start", None) => action.start().map(py_bool),
            ("stop", None) => action.stop().map(py_bool),
            ("flush", None) => action.flush().map(py_bool),
            ("reload", None) => action.reload().map(py_bool),
            ("consistencyCheck", None) => action.consistency_check(None).map(py_bool),
            ("ban", Some(i)) => action.ban(i).map(|_| "None".into()),
            ("reban", Some(i)) => action.reban(i).map(|_| "None".into()),
            ("unban", Some(i)) => action.unban(i).map(|_| "None".into()),
            ("prolong", Some(i)) => action.prolong(i).map(|_| "None".into()),
            other => panic!("unknown step {}", other.0),
        }
        .map_err(|e| e.to_string());
        let line = match r {
            Ok(v) => format!("{name} -> {v}"),
            Err(e) => format!("{name} ERR {e}"),
        };
        log.lock().unwrap().push(line);
    }
    let lines = log.lock().unwrap().iter().map(|l| str_repr(l)).collect();
    lines
}

fn py_bool(b: bool) -> String {
    if b { "True" } else { "False" }.into()
}

fn compare(what: &str, opts: &[(String, Value)], fails: &[&str], steps: &[Step]) {
    common::require_reference();
    let expected = python(opts, fails, steps);
    compare_with(what, &expected, opts, fails, steps);
}

fn compare_with(
    what: &str,
    expected: &[String],
    opts: &[(String, Value)],
    fails: &[&str],
    steps: &[Step],
) {
    let got = ours(opts, fails, steps);
    assert!(!expected.is_empty());
    for (i, (e, g)) in expected.iter().zip(&got).enumerate() {
        assert_eq!(
            g, e,
            "{what}: line {i} differs\nours:   {got:#?}\npython: {expected:#?}"
        );
    }
    assert_eq!(
        got.len(),
        expected.len(),
        "{what}: ours {got:#?}\npython {expected:#?}"
    );
}

/// An action name and its options as the stream has them.
type NamedOptions = (String, Vec<(String, Value)>);

/// Options of the stock actions, from the configuration engine on a copy of
/// /etc/fail2ban with a few more jails enabled, and one jail per action.d
/// file (`all-NAME`).
fn stock_actions() -> Vec<NamedOptions> {
    let tree = common::Scratch::with_stock("action-python");
    let mut conf = String::from(
        "[courier-iptables]\nenabled = true\nfilter = sshd\nlogpath = /dev/null\n\
         action = iptables[name=Courier, port=143, protocol=tcp]\n\
         [nft]\nenabled = true\nfilter = sshd\nlogpath = /dev/null\n\
         banaction = nftables-multiport\naction = %(action_)s\n\
         [mailw]\nenabled = true\nfilter = sshd\nlogpath = /dev/null\n\
         action = mail-whois-lines\n\
         [ipset]\nenabled = true\nfilter = sshd\nlogpath = /dev/null\n\
         banaction = iptables-ipset\naction = %(action_)s\n",
    );
    let mut files: Vec<String> = std::fs::read_dir(tree.path.join("action.d"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter_map(|n| n.strip_suffix(".conf").map(str::to_string))
        .collect();
    files.sort();
    for f in files {
        conf.push_str(&format!(
            "[all-{f}]\nenabled = true\nfilter = sshd\nlogpath = /dev/null\naction = {f}[actname=all-{f}]\n"
        ));
    }
    tree.write("jail.d/zz-action-test.local", conf);
    let compiled = compile(
        tree.str(),
        &ClientSettings::default(),
        &CompileOptions {
            allow_no_files: true,
            ..CompileOptions::default()
        },
    );
    let stream = compiled.stream.expect("the test tree compiles");
    // The options must be what fail2ban's own client gives for this tree.
    let reference = common::run({
        let mut c = common::reference_client();
        c.args(["-d", "-c", tree.str()]);
        c
    });
    let reference = common::stdout(&reference);
    let mut out = Vec::new();
    for line in &stream {
        let items = line.as_list().unwrap();
        if items.first().and_then(Value::as_str) == Some("multi-set")
            && items.get(2).and_then(Value::as_str) == Some("action")
        {
            assert!(
                reference.lines().any(|l| l == line.to_string()),
                "fail2ban-client -d differs for {line}"
            );
            let name = items[3].as_str().unwrap().to_string();
            let opts = items[4]
                .as_list()
                .unwrap()
                .iter()
                .map(|p| {
                    let p = p.as_list().unwrap();
                    (p[0].as_str().unwrap().to_string(), p[1].clone())
                })
                .collect();
            out.push((name, opts));
        }
    }
    out
}

fn all_stock() -> &'static [NamedOptions] {
    static STOCK: OnceLock<Vec<NamedOptions>> = OnceLock::new();
    STOCK.get_or_init(stock_actions)
}

fn stock(name: &str) -> Vec<(String, Value)> {
    all_stock()
        .iter()
        .find(|(n, _)| n == name)
        .cloned()
        .unwrap_or_else(|| panic!("no stock action {name} in the stream"))
        .1
}

fn v4() -> BanInfo {
    let mut b = BanInfo::new("192.0.2.1", 1700000000.25, 600)
        .with_data("user", "$(touch /tmp/pwned)")
        .with_data("fid", "192.0.2.1");
    b.failures = 5;
    b.bancount = 1;
    b.matches = vec![
        "Nov 25 sshd[1]: Invalid user ';rm -rf /;' from 192.0.2.1".into(),
        "Nov 25 sshd[1]: Failed password for `reboot` from 192.0.2.1".into(),
    ];
    b
}

fn v6() -> BanInfo {
    let mut b = BanInfo::new("2001:db8::7", 1700000100.0, 600).with_data("user", "bob");
    b.failures = 3;
    b.matches = vec!["plain line".into()];
    b
}

fn full_cycle() -> Vec<Step> {
    vec![
        Step("start", None),
        Step("ban", Some(v4())),
        Step("ban", Some(v6())),
        Step("consistencyCheck", None),
        Step("unban", Some(v4())),
        Step("reban", Some(v4())),
        Step("flush", None),
        Step("unban", Some(v6())),
        Step("reload", None),
        Step("stop", None),
        Step("unban", Some(v4())),
    ]
}

#[test]
fn stock_iptables_multiport_matches_python() {
    compare(
        "iptables-multiport",
        &stock("iptables-multiport"),
        &[],
        &full_cycle(),
    );
}

#[test]
fn stock_iptables_courier_matches_python() {
    compare(
        "iptables-Courier",
        &stock("iptables-Courier"),
        &[],
        &full_cycle(),
    );
}

#[test]
fn stock_nftables_multiport_matches_python() {
    compare(
        "nftables-multiport",
        &stock("nftables-multiport"),
        &[],
        &full_cycle(),
    );
}

#[test]
fn stock_mail_whois_lines_matches_python() {
    compare(
        "mail-whois-lines",
        &stock("mail-whois-lines"),
        &[],
        &full_cycle(),
    );
}

#[test]
fn stock_iptables_ipset_matches_python() {
    compare(
        "iptables-ipset",
        &stock("iptables-ipset"),
        &[],
        &full_cycle(),
    );
}

fn opts(pairs: &[(&str, &str)]) -> Vec<(String, Value)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), Value::str(*v)))
        .collect()
}

#[test]
fn every_dynamic_tag_matches_python() {
    let o = opts(&[
        (
            "actionstart",
            "start <family> <name> <F-USER> <bantime> <sh-hostname><br>x<sp>y",
        ),
        (
            "actionban",
            "ban <ip> <family> <ip-rev> <fid> <failures> <ipfailures> <ipjailfailures> \
             <bantime> <bancount> <restored> <time> <name> <chain> <port> <timeout> \
             <F-USER> <F-ID> <F-NOPE> <F-user> <unknown> <fq-hostname> <sh-hostname><br>\
             <matches> | <ipmatches> | <ipjailmatches> | <raw-ticket> | <F-*>",
        ),
        ("actionunban", "unban <ip> <F-USER> <matches>"),
        ("actionprolong", "prolong <ip> <bantime> <F-USER>"),
        ("name", "j-<port>"),
        ("port", "ssh"),
        ("chain", "<known/chain>"),
        ("timeout", "1m"),
        ("bantime", "99"),
    ]);
    let mut raw = BanInfo::new("some-user", 1700000000.5, 600).with_data("user", "a b");
    raw.failures = 1;
    let steps = vec![
        Step("start", None),
        Step("ban", Some(v4())),
        Step("ban", Some(v6())),
        Step("ban", Some(raw.clone())),
        Step("prolong", Some(v4())),
        // Changed at run time: fail2ban drops its substitution cache.
        Step("set:port:=imap", None),
        Step("set:timeout:=2m", None),
        Step("set:port?family=inet6:=imaps", None),
        Step("ban", Some(v4())),
        Step("ban", Some(v6())),
        Step("unban", Some(raw)),
        Step("stop", None),
    ];
    compare("dynamic tags", &o, &[], &steps);
}

#[test]
fn conditional_options_and_start_on_demand_match_python() {
    let mut o = opts(&[
        ("actionstart", "<cmd> -N f2b-<name>"),
        ("actionstop", "<cmd> -X f2b-<name>"),
        ("actionflush", "<cmd> -F f2b-<name>"),
        ("actionban", "<cmd> -I f2b-<name> -s <ip> -j <blocktype>"),
        ("actionunban", "<cmd> -D f2b-<name> -s <ip> -j <blocktype>"),
        ("name", "x"),
        ("cmd", "iptables <lock>"),
        ("lock", "-w"),
        ("blocktype", "REJECT"),
        ("cmd?family=inet6", "ip6tables <lock>"),
        ("blocktype?family=inet6", "REJECT6"),
    ]);
    compare("on demand", &o, &[], &full_cycle());
    o.push(("actionstart_on_demand".into(), Value::Bool(false)));
    compare("not on demand", &o, &[], &full_cycle());
}

#[test]
fn failures_checks_and_repairs_match_python() {
    let base = opts(&[
        ("actionstart", "start"),
        ("actionstop", "stop"),
        ("actioncheck", "check-broken"),
        ("actionrepair", "repair"),
        ("actionban", "ban-broken <ip>"),
        ("actionunban", "unban-broken <ip>"),
        ("actionflush", "flush-broken"),
    ]);
    let steps = || {
        vec![
            Step("start", None),
            Step("ban", Some(v4())),
            Step("consistencyCheck", None),
            Step("unban", Some(v4())),
            Step("flush", None),
            Step("stop", None),
        ]
    };
    // Everything works.
    compare("healthy", &base, &[], &steps());
    // Ban fails, check fails, repair works, check still fails.
    compare("broken", &base, &["broken"], &steps());
    // Ban fails once (check passes): retried once.
    compare("ban fails", &base, &["ban-broken"], &steps());
    // Repair fails too.
    compare("repair fails", &base, &["broken", "repair"], &steps());
    // No repair command: the action is stopped and started again.
    let mut no_repair = base.clone();
    no_repair.retain(|(k, _)| k != "actionrepair");
    compare("restart", &no_repair, &["broken"], &steps());
    // Unban may repair when told so.
    let mut on_unban = base.clone();
    on_unban.push(("actionrepair_on_unban".into(), Value::Bool(true)));
    compare(
        "repair on unban",
        &on_unban,
        &["unban-broken", "check"],
        &steps(),
    );
    // Start fails: the operation error.
    compare("start fails", &base, &["start"], &steps());
}

#[test]
fn start_on_demand_failure_matches_python() {
    let o = opts(&[
        ("actionstart", "start-<family>"),
        ("actionban", "ban <ip>"),
        ("x?family=inet6", "y"),
    ]);
    compare("start fails on demand", &o, &["start-inet4"], &full_cycle());
}

#[test]
fn every_stock_action_matches_python() {
    common::require_reference();
    let all: Vec<&NamedOptions> = all_stock()
        .iter()
        .filter(|(n, _)| n.starts_with("all-"))
        .collect();
    // Every action.d/*.conf gives an action (a few are includes only, with
    // empty commands, which still must behave the same).
    assert!(all.len() >= 60, "only {} stock actions compiled", all.len());
    let steps = full_cycle();
    let failing = ["iptables", "nft", "mail", "curl"];
    let mut scenarios: Vec<Scenario> = Vec::new();
    for (_, opts) in &all {
        scenarios.push((opts, &[], &steps));
        scenarios.push((opts, &failing, &steps));
    }
    let expected = python_many(&scenarios);
    for ((name, opts), pair) in all.iter().zip(expected.chunks(2)) {
        compare_with(name, &pair[0], opts, &[], &steps);
        compare_with(
            &format!("{name} (failing)"),
            &pair[1],
            opts,
            &failing,
            &steps,
        );
    }
}

/// Our `ban_many` (the server's batch of bans, commands run concurrently)
/// on `infos`: the recorded lines, with every ban's result after the
/// commands.
fn ours_ban_many(opts: &[(String, Value)], fails: &[&str], infos: &[BanInfo]) -> Vec<String> {
    let (log, mut action) = recorded_action(opts, fails);
    let refs: Vec<&BanInfo> = infos.iter().collect();
    for r in action.ban_many(&refs, 4) {
        let line = match r {
            Ok(()) => "ban -> None".to_string(),
            Err(e) => format!("ban ERR {e}"),
        };
        log.lock().unwrap().push(line);
    }
    log.lock().unwrap().push("-- unbans --".into());
    for r in action.unban_many(&refs, 4) {
        let line = match r {
            Ok(()) => "unban -> None".to_string(),
            Err(e) => format!("unban ERR {e}"),
        };
        log.lock().unwrap().push(line);
    }
    let lines = log.lock().unwrap().iter().map(|l| str_repr(l)).collect();
    lines
}

/// A batch case: its name, the action's options, the failing words.
type BatchCase<'a> = (&'a str, Vec<(String, Value)>, Vec<&'a str>);

/// A batch of bans run together, then unbanned together, does what
/// fail2ban's bans and unbans one after the other do: the same commands (in
/// another order among the addresses), the same results, and every family
/// started before any ban command runs.
#[test]
fn a_batch_of_bans_runs_the_commands_of_sequential_bans() {
    common::require_reference();
    let mut infos = vec![v4(), v6()];
    for k in 2..12 {
        let mut b = BanInfo::new(&format!("192.0.2.{k}"), 1700000000.0 + k as f64, 600);
        b.failures = 3;
        infos.push(b);
    }
    infos.push(BanInfo::new("2001:db8::9", 1700000200.0, 600));
    let on_demand = opts(&[
        ("actionstart", "start-<family>"),
        ("actionban", "ban <ip> <family>"),
        ("actionunban", "unban <ip> <family>"),
        ("actioncheck", "check-<family>"),
        ("actionrepair", "repair"),
        ("x?family=inet6", "y"),
    ]);
    let cases: Vec<BatchCase> = vec![
        (
            "stock iptables-multiport",
            stock("iptables-multiport"),
            vec![],
        ),
        ("on demand", on_demand.clone(), vec![]),
        (
            "one ban fails once",
            on_demand.clone(),
            vec!["ban 192.0.2.5 "],
        ),
        (
            "bans and checks fail",
            on_demand.clone(),
            vec!["ban 192.0.2.7", "check"],
        ),
        ("start fails", on_demand.clone(), vec!["start-inet6"]),
        ("unbans fail", on_demand, vec!["unban 192.0.2.3", "check"]),
    ];
    for (what, o, fails) in &cases {
        let steps = |ops: &[&'static str]| -> Vec<Step> {
            ops.iter()
                .flat_map(|op| infos.iter().map(|i| Step(op, Some(i.clone()))))
                .collect()
        };
        let mut expected = python(o, fails, &steps(&["ban"]));
        let mut expected_unbans = python(o, fails, &steps(&["ban", "unban"]));
        expected_unbans.drain(..expected.len());
        let got = ours_ban_many(o, fails, &infos);
        let split = got.iter().position(|l| l.contains("-- unbans --")).unwrap();
        let mut got_unbans = got[split + 1..].to_vec();
        let got = got[..split].to_vec();
        let first_ban = got
            .iter()
            .position(|l| l.contains("EXEC") && !l.contains("start"));
        let last_start = got
            .iter()
            .rposition(|l| l.contains("EXEC") && l.contains("start"));
        if let (Some(s), Some(b)) = (last_start, first_ban) {
            assert!(s < b, "{what}: a ban ran before the start:\n{got:#?}");
        }
        let mut got_sorted = got.clone();
        got_sorted.sort();
        expected.sort();
        assert_eq!(got_sorted, expected, "{what}: ours {got:#?}");
        got_unbans.sort();
        expected_unbans.sort();
        assert_eq!(got_unbans, expected_unbans, "{what}: unbans");
    }
}
