//! Bans: `bans` keeps every ban ever stored (until purged), `bips` the
//! latest ban of each address in each jail, which the restore at start and
//! bantime.increment read.

use super::json::to_json;
use super::read;
use super::record::{BanHistory, BanRecord, Scope};
use super::{Database, DbError, LOG};
use rusqlite::types::Value as Sql;
use rusqlite::{params, OptionalExtension, Row};

/// How a jail restores its bans at start (fail2ban's
/// `Jail.restoreCurrentBans` arguments to `getCurrentBans`).
#[derive(Clone, Debug, PartialEq)]
pub struct Restore {
    /// Only bans that started within this many seconds (`forbantime`).
    pub for_ban_time: Option<i64>,
    /// Longer (and permanent) bans are cut to this length: the longest ban
    /// the jail gives now (`correctBanTime`).
    pub max_ban_time: Option<i64>,
    /// The length of bans stored without one (-2, upgraded from schema 2).
    pub unknown_ban_time: i64,
    /// Matches kept per restored ban (the jail's `maxmatches`; 0: none).
    pub max_matches: usize,
}

impl Restore {
    /// A jail without bantime.increment: bans older than `bantime` are over,
    /// and none lasts longer than `bantime` (-1: permanent jail).
    pub fn jail(ban_time: i64, max_matches: usize) -> Restore {
        Restore {
            for_ban_time: (ban_time != -1).then_some(ban_time),
            max_ban_time: (ban_time > 0).then_some(ban_time),
            unknown_ban_time: ban_time,
            max_matches,
        }
    }

    /// A jail with bantime.increment: any age counts, lengths are capped by
    /// `bantime.maxtime` when it is set.
    pub fn increment(ban_time: i64, max_time: Option<i64>, max_matches: usize) -> Restore {
        Restore {
            for_ban_time: None,
            max_ban_time: max_time.filter(|m| *m > 0),
            unknown_ban_time: ban_time,
            max_matches,
        }
    }
}

/// What `bans_merged` returns.
#[derive(Clone, Debug, PartialEq)]
pub struct MergedBans {
    pub ip: String,
    /// The oldest ban's start.
    pub time_of_ban: i64,
    pub matches: Vec<String>,
    pub failures: u32,
}

/// Columns in the order `ban_row` reads them.
const BAN_COLUMNS: &str = "jail, ip, timeofban, bantime, bancount, data";

/// A stored ban, or `None` (logged) for a row that cannot be a ban: no
/// address, no time. Such rows stay in the file.
fn ban_row(r: &Row<'_>) -> rusqlite::Result<Option<BanRecord>> {
    let jail = read::text(r.get_ref(0)?).unwrap_or_default();
    let ip = read::text(r.get_ref(1)?).filter(|ip| !ip.is_empty());
    let time = read::floor(r.get_ref(2)?);
    let (Some(ip), Some(time_of_ban)) = (ip, time) else {
        log::debug!(target: LOG, "ignoring a ban row without address or time in jail {jail:?}");
        return Ok(None);
    };
    Ok(Some(BanRecord {
        jail,
        ip,
        time_of_ban,
        // Unknown lengths read as schema 2's "unknown".
        ban_time: read::ceil(r.get_ref(3)?).unwrap_or(-2),
        ban_count: read::floor(r.get_ref(4)?).map_or(1, |n| n.clamp(0, u32::MAX.into()) as u32),
        data: read::data(r.get_ref(5)?),
    }))
}

impl Database {
    /// Stores a ban in `bans` and `bips` in one durable transaction; call it
    /// before running the ban's actions. Matches are cut to `dbmaxmatches`.
    /// The jail row is created when missing, so a ban is never refused.
    pub fn add_ban(&self, ban: &BanRecord) -> Result<(), DbError> {
        self.add_bans(std::slice::from_ref(ban))
    }

    /// Stores several bans as [`Database::add_ban`] does, in one durable
    /// transaction (one sync to the disk for a whole batch of bans).
    pub fn add_bans(&self, bans: &[BanRecord]) -> Result<(), DbError> {
        let store = || -> rusqlite::Result<()> {
            let tx = self.conn.unchecked_transaction()?;
            for ban in bans {
                let mut ban = ban.clone();
                ban.limit_matches(self.max_matches);
                // As bytes, like fail2ban under Python 3: the column then reads the
                // same to both tools.
                let data = to_json(&ban.data).into_bytes();
                tx.execute(
                    "INSERT OR IGNORE INTO jails(name, enabled) VALUES(?1, 1)",
                    [&ban.jail],
                )?;
                let values = params![
                    ban.jail,
                    ban.ip,
                    ban.time_of_ban,
                    ban.ban_time,
                    ban.ban_count,
                    data
                ];
                tx.execute(
                    &format!("INSERT INTO bans({BAN_COLUMNS}) VALUES(?1, ?2, ?3, ?4, ?5, ?6)"),
                    values,
                )?;
                tx.execute(
                    &format!(
                        "INSERT OR REPLACE INTO bips({BAN_COLUMNS}) VALUES(?1, ?2, ?3, ?4, ?5, ?6)"
                    ),
                    values,
                )?;
            }
            tx.commit()
        };
        self.durably(store).map_err(DbError::query("store a ban"))
    }

