//! Where each jail left each log (`logs`): the first line's hash, which tells
//! a rotated file from the same one, and the byte offset reached. Journals
//! use the same table, with the last entry's time as the position.

use super::read;
use super::record::{JournalPosition, LogPosition};
use super::{Database, DbError};
use rusqlite::OptionalExtension;

impl Database {
    /// The stored position of `path` in `jail`.
    pub fn get_log(&self, jail: &str, path: &str) -> Result<Option<LogPosition>, DbError> {
        self.conn
            .query_row(
                "SELECT firstlinemd5, lastfilepos FROM logs WHERE jail = ?1 AND path = ?2",
                [jail, path],
                |r| {
                    Ok(LogPosition {
                        hash: read::text(r.get_ref(0)?),
                        // A negative or unreadable offset means "from the start".
                        pos: read::floor(r.get_ref(1)?).map_or(0, |p| p.max(0) as u64),
                    })
                },
            )
            .optional()
            .map_err(DbError::query("read a log position"))
    }

    /// Stores where `path` was left. The jail row is created when missing
    /// (disabled jails stay disabled), so a position is never refused.
    pub fn update_log(
        &self,
        jail: &str,
        path: &str,
        hash: Option<&str>,
        pos: u64,
    ) -> Result<(), DbError> {
        let pos = i64::try_from(pos).unwrap_or(i64::MAX);
        self.set_position(jail, path, hash, rusqlite::types::Value::Integer(pos))
            .map_err(DbError::query("store a log position"))
    }

    /// The stored position of journal `name` (fail2ban uses
    /// `systemd-journal`) in `jail`.
    pub fn get_journal(&self, jail: &str, name: &str) -> Result<Option<JournalPosition>, DbError> {
        self.conn
            .query_row(
                "SELECT firstlinemd5, lastfilepos FROM logs WHERE jail = ?1 AND path = ?2",
                [jail, name],
                |r| {
                    let iso = read::text(r.get_ref(0)?);
                    Ok(read::number(r.get_ref(1)?).map(|time| JournalPosition { iso, time }))
                },
            )
            .optional()
            .map(Option::flatten)
            .map_err(DbError::query("read a journal position"))
    }

    /// Stores the time (and its ISO form) of the last journal entry read.
    pub fn update_journal(
        &self,
        jail: &str,
        name: &str,
        time: f64,
        iso: Option<&str>,
    ) -> Result<(), DbError> {
        self.set_position(jail, name, iso, rusqlite::types::Value::Real(time))
            .map_err(DbError::query("store a journal position"))
    }

    fn set_position(
        &self,
        jail: &str,
        path: &str,
        hash: Option<&str>,
        pos: rusqlite::types::Value,
    ) -> rusqlite::Result<()> {
        let tx = self.conn.unchecked_transaction()?;
        tx.execute(
            "INSERT OR IGNORE INTO jails(name, enabled) VALUES(?1, 1)",
            [jail],
        )?;
        let changed = tx.execute(
            "UPDATE logs SET firstlinemd5 = ?3, lastfilepos = ?4 WHERE jail = ?1 AND path = ?2",
            rusqlite::params![jail, path, hash, pos],
        )?;
        if changed == 0 {
            tx.execute(
                "INSERT OR REPLACE INTO logs(jail, path, firstlinemd5, lastfilepos)
                 VALUES(?1, ?2, ?3, ?4)",
                rusqlite::params![jail, path, hash, pos],
            )?;
        }
        tx.commit()
    }
}

#[cfg(test)]
mod tests {
    use super::super::Database;

    #[test]
    fn positions_are_stored_per_jail_and_path() {
        let db = Database::open(":memory:").unwrap();
        db.add_jail("sshd").unwrap();
        assert_eq!(db.get_log("sshd", "/var/log/auth.log").unwrap(), None);
        db.update_log("sshd", "/var/log/auth.log", Some("aa"), 10)
            .unwrap();
        db.update_log("sshd", "/var/log/auth.log", Some("bb"), 20)
            .unwrap();
        db.update_log("other", "/var/log/auth.log", None, 5)
            .unwrap();
        let p = db.get_log("sshd", "/var/log/auth.log").unwrap().unwrap();
        assert_eq!((p.hash.as_deref(), p.pos), (Some("bb"), 20));
        let q = db.get_log("other", "/var/log/auth.log").unwrap().unwrap();
        assert_eq!((q.hash, q.pos), (None, 5));
        assert_eq!(db.jail_names(None).unwrap(), ["other", "sshd"]);
        db.update_journal(
            "sshd",
            "systemd-journal",
            1700000000.25,
            Some("2023-11-14T22:13:20.250000"),
        )
        .unwrap();
        let j = db.get_journal("sshd", "systemd-journal").unwrap().unwrap();
        assert_eq!(j.time, 1700000000.25);
        assert_eq!(j.iso.as_deref(), Some("2023-11-14T22:13:20.250000"));
    }
}
