//! Snapshots of a running log: a consistent copy of the whole log (events, indexes, heads and the embedding
//! cache, as of one read transaction), or of what came after a position, in a new redb file, taken while
//! appends go on. A snapshot is itself a log: opening it with [`Log::open`] gives the store as it was.

use crate::copy::{SnapshotInfo, copy_database, copy_since};
use crate::error::SnapshotError;
use crate::ids::Seq;
use crate::store::Log;
use std::path::Path;

impl Log {
    /// Writes a consistent copy of the log to `dest` (which must not exist): everything committed when
    /// the copy starts, nothing after. Appends go on meanwhile. The file appears under its name only once
    /// it is complete and durable.
    pub fn snapshot(&self, dest: &Path) -> Result<SnapshotInfo, SnapshotError> {
        self.write_atomically(dest, |partial| copy_database(&self.database(), partial))
    }

    /// Writes an increment to `dest` (which must not exist): the events after `after` with their index
    /// rows, the heads of the memories they touch, their cached vectors and redactions, as of one read
    /// transaction. Applied to a copy of the log as of `after` ([`apply_increment`](crate::apply_increment)),
    /// it gives the log as of the increment's last event. `memories` counts the live memories of the whole
    /// log then.
    pub fn snapshot_since(&self, dest: &Path, after: Seq) -> Result<SnapshotInfo, SnapshotError> {
        self.write_atomically(dest, |partial| copy_since(&self.database(), partial, after))
    }

    fn write_atomically(
        &self,
        dest: &Path,
        write: impl FnOnce(&Path) -> Result<SnapshotInfo, SnapshotError>,
    ) -> Result<SnapshotInfo, SnapshotError> {
        if dest.exists() {
            return Err(SnapshotError::Exists(dest.to_path_buf()));
        }
        let partial = dest.with_extension("partial");
        let result = write(&partial);
        let info = match result {
            Ok(info) => info,
            Err(error) => {
                let _ = std::fs::remove_file(&partial);
                return Err(error);
            }
        };
        let io = |source| SnapshotError::Io { path: dest.to_path_buf(), source };
        std::fs::rename(&partial, dest).map_err(io)?;
        if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
        }
        Ok(info)
    }
}
