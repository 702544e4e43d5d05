//! Retention: which backups go, keeping every chain whole.

use super::archive::{Entry, chain, list, manifest_path};
use std::path::Path;

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