    /// Forgets the bans of `ip` in `jail` (`unbanip`): an unbanned address
    /// is neither restored nor counted as a repeat offender.
    pub fn del_ban(&self, jail: &str, ip: &str) -> Result<(), DbError> {
        self.durably(|| self.delete_bans(jail, Some(ip)))
            .map_err(DbError::query("delete a ban"))
    }

    /// Forgets every ban of `jail` (`unban --all`).
    pub fn del_bans(&self, jail: &str) -> Result<(), DbError> {
        self.durably(|| self.delete_bans(jail, None))
            .map_err(DbError::query("delete the bans of a jail"))
    }

    fn delete_bans(&self, jail: &str, ip: Option<&str>) -> rusqlite::Result<()> {
        let tx = self.conn.unchecked_transaction()?;
        for table in ["bips", "bans"] {
            tx.execute(
                &format!("DELETE FROM {table} WHERE jail = ?1 AND (?2 IS NULL OR ip = ?2)"),
                params![jail, ip],
            )?;
        }
        tx.commit()
    }

    /// Every stored ban (the `bans` history), of one jail and/or address,
    /// ordered by address and then newest first (fail2ban's `getBans`).
    pub fn bans(&self, jail: Option<&str>, ip: Option<&str>) -> Result<Vec<BanRecord>, DbError> {
        let what = DbError::query("read the bans");
        let mut st = self
            .conn
            .prepare(&format!(
                "SELECT {BAN_COLUMNS} FROM bans
                 WHERE (?1 IS NULL OR jail = ?1) AND (?2 IS NULL OR ip = ?2)
                 ORDER BY ip, timeofban DESC"
            ))
            .map_err(what)?;
        let rows = st.query_map(params![jail, ip], ban_row).map_err(what)?;
        let mut out = Vec::new();
        for row in rows {
            out.extend(row.map_err(what)?);
        }
        Ok(out)
    }

    /// All stored bans of `ip` (in `jail`, or in all jails) merged into one,
    /// as fail2ban's `getBansMerged` for the `<ipmatches>`,
    /// `<ipjailmatches>`, `<ipfailures>` and `<ipjailfailures>` action tags:
    /// failures summed, matches joined oldest first with the newest kept
    /// within `dbmaxmatches`, the time the oldest ban's.
    pub fn bans_merged(&self, ip: &str, jail: Option<&str>) -> Result<Option<MergedBans>, DbError> {
        let bans = self.bans(jail, Some(ip))?;
        let Some(newest) = bans.first() else {
            return Ok(None);
        };
        let mut merged = MergedBans {
            ip: newest.ip.clone(),
            time_of_ban: newest.time_of_ban,
            matches: Vec::new(),
            failures: 0,
        };
        // Newest first: each older ban's lines go in front, as long as
        // there is room.
        for ban in &bans {
            let room = self.max_matches.saturating_sub(merged.matches.len());
            if room > 0 {
                let m = ban.matches();
                let from = m.len().saturating_sub(room);
                merged.matches.splice(0..0, m[from..].iter().cloned());
            }
            merged.failures = merged.failures.saturating_add(ban.failures());
            merged.time_of_ban = ban.time_of_ban;
        }
        Ok(Some(merged))
    }

    /// The bans still active at `now`, of one jail or (the latest per
    /// address) of all: what the server bans again at start, as fail2ban's
    /// `getCurrentBans`. Lengths are corrected per `restore`; a ban over once
    /// corrected is left out.
    pub fn current_bans(
        &self,
        jail: Option<&str>,
        now: f64,
        restore: &Restore,
    ) -> Result<Vec<BanRecord>, DbError> {
        let what = DbError::query("read the current bans");
        // Over all jails the latest ban of each address wins; SQLite takes
        // the other columns from the row holding the max().
        let (time, group) = match jail {
            Some(_) => ("timeofban", ""),
            None => ("max(timeofban)", "GROUP BY ip"),
        };
        let sql = format!(
            "SELECT jail, ip, {time}, bantime, bancount, data FROM bips
             WHERE (?1 IS NULL OR jail = ?1)
               AND (timeofban + bantime > ?2 OR bantime <= -1)
               AND (?3 IS NULL OR timeofban > ?3)
             {group} ORDER BY ip"
        );
        let since = restore.for_ban_time.map(|b| Sql::Real(now - b as f64));
        let mut st = self.conn.prepare(&sql).map_err(what)?;
        let rows = st
            .query_map(params![jail, now, since], ban_row)
            .map_err(what)?;
        let mut out = Vec::new();
        for row in rows {
            let Some(mut ban) = row.map_err(what)? else {
                continue;
            };
            if ban.ban_time == -2 {
                ban.ban_time = restore.unknown_ban_time;
            } else if let Some(max) = restore.max_ban_time {
                if ban.ban_time == -1 || ban.ban_time > max {
                    ban.ban_time = max;
                }
            }
            // Saturating: a hand-made row may hold any number.
            let end = ban.time_of_ban.saturating_add(ban.ban_time);
            if ban.ban_time != -1 && end as f64 <= now {
                continue;
            }
            ban.limit_matches(restore.max_matches);
            out.push(ban);
        }
        Ok(out)
    }

