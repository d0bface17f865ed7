//! A database written by Debian's fail2ban (`Fail2BanDb`, two jails, bans
//! that are active, expired, permanent and repeated, logs whose positions it
//! took from its own FileContainer) is read by ours: the same current bans
//! for the restore at start, the same ban history and ban list, and log
//! positions our file tail accepts as its own.

mod db_common;

use db_common::*;
use ferroban::db::{Database, Restore, Scope};
use ferroban::watch::FileTail;

const WRITE: &str = r#"
from fail2ban.server.filter import FileContainer
path, now, authlog, maillog = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
MyTime.setTime(now)
db = Fail2BanDb(path)
sshd, postfix = Jail("sshd", 600), Jail("postfix", 3600)
db.addJail(sshd); db.addJail(postfix)

def ban(jail, ip, ago, bantime, count, matches, failures, **extra):
    t = BanTicket(ip, now - ago, matches, data=extra)
    t.setAttempt(failures)
    t.setBanTime(bantime)
    t.setBanCount(count, always=True)
    db.addBan(jail, t)

ban(sshd, "192.0.2.1", 4000, 600, 1, ["l1", "l2", "l3"], 3)
ban(sshd, "192.0.2.1", 100, 1200, 2, ["m%d" % i for i in range(12)], 12)
ban(sshd, "192.0.2.2", 5000, 600, 1, ["old"], 2)
ban(sshd, "192.0.2.3", 100000, -1, 1, ["forever"], 1)
ban(sshd, "2001:db8::5", 30, 600, 1, ['é "q"\tx'], 1)
ban(postfix, "198.51.100.7", 10, 3600, 3, ["p"], 5, user="bob")
ban(postfix, "192.0.2.1", 50, 3600, 1, ["q"], 2)

logs = []
for jail, log in ((sshd, authlog), (postfix, maillog)):
    c = FileContainer(log, "utf-8", tail=True)
    db.addLog(jail, c)
    logs.append([jail.name, log, c.getHash(), c.getPos()])

def history(ip, jail=None, overall=False):
    return [list(r) for r in db.getBan(ip, jail, overalljails=overall)]

dump({
    "all": db.getCurrentBans(fromtime=now, correctBanTime=False),
    "sshd": db.getCurrentBans(jail=sshd, forbantime=600, fromtime=now, maxmatches=5),
    "sshd_incr": db.getCurrentBans(jail=Jail("sshd", 600, 7200), fromtime=now,
                                   correctBanTime=7200, maxmatches=10),
    "sshd_incr_nomax": db.getCurrentBans(jail=Jail("sshd", 600, -1), fromtime=now,
                                         correctBanTime=-1, maxmatches=10),
    "postfix": db.getCurrentBans(jail=postfix, forbantime=3600, fromtime=now, maxmatches=10),
    "bans": db.getBans(),
    "history": [
        history("192.0.2.1", sshd), history("192.0.2.1", postfix),
        history("192.0.2.1", overall=True), history("192.0.2.3", sshd),
        history("203.0.113.9", sshd),
    ],
    "logs": logs,
    "merged": [db.getBansMerged(ip="192.0.2.1"), db.getBansMerged(ip="192.0.2.1", jail=sshd),
               db.getBansMerged(ip="203.0.113.9")],
})
db.close()
"#;

struct Written {
    _dir: Scratch,
    db: std::path::PathBuf,
    now: i64,
    py: ferroban::stream::Value,
}

fn written(name: &str) -> Written {
    let dir = Scratch::new(name);
    let auth = dir.file("auth.log");
    let mail = dir.file("mail.log");
    std::fs::write(
        &auth,
        "Nov 25 10:00:00 host sshd[1]: first\nsecond\nthird\n",
    )
    .unwrap();
    std::fs::write(&mail, "Nov 25 10:00:01 host postfix: first\n").unwrap();
    let now = now();
    let db = dir.file("fail2ban.sqlite3");
    let py = python_json(
        WRITE,
        &[
            db.to_str().unwrap(),
            &now.to_string(),
            auth.to_str().unwrap(),
            mail.to_str().unwrap(),
        ],
    );
    Written {
        _dir: dir,
        db,
        now,
        py,
    }
}

