//! The fault test for the database (issue 6): ferroban's server follows a
//! log while a writer appends a steady stream of failures (every address
//! fails twice, maxretry 2, bans last a day), and is killed with SIGKILL at
//! random moments (every fifth kill during its start, while it restores),
//! then started again, 65 times (52 restarts checked while up). The moments
//! come from a seeded generator; the seed is printed, and
//! `FERROBAN_SIGKILL_SEED=N` replays a run.
//!
//! After every restart:
//! - every address the server log reports with `Ban` (from any run so far)
//!   is in `status`'s banned list, which holds no address twice;
//! - no address is logged with `Ban` twice (a second ban would mean the
//!   first was lost or the log was counted twice);
//! - the test action (`norestored`, recording its server's PID) never
//!   received a second ban of one address.
//!
//! At the end, the database's `bans` table holds one row per address, every
//! logged ban among them, each with its address's two distinct lines as
//! matches (a line read twice after a restart would show), and no
//! address's lines were found more than a few times (each restart resumes
//! the log where the last run stored its position).

mod common;
use common::*;
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const JAIL: &str = "sk";
const CYCLES: usize = 65;

/// splitmix64: a small seeded generator, enough for picking moments.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn ip(k: u32) -> String {
    format!("10.1.{}.{}", k / 250, k % 250 + 1)
}

