//! The audit commands: the log and a memory's history, point-in-time restore, and redaction (through the
//! one entry point that also erases the memory from the backups).

use super::args::RestoreArgs;
use super::backup::backup_path;
use super::memory::{actor, preview};
use crate::backup::Backups;
use crate::service::{Point, Service, count};
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
                "appending" => eprintln!("restore: appending {}", count(total, "event", "events")),
                _ => eprintln!("restore: {phase}: {done}/{total} events"),
            }
            *last = std::time::Instant::now();
        }
    });
    let plan = service.restore_reporting(target, !args.apply, actor(), progress).await?;
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&plan)?)?;
        return Ok(());
    }
    writeln!(out, "{}", plan.summary())?;
    for (mark, hashes) in [("+", &plan.come_back), ("-", &plan.disappear), ("~", &plan.change)] {
        for hash in hashes {
            writeln!(out, "{mark} {hash}  {}", first_line(service, hash).await)?;
        }
    }
    let changes = plan.come_back.len()
        + plan.disappear.len()
        + plan.change.len()
        + plan.relations_restored
        + plan.relations_removed;
    if plan.dry_run && changes > 0 {
        writeln!(out, "(a preview: add --apply to restore)")?;
    } else if !plan.dry_run && changes > 0 {
        writeln!(
            out,
            "to undo it: mcp-memory-service restore --to-seq {} --apply (the store as it was before)",
            plan.from_seq
        )?;
    }
    Ok(())
}

/// The first line of the newest content a memory had (a memory's content never changes, but a deleted one
/// is read from its history), or nothing when it cannot be read.
async fn first_line(service: &Service, hash: &str) -> String {
    let history = service.history(hash).await.unwrap_or_default();
    history
        .iter()
        .rev()
        .find_map(|entry| entry.after.as_ref())
        .map(|memory| preview(&memory.content))
        .unwrap_or_default()
}

/// `redact HASH`: the memory erased from the log and the backups.
pub(super) async fn redact(
    service: &Service,
    backups: &Arc<Backups>,
    hash: &str,
    reason: Option<String>,
    yes: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    if !yes {
        confirm_redaction(service, hash).await?;
    }
    let (redaction, scrubbed) = backups.redact(service, hash, reason, actor()).await?;
    writeln!(
        out,
        "redacted {} (event {}): {} erased{}",
        redaction.content_hash,
        redaction.seq,
        count(redaction.events_erased as u64, "earlier event", "earlier events"),
        if redaction.was_live { "" } else { "; it was already deleted" }
    )?;
    for scrubbed in scrubbed? {
        writeln!(
            out,
            "erased from backup {} ({})",
            scrubbed.filename,
            count(scrubbed.events_erased as u64, "event", "events")
        )?;
    }
    Ok(())
}

/// Redaction cannot be undone: on a terminal, shows the memory and asks; without one, refuses (`--yes`
/// runs it from a script, as the MCP tool's `confirm: true` does).
async fn confirm_redaction(service: &Service, hash: &str) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    if !std::io::stdin().is_terminal() {
        anyhow::bail!(
            "redact cannot be undone and there is no terminal to ask on: add --yes to redact {hash} from a script"
        );
    }
    let shown = first_line(service, hash).await;
    let mut stderr = std::io::stderr();
    write!(
        stderr,
        "Redact {hash} ({shown})? Its content, tags and vector are erased from the log and every backup, for \
         good. Type yes to go on: "
    )?;
    stderr.flush()?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    if !confirmed(&answer) {
        anyhow::bail!("not redacted: the answer was not yes");
    }
    Ok(())
}

/// Whether an answer to a confirmation says yes.
fn confirmed(answer: &str) -> bool {
    matches!(answer.trim().to_ascii_lowercase().as_str(), "yes" | "y")
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
        if let Some(relation) = &entry.relation {
            let reason = relation.reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default();
            writeln!(out, "  {} -> {}{reason}", relation.relationship_type, relation.target_hash)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_yes_confirms_a_redaction() {
        for yes in ["yes", "y", "YES\n", " Yes \r\n"] {
            assert!(super::confirmed(yes), "{yes:?}");
        }
        for no in ["", "\n", "no", "yess", "sure", "n"] {
            assert!(!super::confirmed(no), "{no:?}");
        }
    }
}
