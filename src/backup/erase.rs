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
        // A file that no longer matches its manifest was rewritten by a pass that stopped before writing the
        // manifest: this pass finds nothing left to erase in it, and must not take that for "nothing lost".
        let interrupted = sha256_of(&path)? != manifest.sha256;
        let erased = mms_log::erase_in_file(&path, &redactions)
            .map_err(|source| BackupError::Erase { filename: entry.filename.clone(), source: Box::new(source) })?;
        manifest.redactions_applied = latest;
        manifest.size_bytes = std::fs::metadata(&path)?.len();
        manifest.sha256 = sha256_of(&path)?;
        let base_changed = manifest.base.as_ref().is_some_and(|base| changed.contains(base));
        if erased.events > 0 || erased.memories > 0 || base_changed || interrupted {
            changed.insert(entry.filename.clone());
        }
        if manifest.base.is_none() && !interrupted {
            manifest.memories -= erased.memories as u64;
            write_manifest(&path, &manifest)?;
        } else {
            // An increment counts the memories of its whole chain, and an interrupted pass left no count of
            // what it erased: count them on the chain as it is now.
            write_manifest(&path, &manifest)?;
            if base_changed || erased.memories > 0 || interrupted {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup::archive::tests::{redact, store};
    use crate::backup::archive::{Kind, Manifest, create, manifest_path};

    fn manifest(path: &Path) -> Manifest {
        serde_json::from_slice(&std::fs::read(manifest_path(path)).expect("read")).expect("a manifest")
    }

    /// What the backup's chain replays to: its live memories.
    fn replayed(path: &Path) -> u64 {
        let copy = checked_copy(path).expect("the backup checks out against its manifest");
        Log::open(copy.log()).expect("open").memory_counts().expect("counts").1
    }

    /// A pass that crashed after a backup was rewritten but before its manifest was: the next pass finds
    /// nothing left to erase in the file, and must still leave the manifest saying what the file holds.
    #[test]
    fn a_pass_interrupted_between_a_backup_and_its_manifest_is_finished_with_the_right_counts() {
        let dir = tempfile::tempdir().expect("temp dir");
        let backups = dir.path().join("backups");
        let log = Log::open(dir.path().join("log.redb")).expect("open");
        log.append((0..10).map(|i| store(&format!("kept {i}"))).collect(), vec![]).expect("store");
        log.append(vec![store("SECRET-IN-FULL")], vec![]).expect("store");
        let full = backups.join(create(&log, &backups, Kind::Full).expect("full backup").filename);
        log.append(vec![store("SECRET-IN-INCREMENT")], vec![]).expect("store");
        let increment = backups.join(create(&log, &backups, Kind::Auto).expect("increment").filename);
        assert!(manifest(&increment).base.is_some(), "the second backup is an increment");
        assert_eq!((manifest(&full).memories, manifest(&increment).memories), (11, 12));
        log.append(vec![redact("SECRET-IN-FULL"), redact("SECRET-IN-INCREMENT")], vec![]).expect("redact");

        // The interrupted pass: both files rewritten, neither manifest.
        let redactions = log.redactions().expect("redactions");
        for path in [&full, &increment] {
            assert!(mms_log::erase_in_file(path, &redactions).expect("erase").memories > 0);
        }
        erase_redactions(&log, &backups).expect("the next pass");

        for (path, live) in [(&full, 10), (&increment, 10)] {
            let manifest = manifest(path);
            assert_eq!(manifest.redactions_applied, redactions.iter().map(|(_, seq)| seq.0).max().expect("some"));
            assert_eq!(manifest.memories, live, "{} counts what it holds", manifest.filename);
            assert_eq!(replayed(path), live);
        }
    }
}
