//! Backups: consistent snapshots of the event log in MCP_MEMORY_BACKUPS_PATH, taken while the service keeps
//! serving writes. Each is `memory_backup_YYYYmmdd_HHMMSS.redb` (a log file that opens as a store) with a
//! manifest beside it (`.json`: first/last sequence and time, event and memory counts, SHA-256, format and
//! app versions). The schedule and retention follow the original's scheduler (MCP_BACKUP_*); `verify`
//! checks the checksum and replays the snapshot into a scratch read model.

use crate::app::rebuild;
use crate::config::{BackupConfig, Config};
use anyhow::{Context, bail};
use chrono::{DateTime, SecondsFormat, Utc};
use mms_log::{Log, Seq, SnapshotInfo};
use mms_projections::{SqliteReader, iso_utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The manifest's format; a reader refuses a newer one.
pub const FORMAT_VERSION: u32 = 1;
const PREFIX: &str = "memory_backup_";
const EXTENSION: &str = "redb";

/// What a backup holds, written beside it as JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format_version: u32,
    pub app_version: String,
    pub filename: String,
    pub created_at: String,
    pub first_seq: u64,
    pub last_seq: u64,
    pub first_event_at: Option<String>,
    pub last_event_at: Option<String>,
    pub events: u64,
    pub memories: u64,
    pub size_bytes: u64,
    pub sha256: String,
    /// The latest redaction (its seq) erased from this file; 0 when none was.
    #[serde(default)]
    pub redactions_applied: u64,
    /// "full" (a whole log) or "incremental" (the events after `base`'s last one).
    #[serde(default = "full_kind")]
    pub kind: String,
    /// The backup an incremental one continues.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    /// The id of the event at `last_seq`: an increment is only taken on a backup of the same log.
    #[serde(default)]
    pub last_event_id: Option<String>,
}

fn full_kind() -> String {
    "full".into()
}

/// One backup in the directory, as `GET /api/backup/list` shows it (the original's fields, then ours).
#[derive(Clone, Debug, Serialize)]
pub struct Entry {
    pub filename: String,
    pub size_bytes: u64,
    pub created_at: String,
    pub age_days: f64,
    #[serde(flatten)]
    pub manifest: Option<Manifest>,
}

fn iso(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The SHA-256 of a file, in hex.
fn sha256_of(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            return Ok(hex::encode(hasher.finalize()));
        }
        hasher.update(&buffer[..n]);
    }
}

fn manifest_path(backup: &Path) -> PathBuf {
    backup.with_extension("json")
}

/// A chain of incremental backups is at most this long before the next backup is a full one.
const MAX_CHAIN: usize = 8;

/// What kind of backup to take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A full snapshot of the log.
    Full,
    /// The events since the newest backup, when that backup is from this log, the chain is short and the
    /// increment small (under half the events of the chain's full snapshot); a full snapshot otherwise.
    Auto,
}

/// A new, unused backup path in `dir` for a backup taken at `now`.
fn new_path(dir: &Path, now: DateTime<Utc>, incremental: bool) -> PathBuf {
    let stem = format!("{PREFIX}{}{}", now.format("%Y%m%d_%H%M%S"), if incremental { "_inc" } else { "" });
    let mut path = dir.join(format!("{stem}.{EXTENSION}"));
    let mut n = 1;
    while path.exists() || manifest_path(&path).exists() {
        n += 1;
        path = dir.join(format!("{stem}_{n}.{EXTENSION}"));
    }
    path
}

