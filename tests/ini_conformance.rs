//! Every stock configuration file, read by our INI parser and by fail2ban's
//! own (Python's configparser with fail2ban's settings, run at test time):
//! the same sections, keys and raw values, file by file.

mod common;
use common::*;
use ferroban::stream::str_repr;
use std::path::Path;
use std::process::Command;

const PYTHON_VIEW: &str = r#"
import sys
sys.path.insert(0, '/usr/lib/python3/dist-packages')
from fail2ban.client.configparserinc import SafeConfigParserWithIncludes
for path in sys.argv[1:]:
    cfg = SafeConfigParserWithIncludes()
    cfg.read(path, get_includes=False)
    for k, v in cfg._defaults.items():
        print(repr(path), 'DEFAULT', repr(k), repr(v))
    for name, section in cfg._sections.items():
        for k, v in section.items():
            print(repr(path), repr(name), repr(k), repr(v))
"#;

fn stock_files(dir: &Path, out: &mut Vec<String>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            stock_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "conf") {
            out.push(p.to_string_lossy().into_owned());
        }
    }
}

#[test]
fn stock_files_parse_exactly_as_fail2ban_parses_them() {
    require_reference();
    let mut files = Vec::new();
    stock_files(Path::new(STOCK_CONF), &mut files);
    files.sort();
    assert!(
        files.len() > 150,
        "expected the stock tree, found {} files",
        files.len()
    );
    let out = Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(PYTHON_VIEW)
        .args(&files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected = String::from_utf8(out.stdout).unwrap();
    let mut ours = String::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let parsed = ferroban::config::ini::parse(&text, Path::new(f))
            .unwrap_or_else(|e| panic!("{f}: {e:?}"));
        for (k, e) in parsed.defaults.iter() {
            ours.push_str(&format!(
                "{} DEFAULT {} {}\n",
                str_repr(f),
                str_repr(k),
                str_repr(&e.value)
            ));
        }
        for (name, sec) in parsed.sections.iter() {
            for (k, e) in sec.iter() {
                ours.push_str(&format!(
                    "{} {} {} {}\n",
                    str_repr(f),
                    str_repr(name),
                    str_repr(k),
                    str_repr(&e.value)
                ));
            }
        }
    }
    for (n, (a, b)) in expected.lines().zip(ours.lines()).enumerate() {
        assert_eq!(a, b, "entry {n} differs");
    }
    assert_eq!(expected.lines().count(), ours.lines().count());
}
