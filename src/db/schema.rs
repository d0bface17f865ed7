//! fail2ban's schema (version 4) and the forward-only upgrade of the older
//! ones it wrote (1 to 3), so one file serves both tools.
//!
//! The history, as the files fail2ban left show it: version 1 had `logs`
//! unique on (jail, path) only; version 2 added uniqueness on (jail, path,
//! first-line hash); version 3 gave `bans` a length and a count; version 4
//! added `bips`, the latest ban of each address in each jail, which
//! bantime.increment and the restore at start read.
//!
//! Unlike fail2ban, a failed upgrade never falls back to a fresh file: the
//! whole upgrade is one transaction, so the file is either upgraded with
//! every row or left exactly as it was, and the error says why.

use rusqlite::{Connection, OptionalExtension};

/// The version this program writes.
pub const VERSION: i64 = 4;

const FAIL2BANDB: &str = "CREATE TABLE IF NOT EXISTS fail2banDb(version INTEGER);";

const JAILS: &str = "
CREATE TABLE IF NOT EXISTS jails(
    name TEXT NOT NULL UNIQUE,
    enabled INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS jails_name ON jails(name);";

const LOGS: &str = "
CREATE TABLE IF NOT EXISTS logs(
    jail TEXT NOT NULL,
    path TEXT,
    firstlinemd5 TEXT,
    lastfilepos INTEGER DEFAULT 0,
    FOREIGN KEY(jail) REFERENCES jails(name) ON DELETE CASCADE,
    UNIQUE(jail, path),
    UNIQUE(jail, path, firstlinemd5)
);
CREATE INDEX IF NOT EXISTS logs_path ON logs(path);
CREATE INDEX IF NOT EXISTS logs_jail_path ON logs(jail, path);";

const BANS: &str = "
CREATE TABLE IF NOT EXISTS bans(
    jail TEXT NOT NULL,
    ip TEXT,
    timeofban INTEGER NOT NULL,
    bantime INTEGER NOT NULL,
    bancount INTEGER NOT NULL DEFAULT 1,
    data JSON,
    FOREIGN KEY(jail) REFERENCES jails(name)
);
CREATE INDEX IF NOT EXISTS bans_jail_timeofban_ip ON bans(jail, timeofban);
CREATE INDEX IF NOT EXISTS bans_jail_ip ON bans(jail, ip);
CREATE INDEX IF NOT EXISTS bans_ip ON bans(ip);";

const BIPS: &str = "
CREATE TABLE IF NOT EXISTS bips(
    ip TEXT NOT NULL,
    jail TEXT NOT NULL,
    timeofban INTEGER NOT NULL,
    bantime INTEGER NOT NULL,
    bancount INTEGER NOT NULL DEFAULT 1,
    data JSON,
    PRIMARY KEY(ip, jail),
    FOREIGN KEY(jail) REFERENCES jails(name)
);
CREATE INDEX IF NOT EXISTS bips_timeofban ON bips(timeofban);
CREATE INDEX IF NOT EXISTS bips_ip ON bips(ip);";

/// The tables of the database, in creation order.
pub(crate) fn table_names(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut st = conn.prepare(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY rowid",
    )?;
    let names = st.query_map([], |r| r.get::<_, String>(0))?;
    names.collect()
}

fn table_exists(conn: &Connection, name: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT EXISTS(SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1)",
        [name],
        |r| r.get(0),
    )
}

/// The stored version: `Ok(None)` when the table is empty or the value is
/// not a whole number.
pub(crate) fn stored_version(conn: &Connection) -> rusqlite::Result<Option<i64>> {
    let v: Option<rusqlite::types::Value> = conn
        .query_row("SELECT version FROM fail2banDb LIMIT 1", [], |r| r.get(0))
        .optional()?;
    Ok(match v {
        Some(rusqlite::types::Value::Integer(i)) => Some(i),
        Some(rusqlite::types::Value::Real(x)) if x.fract() == 0.0 => Some(x as i64),
        _ => None,
    })
}

/// Creates every table of version 4 in an empty database.
pub(crate) fn create(conn: &Connection) -> rusqlite::Result<()> {
    let tx = conn.unchecked_transaction()?;
    for script in [FAIL2BANDB, JAILS, LOGS, BANS, BIPS] {
        tx.execute_batch(script)?;
    }
    tx.execute(
        "INSERT INTO fail2banDb(version) SELECT ?1 WHERE NOT EXISTS (SELECT 1 FROM fail2banDb)",
        [VERSION],
    )?;
    tx.commit()
}

