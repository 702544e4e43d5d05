//! Checking a backup: a private copy checked against its manifests (an increment applied to its chain),
//! what a restore reads; and a replay of that copy into a scratch store, compared with the manifest.

use super::BackupError;
use super::archive::{FORMAT_VERSION, Manifest, chain, manifest_path, sha256_of};
use crate::store::{Settings, rebuild};
use mms_log::Seq;
use mms_projections::SqliteReader;
use serde::Serialize;
use std::path::{Path, PathBuf};

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
pub fn checked_copy(backup: &Path) -> Result<CheckedCopy, BackupError> {
    let json = manifest_path(backup);
    let bytes = std::fs::read(&json).map_err(|source| BackupError::NoManifest { path: json.clone(), source })?;
    let manifest: Manifest =
        serde_json::from_slice(&bytes).map_err(|source| BackupError::Manifest { path: json.clone(), source })?;
    if manifest.format_version > FORMAT_VERSION {
        return Err(BackupError::TooNew { found: manifest.format_version });
    }
    let dir = tempfile::Builder::new().prefix("mms-backup-").tempdir()?;
    let copy = dir.path().join("events.redb");
    let folder = backup.parent().unwrap_or(Path::new("."));
    // An increment is applied to its chain's full snapshot, each file checked as it is copied.
    let chain = chain(folder, &manifest)?;
    for (i, link) in chain.iter().enumerate() {
        let file = if i + 1 == chain.len() { backup.to_path_buf() } else { folder.join(&link.filename) };
        let target = if i == 0 { copy.clone() } else { dir.path().join("increment.redb") };
        std::fs::copy(&file, &target).map_err(|source| BackupError::Copy { path: file.clone(), source })?;
        let size = std::fs::metadata(&target)?.len();
        if size != link.size_bytes {
            return Err(BackupError::Size { path: file, size, expected: link.size_bytes });
        }
        if sha256_of(&target)? != link.sha256 {
            return Err(BackupError::Checksum { path: file });
        }
        if i > 0 {
            mms_log::apply_increment(&copy, &target).map_err(|source| BackupError::Increment {
                filename: link.filename.clone(),
                source: Box::new(source),
            })?;
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
) -> Result<(crate::service::RestoreSource, CheckedCopy), BackupError> {
    if seq.is_some() || time.is_some_and(|t| !t.trim().is_empty()) {
        return Err(BackupError::TwoTargets);
    }
    let checked = checked_copy(backup)?;
    let name = backup.file_name().map_or_else(|| backup.display().to_string(), |n| n.to_string_lossy().into_owned());
    Ok((crate::service::RestoreSource::Backup { log: checked.log(), name }, checked))
}

/// Checks a backup: its manifest, size and SHA-256, then replays it into a scratch read model and compares
/// the events and memories with the manifest. Touches nothing but a temporary directory.
pub fn verify(store: &Settings, backup: &Path) -> Result<Verified, BackupError> {
    let checked = checked_copy(backup)?;
    let manifest = &checked.manifest;
    // The copy is `events.redb` in its directory: the log of a scratch store there.
    let scratch = store.scratch(checked.dir.path());
    let rebuilt = rebuild(&scratch, |_, _| {}).map_err(BackupError::Replay)?;
    let memories = SqliteReader::new(&scratch.paths.sqlite).count(&Default::default())?;
    if rebuilt.events != Seq(manifest.last_seq) {
        return Err(BackupError::Events { replayed: rebuilt.events.0, expected: manifest.last_seq });
    }
    if memories != manifest.memories {
        return Err(BackupError::Memories { replayed: memories, expected: manifest.memories });
    }
    Ok(Verified { filename: manifest.filename.clone(), events: manifest.events, memories, last_seq: manifest.last_seq })
}
