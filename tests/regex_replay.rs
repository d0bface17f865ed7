//! Replay regression test for the Python-to-fancy-regex translation and tag
//! expansion: every final regex of every stock filter (after fail2ban's own
//! tag expansion, in each filter's modes) and every default date template
//! is searched on fail2ban's sample lines and on our own made-up lines
//! (`tests/data/regex_replay_lines.txt`), first by the installed Python
//! fail2ban, then by ferroban; matched text and every named group must agree.

#[allow(dead_code)]
#[path = "../compat/support/json.rs"]
mod json;

use std::process::{Command, Stdio};

use ferroban::filter::date::strptime::YearRange;
use ferroban::filter::date::DefaultTemplates;
use ferroban::filter::regex::FilterRegex;
use json::{Json, JsonExt};

const MODULE_PARENT: &str = "/usr/lib/python3/dist-packages";

/// Runs fail2ban's own classes over the corpus and prints one JSON record per search.
const RECORDER: &str = r#"
import sys, os, json, glob
sys.path.insert(0, sys.argv[1])
from fail2ban.client.filterreader import FilterReader
from fail2ban.server.failregex import Regex
from fail2ban.server.datedetector import DateDetector
from fail2ban.server.strptime import _updateTimeRE

own_lines = [l.rstrip('\n') for l in open(sys.argv[2], encoding='utf-8')]
logs = os.path.join(sys.argv[1], 'fail2ban', 'tests', 'files', 'logs')

def sample_lines(name):
    path = os.path.join(logs, name)
    if not os.path.isfile(path):
        return []
    out = []
    for l in open(path, encoding='utf-8', errors='replace'):
        l = l.rstrip('\r\n')
        if l and not l.startswith('#'):
            out.append(l)
    return out

def groups(m):
    return dict((k, v) for k, v in m.groupdict().items() if v is not None)

corpus = list(own_lines)
for f in sorted(os.listdir(logs)):
    corpus += sample_lines(f)
print(json.dumps({'kind': 'lines', 'lines': corpus}))

seen = set()
for conf in sorted(glob.glob('/etc/fail2ban/filter.d/*.conf')):
    name = os.path.basename(conf)[:-5]
    if name == 'common':
        continue
    lines = corpus
    for mode in ('', 'normal', 'aggressive', 'ddos', 'extra', 'auth', 'rbl', 'errors', 'fallback'):
        opts = {'mode': mode} if mode else {}
        try:
            r = FilterReader(name, 'j', opts, basedir='/etc/fail2ban', share_config={})
            r.read(); r.getOptions({})
            stream = r.convert()
        except Exception:
            continue
        maxlines = 1
        regexes = []
        for c in stream:
            if c[2] == 'maxlines':
                maxlines = int(c[3])
            if c[2] in ('prefregex', 'addfailregex', 'addignoreregex'):
                regexes.extend(c[3] if c[0] == 'multi-set' else [c[3]])
        for rx in regexes:
            key = (rx, maxlines > 1)
            if key in seen:
                continue
            seen.add(key)
            try:
                cre = Regex(rx, multiline=maxlines > 1, useDns='yes')._regexObj
            except Exception:
                continue
            hits = []
            for i, l in enumerate(lines):
                m = cre.search(l + '\n')
                if m:
                    hits.append([i, m.group(0), groups(m)])
            print(json.dumps({'kind': 'fail', 'regex': rx, 'multiline': maxlines > 1, 'hits': hits}))

_updateTimeRE()
dd = DateDetector()
dd.addDefaultTemplate()
all_lines = corpus
for t in dd.templates:
    cre = t.template._cRegex or __import__('re').compile(t.template.regex)
    hits = []
    for i, l in enumerate(all_lines):
        m = cre.search(l)
        if m:
            hits.append([i, m.group(1), groups(m)])
    print(json.dumps({'kind': 'date', 'name': t.template.name, 'regex': t.template.regex, 'hits': hits}))
"#;

fn record() -> Vec<Json> {
    let own = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/regex_replay_lines.txt"
    );
    let out = Command::new("python3")
        .arg("-c")
        .arg(RECORDER)
        .arg(MODULE_PARENT)
        .arg(own)
        .stderr(Stdio::inherit())
        .output()
        .expect("python3 with fail2ban 1.0.2 installed (apt-get install fail2ban)");
    assert!(out.status.success(), "the recorder ran");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| json::parse(l).expect("recorder output is JSON"))
        .collect()
}

fn strings(j: &Json) -> Vec<String> {
    match j {
        Json::Arr(a) => a
            .iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect(),
        _ => Vec::new(),
    }
}

/// One search hit: line index, matched text, named groups (sorted).
type Hit = (usize, String, Vec<(String, String)>);

