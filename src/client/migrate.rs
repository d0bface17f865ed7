//! `fail2ban-client migrate`: what moving an existing fail2ban setup to
//! ferroban means, as a report: every jail and what it will do, what is not
//! supported (with `file:line`), how many lines of each jail's current log
//! its filter matches (a filter that matches nothing protects nothing), and
//! the service swap, printed as steps or carried out with `--apply`.

use crate::config::{self, ClientSettings, CompileOptions};
use crate::protocol::Reply;
use crate::server::commands;
use crate::server::state::State;
use crate::server::ServerOptions;
use crate::stream::Value;

/// Backends ferroban reads.
const BACKENDS: [&str; 5] = ["auto", "polling", "pyinotify", "gamin", "systemd"];
/// At most this many lines of a log are tried (the newest are at the end).
const MAX_LINES: usize = 2_000_000;

/// The bans Python fail2ban's database holds, which ferroban restores at its
/// first start from the same file. Read from a copy, so the report changes
/// nothing (opening an old schema would upgrade it).
fn report_bans(stream: &[Value], state: &State) {
    let dbfile = stream.iter().find_map(|c| match c.as_list() {
        Some([Value::Str(s), Value::Str(o), Value::Str(f)]) if s == "set" && o == "dbfile" => {
            Some(f.clone())
        }
        _ => None,
    });
    let Some(path) = dbfile.filter(|f| std::path::Path::new(f).is_file()) else {
        println!("\nBans to take along: no database file (dbfile), so no bans to carry over");
        return;
    };
    let copy =
        std::env::temp_dir().join(format!("ferroban-migrate-{}.sqlite3", std::process::id()));
    let opened = std::fs::copy(&path, &copy)
        .map_err(|e| e.to_string())
        .and_then(|_| crate::db::Database::open(&copy).map_err(|e| e.to_string()));
    let now = crate::server::state::now();
    match opened {
        Err(e) => println!("\nBans to take along: cannot read {path}: {e}"),
        Ok(db) => {
            println!("\nBans to take along (from {path}, restored by ferroban's first start with this dbfile):");
            for (name, jail) in state.jails.iter() {
                let restore = crate::db::Restore::jail(jail.bans.ban_time(), db.max_matches());
                match db.current_bans(Some(name), now, &restore) {
                    Ok(bans) => println!("  {name}: {} active", bans.len()),
                    Err(e) => println!("  {name}: cannot read: {e}"),
                }
            }
        }
    }
    let _ = std::fs::remove_file(&copy);
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", copy.display()));
    }
}

/// Prints the report; with `apply`, also swaps the services. Returns the
/// exit status: 0, or 255 when the configuration cannot be used.
pub fn run(conf_dir: &str, settings: &ClientSettings, apply: bool) -> i32 {
    println!("Migration of {conf_dir} to ferroban");
    let compiled = config::compile(
        conf_dir,
        settings,
        &CompileOptions {
            allow_no_files: true,
            ..Default::default()
        },
    );
    let Some(stream) = compiled.stream else {
        println!("\nThe configuration cannot be used:");
        for e in &compiled.errors {
            println!("  {e}");
        }
        return 255;
    };
    // Configure an in-process server from the stream, without starting any jail.
    let mut state = State::new(&ServerOptions::default());
    let mut problems: Vec<String> = compiled.errors.iter().map(|e| e.to_string()).collect();
    for cmd in &stream {
        let Some(items) = cmd.as_list() else { continue };
        let name = items.first().and_then(Value::as_str).unwrap_or("");
        if name == "start" {
            continue;
        }
        if name == "set"
            && items.get(2).and_then(Value::as_str) == Some("addaction")
            && items.len() > 4
        {
            let jail = items[1].as_str().unwrap_or("");
            let at = config::locate(conf_dir, jail, "action")
                .map(|o| format!("{o}: "))
                .unwrap_or_default();
            problems.push(format!(
                "{at}jail '{jail}': Python action {} is not supported by ferroban; the jail runs without it",
                items[4]
            ));
            continue;
        }
        if name == "set"
            && matches!(
                items.get(1).and_then(Value::as_str),
                Some("dbfile" | "dbpurgeage" | "dbmaxmatches")
            )
        {
            continue;
        }
        if let Reply::Failure { error, .. } = commands::execute(&mut state, cmd) {
            problems.push(format!("{cmd}: {}", error.message()));
        }
    }
    println!("\nJails ({}):", state.jails.len());
    for (name, jail) in state.jails.iter() {
        let backend = jail.backend.split('[').next().unwrap_or("").to_string();
        if !BACKENDS.contains(&backend.as_str()) {
            let at = config::locate(conf_dir, name, "backend")
                .map(|o| format!("{o}: "))
                .unwrap_or_default();
            problems.push(format!(
                "{at}jail '{name}': unknown backend '{}'",
                jail.backend
            ));
        }
        let actions = jail.actions.names().join(", ");
        println!(
            "  {name}: bans after {} failures within {} s for {} s ({}), actions: {}",
            jail.failures.max_retry,
            jail.failures.max_time as i64,
            jail.bans.ban_time(),
            if backend == "systemd" {
                "journal".to_string()
            } else {
                format!("{} log file(s)", jail.logpaths.len())
            },
            if actions.is_empty() {
                "none".to_string()
            } else {
                actions
            },
        );
    }
    println!("\nFilters against the current logs:");
    let names: Vec<String> = state.jails.keys().map(str::to_string).collect();
    for name in names {
        let jail = state.jails.get_mut(&name).unwrap();
        if jail.logpaths.is_empty() {
            println!("  {name}: no log file to read");
            continue;
        }
        for (path, _) in jail.logpaths.clone() {
            let text = match std::fs::read(&path) {
                Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                Err(e) => {
                    println!("  {name}: {path}: cannot read ({e})");
                    continue;
                }
            };
            let lines = text.lines();
            let skip = text.lines().count().saturating_sub(MAX_LINES);
            let (read, matched) = jail.count_matches(lines.skip(skip));
            let warning = if read > 0 && matched == 0 {
                "  WARNING: the filter matches none of them, so this jail protects nothing"
            } else {
                ""
            };
            println!("  {name}: {path}: {matched} of {read} lines match{warning}");
        }
    }
    println!("\nProblems ({}):", problems.len());
    for p in &problems {
        println!("  {p}");
    }
    report_bans(&stream, &state);
    let steps = [
        "systemctl stop fail2ban",
        "install ferroban: its .deb (cargo deb; dpkg -i), or its binaries in /usr/local/bin \
         and etc/systemd/fail2ban.service as /etc/systemd/system/fail2ban.service (see README)",
        "systemctl daemon-reload",
        "systemctl start fail2ban",
    ];
    println!(
        "\nService swap{}:",
        if apply {
            ""
        } else {
            " (run with --apply to carry out the systemctl steps)"
        }
    );
    for (i, s) in steps.iter().enumerate() {
        println!("  {}. {s}", i + 1);
    }
    if apply {
        for s in steps.iter().filter(|s| s.starts_with("systemctl")) {
            let args: Vec<&str> = s.split_whitespace().collect();
            let ok = std::process::Command::new(args[0])
                .args(&args[1..])
                .status()
                .map(|st| st.success())
                .unwrap_or(false);
            println!("  {s}: {}", if ok { "done" } else { "FAILED" });
            if !ok {
                return 255;
            }
        }
    }
    0
}
