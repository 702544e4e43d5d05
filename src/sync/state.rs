//! The replica's own durable state, in `sync.sqlite3` beside the log: how far the log has been pushed, how
//! far each other device has been pulled, stamps recorded without an event, push failures, and the pause
//! switch. SQLite, so that `sync pause` and `sync status` work from another process while a server runs.

use super::stamp::Stamp;
use mms_log::{ContentHash, Seq};
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::BTreeMap;
use std::path::Path;

/// A push that Cloudflare refused for good: kept until a retry succeeds.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Failure {
    pub seq: u64,
    pub content_hash: String,
    pub message: String,
    pub at: String,
}

pub struct SyncState {
    db: Connection,
}

/// Why the sync state could not be read or written: the SQLite error is the source.
#[derive(Debug, thiserror::Error)]
#[error("the sync state cannot be read or written: {0}")]
pub struct StateError(#[from] rusqlite::Error);

impl SyncState {
    pub fn open(path: &Path) -> Result<SyncState, StateError> {
        let db = Connection::open(path)?;
        db.busy_timeout(std::time::Duration::from_secs(5))?;
        db.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS pulled (origin TEXT PRIMARY KEY, seq INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS clock (memory TEXT PRIMARY KEY, stamp TEXT NOT NULL, seq INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS failures (seq INTEGER PRIMARY KEY, memory TEXT NOT NULL, message TEXT NOT NULL, at TEXT NOT NULL);",
        )
        ?;
        Ok(SyncState { db })
    }

    fn setting(&self, key: &str) -> Result<Option<String>, StateError> {
        self.db
            .query_row("SELECT value FROM settings WHERE key = ?1", [key], |row| row.get(0))
            .optional()
            .map_err(StateError)
    }

    fn set_setting(&self, key: &str, value: &str) -> Result<(), StateError> {
        self.db
            .execute("INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value", [key, value])
            .map(|_| ())
            .map_err(StateError)
    }

    /// The last log position Cloudflare has (every event up to it is pushed or recorded as failed).
    pub fn pushed(&self) -> Result<Seq, StateError> {
        Ok(Seq(self.setting("pushed")?.and_then(|v| v.parse().ok()).unwrap_or(0)))
    }

    /// Moves the push checkpoint and records the failures of the same batch, in one transaction.
    pub fn advance_push(&mut self, to: Seq, failures: &[Failure]) -> Result<(), StateError> {
        let txn = self.db.transaction()?;
        for failure in failures {
            txn.execute(
                "INSERT INTO failures (seq, memory, message, at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(seq) DO UPDATE SET message = excluded.message, at = excluded.at",
                params![failure.seq as i64, failure.content_hash, failure.message, failure.at],
            )?;
        }
        txn.execute(
            "INSERT INTO settings (key, value) VALUES ('pushed', ?1) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [to.0.to_string()],
        )
        ?;
        txn.commit().map_err(StateError)
    }

    pub fn failures(&self) -> Result<Vec<Failure>, StateError> {
        let mut statement = self.db.prepare("SELECT seq, memory, message, at FROM failures ORDER BY seq")?;
        let rows = statement.query_map([], |row| {
            Ok(Failure {
                seq: row.get::<_, i64>(0)? as u64,
                content_hash: row.get(1)?,
                message: row.get(2)?,
                at: row.get(3)?,
            })
        })?;
        rows.collect::<Result<_, _>>().map_err(StateError)
    }

    pub fn clear_failure(&self, seq: u64) -> Result<(), StateError> {
        self.db.execute("DELETE FROM failures WHERE seq = ?1", [seq as i64]).map(|_| ()).map_err(StateError)
    }

    /// How far each other device has been pulled.
    pub fn pulled(&self) -> Result<BTreeMap<String, u64>, StateError> {
        let mut statement = self.db.prepare("SELECT origin, seq FROM pulled")?;
        let rows = statement.query_map([], |row| Ok((row.get(0)?, row.get::<_, i64>(1)? as u64)))?;
        rows.collect::<Result<_, _>>().map_err(StateError)
    }

    pub fn advance_pull(&mut self, reached: &BTreeMap<String, u64>) -> Result<(), StateError> {
        let txn = self.db.transaction()?;
        for (origin, seq) in reached {
            txn.execute(
                "INSERT INTO pulled (origin, seq) VALUES (?1, ?2) ON CONFLICT(origin) DO UPDATE SET seq = max(seq, excluded.seq)",
                params![origin, *seq as i64],
            )
            ?;
        }
        txn.commit().map_err(StateError)
    }

    /// The stamp recorded for a memory without an event, with the position it holds from.
    pub(super) fn clock(&self, memory: &ContentHash) -> Result<Option<(Stamp, Seq)>, StateError> {
        self.db
            .query_row("SELECT stamp, seq FROM clock WHERE memory = ?1", [memory.to_hex()], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
            })
            .optional()
            .map_err(StateError)
            .map(|row| row.and_then(|(stamp, seq)| Some((Stamp::parse(&stamp)?, Seq(seq as u64)))))
    }

    pub(super) fn set_clock(&self, memory: &ContentHash, stamp: &Stamp, seq: Seq) -> Result<(), StateError> {
        self.db
            .execute(
                "INSERT INTO clock (memory, stamp, seq) VALUES (?1, ?2, ?3)
                 ON CONFLICT(memory) DO UPDATE SET stamp = excluded.stamp, seq = excluded.seq",
                params![memory.to_hex(), stamp.as_str(), seq.0 as i64],
            )
            .map(|_| ())
            .map_err(StateError)
    }

    pub fn paused(&self) -> Result<bool, StateError> {
        Ok(self.setting("paused")?.as_deref() == Some("true"))
    }

    pub fn set_paused(&self, paused: bool) -> Result<(), StateError> {
        self.set_setting("paused", if paused { "true" } else { "false" })
    }

    /// When the last complete push or pull ended (ISO 8601), if ever.
    pub fn last_sync(&self) -> Result<Option<String>, StateError> {
        self.setting("last_sync")
    }

    pub fn set_last_sync(&self, at: &str) -> Result<(), StateError> {
        self.set_setting("last_sync", at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_failures_clock_and_pause_persist() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("sync.sqlite3");
        let memory = ContentHash::of_content("m");
        {
            let mut state = SyncState::open(&path).expect("opens");
            assert_eq!(state.pushed().expect("reads"), Seq::ZERO);
            let failure =
                Failure { seq: 3, content_hash: memory.to_hex(), message: "too big".into(), at: "now".into() };
            state.advance_push(Seq(7), &[failure]).expect("advances");
            state.advance_pull(&BTreeMap::from([("b".to_string(), 4)])).expect("advances");
            state.advance_pull(&BTreeMap::from([("b".to_string(), 2)])).expect("never moves back");
            state.set_clock(&memory, &Stamp::new(9, "b", 1), Seq(5)).expect("records");
            state.set_paused(true).expect("pauses");
        }
        let state = SyncState::open(&path).expect("reopens");
        assert_eq!(state.pushed().expect("reads"), Seq(7));
        assert_eq!(state.failures().expect("reads").len(), 1);
        assert_eq!(state.pulled().expect("reads"), BTreeMap::from([("b".to_string(), 4)]));
        assert_eq!(state.clock(&memory).expect("reads"), Some((Stamp::new(9, "b", 1), Seq(5))));
        assert!(state.paused().expect("reads"));
        state.clear_failure(3).expect("clears");
        assert!(state.failures().expect("reads").is_empty());
    }
}