fn py_bans(v: &ferroban::stream::Value) -> Vec<Ban> {
    list(v).iter().map(py_ban).collect()
}

#[test]
fn current_bans_are_the_ones_fail2ban_restores() {
    let w = written("current");
    let db = Database::open(&w.db).expect("open fail2ban's file");
    assert_eq!(db.upgraded_from(), None);
    assert_eq!(db.backup_path(), None);
    let now = w.now as f64;

    let all = db
        .current_bans(
            None,
            now,
            &Restore {
                for_ban_time: None,
                max_ban_time: None,
                unknown_ban_time: 600,
                max_matches: 10,
            },
        )
        .unwrap();
    let ours: Vec<Ban> = all.iter().map(our_ban).collect();
    assert_eq!(ours, py_bans(get(&w.py, "all")));
    // Not only the same as fail2ban, but what the scenario means: the
    // expired ban is gone, the permanent one stays, and over all jails the
    // latest ban of an address wins.
    let ips: Vec<&str> = all.iter().map(|b| b.ip.as_str()).collect();
    assert_eq!(
        ips,
        ["192.0.2.1", "192.0.2.3", "198.51.100.7", "2001:db8::5"]
    );
    assert_eq!(all[0].jail, "postfix");
    assert_eq!(all[1].ban_time, -1);
    assert_eq!(all[3].matches(), ["é \"q\"\tx"]);

    let sshd = db
        .current_bans(Some("sshd"), now, &Restore::jail(600, 5))
        .unwrap();
    assert_eq!(
        sshd.iter().map(our_ban).collect::<Vec<_>>(),
        py_bans(get(&w.py, "sshd"))
    );
    // The repeated ban is cut to the jail's bantime, its matches to
    // maxmatches; the permanent ban is older than bantime, so not restored.
    assert_eq!(sshd.len(), 2);
    assert_eq!(sshd[0].ban_time, 600);
    assert_eq!(sshd[0].matches(), ["m7", "m8", "m9", "m10", "m11"]);

    let incr = db
        .current_bans(Some("sshd"), now, &Restore::increment(600, Some(7200), 10))
        .unwrap();
    assert_eq!(
        incr.iter().map(our_ban).collect::<Vec<_>>(),
        py_bans(get(&w.py, "sshd_incr"))
    );
    // With increment any age counts, but cut to bantime.maxtime the
    // permanent ban of long ago is over.
    assert_eq!(incr.len(), 2);
    assert_eq!(incr[0].ban_time, 1200, "shorter than maxtime: kept");
    assert_eq!(
        incr[0].matches().len(),
        10,
        "fail2ban stored only dbmaxmatches lines"
    );

    let nomax = db
        .current_bans(Some("sshd"), now, &Restore::increment(600, None, 10))
        .unwrap();
    assert_eq!(
        nomax.iter().map(our_ban).collect::<Vec<_>>(),
        py_bans(get(&w.py, "sshd_incr_nomax"))
    );
    assert_eq!(nomax.len(), 3, "without maxtime the permanent ban stays");
    assert_eq!(nomax[1].ban_time, -1);

    let postfix = db
        .current_bans(Some("postfix"), now, &Restore::jail(3600, 10))
        .unwrap();
    assert_eq!(
        postfix.iter().map(our_ban).collect::<Vec<_>>(),
        py_bans(get(&w.py, "postfix"))
    );
    let bob = postfix.iter().find(|b| b.ip == "198.51.100.7").unwrap();
    let t = bob.to_ticket();
    assert_eq!(t.data, [("user".to_string(), "bob".to_string())]);
    assert_eq!((t.attempts, t.ban_count), (5, 3));
    db.close().unwrap();
}

