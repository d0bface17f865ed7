//! The systemd unit and the logrotate file in etc/, exercised with our
//! binaries: the unit's ExecStart starts a server that reads its own
//! configuration, ExecReload and ExecStop work, and logrotate's postrotate
//! (`flushlogs`) makes the server write to a fresh log file.

mod common;
use common::*;

fn unit_command(key: &str) -> Vec<String> {
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/etc/systemd/fail2ban.service"
    ))
    .unwrap();
    let line = unit
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("{key} missing from the unit"));
    line.split_whitespace().map(str::to_string).collect()
}

/// The unit's command with our build's binary, pointed at `conf`.
fn ours(cmd: &[String], conf: &Scratch) -> std::process::Command {
    let binary = match cmd[0].rsplit('/').next().unwrap() {
        "fail2ban-server" => env!("CARGO_BIN_EXE_fail2ban-server"),
        "fail2ban-client" => env!("CARGO_BIN_EXE_fail2ban-client"),
        other => panic!("unexpected binary {other}"),
    };
    let mut c = std::process::Command::new(binary);
    c.args(["-c", conf.str()]).args(&cmd[1..]);
    c
}

#[test]
fn unit_commands_and_logrotate_postrotate_work() {
    let conf = Scratch::server_tree("service");
    let start = unit_command("ExecStart");
    assert_eq!(start[1..], ["-xf", "start"]);
    let mut server = ours(&start, &conf)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let status = || {
        let mut c = our_client();
        c.args(["-c", conf.str(), "ping"]);
        run(c).status.success()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !status() {
        assert!(
            std::time::Instant::now() < deadline,
            "the unit's ExecStart never answered"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let reload = run(ours(&unit_command("ExecReload"), &conf));
    assert_eq!(stdout(&reload), "OK\n");
    // What logrotate does: move the file away, then run postrotate.
    let rotate = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/etc/logrotate.d/fail2ban"
    ))
    .unwrap();
    assert!(rotate.contains("fail2ban-client flushlogs"), "{rotate}");
    std::fs::rename(conf.path.join("server.log"), conf.path.join("server.log.1")).unwrap();
    let mut flush = our_client();
    flush.args(["-c", conf.str(), "flushlogs"]);
    assert_eq!(stdout(&run(flush)), "logs: rolled over\n");
    let stop = run(ours(&unit_command("ExecStop"), &conf));
    assert_eq!(stdout(&stop), "Shutdown successful\n");
    assert_eq!(
        server.wait().unwrap().code(),
        Some(0),
        "the unit would see a clean exit"
    );
    let fresh = std::fs::read_to_string(conf.path.join("server.log")).unwrap();
    assert!(
        fresh.contains("Exiting Fail2ban"),
        "after flushlogs the server writes to the new file:\n{fresh}"
    );
}
