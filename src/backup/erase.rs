//! Erasing redacted memories from the backups that still hold them.

use super::BackupError;
use super::archive::{list, sha256_of, write_manifest};
use super::verify::checked_copy;
use mms_log::Log;
use serde::Serialize;
use std::path::Path;

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
pub fn erase_redactions(log: &Log, dir: &Path) -> Result<Vec<Scrubbed>, BackupError> {
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
            .map_err(|source| BackupError::Erase { filename: entry.filename.clone(), source: Box::new(source) })?;
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