/// The backup an incremental one would build on: the newest, when it is from this log (its last event is
/// this log's event at that position), its chain is shorter than [`MAX_CHAIN`] and the events since it are
/// fewer than half those of the chain's full snapshot.
fn incremental_base(log: &Log, dir: &Path) -> anyhow::Result<Option<Manifest>> {
    let entries = list(dir);
    let Some(newest) = entries.first().and_then(|e| e.manifest.clone()) else { return Ok(None) };
    let this_log = match (&newest.last_event_id, log.get(Seq(newest.last_seq))?) {
        (Some(id), Some(event)) => *id == event.event_id.to_string(),
        _ => false,
    };
    if !this_log || newest.last_seq >= log.last_seq().0 {
        return Ok(None);
    }
    let Ok(chain) = chain(dir, &newest) else { return Ok(None) };
    let full = &chain[0];
    let small = (log.last_seq().0 - newest.last_seq) * 2 < full.events;
    Ok((chain.len() < MAX_CHAIN && small).then_some(newest))
}

/// Writes a backup of `log` into `dir`, then its manifest: a full snapshot, or with [`Kind::Auto`] an
/// increment when that keeps it small. Blocking.
pub fn create(log: &Log, dir: &Path, kind: Kind) -> anyhow::Result<Manifest> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create the backup directory {}", dir.display()))?;
    let now = Utc::now();
    let base = match kind {
        Kind::Full => None,
        Kind::Auto => incremental_base(log, dir)?,
    };
    let path = new_path(dir, now, base.is_some());
    let info: SnapshotInfo = match &base {
        Some(base) => log.snapshot_since(&path, Seq(base.last_seq))?,
        None => log.snapshot(&path)?,
    };
    let last_seq = if info.events == 0 { base.as_ref().map_or(0, |b| b.last_seq) } else { info.last_seq.0 };
    let size_bytes = std::fs::metadata(&path)?.len();
    let manifest = Manifest {
        format_version: FORMAT_VERSION,
        app_version: env!("CARGO_PKG_VERSION").into(),
        filename: path.file_name().expect("a file name").to_string_lossy().into_owned(),
        created_at: iso(now),
        first_seq: info.first_seq.0,
        last_seq,
        first_event_at: (info.events > 0).then(|| iso_utc(info.first_at.0)),
        last_event_at: (info.events > 0).then(|| iso_utc(info.last_at.0)),
        events: info.events,
        memories: info.memories,
        size_bytes,
        sha256: sha256_of(&path)?,
        // The snapshot copies the live log, where every redaction so far is already erased.
        redactions_applied: log.redactions()?.iter().map(|(_, seq)| seq.0).max().unwrap_or(0),
        kind: if base.is_some() { "incremental" } else { "full" }.into(),
        base: base.map(|b| b.filename),
        last_event_id: log.get(Seq(last_seq))?.map(|e| e.event_id.to_string()),
    };
    write_manifest(&path, &manifest)?;
    Ok(manifest)
}

/// The manifests of the chain a backup belongs to, from its full snapshot to itself.
fn chain(dir: &Path, manifest: &Manifest) -> anyhow::Result<Vec<Manifest>> {
    let mut chain = vec![manifest.clone()];
    while let Some(base) = chain.last().and_then(|m| m.base.clone()) {
        if chain.len() > 10_000 {
            bail!("the chain of {} does not end in a full backup", manifest.filename);
        }
        let json = manifest_path(&dir.join(&base));
        let bytes = std::fs::read(&json).with_context(|| {
            format!(
                "{} is an increment of {base}, which is missing: restore from an older full backup",
                manifest.filename
            )
        })?;
        chain.push(
            serde_json::from_slice(&bytes)
                .with_context(|| format!("the manifest {} is not readable", json.display()))?,
        );
    }
    chain.reverse();
    Ok(chain)
}

/// Writes a backup's manifest beside it, atomically.
fn write_manifest(backup: &Path, manifest: &Manifest) -> anyhow::Result<()> {
    let json = manifest_path(backup);
    let partial = json.with_extension("json.partial");
    std::fs::write(&partial, serde_json::to_vec_pretty(manifest)?)?;
    std::fs::File::open(&partial)?.sync_all()?;
    std::fs::rename(&partial, &json)?;
    Ok(())
}

/// One backup rewritten to erase redacted memories.
#[derive(Clone, Debug, Serialize)]
pub struct Scrubbed {
    pub filename: String,
    pub events_erased: usize,
    pub memories_erased: usize,
}