/// Brings a version 1 to 3 database to version 4 in one transaction.
///
/// Foreign keys are off meanwhile: a log or ban whose jail row is missing
/// (fail2ban itself never checked on older versions) must be carried over,
/// not make the upgrade fail.
pub(crate) fn upgrade(conn: &Connection, from: i64) -> rusqlite::Result<()> {
    conn.execute_batch("PRAGMA foreign_keys = OFF")?;
    let result = upgrade_steps(conn, from);
    // Restored whatever happened: every other operation relies on the
    // cascade from jails to logs.
    let restored = conn.execute_batch("PRAGMA foreign_keys = ON");
    result.and(restored)
}

fn upgrade_steps(conn: &Connection, from: i64) -> rusqlite::Result<()> {
    let tx = conn.unchecked_transaction()?;
    if from < 2 && table_exists(&tx, "logs")? {
        // Version 2 added UNIQUE(jail, path, firstlinemd5): SQLite cannot add
        // a constraint in place, so the table is rebuilt with its rows.
        tx.execute_batch(&format!(
            "CREATE TEMP TABLE ferroban_logs AS
                 SELECT jail, path, firstlinemd5, lastfilepos FROM main.logs;
             DROP TABLE main.logs;
             {LOGS}
             INSERT INTO main.logs(jail, path, firstlinemd5, lastfilepos)
                 SELECT jail, path, firstlinemd5, lastfilepos FROM temp.ferroban_logs;
             DROP TABLE temp.ferroban_logs;"
        ))?;
    }
    if from < 3 && table_exists(&tx, "bans")? {
        // Older bans did not store their length: -2 marks it unknown, and
        // the restore gives such bans the jail's bantime (as fail2ban does).
        tx.execute_batch(&format!(
            "CREATE TEMP TABLE ferroban_bans AS
                 SELECT jail, ip, timeofban, -2 AS bantime, 1 AS bancount, data FROM main.bans;
             DROP TABLE main.bans;
             {BANS}
             INSERT INTO main.bans(jail, ip, timeofban, bantime, bancount, data)
                 SELECT jail, ip, timeofban, bantime, bancount, data FROM temp.ferroban_bans;
             DROP TABLE temp.ferroban_bans;"
        ))?;
    }
    if !table_exists(&tx, "bips")? {
        tx.execute_batch(BIPS)?;
        if table_exists(&tx, "bans")? {
            // The latest ban of each address and jail wins, as in fail2ban;
            // a ban without an address stays in `bans` (bips needs one).
            tx.execute(
                "INSERT OR REPLACE INTO bips(ip, jail, timeofban, bantime, bancount, data)
                     SELECT ip, jail, timeofban, bantime, bancount, data FROM bans
                     WHERE ip IS NOT NULL ORDER BY timeofban",
                [],
            )?;
        }
    }
    // A table an old file never had is created empty rather than left for
    // the first ban to trip over.
    for script in [JAILS, LOGS, BANS] {
        tx.execute_batch(script)?;
    }
    tx.execute("UPDATE fail2banDb SET version = ?1", [VERSION])?;
    tx.commit()
}

/// The name fail2ban gives the copy it takes before an upgrade:
/// `FILE.YYYYmmdd-HHMMSS` in UTC.
pub(crate) fn backup_suffix(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}-{:02}{:02}{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
/// algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backup_names_use_utc_calendar_time() {
        assert_eq!(backup_suffix(0), "19700101-000000");
        assert_eq!(backup_suffix(951_782_400), "20000229-000000");
        assert_eq!(backup_suffix(1_764_085_795), "20251125-154955");
    }

    #[test]
    fn a_new_database_has_version_4_and_all_tables() {
        let c = Connection::open_in_memory().unwrap();
        create(&c).unwrap();
        create(&c).unwrap();
        assert_eq!(stored_version(&c).unwrap(), Some(4));
        assert_eq!(
            table_names(&c).unwrap(),
            ["fail2banDb", "jails", "logs", "bans", "bips"]
        );
        let n: i64 = c
            .query_row("SELECT count(*) FROM fail2banDb", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 1, "creating twice keeps one version row");
    }
}
