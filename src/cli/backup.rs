//! `backup`, `backup full`, `backup list`, `backup verify FILE`, and `rebuild`: the store's files, handled
//! without a running server.

use super::args::BackupAction;
use crate::backup::{Kind, Taken};
use crate::config::Config;
use crate::service::{ServiceError, count};
use crate::store::Settings;
use std::io::Write;
use std::path::{Path, PathBuf};

/// `backup`, `backup list`, `backup verify FILE`. Taking a backup opens only the log; while a server or
/// an MCP client holds the store, `POST /api/backup/now` or the `memory_backup` tool takes one instead.
pub(super) fn backup(config: &Config, action: &BackupAction, out: &mut dyn Write) -> anyhow::Result<()> {
    // Taking and listing backups needs only the files; verifying replays, with the store's settings.
    let paths = &config.paths();
    match action {
        BackupAction::Now | BackupAction::Full => {
            // While a server holds the log, `cli::run` points to POST /api/backup/now and the memory_backup tool.
            let log = mms_log::Log::open(&paths.log)?;
            let kind = if let BackupAction::Full = action { Kind::Full } else { Kind::Auto };
            let manifest = match crate::backup::take(&log, &paths.backups, kind)? {
                Taken::Written(manifest) => manifest,
                Taken::Unchanged(newest) => {
                    writeln!(
                        out,
                        "nothing written since {} ({} backup up to event {}): no new backup taken",
                        paths.backups.join(&newest.filename).display(),
                        newest.kind,
                        newest.last_seq
                    )?;
                    return Ok(());
                }
            };
            let removed = crate::backup::prune(&paths.backups, config.backup.retention_days, config.backup.max_count);
            writeln!(
                out,
                "{}: {} backup, events {}..{} ({}, {}), {} bytes, sha256 {}",
                paths.backups.join(&manifest.filename).display(),
                manifest.kind,
                manifest.first_seq,
                manifest.last_seq,
                count(manifest.events, "event", "events"),
                count(manifest.memories, "memory", "memories"),
                manifest.size_bytes,
                manifest.sha256
            )?;
            for name in removed {
                writeln!(out, "removed {name} (retention)")?;
            }
        }
        BackupAction::List => {
            for entry in crate::backup::list(&paths.backups) {
                let (events, memories, kind) =
                    entry.manifest.as_ref().map_or((0, 0, "unknown"), |m| (m.last_seq, m.memories, m.kind.as_str()));
                writeln!(
                    out,
                    "{}  {}  {} bytes  {kind}, up to event {events}, {memories} memories",
                    entry.filename, entry.created_at, entry.size_bytes
                )?;
            }
        }
        BackupAction::Verify { file } => {
            let path = backup_path(&paths.backups, file);
            if !path.is_file() {
                return Err(ServiceError::NotFound(format!(
                    "no such backup: {} (`backup list` shows those in {})",
                    path.display(),
                    paths.backups.display()
                ))
                .into());
            }
            let verified = crate::backup::verify(&Settings::of(config)?, &path)?;
            writeln!(
                out,
                "{}: checksum ok; replayed {} up to {} into {}, as its manifest says",
                verified.filename,
                count(verified.events, "event", "events"),
                verified.last_seq,
                count(verified.memories, "memory", "memories")
            )?;
        }
    }
    Ok(())
}

/// A backup named on the command line: a file name in the backup directory, or a path.
pub(super) fn backup_path(backups: &Path, file: &Path) -> PathBuf {
    if file.components().count() == 1 && !file.exists() { backups.join(file) } else { file.to_path_buf() }
}
