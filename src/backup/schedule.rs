//! The owner of a running server's backups: taken on demand and on the schedule, one at a time, with their
//! status; and the redaction that reaches the backups too (the one entry point every interface uses).

use super::BackupError;
use super::archive::{Entry, Kind, Manifest, PREFIX, Taken, iso, list, take};
use super::erase::{Scrubbed, erase_redactions};
use super::retention::prune;
use super::verify::{CheckedCopy, Verified, restore_target, verify};
use crate::config::BackupConfig;
use crate::error::Chain;
use crate::store::Settings;
use chrono::{DateTime, Utc};
use mms_log::{Log, Seq};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The backups in the directory, as `GET /api/backup/list` and `memory_backup` list them.
#[derive(Debug, Serialize)]
pub struct Listing {
    pub backups: Vec<Entry>,
    pub total_count: usize,
    pub total_size_bytes: u64,
}

/// `POST /api/backup/now`'s answer.
#[derive(Debug, Serialize)]
pub struct Created {
    pub success: bool,
    pub filename: Option<String>,
    pub size_bytes: Option<u64>,
    pub created_at: Option<String>,
    pub duration_seconds: f64,
    pub error: Option<String>,
    /// True when nothing was written: the newest backup (the one named) already holds the whole log.
    pub unchanged: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest: Option<Manifest>,
}

/// `GET /api/backup/status`'s answer.
#[derive(Debug, Serialize)]
pub struct Status {
    pub enabled: bool,
    pub interval: &'static str,
    pub retention_days: u64,
    pub max_count: u64,
    pub backup_count: usize,
    pub total_size_bytes: u64,
    pub last_backup_time: Option<String>,
    pub time_since_last_seconds: Option<f64>,
    pub next_backup_at: Option<String>,
    pub scheduler_running: bool,
    pub backup_directory: String,
}

/// The backups of a running server: on demand and on a schedule, one at a time.
pub struct Backups {
    pub config: BackupConfig,
    /// The store's settings: where the backups go, and the model for `verify`'s scratch replay.
    store: Settings,
    log: Log,
    running: AtomicBool,
    busy: Mutex<()>,
}

impl Backups {
    pub fn new(log: Log, config: BackupConfig, store: Settings) -> Backups {
        Backups { config, store, log, running: AtomicBool::new(false), busy: Mutex::new(()) }
    }

    /// The backup directory.
    fn dir(&self) -> &Path {
        &self.store.paths.backups
    }

    /// The backups, newest first, with their count and total size (`GET /api/backup/list`'s answer).
    pub fn listing(&self) -> Listing {
        let backups = list(self.dir());
        Listing { total_count: backups.len(), total_size_bytes: backups.iter().map(|e| e.size_bytes).sum(), backups }
    }

    /// The path of one backup of the directory, by file name; anything else is refused.
    pub fn path_of(&self, filename: &str) -> Result<PathBuf, BackupError> {
        let name = Path::new(filename);
        if name.components().count() != 1 || !filename.starts_with(PREFIX) {
            return Err(BackupError::NotABackup(filename.to_string()));
        }
        let path = self.dir().join(name);
        if !path.exists() {
            return Err(BackupError::NoSuchBackup(filename.to_string()));
        }
        Ok(path)
    }

    /// Verifies one backup of the directory, by file name. Blocking.
    pub fn verify(&self, filename: &str) -> Result<Verified, BackupError> {
        verify(&self.store, &self.path_of(filename)?)
    }

    /// Takes a backup now, then applies the retention; when the newest backup already holds the whole log,
    /// writes nothing and answers with that one (`unchanged`). Blocking.
    pub fn now(&self, kind: Kind) -> Created {
        let started = std::time::Instant::now();
        let _one_at_a_time = self.busy.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match take(&self.log, self.dir(), kind) {
            Ok(taken) => {
                let unchanged = matches!(taken, Taken::Unchanged(_));
                let (Taken::Written(manifest) | Taken::Unchanged(manifest)) = taken;
                if unchanged {
                    tracing::info!(file = %manifest.filename, "backup skipped: nothing written since this one");
                } else {
                    let removed = prune(self.dir(), self.config.retention_days, self.config.max_count);
                    if !removed.is_empty() {
                        tracing::info!(?removed, "old backups removed");
                    }
                    tracing::info!(file = %manifest.filename, events = manifest.events, "backup written");
                }
                Created {
                    success: true,
                    filename: Some(manifest.filename.clone()),
                    size_bytes: Some(manifest.size_bytes),
                    created_at: Some(manifest.created_at.clone()),
                    duration_seconds: started.elapsed().as_secs_f64(),
                    error: None,
                    unchanged,
                    manifest: Some(manifest),
                }
            }
            Err(error) => {
                tracing::error!(error = %Chain(&error), "backup failed");
                Created {
                    success: false,
                    filename: None,
                    size_bytes: None,
                    created_at: None,
                    duration_seconds: started.elapsed().as_secs_f64(),
                    error: Some(Chain(&error).to_string()),
                    unchanged: false,
                    manifest: None,
                }
            }
        }
    }