    /// What bantime.increment needs to know of `ip`: its ban count, latest
    /// ban and that ban's length, in one jail or summed over all jails
    /// (`bantime.overalljails`), as fail2ban's `getBan`.
    pub fn ban_history(&self, ip: &str, scope: Scope<'_>) -> Result<Option<BanHistory>, DbError> {
        let (sql, jail) = match scope {
            Scope::Jail(j) => (
                "SELECT bancount, timeofban, bantime FROM bips WHERE ip = ?1 AND jail = ?2",
                Some(j),
            ),
            Scope::AllJails => (
                "SELECT sum(bancount), max(timeofban), sum(bantime) FROM bips
                 WHERE ip = ?1 AND ?2 IS NULL GROUP BY ip",
                None,
            ),
        };
        let row = self
            .conn
            .query_row(sql, params![ip, jail], |r| {
                let count = read::floor(r.get_ref(0)?);
                let time = read::floor(r.get_ref(1)?);
                let length = read::ceil(r.get_ref(2)?);
                Ok(time.map(|time_of_ban| BanHistory {
                    ban_count: count.map_or(1, |n| n.clamp(0, u32::MAX.into()) as u32),
                    time_of_ban,
                    ban_time: length.unwrap_or(-2),
                }))
            })
            .optional()
            .map_err(DbError::query("read the ban history"))?;
        Ok(row.flatten())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::Value;

    fn rec(jail: &str, ip: &str, time: i64, ban_time: i64) -> BanRecord {
        BanRecord {
            jail: jail.into(),
            ip: ip.into(),
            time_of_ban: time,
            ban_time,
            ban_count: 1,
            data: Value::Dict(vec![]),
        }
    }

    #[test]
    fn unban_forgets_one_address_and_flush_the_whole_jail() {
        let db = Database::open(":memory:").unwrap();
        for (jail, ip) in [("a", "192.0.2.1"), ("a", "192.0.2.2"), ("b", "192.0.2.1")] {
            db.add_ban(&rec(jail, ip, 1000, -1)).unwrap();
        }
        let r = Restore::increment(600, None, 10);
        db.del_ban("a", "192.0.2.1").unwrap();
        let ips = |jail| -> Vec<String> {
            db.current_bans(Some(jail), 2000.0, &r)
                .unwrap()
                .into_iter()
                .map(|b| b.ip)
                .collect()
        };
        assert_eq!(ips("a"), ["192.0.2.2"]);
        assert_eq!(ips("b"), ["192.0.2.1"], "other jails keep theirs");
        assert_eq!(db.bans(Some("a"), None).unwrap().len(), 1);
        db.del_bans("a").unwrap();
        assert!(ips("a").is_empty());
        assert!(db
            .ban_history("192.0.2.2", Scope::Jail("a"))
            .unwrap()
            .is_none());
        assert_eq!(ips("b").len(), 1);
    }

    #[test]
    fn a_batch_of_bans_is_stored_whole() {
        let db = Database::open(":memory:").unwrap();
        let batch = [
            rec("a", "192.0.2.1", 1000, -1),
            rec("b", "192.0.2.2", 1000, -1),
        ];
        db.add_bans(&batch).unwrap();
        let r = Restore::increment(600, None, 10);
        let all: Vec<(String, String)> = db
            .current_bans(None, 2000.0, &r)
            .unwrap()
            .into_iter()
            .map(|b| (b.jail, b.ip))
            .collect();
        assert_eq!(all.len(), 2, "{all:?}");
        assert!(all.contains(&("a".into(), "192.0.2.1".into())));
        assert!(all.contains(&("b".into(), "192.0.2.2".into())));
        db.add_bans(&[]).unwrap();
    }

    #[test]
    fn unknown_lengths_take_the_jail_bantime_and_expire_with_it() {
        let db = Database::open(":memory:").unwrap();
        db.add_ban(&rec("a", "192.0.2.1", 1000, -2)).unwrap();
        let r = Restore::jail(600, 10);
        let got = db.current_bans(Some("a"), 1500.0, &r).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].ban_time, 600);
        assert!(db.current_bans(Some("a"), 1600.0, &r).unwrap().is_empty());
    }

    #[test]
    fn jails_are_disabled_not_deleted() {
        let db = Database::open(":memory:").unwrap();
        db.add_jail("a").unwrap();
        db.add_jail("b").unwrap();
        db.del_jail("a").unwrap();
        assert_eq!(db.jail_names(Some(true)).unwrap(), ["b"]);
        assert_eq!(db.jail_names(Some(false)).unwrap(), ["a"]);
        db.del_all_jails().unwrap();
        db.add_jail("a").unwrap();
        assert_eq!(db.jail_names(Some(true)).unwrap(), ["a"]);
        assert_eq!(db.jail_names(None).unwrap(), ["a", "b"]);
    }
}
