//! mms-log: the append-only event log of mcp-memory-service, kept in one redb file.
//!
//! Every change to a memory is an [`Event`] with a gap-free sequence number. The log checks each append
//! against the memory's current state (a store needs the memory absent, an update or delete needs it
//! present, an expected version must match) and acknowledges it only after a durable commit. Concurrent
//! appends are grouped into one write transaction. Everything else in the service is derived from here.
//!
//! This crate has no async runtime: the writer is a thread, and callers are told of commits by callbacks
//! or by blocking on a [`SeqWatch`].

// The modules' order, bottom to top, is in log/DESIGN.md; tests/tidy.rs checks that they form no cycle.
mod copy;
mod error;
mod event;
mod ids;
mod legacy;
mod redact;
mod snapshot;
mod state;
mod store;
mod tables;
mod watch;
mod writer;

pub use copy::{SnapshotInfo, apply_increment};
pub use error::{AppendError, OpenError, ReadError, SnapshotError};
pub use event::{
    Actor, DecodeError, DocumentUpload, Event, EventKind, Interface, MemoryMeta, MemoryRecord, Relation,
    SCHEMA_VERSION, decode, encode,
};
pub use ids::{ContentHash, EventId, ParseHashError, Seq, Timestamp};
pub use redact::{Erasure, erase_in_file};
pub use state::{MemoryState, fold_history};
pub use store::Log;
pub use tables::Head;
pub use watch::SeqWatch;
pub use writer::{Appended, Expect, NewEvent, VectorEntry};
