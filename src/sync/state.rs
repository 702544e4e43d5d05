//! The replica's own durable state, in `sync.sqlite3` beside the log: how far the log has been pushed, how
//! far each other device has been pulled, stamps recorded without an event, push failures, pulled events
//! that were skipped (with why), memories the original left in D1 that were adopted under a new content
//! hash (with the original's), and the pause switch. SQLite, so that `sync pause` and `sync status` work from another process while a server runs.

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

/// An event pulled from D1 that was not applied here, and why: kept for the status, never dropped silently.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Skipped {
    /// The event's id as D1 has it.
    pub event_id: String,
    pub origin: String,
    pub origin_seq: u64,
    /// The content hash as D1 has it.
    pub content_hash: String,
    pub reason: String,
    pub at: String,
}

/// How many skipped events the status lists (the newest); it counts them all.
const SKIPPED_LISTED: usize = 100;

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
             CREATE TABLE IF NOT EXISTS failures (seq INTEGER PRIMARY KEY, memory TEXT NOT NULL, message TEXT NOT NULL, at TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS skipped (event_id TEXT PRIMARY KEY, origin TEXT NOT NULL, origin_seq INTEGER NOT NULL, memory TEXT NOT NULL, reason TEXT NOT NULL, at TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS rehashed (original TEXT PRIMARY KEY, memory TEXT NOT NULL, at TEXT NOT NULL);",
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

    /// Records a pulled event that was not applied, and why (again: the latest reason).
    pub(super) fn record_skipped(&self, skipped: &Skipped) -> Result<(), StateError> {
        self.db
            .execute(
                "INSERT INTO skipped (event_id, origin, origin_seq, memory, reason, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT(event_id) DO UPDATE SET reason = excluded.reason, at = excluded.at",
                params![
                    skipped.event_id,
                    skipped.origin,
                    skipped.origin_seq as i64,
                    skipped.content_hash,
                    skipped.reason,
                    skipped.at
                ],
            )
            .map(|_| ())
            .map_err(StateError)
    }

    /// How many pulled events were skipped, and the newest [`SKIPPED_LISTED`] of them.
    pub fn skipped(&self) -> Result<(u64, Vec<Skipped>), StateError> {
        let count = self.db.query_row("SELECT COUNT(*) FROM skipped", [], |row| row.get::<_, i64>(0))? as u64;
        let mut statement = self.db.prepare(
            "SELECT event_id, origin, origin_seq, memory, reason, at FROM skipped ORDER BY at DESC, rowid DESC LIMIT ?1",
        )?;
        let rows = statement.query_map([SKIPPED_LISTED as i64], |row| {
            Ok(Skipped {
                event_id: row.get(0)?,
                origin: row.get(1)?,
                origin_seq: row.get::<_, i64>(2)? as u64,
                content_hash: row.get(3)?,
                reason: row.get(4)?,
                at: row.get(5)?,
            })
        })?;
        Ok((count, rows.collect::<Result<_, _>>()?))
    }

    /// Records that the original's memory `original` (its content hash in D1) is `memory` here.
    pub(super) fn record_rehashed(&self, original: &str, memory: &ContentHash, at: &str) -> Result<(), StateError> {
        self.db
            .execute(
                "INSERT INTO rehashed (original, memory, at) VALUES (?1, ?2, ?3) ON CONFLICT(original) DO NOTHING",
                params![original, memory.to_hex(), at],
            )
            .map(|_| ())
            .map_err(StateError)
    }

    /// The memories the original left in D1 under another content hash: (the original's hash, ours).
    pub fn rehashed(&self) -> Result<Vec<(String, String)>, StateError> {
        let mut statement = self.db.prepare("SELECT original, memory FROM rehashed ORDER BY original")?;
        let rows = statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
        rows.collect::<Result<_, _>>().map_err(StateError)
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

    #[test]
    fn skipped_events_and_rehashed_memories_persist() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("sync.sqlite3");
        let memory = ContentHash::of_content("Hello World");
        let skipped = |reason: &str| Skipped {
            event_id: "e1".into(),
            origin: "device-x".into(),
            origin_seq: 1,
            content_hash: "not-a-hash".into(),
            reason: reason.into(),
            at: "2026-01-01T00:00:00Z".into(),
        };
        {
            let state = SyncState::open(&path).expect("opens");
            state.record_skipped(&skipped("first reason")).expect("records");
            state.record_skipped(&skipped("its content does not hash to it")).expect("records again");
            state.record_rehashed("0e6b", &memory, "now").expect("records");
            state.record_rehashed("0e6b", &memory, "later").expect("records again");
        }
        let state = SyncState::open(&path).expect("reopens");
        assert_eq!(state.skipped().expect("reads"), (1, vec![skipped("its content does not hash to it")]));
        assert_eq!(state.rehashed().expect("reads"), [("0e6b".to_string(), memory.to_hex())]);
    }
}
