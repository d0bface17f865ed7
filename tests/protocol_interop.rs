//! Interoperability on a real socket, both ways: Python's fail2ban-client
//! talks to a socket served by this test with our codec, and our client talks
//! to Python's fail2ban-server. The server is started with no jails, a
//! private socket, pid file and configuration, and no database, so nothing
//! outside the scratch directory is touched; it is stopped by command and, on
//! any failure, killed by its PID.

use std::io::{BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::thread::sleep;
use std::time::{Duration, Instant};

use ferroban::protocol::{self, Client, PyException, Reply};
use ferroban::stream::Value;

const REFERENCE_CLIENT: &str = "/usr/bin/fail2ban-client";
const REFERENCE_SERVER: &str = "/usr/bin/fail2ban-server";

/// A scratch directory removed when dropped. Unix socket paths are short
/// (108 bytes), so it lives directly in the temp dir.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let p = std::env::temp_dir().join(format!("fb-proto-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Scratch(p)
    }
    fn join(&self, f: &str) -> PathBuf {
        self.0.join(f)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child process killed (by its own PID) if the test ends before it does.
struct Guard(Option<Child>);

impl Guard {
    fn child(&mut self) -> &mut Child {
        self.0.as_mut().expect("the child is still guarded")
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            if let Ok(None) = c.try_wait() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

struct Conversation {
    commands: Vec<Value>,
    closed_politely: bool,
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs Python's fail2ban-client against a socket we serve, answering each
/// command with `answer`.
fn converse(name: &str, args: &[&str], answer: impl Fn(&Value) -> Reply) -> Conversation {
    assert!(
        Path::new(REFERENCE_CLIENT).exists(),
        "Debian's fail2ban must be installed"
    );
    let dir = Scratch::new(name);
    let sock = dir.join("f2b.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    listener.set_nonblocking(true).unwrap();
    // Files, not pipes: a pipe nobody reads until the end could fill up and
    // stall the client in the middle of the conversation.
    let (out_path, err_path) = (dir.join("stdout"), dir.join("stderr"));
    let child = Command::new(REFERENCE_CLIENT)
        .arg("-s")
        .arg(&sock)
        .args(args)
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    let mut child = Guard(Some(child));
    let mut conv = Conversation {
        commands: Vec::new(),
        closed_politely: false,
        code: None,
        stdout: String::new(),
        stderr: String::new(),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(
            Instant::now() < deadline,
            "fail2ban-client did not finish in time"
        );
        match listener.accept() {
            Ok((stream, _)) => serve(stream, &answer, &mut conv),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if child.child().try_wait().unwrap().is_some() {
                    break;
                }
                sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("accept failed: {e}"),
        }
    }
    conv.code = child.child().wait().unwrap().code();
    conv.stdout = std::fs::read_to_string(out_path).unwrap();
    conv.stderr = std::fs::read_to_string(err_path).unwrap();
    conv
}

fn serve(stream: UnixStream, answer: &impl Fn(&Value) -> Reply, conv: &mut Conversation) {
    stream.set_nonblocking(false).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    while let Some(msg) =
        protocol::read_message_timeout(&mut reader, 1 << 20, Duration::from_secs(10)).unwrap()
    {
        if protocol::is_close(&msg) {
            conv.closed_politely = true;
            break;
        }
        let cmd = protocol::decode(&msg).unwrap();
        let reply = protocol::reply_message(&answer(&cmd));
        conv.commands.push(cmd);
        writer.write_all(&reply).unwrap();
    }
}

fn ok(v: Value) -> Reply {
    Reply::Answer { code: 0, result: v }
}

#[test]
fn python_client_pings_our_socket() {
    let c = converse("ping", &["ping"], |_| ok(Value::str("pong")));
    assert_eq!(c.commands.len(), 1, "{}", c.stderr);
    assert_eq!(c.commands[0].to_string(), "['ping']");
    assert!(
        c.closed_politely,
        "the client says goodbye with CSPROTO.CLOSE"
    );
    assert_eq!(c.stdout, "Server replied: pong\n");
    assert_eq!(c.code, Some(0), "{}", c.stderr);
}

#[test]
fn python_client_prints_our_status_and_echo() {
    let status = Value::List(vec![
        Value::Tuple(vec![Value::str("Number of jail"), Value::Int(1)]),
        Value::Tuple(vec![Value::str("Jail list"), Value::str("sshd")]),
    ]);
    let c = converse("status", &["status"], |_| ok(status.clone()));
    assert_eq!(c.commands[0].to_string(), "['status']");
    assert_eq!(
        c.stdout,
        "Status\n|- Number of jail:\t1\n`- Jail list:\tsshd\n"
    );
    assert_eq!(c.code, Some(0), "{}", c.stderr);

    let c = converse("echo", &["echo", "a", "b c"], |cmd| {
        ok(Value::List(cmd.as_list().unwrap()[1..].to_vec()))
    });
    assert_eq!(c.commands[0].to_string(), "['echo', 'a', 'b c']");
    assert_eq!(c.stdout, "a b c\n");
    assert_eq!(c.code, Some(0), "{}", c.stderr);
}

#[test]
fn python_client_understands_our_failures() {
    let c = converse("fail", &["status", "nojail"], |_| Reply::Failure {
        code: 1,
        error: PyException {
            module: "fail2ban.exceptions".into(),
            name: "UnknownJailException".into(),
            args: vec![Value::str("nojail")],
        },
    });
    assert_eq!(c.commands[0].to_string(), "['status', 'nojail']");
    assert_eq!(c.stdout, "Sorry but the jail 'nojail' does not exist\n");
    assert!(c.stderr.contains("NOK: ('nojail',)"), "{}", c.stderr);
    assert_eq!(c.code, Some(255));
}

/// Python's fail2ban-server on a private socket, with no jails and no database.
struct PythonServer {
    dir: Scratch,
    child: Guard,
}

impl PythonServer {
    fn start(name: &str) -> PythonServer {
        assert!(
            Path::new(REFERENCE_SERVER).exists(),
            "Debian's fail2ban must be installed"
        );
        let dir = Scratch::new(name);
        let sock = dir.join("s.sock");
        let pid = dir.join("s.pid");
        // Every setting the server asks for, and dbfile = None so that no
        // database is created under /var/lib.
        std::fs::write(
            dir.join("fail2ban.conf"),
            format!(
                "[Definition]\nloglevel = INFO\nlogtarget = STDOUT\nsyslogsocket = auto\n\
                 socket = {}\npidfile = {}\nallowipv6 = auto\ndbfile = None\n\
                 dbmaxmatches = 10\ndbpurgeage = 1d\n",
                sock.display(),
                pid.display()
            ),
        )
        .unwrap();
        std::fs::write(dir.join("jail.conf"), "[DEFAULT]\n").unwrap();
        let log = std::fs::File::create(dir.join("server.log")).unwrap();
        let child = Command::new(REFERENCE_SERVER)
            .args(["-f", "-x", "--logtarget", "STDOUT", "-c"])
            .arg(&dir.0)
            .arg("-s")
            .arg(&sock)
            .arg("-p")
            .arg(&pid)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        PythonServer {
            dir,
            child: Guard(Some(child)),
        }
    }

    fn sock(&self) -> PathBuf {
        self.dir.join("s.sock")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    /// Connects once the server answers, within 30 seconds.
    fn client(&mut self) -> Client {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(mut c) = Client::connect(self.sock()) {
                c.set_timeout(Some(Duration::from_secs(10))).unwrap();
                return c;
            }
            assert!(
                self.child.child().try_wait().unwrap().is_none(),
                "fail2ban-server exited: {}",
                self.log()
            );
            assert!(
                Instant::now() < deadline,
                "fail2ban-server never listened: {}",
                self.log()
            );
            sleep(Duration::from_millis(50));
        }
    }
}

#[test]
fn our_client_talks_to_python_server() {
    let mut server = PythonServer::start("server");
    let mut c = server.client();

    let r = c.send_strs(&["ping"]).unwrap();
    assert_eq!(r, ok(Value::str("pong")), "{}", server.log());

    let r = c.send_strs(&["echo", "a", "b"]).unwrap();
    assert_eq!(r, ok(Value::List(vec![Value::str("a"), Value::str("b")])));

    let r = c.send_strs(&["status"]).unwrap();
    let Reply::Answer { code: 0, result } = r else {
        panic!("status failed: {r:?}");
    };
    assert_eq!(
        result.to_string(),
        "[('Number of jail', 0), ('Jail list', '')]"
    );

    // Values other than strings travel too (fail2ban-client sends `ping 0.5` this way).
    let r = c.send(&[Value::str("ping"), Value::Float(0.5)]).unwrap();
    assert_eq!(r, ok(Value::str("pong")));

    let r = c.send_strs(&["status", "nojail"]).unwrap();
    let Reply::Failure { code: 1, error } = r else {
        panic!("status nojail should fail: {r:?}");
    };
    assert_eq!(error.to_string(), "UnknownJailException('nojail')");
    assert_eq!(error.module, "fail2ban.exceptions");
    c.close().unwrap();

    // A truncated pickle gets Python's bare 'ERROR: ...' string back.
    let mut raw = UnixStream::connect(server.sock()).unwrap();
    let mut bad = protocol::encode(&ferroban::command!["ping"], 5).unwrap();
    bad.truncate(bad.len() - 3);
    raw.write_all(&protocol::frame(bad)).unwrap();
    let mut reader = BufReader::new(raw.try_clone().unwrap());
    let msg = protocol::read_message_timeout(&mut reader, 1 << 20, Duration::from_secs(10))
        .unwrap()
        .unwrap();
    match protocol::decode_reply(&msg).unwrap() {
        Reply::Other(Value::Str(s)) => assert!(s.starts_with("ERROR: "), "{s}"),
        other => panic!("expected an error string, got {other:?}"),
    }
    drop(raw);

    let mut c = server.client();
    let r = c.send_strs(&["stop"]).unwrap();
    assert!(matches!(r, Reply::Answer { code: 0, .. }), "{r:?}");
    drop(c);
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.child.child().try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "fail2ban-server did not stop: {}",
            server.log()
        );
        sleep(Duration::from_millis(50));
    }
}

/// Over 64 KiB both ways: Python splits its command into several frames and
/// reads our reply split the same way.
#[test]
fn python_client_exchanges_multi_frame_messages() {
    let words: Vec<String> = (0..3000).map(|i| format!("word-{i:025}")).collect();
    let mut args = vec!["echo"];
    args.extend(words.iter().map(String::as_str));
    let c = converse("big", &args, |cmd| {
        ok(Value::List(cmd.as_list().unwrap()[1..].to_vec()))
    });
    assert_eq!(c.commands.len(), 1, "{}", c.stderr);
    let got = c.commands[0].as_list().unwrap();
    assert_eq!(got.len(), 3001);
    assert_eq!(got[3000].as_str(), Some(words[2999].as_str()));
    assert_eq!(c.stdout, format!("{}\n", words.join(" ")));
    assert_eq!(c.code, Some(0), "{}", c.stderr);
}
