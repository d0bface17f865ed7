//! Shared by the `db_*` tests: running Debian's fail2ban `Fail2BanDb` (the
//! reference) through /usr/bin/python3 on a scratch file, and reading what
//! it prints as JSON. The Python side is a few lines of glue written here
//! (stand-ins for fail2ban's Jail and FileContainer), never fail2ban's code.
#![allow(dead_code)]

use ferroban::db::{from_json, BanRecord};
use ferroban::stream::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

pub const PYTHON: &str = "/usr/bin/python3";

/// The glue every script starts with. `Jail(name, bantime, maxtime)` is what
/// `Fail2BanDb` reads of a jail; `Log` what it reads of a log container.
/// `dump(tickets)` prints tickets as JSON; `rows(db, table)` a table.
const PRELUDE: &str = r#"
import sys, json
from fail2ban.server.database import Fail2BanDb
from fail2ban.server.ticket import FailTicket, BanTicket
from fail2ban.server.mytime import MyTime

class _Actions:
    def __init__(self, bantime): self.bantime = bantime
    def getBanTime(self): return self.bantime

class Jail:
    def __init__(self, name, bantime=600, maxtime=None):
        self.name = name
        self.actions = _Actions(bantime)
        self.maxtime = maxtime
    def getMaxBanTime(self):
        return self.maxtime if self.maxtime is not None else self.actions.getBanTime()

class Log:
    def __init__(self, path, pos, h): self.path, self.pos, self.h = path, pos, h
    def getFileName(self): return self.path
    def getPos(self): return self.pos
    def getHash(self): return self.h

def ticket(t):
    return {"ip": str(t.getID()), "time": t.getTime(), "bantime": t.getBanTime(),
            "bancount": t.getBanCount(), "data": t.getData()}

def dump(x):
    print(json.dumps(x, ensure_ascii=False, default=lambda v: ticket(v) if hasattr(v, "getID") else str(v)))

def rows(db, sql):
    cur = db._db.cursor()
    return [list(r) for r in cur.execute(sql)]
"#;

/// Fails the test with a clear message when the reference is missing: a
/// missing reference must fail the suite, not skip it.
pub fn require_reference() {
    let ok = Command::new(PYTHON)
        .args(["-c", "import fail2ban.server.database"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "Debian's fail2ban must be installed (apt-get install fail2ban): it is the reference"
    );
}

/// Runs `script` (after the prelude) with `args` in `sys.argv[1:]`, asserts
/// it succeeded and returns its standard output.
pub fn python(script: &str, args: &[&str]) -> String {
    require_reference();
    let out = Command::new(PYTHON)
        .arg("-c")
        .arg(format!("{PRELUDE}\n{script}"))
        .args(args)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "python failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// `python` whose output is one JSON document.
pub fn python_json(script: &str, args: &[&str]) -> Value {
    let out = python(script, args);
    from_json(out.trim()).unwrap_or_else(|| panic!("not JSON: {out}"))
}

/// A scratch directory, removed when dropped.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let p = std::env::temp_dir().join(format!("ferroban-db-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Scratch(p)
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    pub fn str(&self, name: &str) -> String {
        self.file(name).to_str().unwrap().to_string()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The seconds since the epoch, whole (fail2ban stores whole seconds).
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A key of a JSON object.
pub fn get<'a>(v: &'a Value, key: &str) -> &'a Value {
    match v {
        Value::Dict(items) => items
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
            .unwrap_or_else(|| panic!("no key {key:?} in {v:?}")),
        _ => panic!("not an object: {v:?}"),
    }
}

pub fn list(v: &Value) -> &[Value] {
    v.as_list().unwrap_or_else(|| panic!("not a list: {v:?}"))
}

pub fn int(v: &Value) -> i64 {
    match v {
        Value::Int(i) => *i,
        Value::Float(x) if x.fract() == 0.0 => *x as i64,
        _ => panic!("not a whole number: {v:?}"),
    }
}

pub fn text(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("not text: {v:?}"))
        .to_string()
}

/// A ban as both tools can describe it: (address, start, length, count,
/// matches, failures). fail2ban's `getBans` tickets carry no length or
/// count, so those are compared only where both sides have them.
pub type Ban = (String, i64, i64, i64, Vec<String>, i64);

/// A ticket printed by `dump`.
pub fn py_ban(t: &Value) -> Ban {
    let data = get(t, "data");
    let matches = match data {
        Value::Dict(items) => items
            .iter()
            .find(|(k, _)| k.as_str() == Some("matches"))
            .map(|(_, m)| list(m).iter().map(text).collect())
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    let failures = match data {
        Value::Dict(items) => items
            .iter()
            .find(|(k, _)| k.as_str() == Some("failures"))
            .map_or(1, |(_, f)| int(f)),
        _ => 1,
    };
    let bantime = match get(t, "bantime") {
        Value::None => 0,
        v => int(v),
    };
    (
        text(get(t, "ip")),
        int(get(t, "time")),
        bantime,
        int(get(t, "bancount")),
        matches,
        failures,
    )
}

/// Our record in the same shape.
pub fn our_ban(r: &BanRecord) -> Ban {
    (
        r.ip.clone(),
        r.time_of_ban,
        r.ban_time,
        r.ban_count.into(),
        r.matches(),
        r.failures().into(),
    )
}

/// Every row of `table` in a stable order, as text, read with a plain
/// SQLite connection (neither tool's code).
pub fn table_rows(path: &Path, table: &str) -> Vec<Vec<String>> {
    let c = rusqlite::Connection::open(path).unwrap();
    let n = c
        .prepare(&format!("SELECT * FROM {table}"))
        .unwrap()
        .column_count();
    let order: Vec<String> = (1..=n).map(|i| i.to_string()).collect();
    let mut st = c
        .prepare(&format!(
            "SELECT * FROM {table} ORDER BY {}",
            order.join(", ")
        ))
        .unwrap();
    let rows = st
        .query_map([], |r| {
            (0..n)
                .map(|i| {
                    Ok(match r.get_ref(i)? {
                        rusqlite::types::ValueRef::Null => "NULL".to_string(),
                        rusqlite::types::ValueRef::Integer(i) => i.to_string(),
                        rusqlite::types::ValueRef::Real(x) => format!("{x:?}"),
                        rusqlite::types::ValueRef::Text(t) | rusqlite::types::ValueRef::Blob(t) => {
                            String::from_utf8_lossy(t).into_owned()
                        }
                    })
                })
                .collect()
        })
        .unwrap();
    rows.map(Result::unwrap).collect()
}
