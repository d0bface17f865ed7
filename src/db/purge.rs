//! Purging (fail2ban's hourly `purge`): bans older than `dbpurgeage` leave
//! `bans`; an address leaves `bips` once its last ban is far in the past
//! (three of its ban lengths beyond the purge age, never when permanent);
//! disabled jails without bans go, and their logs with them. Then the file
//! is vacuumed so it shrinks instead of keeping the freed pages.

use super::{Database, DbError};
use rusqlite::params;

/// fail2ban's `outDatedFactor`: a bad address is remembered for three of
/// its ban lengths past the purge age, for bantime.increment.
const OUTDATED_FACTOR: i64 = 3;

/// What `purge` removed.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Purged {
    pub bans: usize,
    pub bips: usize,
    pub jails: usize,
    /// Whether free pages were given back to the file system.
    pub vacuumed: bool,
}

impl Database {
    /// Removes what is older than `purge_age` seconds at `now`, then
    /// vacuums when pages are free.
    pub fn purge(&self, now: f64, purge_age: i64) -> Result<Purged, DbError> {
        let mut purged = self
            .delete_old(now, purge_age)
            .map_err(DbError::query("purge old rows"))?;
        purged.vacuumed = self
            .vacuum()
            .map_err(DbError::query("vacuum after a purge"))?;
        Ok(purged)
    }

    fn delete_old(&self, now: f64, purge_age: i64) -> rusqlite::Result<Purged> {
        let tx = self.conn.unchecked_transaction()?;
        let bans = tx.execute(
            "DELETE FROM bans WHERE timeofban < ?1",
            [now - purge_age as f64],
        )?;
        let limit = (now as i64).saturating_sub(purge_age);
        let bips = tx.execute(
            "DELETE FROM bips WHERE timeofban < ?1 AND bantime != -1
                 AND timeofban + bantime * ?2 < ?1",
            params![limit, OUTDATED_FACTOR],
        )?;
        // Deleting a jail cascades to its logs.
        let jails = tx.execute(
            "DELETE FROM jails WHERE enabled = 0
                 AND NOT EXISTS(SELECT 1 FROM bans WHERE jail = jails.name)
                 AND NOT EXISTS(SELECT 1 FROM bips WHERE jail = jails.name)",
            [],
        )?;
        tx.commit()?;
        Ok(Purged {
            bans,
            bips,
            jails,
            vacuumed: false,
        })
    }

    /// Rewrites the file without its free pages. In WAL mode the rewrite
    /// lands in the WAL first, so a truncating checkpoint follows to make
    /// the main file (and the WAL) actually small.
    fn vacuum(&self) -> rusqlite::Result<bool> {
        let free: i64 = self
            .conn
            .query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
        if free == 0 {
            return Ok(false);
        }
        self.conn.execute_batch("VACUUM")?;
        // The checkpoint reports (busy, log frames, checkpointed frames);
        // a reader holding the WAL only delays the shrink to a later one.
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(true)
    }
}
