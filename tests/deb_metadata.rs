//! The `.deb` description in Cargo.toml (`[package.metadata.deb]`, read by
//! `cargo deb`) without building the package: every asset it lists exists
//! (binaries are this crate's `[[bin]]`s, globs match files), the whole
//! etc/fail2ban tree and the three binaries are in it, it takes the place
//! of Debian's fail2ban package, and the unit and logrotate file name
//! commands the package installs.

use std::path::Path;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The `[package.metadata.deb]` table's lines.
fn deb_table() -> Vec<String> {
    let manifest = std::fs::read_to_string(Path::new(ROOT).join("Cargo.toml")).unwrap();
    let lines: Vec<String> = manifest
        .lines()
        .skip_while(|l| l.trim() != "[package.metadata.deb]")
        .skip(1)
        .take_while(|l| !l.starts_with('['))
        .map(str::to_string)
        .collect();
    assert!(
        !lines.is_empty(),
        "Cargo.toml has no [package.metadata.deb] table"
    );
    lines
}

/// The quoted strings of a line, in order.
fn quoted(line: &str) -> Vec<&str> {
    line.split('"').skip(1).step_by(2).collect()
}

/// (source, destination, mode) of every asset.
fn assets() -> Vec<(String, String, String)> {
    let table = deb_table();
    let list: Vec<(String, String, String)> = table
        .iter()
        .skip_while(|l| !l.starts_with("assets"))
        .skip(1)
        .take_while(|l| l.trim() != "]")
        .map(|l| {
            let q = quoted(l);
            assert_eq!(q.len(), 3, "asset line {l:?} is not [source, dest, mode]");
            (q[0].to_string(), q[1].to_string(), q[2].to_string())
        })
        .collect();
    assert!(!list.is_empty(), "no assets listed");
    list
}

fn value(key: &str) -> Option<String> {
    deb_table()
        .iter()
        .find_map(|l| l.strip_prefix(&format!("{key} = ")).map(str::to_string))
}

/// The files under `dir`, relative to it.
fn files_under(dir: &Path, prefix: &str, out: &mut Vec<String>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let name = format!("{prefix}{}", e.file_name().to_string_lossy());
        if e.file_type().unwrap().is_dir() {
            files_under(&e.path(), &format!("{name}/"), out);
        } else {
            out.push(name);
        }
    }
}

#[test]
fn every_asset_exists() {
    for (source, dest, mode) in assets() {
        assert!(
            u32::from_str_radix(&mode, 8).is_ok_and(|m| m <= 0o7777),
            "{source}: mode {mode:?} is not octal"
        );
        assert!(
            !dest.starts_with('/'),
            "{source}: dest {dest:?} must be relative"
        );
        if let Some(bin) = source.strip_prefix("target/release/") {
            let src = Path::new(ROOT).join(format!("src/bin/{bin}.rs"));
            assert!(
                src.is_file(),
                "{source}: no binary {bin} ({} missing)",
                src.display()
            );
            assert_eq!(mode, "755", "{source}: binaries are executable");
        } else if let Some(base) = source.strip_suffix("/**/*") {
            let mut files = Vec::new();
            files_under(&Path::new(ROOT).join(base), "", &mut files);
            assert!(!files.is_empty(), "{source} matches no file");
            assert!(dest.ends_with('/'), "{source}: a glob goes to a directory");
        } else {
            assert!(
                Path::new(ROOT).join(&source).is_file(),
                "{source} does not exist"
            );
        }
    }
}

#[test]
fn the_package_replaces_fail2ban_with_all_of_ours() {
    for key in ["conflicts", "replaces", "provides"] {
        assert_eq!(
            value(key).as_deref(),
            Some("\"fail2ban\""),
            "{key} must name Debian's fail2ban package"
        );
    }
    let a = assets();
    let has = |source: &str, dest: &str| a.iter().any(|(s, d, _)| s == source && d == dest);
    for bin in ["fail2ban-server", "fail2ban-client", "fail2ban-regex"] {
        assert!(
            has(&format!("target/release/{bin}"), "usr/bin/"),
            "{bin} must go to /usr/bin"
        );
    }
    assert!(
        has("etc/fail2ban/**/*", "etc/fail2ban/"),
        "the whole etc/fail2ban tree must go to /etc/fail2ban"
    );
    assert!(has(
        "etc/systemd/fail2ban.service",
        "lib/systemd/system/fail2ban.service"
    ));
    assert!(has("etc/logrotate.d/fail2ban", "etc/logrotate.d/fail2ban"));
}

/// The unit and the logrotate file must run what the package installs in
/// /usr/bin (a command without a directory is looked up there too).
#[test]
fn unit_and_logrotate_commands_resolve_to_the_packages_binaries() {
    let unit =
        std::fs::read_to_string(Path::new(ROOT).join("etc/systemd/fail2ban.service")).unwrap();
    let rotate = std::fs::read_to_string(Path::new(ROOT).join("etc/logrotate.d/fail2ban")).unwrap();
    let mut commands: Vec<&str> = unit
        .lines()
        .filter_map(|l| {
            ["ExecStart=", "ExecStop=", "ExecReload="]
                .iter()
                .find_map(|k| l.strip_prefix(k))
        })
        .collect();
    commands.extend(
        rotate
            .lines()
            .map(str::trim)
            .filter(|l| !l.starts_with('#') && l.contains("fail2ban-client")),
    );
    assert_eq!(commands.len(), 4, "three unit commands and postrotate");
    for c in commands {
        let program = c.split_whitespace().next().unwrap();
        assert!(
            matches!(
                program,
                "fail2ban-server"
                    | "fail2ban-client"
                    | "/usr/bin/fail2ban-server"
                    | "/usr/bin/fail2ban-client"
            ),
            "{c:?} does not run the package's /usr/bin binaries"
        );
    }
}
