//! Backup files and their manifests: writing a full or incremental snapshot of the log with its manifest,
//! listing the directory, following an increment's chain back to its full snapshot.

use super::BackupError;
use chrono::{DateTime, SecondsFormat, Utc};
use mms_log::{Log, Seq, SnapshotInfo};
use mms_projections::iso_utc;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};

/// The manifest's format; a reader refuses a newer one.
pub const FORMAT_VERSION: u32 = 1;
pub(super) const PREFIX: &str = "memory_backup_";
pub(super) const EXTENSION: &str = "redb";

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
#[derive(Clone, Debug)]
pub struct Entry {
    pub filename: String,
    pub size_bytes: u64,
    pub created_at: String,
    pub age_days: f64,
    pub manifest: Option<Manifest>,
}

/// The original's fields, then the manifest's others: the manifest repeats `filename`, `size_bytes` and
/// `created_at`, and a flattened manifest wrote each of them twice in one object, which strict JSON
/// decoders refuse.
impl Serialize for Entry {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error, SerializeMap};
        let manifest = match &self.manifest {
            Some(manifest) => match serde_json::to_value(manifest).map_err(S::Error::custom)? {
                serde_json::Value::Object(fields) => fields,
                _ => return Err(S::Error::custom("a manifest serializes as an object")),
            },
            None => serde_json::Map::new(),
        };
        const OWN: [&str; 4] = ["filename", "size_bytes", "created_at", "age_days"];
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("filename", &self.filename)?;
        map.serialize_entry("size_bytes", &self.size_bytes)?;
        map.serialize_entry("created_at", &self.created_at)?;
        map.serialize_entry("age_days", &self.age_days)?;
        for (key, value) in manifest.iter().filter(|(key, _)| !OWN.contains(&key.as_str())) {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

pub(super) fn iso(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The SHA-256 of a file, in hex.
pub(super) fn sha256_of(path: &Path) -> std::io::Result<String> {
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

pub(super) fn manifest_path(backup: &Path) -> PathBuf {
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
fn incremental_base(log: &Log, dir: &Path) -> Result<Option<Manifest>, BackupError> {
    let Some(newest) = newest_manifest(dir) else { return Ok(None) };
    if !of_this_log(log, &newest)? || newest.last_seq >= log.last_seq().0 {
        return Ok(None);
    }
    let Ok(chain) = chain(dir, &newest) else { return Ok(None) };
    let full = &chain[0];
    let small = (log.last_seq().0 - newest.last_seq) * 2 < full.events;
    Ok((chain.len() < MAX_CHAIN && small).then_some(newest))
}

/// The manifest of the newest backup in `dir`, if it has one.
fn newest_manifest(dir: &Path) -> Option<Manifest> {
    list(dir).into_iter().next().and_then(|e| e.manifest)
}

/// Whether a backup was taken of `log`: its last event is this log's event at that position.
fn of_this_log(log: &Log, manifest: &Manifest) -> Result<bool, BackupError> {
    Ok(match (&manifest.last_event_id, log.get(Seq(manifest.last_seq))?) {
        (Some(id), Some(event)) => *id == event.event_id.to_string(),
        _ => false,
    })
}

/// What [`take`] did.
#[derive(Clone, Debug, PartialEq)]
pub enum Taken {
    /// A new backup, with its manifest.
    Written(Manifest),
    /// Nothing: the newest backup already holds every event of the log (its manifest).
    Unchanged(Manifest),
}

/// Backs `log` up into `dir` unless the newest backup there already holds all of it: from this log, up to
/// its last event, (for [`Kind::Full`]) a full snapshot, and its files, with those of the backups it builds
/// on, as their manifests' checksums say (a damaged one is replaced). An unchanged store is not backed up
/// twice, so repeated backups neither fill the disk nor push older ones out of the retention. Blocking.
pub fn take(log: &Log, dir: &Path, kind: Kind) -> Result<Taken, BackupError> {
    if let Some(newest) = newest_manifest(dir) {
        let current = newest.last_seq == log.last_seq().0 && newest.last_seq > 0 && of_this_log(log, &newest)?;
        if current && (kind == Kind::Auto || newest.kind == "full") && intact(dir, &newest) {
            return Ok(Taken::Unchanged(newest));
        }
    }
    create(log, dir, kind).map(Taken::Written)
}

/// Whether every file of the chain `manifest` ends has the checksum its manifest records.
fn intact(dir: &Path, manifest: &Manifest) -> bool {
    chain(dir, manifest).is_ok_and(|chain| {
        chain.iter().all(|m| sha256_of(&dir.join(&m.filename)).is_ok_and(|sha256| sha256 == m.sha256))
    })
}

/// Writes a backup of `log` into `dir`, then its manifest: a full snapshot, or with [`Kind::Auto`] an
/// increment when that keeps it small. Blocking.
pub(super) fn create(log: &Log, dir: &Path, kind: Kind) -> Result<Manifest, BackupError> {
    std::fs::create_dir_all(dir).map_err(|source| BackupError::Directory { path: dir.to_path_buf(), source })?;
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
    let manifest = manifest_of(log, &path, &info, base, now)?;
    write_manifest(&path, &manifest)?;
    Ok(manifest)
}

/// The manifest of the snapshot just written at `path`: what it holds is what `info` says, as of the
/// snapshot's read transaction, never what the log holds by now.
fn manifest_of(
    log: &Log,
    path: &Path,
    info: &SnapshotInfo,
    base: Option<Manifest>,
    now: DateTime<Utc>,
) -> Result<Manifest, BackupError> {
    let last_seq = if info.events == 0 { base.as_ref().map_or(0, |b| b.last_seq) } else { info.last_seq.0 };
    let size_bytes = std::fs::metadata(path)?.len();
    Ok(Manifest {
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
        sha256: sha256_of(path)?,
        // The snapshot copied the live log, where every redaction it saw was already erased; one committed
        // since is not applied, even when it is already in the log (erasing must still visit this file).
        redactions_applied: info.latest_redaction.0,
        kind: if base.is_some() { "incremental" } else { "full" }.into(),
        base: base.map(|b| b.filename),
        last_event_id: log.get(Seq(last_seq))?.map(|e| e.event_id.to_string()),
    })
}

/// The manifests of the chain a backup belongs to, from its full snapshot to itself.
pub(super) fn chain(dir: &Path, manifest: &Manifest) -> Result<Vec<Manifest>, BackupError> {
    let mut chain = vec![manifest.clone()];
    while let Some(base) = chain.last().and_then(|m| m.base.clone()) {
        if chain.len() > 10_000 {
            return Err(BackupError::EndlessChain(manifest.filename.clone()));
        }
        let json = manifest_path(&dir.join(&base));
        let bytes = std::fs::read(&json).map_err(|source| BackupError::MissingBase {
            filename: manifest.filename.clone(),
            base,
            source,
        })?;
        chain.push(serde_json::from_slice(&bytes).map_err(|source| BackupError::Manifest { path: json, source })?);
    }
    chain.reverse();
    Ok(chain)
}

/// Writes a backup's manifest beside it, atomically.
pub(super) fn write_manifest(backup: &Path, manifest: &Manifest) -> Result<(), BackupError> {
    let json = manifest_path(backup);
    let partial = json.with_extension("json.partial");
    std::fs::write(&partial, serde_json::to_vec_pretty(manifest)?)?;
    std::fs::File::open(&partial)?.sync_all()?;
    std::fs::rename(&partial, &json)?;
    Ok(())
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

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use mms_log::{Actor, ContentHash, EventId, EventKind, Expect, Interface, MemoryRecord, NewEvent, Timestamp};

    pub(in crate::backup) fn event(content: &str, kind: EventKind) -> NewEvent {
        NewEvent {
            event_id: EventId::generate(),
            actor: Actor::new(Interface::Cli, None),
            memory: ContentHash::of_content(content),
            kind,
            expect: Expect::Any,
        }
    }

    pub(in crate::backup) fn store(content: &str) -> NewEvent {
        let record = MemoryRecord {
            content: content.into(),
            tags: vec![],
            memory_type: None,
            metadata: "{}".into(),
            created_at: Timestamp(1),
            updated_at: Timestamp(1),
        };
        event(content, EventKind::Stored(record))
    }

    pub(in crate::backup) fn redact(content: &str) -> NewEvent {
        event(content, EventKind::Redacted { reason: None })
    }

    fn file_contains(path: &Path, needle: &str) -> bool {
        let bytes = std::fs::read(path).expect("read the backup");
        bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
    }

    /// The race of issue #17: a redaction that commits after the snapshot's read transaction but before
    /// the manifest is written is not in the file, so the manifest must not count it as applied, and
    /// erasing the redactions must still visit the file.
    #[test]
    fn a_redaction_after_the_snapshot_is_not_counted_as_applied() {
        let dir = tempfile::tempdir().expect("temp dir");
        let backups = dir.path().join("backups");
        std::fs::create_dir_all(&backups).expect("backups dir");
        let log = Log::open(dir.path().join("log.redb")).expect("open");
        log.append(vec![store("forgotten early"), store("SECRET-RACED"), store("other")], vec![]).expect("store");
        let early = log.append(vec![redact("forgotten early")], vec![]).expect("redact early")[0].seq;

        let now = Utc::now();
        let path = new_path(&backups, now, false);
        let info = log.snapshot(&path).expect("snapshot");
        log.append(vec![redact("SECRET-RACED")], vec![]).expect("redact during the backup");
        let manifest = manifest_of(&log, &path, &info, None, now).expect("manifest");
        write_manifest(&path, &manifest).expect("write the manifest");

        assert_eq!(manifest.redactions_applied, early.0, "only the redaction the snapshot saw is applied");
        assert!(file_contains(&path, "SECRET-RACED"));
        crate::backup::erase_redactions(&log, &backups).expect("erase");
        assert!(!file_contains(&path, "SECRET-RACED"), "the erasure visited the backup");
    }
}