    pub fn status(&self) -> Status {
        let entries = list(self.dir());
        let last = entries.first().and_then(|e| DateTime::parse_from_rfc3339(&e.created_at).ok());
        let now = Utc::now();
        let next = if self.config.enabled {
            Some(last.map_or(now, |t| t.with_timezone(&Utc) + self.config.interval.length()).max(now))
        } else {
            None
        };
        Status {
            enabled: self.config.enabled,
            interval: self.config.interval.name(),
            retention_days: self.config.retention_days,
            max_count: self.config.max_count,
            backup_count: entries.len(),
            total_size_bytes: entries.iter().map(|e| e.size_bytes).sum(),
            last_backup_time: last.map(|t| iso(t.with_timezone(&Utc))),
            time_since_last_seconds: last.map(|t| (now - t.with_timezone(&Utc)).num_milliseconds() as f64 / 1000.0),
            next_backup_at: next.map(iso),
            scheduler_running: self.running.load(Ordering::Relaxed),
            backup_directory: self.dir().display().to_string(),
        }
    }

    /// Erases redacted memories from the backups that still hold them (see [`erase_redactions`]). Blocking.
    pub fn erase_redactions(&self) -> Result<Vec<Scrubbed>, BackupError> {
        let _one_at_a_time = self.busy.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        erase_redactions(&self.log, self.dir())
    }

    /// The target of a restore, named one of three ways: an event, a moment, or a backup of the directory by
    /// file name (then copied aside and checked; keep the copy until the restore is done). Whatever is wrong
    /// with the request or the backup is `Invalid`, with a message that says what.
    pub async fn restore_target(
        self: &std::sync::Arc<Self>,
        seq: Option<u64>,
        time: Option<String>,
        backup: Option<String>,
    ) -> Result<(crate::service::RestoreSource, Option<CheckedCopy>), crate::service::ServiceError> {
        let Some(name) = backup else {
            return Ok((crate::service::Point::parse(seq, time.as_deref())?.into(), None));
        };
        let backups = self.clone();
        tokio::task::spawn_blocking(move || restore_target(&backups.path_of(&name)?, seq, time.as_deref()))
            .await?
            .map(|(target, copy)| (target, Some(copy)))
            .map_err(|error| crate::service::ServiceError::Invalid(Chain(&error).to_string()))
    }

    /// Redacts a memory (`Service::redact`), then erases it from the backups at once: the one entry point of
    /// a redaction, for every interface. The redaction stands even when the backups cannot be rewritten now
    /// (the second result says why; the schedule retries): returns it with the backups rewritten.
    pub async fn redact(
        self: &std::sync::Arc<Self>,
        service: &crate::service::Service,
        hash: &str,
        reason: Option<String>,
        actor: mms_log::Actor,
    ) -> Result<(crate::service::Redaction, Result<Vec<Scrubbed>, BackupError>), crate::service::ServiceError> {
        let redaction = service.redact(hash, reason, actor).await?;
        let backups = self.clone();
        let scrubbed = tokio::task::spawn_blocking(move || backups.erase_redactions()).await?;
        Ok((redaction, scrubbed))
    }

    /// Forgets a document upload for real (its memories and its record, see `Service::redact_upload`), then
    /// erases them from the backups, once for all of them.
    pub async fn redact_upload(
        self: &std::sync::Arc<Self>,
        service: &crate::service::Service,
        upload_id: &str,
        reason: Option<String>,
        actor: mms_log::Actor,
    ) -> Result<(crate::service::UploadRedaction, Result<Vec<Scrubbed>, BackupError>), crate::service::ServiceError>
    {
        let redaction = service.redact_upload(upload_id, reason, actor).await?;
        let backups = self.clone();
        let scrubbed = tokio::task::spawn_blocking(move || backups.erase_redactions()).await?;
        Ok((redaction, scrubbed))
    }

    /// Whether the schedule calls for a backup now: there is none, or the last is an interval old, and
    /// something was written since (an unchanged log is not backed up again).
    fn due(&self) -> bool {
        let entries = list(self.dir());
        let Some(last) = entries.first() else { return self.log.last_seq() > Seq::ZERO };
        let changed = last.manifest.as_ref().is_none_or(|m| m.last_seq < self.log.last_seq().0);
        let at = DateTime::parse_from_rfc3339(&last.created_at).map(|t| t.with_timezone(&Utc)).unwrap_or_default();
        changed && Utc::now() - at >= self.config.interval.length()
    }

    /// Runs the schedule until the task is aborted: checks every MMS_BACKUP_CHECK_SECONDS (5 minutes).
    pub async fn schedule(self: std::sync::Arc<Self>) {
        // With scheduled backups off the loop still runs: a redaction pulled from another device reaches the
        // backups only here (a local one erases them at once, through `redact`).
        let check_every = Duration::from_secs(self.config.check_seconds.max(1));
        self.running.store(self.config.enabled, Ordering::Relaxed);
        loop {
            let due = self.config.enabled && self.due();
            let backups = self.clone();
            // Each cycle also catches up on redactions, in case erasing them at the time failed.
            let _ = tokio::task::spawn_blocking(move || {
                if let Err(error) = backups.erase_redactions() {
                    tracing::error!(error = %Chain(&error), "erasing redacted memories from backups failed");
                }
                if due {
                    backups.now(Kind::Auto);
                }
            })
            .await;
            tokio::time::sleep(check_every).await;
        }
    }
}