/// Erases every redaction of `log` from the backups in `dir` that still hold the redacted memories: each
/// such file is rewritten whole (no erased bytes left in free pages) and its manifest gets the new size,
/// checksum and memory count. Backups without a manifest are left alone (and reported in the log). Blocking.
pub fn erase_redactions(log: &Log, dir: &Path) -> anyhow::Result<Vec<Scrubbed>> {
    let redactions = log.redactions()?;
    let Some(latest) = redactions.iter().map(|(_, seq)| seq.0).max() else { return Ok(Vec::new()) };
    let mut out = Vec::new();
    let mut changed = std::collections::HashSet::new();
    // Oldest first: an increment is recounted after the backups it builds on were rewritten.
    for entry in list(dir).into_iter().rev() {
        let path = dir.join(&entry.filename);
        let Some(mut manifest) = entry.manifest else {
            tracing::warn!(file = %entry.filename, "a backup without a manifest was not checked for redacted memories");
            continue;
        };
        if manifest.redactions_applied >= latest {
            continue;
        }
        let erased = mms_log::erase_in_file(&path, &redactions)
            .with_context(|| format!("erasing redacted memories from {}", entry.filename))?;
        manifest.redactions_applied = latest;
        manifest.size_bytes = std::fs::metadata(&path)?.len();
        manifest.sha256 = sha256_of(&path)?;
        let base_changed = manifest.base.as_ref().is_some_and(|base| changed.contains(base));
        if erased.events > 0 || erased.memories > 0 || base_changed {
            changed.insert(entry.filename.clone());
        }
        if manifest.base.is_none() {
            manifest.memories -= erased.memories as u64;
            write_manifest(&path, &manifest)?;
        } else {
            // An increment counts the memories of its whole chain: count them on the chain as it is now.
            write_manifest(&path, &manifest)?;
            if base_changed || erased.memories > 0 {
                let copy = checked_copy(&path)?;
                manifest.memories = Log::open(copy.log())?.memory_counts()?.1;
                write_manifest(&path, &manifest)?;
            }
        }
        if erased.events > 0 {
            tracing::info!(file = %entry.filename, events = erased.events, "redacted memories erased from a backup");
            out.push(Scrubbed {
                filename: entry.filename,
                events_erased: erased.events,
                memories_erased: erased.memories,
            });
        }
    }
    Ok(out)
}

/// The backups in `dir`, newest first (a missing directory has none).
pub fn list(dir: &Path) -> Vec<Entry> {
    let Ok(read) = std::fs::read_dir(dir) else { return Vec::new() };
    let now = Utc::now();
    let mut entries: Vec<Entry> = read
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.starts_with(PREFIX) || !name.ends_with(&format!(".{EXTENSION}")) {
                return None;
            }
            let metadata = entry.metadata().ok()?;
            let manifest = std::fs::read(manifest_path(&entry.path()))
                .ok()
                .and_then(|bytes| serde_json::from_slice::<Manifest>(&bytes).ok());
            let created: DateTime<Utc> = manifest
                .as_ref()
                .and_then(|m| DateTime::parse_from_rfc3339(&m.created_at).ok().map(|t| t.with_timezone(&Utc)))
                .or_else(|| metadata.modified().ok().map(DateTime::<Utc>::from))
                .unwrap_or(now);
            Some(Entry {
                filename: name,
                size_bytes: metadata.len(),
                created_at: iso(created),
                age_days: ((now - created).num_seconds().max(0) as f64 / 86_400.0 * 100.0).round() / 100.0,
                manifest,
            })
        })
        .collect();
    entries.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| b.filename.cmp(&a.filename)));
    entries
}

