//! The log's errors, one enum per operation: opening the log, reading it, appending to it, and copying it
//! to another file (snapshots, increments, scrubs).

use crate::event::DecodeError;
use crate::ids::{ContentHash, Seq};
use std::path::PathBuf;
use std::sync::Arc;

/// Why the log could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(
        "the event log {path} is open in another process; stop that process or point this one at another data directory"
    )]
    InUse { path: PathBuf },
    #[error(
        "the event log {path} was written with schema version {found}, newer than this build understands ({supported}); upgrade mcp-memory-service"
    )]
    TooNew { path: PathBuf, found: u64, supported: u64 },
    #[error("cannot open the event log {path}: {source}")]
    Storage { path: PathBuf, source: redb::Error },
    #[error("cannot rewrite the event log {path} after a redaction: {message}")]
    Scrub { path: PathBuf, message: String },
    #[error("cannot create the directory for the event log {path}: {source}")]
    Directory { path: PathBuf, source: std::io::Error },
}

/// Why a read failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("reading the event log failed: {0}")]
    Storage(#[from] redb::Error),
    #[error(transparent)]
    Decode(#[from] DecodeError),
}

/// A read inside a storage operation (a migration, a scrub plan) fails that operation: a decoding failure
/// means the file is corrupted.
impl From<ReadError> for redb::Error {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::Storage(e) => e,
            ReadError::Decode(e) => redb::Error::Corrupted(e.to_string()),
        }
    }
}

impl From<redb::StorageError> for ReadError {
    fn from(e: redb::StorageError) -> Self {
        ReadError::Storage(e.into())
    }
}
impl From<redb::TableError> for ReadError {
    fn from(e: redb::TableError) -> Self {
        ReadError::Storage(e.into())
    }
}
impl From<redb::TransactionError> for ReadError {
    fn from(e: redb::TransactionError) -> Self {
        ReadError::Storage(e.into())
    }
}

/// Why an append was refused or failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AppendError {
    #[error("memory {memory} already exists")]
    AlreadyExists { memory: ContentHash },
    #[error("memory {memory} does not exist")]
    NotFound { memory: ContentHash },
    #[error("memory {memory} is not deleted, so it cannot be undeleted")]
    NotDeleted { memory: ContentHash },
    #[error("memory {memory} was redacted: its content is gone for good and it cannot be undeleted or redacted again")]
    Redacted { memory: ContentHash },
    #[error("an event of kind {0} is written by the log itself and cannot be appended")]
    NotAppendable(&'static str),
    #[error("memory {memory} cannot be related to itself")]
    SelfRelation { memory: ContentHash },
    #[error("memory {memory} is at version {actual}, not the expected {expected}; read it again and retry")]
    VersionMismatch { memory: ContentHash, expected: u32, actual: u32 },
    /// The storage error that failed the commit; every later append carries the same one.
    #[error("the log writer has stopped after a failed commit ({0}); restart the service to reopen the log")]
    WriterFailed(#[source] Arc<dyn std::error::Error + Send + Sync>),
    #[error("the log writer is shut down")]
    Closed,
}

/// Why a snapshot failed. The destination is left untouched (a partial file is removed).
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("{0} already exists; a snapshot never overwrites a file")]
    Exists(PathBuf),
    #[error("writing the snapshot {path} failed: {source}")]
    Write { path: PathBuf, source: redb::Error },
    #[error("writing the snapshot {path} failed: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("the increment starts at event {starts}, but the log it is applied to ends at {ends}")]
    Gap { ends: Seq, starts: Seq },
}