#[test]
fn ban_history_and_ban_list_are_fail2bans() {
    let w = written("history");
    let db = Database::open(&w.db).unwrap();
    let hist = list(get(&w.py, "history"));
    let row = |i: usize| -> Option<(i64, i64, i64)> {
        list(&hist[i])
            .first()
            .map(|r| (int(&list(r)[0]), int(&list(r)[1]), int(&list(r)[2])))
    };
    let ours = |ip: &str, scope| {
        db.ban_history(ip, scope)
            .unwrap()
            .map(|h| (i64::from(h.ban_count), h.time_of_ban, h.ban_time))
    };
    assert_eq!(ours("192.0.2.1", Scope::Jail("sshd")), row(0));
    assert_eq!(row(0), Some((2, w.now - 100, 1200)));
    assert_eq!(ours("192.0.2.1", Scope::Jail("postfix")), row(1));
    assert_eq!(ours("192.0.2.1", Scope::AllJails), row(2));
    assert_eq!(row(2), Some((3, w.now - 50, 4800)));
    assert_eq!(ours("192.0.2.3", Scope::Jail("sshd")), row(3));
    assert_eq!(ours("203.0.113.9", Scope::Jail("sshd")), None);
    assert_eq!(row(4), None);

    // getBans: every ban, newest first per address. Its tickets carry no
    // length or count, so address, time, matches and failures are compared.
    // getBansMerged, for the <ipmatches>/<ipfailures> action tags.
    let merged = list(get(&w.py, "merged"));
    for (i, jail) in [(0, None), (1, Some("sshd"))] {
        let theirs = py_ban(&merged[i]);
        let ours = db.bans_merged("192.0.2.1", jail).unwrap().unwrap();
        assert_eq!(
            (
                ours.ip,
                ours.time_of_ban,
                ours.matches,
                i64::from(ours.failures)
            ),
            (theirs.0, theirs.1, theirs.4, theirs.5),
            "merged in {jail:?}"
        );
    }
    let all = db.bans_merged("192.0.2.1", None).unwrap().unwrap();
    assert_eq!(all.failures, 3 + 12 + 2);
    assert_eq!(all.matches.len(), 10, "dbmaxmatches");
    assert_eq!(
        all.matches.last().map(String::as_str),
        Some("q"),
        "newest last"
    );
    assert_eq!(merged[2], ferroban::stream::Value::None);
    assert_eq!(db.bans_merged("203.0.113.9", None).unwrap(), None);

    let strip = |b: Ban| (b.0, b.1, b.4, b.5);
    let theirs: Vec<_> = list(get(&w.py, "bans"))
        .iter()
        .map(|t| strip(py_ban(t)))
        .collect();
    let all = db.bans(None, None).unwrap();
    let mine: Vec<_> = all.iter().map(|b| strip(our_ban(b))).collect();
    assert_eq!(mine, theirs);
    assert_eq!(all.len(), 7, "the history keeps every ban");
    assert_eq!(db.bans(Some("sshd"), Some("192.0.2.1")).unwrap().len(), 2);
}

#[test]
fn log_positions_resume_in_our_file_tail() {
    let w = written("logs");
    let db = Database::open(&w.db).unwrap();
    for entry in list(get(&w.py, "logs")) {
        let e = list(entry);
        let (jail, path, hash, pos) = (text(&e[0]), text(&e[1]), text(&e[2]), int(&e[3]));
        let stored = db.get_log(&jail, &path).unwrap().expect("stored position");
        assert_eq!(stored.hash.as_deref(), Some(hash.as_str()));
        assert_eq!(stored.pos, pos as u64);
        assert_eq!(pos as u64, std::fs::metadata(&path).unwrap().len());
        // fail2ban's "md5" is our SHA-1 of the first line: our tail takes
        // the position as the same file's.
        let mut tail = FileTail::builder().open(&path).unwrap();
        assert_eq!(tail.first_line_hash(), hash);
        assert_eq!(stored.resume_at(tail.first_line_hash()), Some(pos as u64));
        assert!(tail.restore(stored.pos, stored.hash.as_deref().unwrap()));
        assert_eq!(tail.position(), pos as u64);
    }
    // After a rotation the first line differs: no resume.
    let auth = list(&list(get(&w.py, "logs"))[0])[1].clone();
    let auth = text(&auth);
    std::fs::write(&auth, "Nov 26 00:00:00 host sshd[2]: new file\n").unwrap();
    let tail = FileTail::builder().open(&auth).unwrap();
    let stored = db.get_log("sshd", &auth).unwrap().unwrap();
    assert_eq!(stored.resume_at(tail.first_line_hash()), None);
    assert_eq!(db.get_log("sshd", "/nonexistent").unwrap(), None);
}