/// Deletes backups older than `retention_days` and beyond the newest `max_count`; returns their names.
pub fn prune(dir: &Path, retention_days: u64, max_count: u64) -> Vec<String> {
    let entries = list(dir);
    let doomed =
        |index: usize, entry: &Entry| index as u64 >= max_count.max(1) || entry.age_days > retention_days as f64;
    // A backup a kept increment builds on is kept too, however old.
    let mut needed = std::collections::HashSet::new();
    for (index, entry) in entries.iter().enumerate() {
        if let Some(manifest) = entry.manifest.as_ref().filter(|_| !doomed(index, entry)) {
            needed.extend(chain(dir, manifest).unwrap_or_default().into_iter().map(|m| m.filename));
        }
    }
    let mut removed = Vec::new();
    for (index, entry) in entries.into_iter().enumerate() {
        if doomed(index, &entry) && !needed.contains(&entry.filename) {
            let path = dir.join(&entry.filename);
            if std::fs::remove_file(&path).is_ok() {
                let _ = std::fs::remove_file(manifest_path(&path));
                removed.push(entry.filename);
            }
        }
    }
    removed
}

/// What `verify` found.
#[derive(Debug, Serialize)]
pub struct Verified {
    pub filename: String,
    pub events: u64,
    pub memories: u64,
    pub last_seq: u64,
}

/// A backup copied into a temporary directory and checked against its manifest there (size and SHA-256),
/// so what is then read is exactly what was checked. The copy is `events.redb` in the directory.
pub struct CheckedCopy {
    pub dir: tempfile::TempDir,
    pub manifest: Manifest,
}

impl CheckedCopy {
    /// The copied log file.
    pub fn log(&self) -> PathBuf {
        self.dir.path().join("events.redb")
    }
}

/// Copies a backup aside and checks the copy against the manifest beside the original. A damaged file,
/// a missing manifest or a newer format is an error that says so; nothing is touched.
pub fn checked_copy(backup: &Path) -> anyhow::Result<CheckedCopy> {
    let json = manifest_path(backup);
    let manifest: Manifest = serde_json::from_slice(
        &std::fs::read(&json).with_context(|| format!("no manifest {} beside the backup", json.display()))?,
    )
    .with_context(|| format!("the manifest {} is not readable", json.display()))?;
    if manifest.format_version > FORMAT_VERSION {
        bail!("the backup's format {} is newer than this build reads ({FORMAT_VERSION})", manifest.format_version);
    }
    let dir = tempfile::Builder::new().prefix("mms-backup-").tempdir()?;
    let copy = dir.path().join("events.redb");
    let folder = backup.parent().unwrap_or(Path::new("."));
    // An increment is applied to its chain's full snapshot, each file checked as it is copied.
    let chain = chain(folder, &manifest)?;
    for (i, link) in chain.iter().enumerate() {
        let file = if i + 1 == chain.len() { backup.to_path_buf() } else { folder.join(&link.filename) };
        let target = if i == 0 { copy.clone() } else { dir.path().join("increment.redb") };
        std::fs::copy(&file, &target).with_context(|| format!("cannot read {}", file.display()))?;
        let size = std::fs::metadata(&target)?.len();
        if size != link.size_bytes {
            bail!("{} is {size} bytes, its manifest says {}: the file is damaged", file.display(), link.size_bytes);
        }
        if sha256_of(&target)? != link.sha256 {
            bail!("{} does not match its manifest's SHA-256: the file is damaged", file.display());
        }
        if i > 0 {
            mms_log::apply_increment(&copy, &target)
                .with_context(|| format!("applying the increment {} failed", link.filename))?;
            std::fs::remove_file(&target)?;
        }
    }
    Ok(CheckedCopy { dir, manifest })
}

/// The target of a restore to a backup, with the checked copy it reads (keep it until the restore is done).
/// `seq` and `time` must be absent: a restore has one target.
pub fn restore_target(
    backup: &Path,
    seq: Option<u64>,
    time: Option<&str>,
) -> anyhow::Result<(crate::service::RestoreSource, CheckedCopy)> {
    if seq.is_some() || time.is_some_and(|t| !t.trim().is_empty()) {
        bail!("give where to restore to: a sequence number (to_seq), a moment (to_time) or a backup, only one");
    }
    let checked = checked_copy(backup)?;
    let name = backup.file_name().map_or_else(|| backup.display().to_string(), |n| n.to_string_lossy().into_owned());
    Ok((crate::service::RestoreSource::Backup { log: checked.log(), name }, checked))
}

