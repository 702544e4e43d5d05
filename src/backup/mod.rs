//! Backups: consistent snapshots of the event log in MCP_MEMORY_BACKUPS_PATH, taken while the service keeps
//! serving writes. Each is `memory_backup_YYYYmmdd_HHMMSS.redb` (a log file that opens as a store) with a
//! manifest beside it (`.json`: first/last sequence and time, event and memory counts, SHA-256, format and
//! app versions). The schedule and retention follow the original's scheduler (MCP_BACKUP_*); `verify`
//! checks the checksum and replays the snapshot into a scratch read model.

//!
//! `archive` writes and lists the files and their manifests, `retention` prunes them, `verify` checks a
//! backup (a copy checked against its manifests, replayed into a scratch store), `erase` rewrites the backups
//! that still hold a redacted memory, and `schedule` is the owner of a running server's backups (on demand,
//! on a schedule, and the redaction that must reach the backups too).

mod archive;
mod erase;
mod error;
mod retention;
mod schedule;
mod verify;

pub use archive::{Entry, FORMAT_VERSION, Kind, Manifest, Taken, list, take};
pub use erase::{Scrubbed, erase_redactions};
pub use error::BackupError;
pub use retention::prune;
pub use schedule::{Backups, Created, Listing, Status};
pub use verify::{CheckedCopy, Verified, checked_copy, restore_target, verify};