fn hit_map(j: &Json) -> Vec<Hit> {
    let Json::Arr(hits) = j else {
        return Vec::new();
    };
    hits.iter()
        .filter_map(|h| match h {
            Json::Arr(parts) if parts.len() == 3 => {
                let i = parts[0].as_f64()?;
                let mut groups: Vec<(String, String)> = match &parts[2] {
                    Json::Obj(o) => o
                        .iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                        .collect(),
                    _ => Vec::new(),
                };
                groups.sort();
                Some((
                    i as usize,
                    parts[1].as_str().unwrap_or("").to_string(),
                    groups,
                ))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn translated_regexes_replay_fail2bans_searches() {
    std::env::set_var("TZ", "UTC");
    ferroban::filter::clock::init_timezone();
    let records = record();
    let fail_records = records
        .iter()
        .filter(|r| r.get("kind").and_then(Json::as_str) == Some("fail"))
        .count();
    assert!(
        fail_records > 250,
        "expected the stock filters' regexes, got {fail_records}"
    );

    let now_year = ferroban::filter::clock::CivilTime::from_local_seconds(
        ferroban::filter::clock::now_seconds() as i64,
    )
    .year;
    let defaults = DefaultTemplates::new(YearRange::server(now_year));
    let mut detector = ferroban::filter::date::DateDetector::new(YearRange::server(now_year));
    detector.add_default_templates(&defaults, false);
    let templates: Vec<_> = detector.templates().collect();

    let mut searches = 0usize;
    let mut mismatches = Vec::new();
    let mut date_index = 0;
    let lines = strings(records[0].get("lines").expect("the corpus comes first"));
    for r in &records[1..] {
        let mut expected = hit_map(r.get("hits").expect("hits"));
        if r.get("kind").and_then(Json::as_str) == Some("fail")
            && !matches!(r.get("multiline"), Some(Json::Bool(true)))
        {
            // fail2ban searches `line + "\n"`; we search the line alone (same
            // `$`), so a match can only differ by that final newline.
            for e in &mut expected {
                if e.1.ends_with('\n') {
                    e.1.pop();
                }
            }
        }
        let regex_text = r.get("regex").and_then(Json::as_str).unwrap_or("");
        let mut actual = Vec::new();
        match r.get("kind").and_then(Json::as_str) {
            Some("fail") => {
                let multiline = matches!(r.get("multiline"), Some(Json::Bool(true)));
                let re = FilterRegex::new(regex_text, "yes", multiline)
                    .unwrap_or_else(|e| panic!("{e}"));
                for (i, line) in lines.iter().enumerate() {
                    let buffer = if multiline {
                        format!("{line}\n")
                    } else {
                        line.clone()
                    };
                    if let Some(m) = re.search(&buffer).expect("search within the bound") {
                        // The recorder shows the raw groups that took part.
                        let mut groups: Vec<(String, String)> = re
                            .groups(&m)
                            .iter()
                            .filter(|(k, _)| m.name(k).is_some())
                            .filter_map(|(k, v)| v.map(|v| (k.to_string(), v.to_string())))
                            .collect();
                        groups.sort();
                        actual.push((
                            i,
                            m.get(0).map(|g| g.as_str()).unwrap_or("").to_string(),
                            groups,
                        ));
                    }
                }
            }
            Some("date") => {
                let name = r.get("name").and_then(Json::as_str).unwrap_or("");
                let t = templates[date_index];
                date_index += 1;
                assert_eq!(
                    t.name,
                    name,
                    "default template #{} has fail2ban's name",
                    date_index - 1
                );
                assert_eq!(
                    t.regex_text, regex_text,
                    "template {name} has fail2ban's regex"
                );
                for (i, line) in lines.iter().enumerate() {
                    if let Some(m) = t.search(line, 0, line.len()) {
                        let mut groups: Vec<(String, String)> = Vec::new();
                        for (k, v) in expected
                            .iter()
                            .find(|e| e.0 == i)
                            .map(|e| e.2.clone())
                            .unwrap_or_default()
                        {
                            let _ = v;
                            if let Some(g) = m.name(&k) {
                                groups.push((k, g.as_str().to_string()));
                            }
                        }
                        groups.sort();
                        actual.push((
                            i,
                            m.get(1).map(|g| g.as_str()).unwrap_or("").to_string(),
                            groups,
                        ));
                    }
                }
            }
            _ => continue,
        }
        searches += lines.len();
        if actual != expected {
            let first = expected
                .iter()
                .zip(actual.iter())
                .find(|(e, a)| e != a)
                .map(|(e, a)| format!("python {e:?} vs ferroban {a:?}"))
                .unwrap_or_else(|| {
                    format!(
                        "{} python hits vs {} ferroban hits",
                        expected.len(),
                        actual.len()
                    )
                });
            mismatches.push(format!("{regex_text}: {first}"));
        }
    }
    println!(
        "replayed {searches} searches over {} regexes",
        records.len()
    );
    assert!(searches > 300_000, "too few searches replayed: {searches}");
    assert!(
        mismatches.is_empty(),
        "{} regexes differ from Python:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}