/// Checks a backup: its manifest, size and SHA-256, then replays it into a scratch read model and compares
/// the events and memories with the manifest. Touches nothing but a temporary directory.
pub fn verify(config: &Config, backup: &Path) -> anyhow::Result<Verified> {
    let checked = checked_copy(backup)?;
    let manifest = &checked.manifest;
    let scratch = checked.dir.path();
    let mut scratch_config = config.clone();
    scratch_config.storage.base_dir = Some(scratch.to_path_buf());
    scratch_config.storage.log_path = None;
    scratch_config.storage.sqlite_path = None;
    scratch_config.storage.backups_path = None;
    let rebuilt = rebuild(&scratch_config, |_, _| {}).context("replaying the backup failed")?;
    let memories = SqliteReader::new(&scratch_config.paths().sqlite).count(&Default::default())?;
    if rebuilt.events != Seq(manifest.last_seq) {
        bail!("the backup replays to event {} but its manifest says {}", rebuilt.events.0, manifest.last_seq);
    }
    if memories != manifest.memories {
        bail!("the backup replays to {memories} memories but its manifest says {}", manifest.memories);
    }
    Ok(Verified { filename: manifest.filename.clone(), events: manifest.events, memories, last_seq: manifest.last_seq })
}

/// The schedule: the original's intervals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interval {
    Hourly,
    Daily,
    Weekly,
}

impl Interval {
    pub fn parse(value: &str) -> Result<Interval, String> {
        match value.trim().to_ascii_lowercase().as_str() {
            "hourly" => Ok(Interval::Hourly),
            "daily" => Ok(Interval::Daily),
            "weekly" => Ok(Interval::Weekly),
            other => Err(format!("'{other}' is not a backup interval (hourly, daily or weekly)")),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Interval::Hourly => "hourly",
            Interval::Daily => "daily",
            Interval::Weekly => "weekly",
        }
    }

    pub fn length(self) -> chrono::Duration {
        match self {
            Interval::Hourly => chrono::Duration::hours(1),
            Interval::Daily => chrono::Duration::days(1),
            Interval::Weekly => chrono::Duration::weeks(1),
        }
    }
}

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
    pub dir: PathBuf,
    pub config: BackupConfig,
    /// The whole configuration, for `verify` (the model's paths).
    app: Config,
    log: Log,
    running: AtomicBool,
    busy: Mutex<()>,
}

impl Backups {
    pub fn new(log: Log, config: &Config) -> Backups {
        Backups {
            dir: config.paths().backups,
            config: config.backup.clone(),
            app: config.clone(),
            log,
            running: AtomicBool::new(false),
            busy: Mutex::new(()),
        }
    }

    /// The backups, newest first, with their count and total size (`GET /api/backup/list`'s answer).
    pub fn listing(&self) -> Listing {
        let backups = list(&self.dir);
        Listing { total_count: backups.len(), total_size_bytes: backups.iter().map(|e| e.size_bytes).sum(), backups }
    }

    /// The path of one backup of the directory, by file name; anything else is refused.
    pub fn path_of(&self, filename: &str) -> anyhow::Result<PathBuf> {
        let name = Path::new(filename);
        if name.components().count() != 1 || !filename.starts_with(PREFIX) {
            bail!("'{filename}' is not a backup's file name (memory_backup_YYYYmmdd_HHMMSS.redb)");
        }
        let path = self.dir.join(name);
        if !path.exists() {
            bail!("no backup named {filename}");
        }
        Ok(path)
    }

    /// Verifies one backup of the directory, by file name. Blocking.
    pub fn verify(&self, filename: &str) -> anyhow::Result<Verified> {
        verify(&self.app, &self.path_of(filename)?)
    }

