//! `sync status|push|pull|pause|resume`: Cloudflare replication from the command line.

use super::args::SyncAction;
use crate::config::{Backend, Config};
use crate::store::{self, Settings};
use crate::sync::{Sync, SyncState, state_path};
use anyhow::bail;
use std::io::Write;

/// `sync status|pause|resume` read and write the sync state file, so they work beside a running server;
/// `sync push|pull` open the store and run a round with progress on stderr.
pub(super) async fn sync(config: &Config, action: SyncAction, out: &mut dyn Write) -> anyhow::Result<()> {
    if config.storage.backend() == Backend::SqliteVec {
        bail!("sync needs MCP_MEMORY_STORAGE_BACKEND=hybrid or cloudflare (it is sqlite_vec: local only)");
    }
    let base_dir = config.paths().base_dir;
    std::fs::create_dir_all(&base_dir)?;
    let state = || SyncState::open(&state_path(&base_dir));
    match action {
        SyncAction::Pause | SyncAction::Resume => {
            let paused = matches!(action, SyncAction::Pause);
            state()?.set_paused(paused)?;
            writeln!(out, "replication {}", if paused { "paused (local writes go on)" } else { "resumed" })?;
        }
        SyncAction::Status => {
            let state = state()?;
            let pushed = state.pushed()?;
            writeln!(out, "device: {}", crate::sync::device_id(&base_dir)?)?;
            writeln!(out, "pushed: every event up to {pushed}")?;
            writeln!(out, "paused: {}", state.paused()?)?;
            writeln!(out, "last sync: {}", state.last_sync()?.as_deref().unwrap_or("never"))?;
            for (origin, seq) in state.pulled()? {
                writeln!(out, "pulled from {origin}: up to its event {seq}")?;
            }
            let failures = state.failures()?;
            writeln!(out, "failed events: {} (retried by `sync push`)", failures.len())?;
            for failure in failures {
                writeln!(out, "  event {} (memory {}): {}", failure.seq, failure.content_hash, failure.message)?;
            }
            let (count, skipped) = state.skipped()?;
            writeln!(out, "skipped pulled events: {count}")?;
            for skip in skipped {
                writeln!(
                    out,
                    "  event {} of {} (memory {}): {}",
                    skip.event_id, skip.origin, skip.content_hash, skip.reason
                )?;
            }
            let rehashed = state.rehashed()?;
            writeln!(out, "memories adopted from the original under a new content hash: {}", rehashed.len())?;
            for (original, ours) in rehashed {
                writeln!(out, "  {original} is now {ours}")?;
            }
        }
        SyncAction::Push | SyncAction::Pull => {
            let settings = Settings::of(config)?;
            let store = store::open(&settings, false).await?;
            let outcome = async {
                let sync = Sync::open(&store.service, &settings.replication, &base_dir)?
                    .ok_or_else(|| anyhow::anyhow!("the backend does not replicate"))?;
                let push = matches!(action, SyncAction::Push);
                let mut last_report = std::time::Instant::now();
                let handled = sync
                    .sync_now(push, !push, |phase, done, total| {
                        if last_report.elapsed().as_millis() >= 500 {
                            match phase {
                                "push" => eprintln!("push: up to event {done} of {total}"),
                                _ => eprintln!("pull: {done} events read, {total} applied"),
                            }
                            last_report = std::time::Instant::now();
                        }
                    })
                    .await?;
                let status = sync.status();
                writeln!(
                    out,
                    "{}: {handled} events; pushed up to event {} of {}; {} failed",
                    if push { "pushed" } else { "pulled" },
                    status["pushed_seq"],
                    status["log_seq"],
                    status["operations_failed"]
                )?;
                anyhow::Ok(())
            }
            .await;
            tokio::task::block_in_place(|| store.close());
            outcome?;
        }
    }
    Ok(())
}