fn pid_in(conf: &Scratch) -> Option<i32> {
    std::fs::read_to_string(conf.path.join("s.pid"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| !s.contains(") Z ") && !s.contains(") X "))
}

/// `[JAIL] Ban IP` lines of the server log: (server PID, address).
fn logged_bans(log: &str) -> Vec<(i32, String)> {
    let needle = format!("]: NOTICE  [{JAIL}] Ban ");
    log.lines()
        .filter_map(|l| {
            let at = l.find(&needle)?;
            let pid = l[..at].rsplit_once('[')?.1.parse().ok()?;
            Some((pid, l[at + needle.len()..].trim().to_string()))
        })
        .collect()
}

/// The banned list `status JAIL` prints.
fn status_list(conf: &Scratch) -> Vec<String> {
    let (out, code) = client_in(conf, &["status", JAIL]);
    assert_eq!(code, Some(0), "status failed: {out}");
    let line = out
        .lines()
        .find(|l| l.contains("Banned IP list:"))
        .unwrap_or_else(|| panic!("no banned list in {out}"));
    line.split_once("Banned IP list:")
        .unwrap()
        .1
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// Appends failures until told to stop: address k's first failure, then
/// address k-1's second, one step every `pause`.
fn writer(log: std::path::PathBuf, stop: Arc<AtomicBool>, pause: Duration) -> u32 {
    let mut f = std::fs::OpenOptions::new().append(true).open(log).unwrap();
    let mut k = 0;
    loop {
        // The step after `stop` is written while no server runs (the last
        // one was killed before): the last server must read it. Without it,
        // a fast server may have read and saved everything before its kill.
        let last = stop.load(Ordering::Relaxed);
        let t = unix_now();
        // The user names tell an address's two lines apart.
        let mut lines = courier_failure(t, &ip(k)).replace("user=mallory", "user=first");
        if k > 0 {
            lines += &courier_failure(t, &ip(k - 1)).replace("user=mallory", "user=second");
        }
        // One write per step, so a line is never half there.
        f.write_all(lines.as_bytes()).unwrap();
        k += 1;
        if last {
            return k;
        }
        std::thread::sleep(pause);
    }
}

/// Checks what must hold whenever a server is up: see the module doc.
fn check(conf: &Scratch, actions: &Path, servers: &HashSet<i32>, cycle: usize, seed: u64) {
    let ctx = format!("cycle {cycle}, seed {seed}");
    // The log first: whatever it says was banned before `status` answers.
    let bans = logged_bans(&conf.server_log());
    let listed = status_list(conf);
    let listed_set: HashSet<&String> = listed.iter().collect();
    assert_eq!(
        listed.len(),
        listed_set.len(),
        "{ctx}: an address listed twice: {listed:?}"
    );
    let mut seen = HashSet::new();
    for (pid, ip) in &bans {
        assert!(
            listed_set.contains(ip),
            "{ctx}: {ip} was logged as banned (server {pid}) but is not active:\n{listed:?}"
        );
        assert!(seen.insert(ip), "{ctx}: {ip} was banned twice");
    }
    // The action ran the ban of an address at most once (restores skip it).
    let recorded = std::fs::read_to_string(actions).unwrap_or_default();
    let mut banned: HashMap<&str, usize> = HashMap::new();
    let mut orphans = 0;
    for l in recorded.lines() {
        let Some((what, pid)) = l.rsplit_once(' ') else {
            continue;
        };
        let Ok(pid) = pid.parse::<i32>() else {
            continue;
        };
        // A shell forked just before its server was killed reads the PID
        // of whoever adopted it.
        if !servers.contains(&pid) {
            orphans += 1;
        }
        if let Some(ip) = what.strip_prefix('+') {
            let n = banned.entry(ip).or_default();
            *n += 1;
            assert_eq!(*n, 1, "{ctx}: {ip} went to the action twice (server {pid})");
        }
    }
    // Each kill can orphan at most the commands running at that moment (a
    // batch runs up to 4 at once); more would mean the tagging is broken.
    assert!(
        orphans <= 4 * cycle,
        "{ctx}: most action calls must name their server:\n{recorded}"
    );
}

/// After the last server stopped: one `bans` row per address, and every
/// logged ban among them.
fn check_database(db: &Path, conf: &Scratch, seed: u64) {
    let db = ferroban::db::Database::open(db).expect("the database opens");
    let rows = db.bans(Some(JAIL), None).unwrap();
    let mut count: HashMap<&str, usize> = HashMap::new();
    for r in &rows {
        *count.entry(r.ip.as_str()).or_default() += 1;
    }
    for (ip, n) in &count {
        assert_eq!(*n, 1, "seed {seed}: {ip} is stored {n} times");
    }
    // A ban needs both of its address's lines: a line counted twice (a log
    // read again from before where the last run stopped) would show here.
    for r in &rows {
        let m = r.matches();
        let has = |who: &str| m.iter().filter(|l| l.contains(who)).count();
        assert!(
            m.len() == 2 && has("user=first") == 1 && has("user=second") == 1,
            "seed {seed}: {} was banned on {m:?}",
            r.ip
        );
    }
    for (_, ip) in logged_bans(&conf.server_log()) {
        assert!(
            count.contains_key(ip.as_str()),
            "seed {seed}: {ip} was logged but is not stored"
        );
    }
}

/// Starts a server (`start -x`: the killed one left its socket behind) and
/// returns the client still running, and the new server's PID once its
/// pidfile names it.
// The caller waits for the client it gets back.
#[allow(clippy::zombie_processes)]
fn spawn_server(conf: &Scratch, previous: Option<i32>) -> (std::process::Child, i32) {
    let mut client = our_client()
        .args(["-x", "-c", conf.str(), "start"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(pid) = pid_in(conf).filter(|p| Some(*p) != previous && alive(*p)) {
            return (client, pid);
        }
        if Instant::now() > deadline {
            let _ = client.kill();
            let _ = client.wait();
            panic!("no server started:\n{}", conf.server_log());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Kills the server still running when the test fails.
struct KillOnDrop<'a>(&'a Scratch);

impl Drop for KillOnDrop<'_> {
    fn drop(&mut self) {
        if let Some(pid) = pid_in(self.0).filter(|p| alive(*p)) {
            if std::thread::panicking() {
                // SAFETY: kill has no memory preconditions; the PID is our server's.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }
}

fn kill_and_wait(pid: i32) {
    // SAFETY: kill has no memory preconditions; the PID is a server this test started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    wait_for("the killed server to go", || !alive(pid));
}

#[test]
fn bans_survive_sigkill_at_random_moments() {
    let seed = std::env::var("FERROBAN_SIGKILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("db_sigkill seed: {seed} (FERROBAN_SIGKILL_SEED={seed} replays it)");
    let mut rng = Rng(seed);
    let began = Instant::now();

    let conf = Scratch::server_tree("db-sigkill");
    let p = conf.str().to_string();
    let db = conf.path.join("lib/fail2ban.sqlite3");
    conf.write(
        "fail2ban.local",
        format!(
            "[Definition]\nlogtarget = {p}/server.log\nsocket = {p}/run/s.sock\npidfile = {p}/s.pid\ndbfile = {}\n",
            db.display()
        ),
    );
    conf.write(
        "filter.d/sk.conf",
        "[Definition]\nfailregex = LOGIN FAILED, user=\\S+, ip=\\[<HOST>\\]\n",
    );
    let actions = conf.path.join("actions.txt");
    // $PPID is the server that ran the command: one line per call, tagged.
    // norestored keeps restarts cheap (no shell per restored ban), and
    // makes every address's ban run exactly once over all the servers.
    conf.write(
        "action.d/record.conf",
        "[Definition]\nactionstart = echo \"start $PPID\" >> <target>\nactionstop = echo \"stop $PPID\" >> <target>\n\
         actionban = echo \"+<ip> $PPID\" >> <target>\nactionunban = echo \"-<ip> $PPID\" >> <target>\nnorestored = 1\n\
         [Init]\ntarget = /dev/null\n",
    );
    let log = conf.write("mail.log", "");
    let log_path = log.clone();
    conf.write(
        "jail.local",
        format!(
            "[{JAIL}]\nenabled = true\nfilter = sk\nbackend = auto\nlogpath = {}\naction = record[target=\"{}\"]\n\
             maxretry = 2\nfindtime = 600\nbantime = 86400\n",
            log.display(),
            actions.display()
        ),
    );

    let _cleanup = KillOnDrop(&conf);
    let stop = Arc::new(AtomicBool::new(false));
    let feeder = {
        let (log, stop) = (log.clone(), stop.clone());
        std::thread::spawn(move || writer(log, stop, Duration::from_millis(80)))
    };
    let mut servers = HashSet::new();
    let mut previous = None;
    let mut checked = 0;
    for cycle in 0..CYCLES {
        let (mut client, pid) = spawn_server(&conf, previous);
        servers.insert(pid);
        previous = Some(pid);
        // Every fifth cycle kills the server while it starts (restores, reads
        // the log's backlog); the others once it is up, after 0-300 ms.
        if cycle % 5 == 4 {
            std::thread::sleep(Duration::from_millis(rng.below(30)));
            kill_and_wait(pid);
            // Its client would wait out its timeout for the dead server.
            let _ = client.kill();
            let _ = client.wait();
            continue;
        }
        let out = client.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "cycle {cycle}, seed {seed}: start failed: {}{}\n{}",
            stdout(&out),
            stderr(&out),
            conf.server_log()
        );
        check(&conf, &actions, &servers, cycle, seed);
        checked += 1;
        std::thread::sleep(Duration::from_millis(rng.below(300)));
        kill_and_wait(pid);
    }
    stop.store(true, Ordering::Relaxed);
    let written = feeder.join().unwrap();

    // One last server reads what was written while none ran, and stops cleanly.
    let (client, _) = spawn_server(&conf, previous);
    assert!(client.wait_with_output().unwrap().status.success());
    let last = pid_in(&conf).unwrap();
    let found = format!("[{last}]: INFO    [{JAIL}] Found {} ", ip(written - 1));
    let deadline = Instant::now() + Duration::from_secs(15);
    while !conf.server_log().contains(&found) {
        if Instant::now() > deadline {
            let log = conf.server_log();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            let mail = std::fs::read_to_string(&log_path).unwrap_or_default();
            let mail_tail: Vec<&str> = mail.lines().rev().take(4).collect();
            panic!(
                "seed {seed}: the last server did not read {} within 15 s; server log (last lines, newest first):\n{}\nmail.log ends (newest first):\n{}",
                ip(written - 1),
                tail.join("\n"),
                mail_tail.join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    servers.insert(last);
    check(&conf, &actions, &servers, CYCLES, seed);
    let (out, code) = client_in(&conf, &["stop"]);
    assert_eq!(code, Some(0), "{out}");
    check_database(&db, &conf, seed);

    // Each restart resumes the log where the last run stored its position:
    // a line is read again only when a kill fell between reading it and
    // storing the position, so no address is found more than a few times
    // (a log read from its head at every start would find the first
    // addresses once per run, 60 times and more).
    let mut found: HashMap<String, usize> = HashMap::new();
    let needle = format!("INFO    [{JAIL}] Found ");
    for l in conf.server_log().lines() {
        if let Some((_, rest)) = l.split_once(&needle) {
            let ip = rest.split_whitespace().next().unwrap_or_default();
            *found.entry(ip.to_string()).or_default() += 1;
        }
    }
    let (most_ip, most) = found
        .iter()
        .max_by_key(|(_, n)| **n)
        .map(|(ip, n)| (ip.clone(), *n))
        .unwrap_or_default();
    assert!(
        most <= 8,
        "seed {seed}: {most_ip} was found {most} times: the log is read again after restarts"
    );

    let bans = logged_bans(&conf.server_log()).len();
    eprintln!(
        "db_sigkill: {CYCLES} kills, {checked} restarts checked while up, {written} addresses written, \
         {bans} bans logged, at most {most} finds of one address (2 lines each), {:.1} s",
        began.elapsed().as_secs_f64()
    );
    assert!(
        bans >= CYCLES,
        "seed {seed}: the stream should have produced bans throughout ({bans})"
    );
}