    /// Takes a backup now, then applies the retention. Blocking.
    pub fn now(&self, kind: Kind) -> Created {
        let started = std::time::Instant::now();
        let _one_at_a_time = self.busy.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match create(&self.log, &self.dir, kind) {
            Ok(manifest) => {
                let removed = prune(&self.dir, self.config.retention_days, self.config.max_count);
                if !removed.is_empty() {
                    tracing::info!(?removed, "old backups removed");
                }
                tracing::info!(file = %manifest.filename, events = manifest.events, "backup written");
                Created {
                    success: true,
                    filename: Some(manifest.filename.clone()),
                    size_bytes: Some(manifest.size_bytes),
                    created_at: Some(manifest.created_at.clone()),
                    duration_seconds: started.elapsed().as_secs_f64(),
                    error: None,
                    manifest: Some(manifest),
                }
            }
            Err(error) => {
                tracing::error!(error = %format!("{error:#}"), "backup failed");
                Created {
                    success: false,
                    filename: None,
                    size_bytes: None,
                    created_at: None,
                    duration_seconds: started.elapsed().as_secs_f64(),
                    error: Some(format!("{error:#}")),
                    manifest: None,
                }
            }
        }
    }

    pub fn status(&self) -> Status {
        let entries = list(&self.dir);
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
            backup_directory: self.dir.display().to_string(),
        }
    }

    /// Erases redacted memories from the backups that still hold them (see [`erase_redactions`]). Blocking.
    pub fn erase_redactions(&self) -> anyhow::Result<Vec<Scrubbed>> {
        let _one_at_a_time = self.busy.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        erase_redactions(&self.log, &self.dir)
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
            .map_err(|error| crate::service::ServiceError::Invalid(format!("{error:#}")))
    }

    /// Redacts a memory (`Service::redact`), then erases it from the backups at once. The redaction stands
    /// even when the backups cannot be rewritten now (the second result says why; the schedule retries):
    /// returns it with the names of the backups rewritten.
    pub async fn redact(
        self: &std::sync::Arc<Self>,
        service: &crate::service::Service,
        hash: &str,
        reason: Option<String>,
        actor: mms_log::Actor,
    ) -> Result<(crate::service::Redaction, anyhow::Result<Vec<String>>), crate::service::ServiceError> {
        let redaction = service.redact(hash, reason, actor).await?;
        let backups = self.clone();
        let scrubbed = tokio::task::spawn_blocking(move || backups.erase_redactions()).await?;
        Ok((redaction, scrubbed.map(|files| files.into_iter().map(|s| s.filename).collect())))
    }

    /// Whether the schedule calls for a backup now: there is none, or the last is an interval old, and
    /// something was written since (an unchanged log is not backed up again).
    fn due(&self) -> bool {
        let entries = list(&self.dir);
        let Some(last) = entries.first() else { return self.log.last_seq() > Seq::ZERO };
        let changed = last.manifest.as_ref().is_none_or(|m| m.last_seq < self.log.last_seq().0);
        let at = DateTime::parse_from_rfc3339(&last.created_at).map(|t| t.with_timezone(&Utc)).unwrap_or_default();
        changed && Utc::now() - at >= self.config.interval.length()
    }

    /// Runs the schedule until the task is aborted: checks every MMS_BACKUP_CHECK_SECONDS (5 minutes).
    pub async fn schedule(self: std::sync::Arc<Self>) {
        if !self.config.enabled {
            return;
        }
        let check_every = Duration::from_secs(self.config.check_seconds.max(1));
        self.running.store(true, Ordering::Relaxed);
        loop {
            let due = self.due();
            let backups = self.clone();
            // Each cycle also catches up on redactions, in case erasing them at the time failed.
            let _ = tokio::task::spawn_blocking(move || {
                if let Err(error) = backups.erase_redactions() {
                    tracing::error!(error = %format!("{error:#}"), "erasing redacted memories from backups failed");
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
