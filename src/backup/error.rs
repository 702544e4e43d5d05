//! `BackupError`: why a backup could not be written, checked, restored from or rewritten. A message that
//! names only the step that failed keeps the failure as its source (show it with [`crate::error::Chain`]).

use crate::store::StoreError;
use std::path::PathBuf;

/// Why a backup operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("cannot create the backup directory {path}")]
    Directory { path: PathBuf, source: std::io::Error },
    /// A file name that is not one of the directory's backups.
    #[error("'{0}' is not a backup's file name (memory_backup_YYYYmmdd_HHMMSS.redb)")]
    NotABackup(String),
    #[error("no backup named {0}")]
    NoSuchBackup(String),
    #[error("no manifest {path} beside the backup")]
    NoManifest { path: PathBuf, source: std::io::Error },
    #[error("the manifest {path} is not readable")]
    Manifest { path: PathBuf, source: serde_json::Error },
    #[error("the backup's format {found} is newer than this build reads ({})", super::FORMAT_VERSION)]
    TooNew { found: u32 },
    /// An increment whose base is gone.
    #[error("{filename} is an increment of {base}, which is missing: restore from an older full backup")]
    MissingBase { filename: String, base: String, source: std::io::Error },
    #[error("the chain of {0} does not end in a full backup")]
    EndlessChain(String),
    #[error("cannot read {path}")]
    Copy { path: PathBuf, source: std::io::Error },
    #[error("{path} is {size} bytes, its manifest says {expected}: the file is damaged")]
    Size { path: PathBuf, size: u64, expected: u64 },
    #[error("{path} does not match its manifest's SHA-256: the file is damaged")]
    Checksum { path: PathBuf },
    #[error("applying the increment {filename} failed")]
    Increment { filename: String, source: Box<mms_log::SnapshotError> },
    #[error("erasing redacted memories from {filename}")]
    Erase { filename: String, source: Box<mms_log::SnapshotError> },
    #[error("replaying the backup failed")]
    Replay(#[source] StoreError),
    #[error("the backup replays to event {replayed} but its manifest says {expected}")]
    Events { replayed: u64, expected: u64 },
    #[error("the backup replays to {replayed} memories but its manifest says {expected}")]
    Memories { replayed: u64, expected: u64 },
    /// A restore names a backup and another target.
    #[error("give where to restore to: a sequence number (to_seq), a moment (to_time) or a backup, only one")]
    TwoTargets,
    #[error(transparent)]
    Snapshot(#[from] mms_log::SnapshotError),
    #[error(transparent)]
    Open(#[from] mms_log::OpenError),
    #[error(transparent)]
    Read(#[from] mms_log::ReadError),
    #[error(transparent)]
    Count(#[from] mms_projections::ReadError),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}
