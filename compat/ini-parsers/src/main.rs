//! Reads every .conf file under /etc/fail2ban with rust-ini (in several option
//! combinations) and with ferroban's own INI parser, and counts the files each
//! reads exactly as Python's configparser does (via python_view.py). This is
//! the measurement behind ferroban's choice of its own parser (README).

use ini::{Ini, ParseOption};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

type View = BTreeMap<String, BTreeMap<String, String>>;

fn files(dir: &Path, out: &mut Vec<String>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|x| x == "conf") {
            out.push(p.to_string_lossy().into_owned());
        }
    }
}

/// A tiny JSON reader for the python_view.py output (objects of strings only).
fn parse_json(s: &str) -> BTreeMap<String, Option<View>> {
    let mut p = s.chars().peekable();
    fn ws(p: &mut std::iter::Peekable<std::str::Chars>) {
        while p.peek().is_some_and(|c| c.is_whitespace()) {
            p.next();
        }
    }
    fn string(p: &mut std::iter::Peekable<std::str::Chars>) -> String {
        ws(p);
        assert_eq!(p.next(), Some('"'));
        let mut out = String::new();
        while let Some(c) = p.next() {
            match c {
                '"' => return out,
                '\\' => match p.next().unwrap() {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    'u' => {
                        let h: String = (0..4).map(|_| p.next().unwrap()).collect();
                        out.push(char::from_u32(u32::from_str_radix(&h, 16).unwrap()).unwrap_or('?'));
                    }
                    c => out.push(c),
                },
                c => out.push(c),
            }
        }
        out
    }
    fn object<T>(p: &mut std::iter::Peekable<std::str::Chars>, mut item: impl FnMut(&mut std::iter::Peekable<std::str::Chars>) -> T) -> BTreeMap<String, T> {
        ws(p);
        assert_eq!(p.next(), Some('{'));
        let mut m = BTreeMap::new();
        loop {
            ws(p);
            if p.peek() == Some(&'}') {
                p.next();
                return m;
            }
            let k = string(p);
            ws(p);
            assert_eq!(p.next(), Some(':'));
            let v = item(p);
            m.insert(k, v);
            ws(p);
            if p.peek() == Some(&',') {
                p.next();
            }
        }
    }
    object(&mut p, |p| {
        let file = object(p, |p| {
            ws(p);
            if p.peek() == Some(&'"') {
                None
            } else {
                Some(object(p, string))
            }
        });
        if file.contains_key("error") {
            None
        } else {
            Some(file.into_iter().map(|(k, v)| (k, v.unwrap_or_default())).collect())
        }
    })
}

fn rust_ini_view(path: &str, opt: ParseOption) -> Option<View> {
    let ini = Ini::load_from_file_opt(path, opt).ok()?;
    let mut view = View::new();
    for (sec, props) in ini.iter() {
        let name = sec.unwrap_or("DEFAULT").to_string();
        let entry = view.entry(name).or_default();
        for (k, v) in props.iter() {
            entry.insert(k.to_lowercase(), v.to_string());
        }
    }
    view.entry("DEFAULT".into()).or_default();
    Some(view)
}

fn ferroban_view(path: &str) -> Option<View> {
    let text = std::fs::read_to_string(path).ok()?;
    let f = ferroban::config::ini::parse(&text, Path::new(path)).ok()?;
    let mut view = View::new();
    view.insert("DEFAULT".into(), f.defaults.iter().map(|(k, e)| (k.to_string(), e.value.clone())).collect());
    for (name, sec) in f.sections.iter() {
        view.insert(name.to_string(), sec.iter().map(|(k, e)| (k.to_string(), e.value.clone())).collect());
    }
    Some(view)
}

fn main() {
    let mut all = Vec::new();
    files(Path::new("/etc/fail2ban"), &mut all);
    all.sort();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python_view.py");
    let out = Command::new("/usr/bin/python3").arg(script).args(&all).output().expect("python3");
    let python = parse_json(&String::from_utf8(out.stdout).unwrap());
    let options = |quote, escape, multiline| ParseOption {
        enabled_quote: quote,
        enabled_escape: escape,
        enabled_indented_mutiline_value: multiline,
        ..Default::default()
    };
    let variants = [
        ("defaults", (true, true, false)),
        ("no quotes, no escapes", (false, false, false)),
        ("no quotes, no escapes, indented multi-line values", (false, false, true)),
        ("quotes, escapes, indented multi-line values", (true, true, true)),
    ];
    let feature = if cfg!(feature = "inline-comment") { "with" } else { "without" };
    println!("{} stock files; rust-ini built {feature} its inline-comment feature", all.len());
    for (label, (q, e, m)) in variants {
        let mut same = 0;
        let mut differ = Vec::new();
        for f in &all {
            let want = python.get(f).cloned().flatten();
            if rust_ini_view(f, options(q, e, m)) == want {
                same += 1;
            } else {
                differ.push(f.rsplit('/').next().unwrap().to_string());
            }
        }
        println!("rust-ini, {label}: {same}/{} identical; differ: {}", all.len(), differ.iter().take(8).cloned().collect::<Vec<_>>().join(", "));
    }
    let same = all.iter().filter(|f| ferroban_view(f) == python.get(*f).cloned().flatten()).count();
    println!("ferroban::config::ini: {same}/{} identical", all.len());
}
