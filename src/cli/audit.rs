//! The audit commands: the log and a memory's history, point-in-time restore, and redaction (through the
//! one entry point that also erases the memory from the backups).

use super::args::RestoreArgs;
use super::backup::backup_path;
use super::memory::{actor, preview};
use crate::backup::Backups;
use crate::service::{Point, Service};
use crate::store::Store;
use std::io::Write;
use std::sync::Arc;

/// `restore`: a preview of what would change, or with `--apply` the restore itself.
pub(super) async fn restore(store: &Store, args: &RestoreArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let service = &store.service;
    let (target, _copy) = match &args.from_backup {
        Some(file) => {
            let path = backup_path(&store.paths().backups, file);
            let (target, copy) = crate::backup::restore_target(&path, args.to_seq, args.to_time.as_deref())?;
            (target, Some(copy))
        }
        None => (Point::parse(args.to_seq, args.to_time.as_deref())?.into(), None),
    };
    let last = std::sync::Mutex::new(std::time::Instant::now());
    let progress: crate::service::Progress = std::sync::Arc::new(move |phase: &str, done: u64, total: u64| {
        let mut last = last.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if phase == "appending" || last.elapsed().as_millis() >= 500 || done == total {
            match phase {
                "appending" => eprintln!("restore: appending {total} events"),
                _ => eprintln!("restore: {phase}: {done}/{total} events"),
            }
            *last = std::time::Instant::now();
        }
    });
    let plan = service.restore_reporting(target, !args.apply, actor(), progress).await?;
    writeln!(out, "{}", plan.summary())?;
    for (mark, hashes) in [("+", &plan.come_back), ("-", &plan.disappear), ("~", &plan.change)] {
        for hash in hashes {
            writeln!(out, "{mark} {hash}")?;
        }
    }
    if plan.dry_run && plan.come_back.len() + plan.disappear.len() + plan.change.len() > 0 {
        writeln!(out, "(a preview: add --apply to restore)")?;
    }
    Ok(())
}

/// `redact HASH`: the memory erased from the log and the backups.
pub(super) async fn redact(
    service: &Service,
    backups: &Arc<Backups>,
    hash: &str,
    reason: Option<String>,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let (redaction, scrubbed) = backups.redact(service, hash, reason, actor()).await?;
    writeln!(
        out,
        "redacted {} (event {}): {} earlier events erased{}",
        redaction.content_hash,
        redaction.seq,
        redaction.events_erased,
        if redaction.was_live { "" } else { "; it was already deleted" }
    )?;
    for scrubbed in scrubbed? {
        writeln!(out, "erased from backup {} ({} events)", scrubbed.filename, scrubbed.events_erased)?;
    }
    Ok(())
}

/// `log --from N`: the event log as JSON lines.
pub(super) async fn log(service: &Service, from: u64, out: &mut dyn Write) -> anyhow::Result<()> {
    let mut since = from.saturating_sub(1);
    loop {
        let (page, _) = service.log_page(since, crate::service::MAX_LOG_PAGE).await?;
        let Some(last) = page.last() else { break };
        since = last.event.seq;
        for entry in &page {
            writeln!(out, "{}", serde_json::to_string(entry)?)?;
        }
    }
    Ok(())
}

/// `history HASH`: every event of one memory, with what changed.
pub(super) async fn history(service: &Service, hash: &str, out: &mut dyn Write) -> anyhow::Result<()> {
    for entry in service.history(hash).await? {
        let event = &entry.event;
        let who = if event.actor.is_empty() {
            event.interface.clone()
        } else {
            format!("{} ({})", event.interface, event.actor)
        };
        let erased = if event.erased { " (erased by a redaction)" } else { "" };
        writeln!(out, "#{} v{} {} {}{erased} by {}", event.seq, event.version, event.at, event.kind, who)?;
        if let (Some(before), Some(after)) = (&entry.before, &entry.after) {
            if before.tags != after.tags {
                writeln!(out, "  tags: [{}] -> [{}]", before.tags.join(", "), after.tags.join(", "))?;
            }
            if before.memory_type != after.memory_type {
                writeln!(out, "  type: {:?} -> {:?}", before.memory_type, after.memory_type)?;
            }
            if before.metadata != after.metadata {
                writeln!(out, "  metadata: {} -> {}", before.metadata, after.metadata)?;
            }
        } else if let Some(after) = &entry.after {
            writeln!(out, "  {}", preview(&after.content))?;
        }
    }
    Ok(())
}
