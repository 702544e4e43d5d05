//! The command line: the subcommands and their arguments (`args`), the environment variables nothing reads
//! (`envcheck`), and the commands that run once and exit, a file per group: the memory commands
//! (`memory`), the audit commands (`audit`: log, history, restore, redact), backups and rebuilds (`backup`),
//! replication (`sync`), import and export (`portability`). Answers go to standard output; progress to
//! standard error.

pub mod args;
mod audit;
mod backup;
mod dotenv;
pub mod envcheck;
mod graph;
mod ingest;
mod memory;
mod portability;
mod sync;

pub use args::{Cli, CliCommand, Command};

use crate::config::Config;
use crate::service::{ServiceError, count};
use crate::store::{self, Settings, StoreError};
use args::BackupAction;
use std::io::Write;

/// Exit status 3: the command wrote nothing because the content is already stored (its answer says so).
pub const EXIT_DUPLICATE: u8 = 3;
/// Exit status 4: what the command names does not exist (a memory, a backup).
pub const EXIT_NOT_FOUND: u8 = 4;
/// Exit status 5: another process (`serve`, an MCP client) holds the store.
pub const EXIT_IN_USE: u8 = 5;

/// A command that printed its whole answer but did not do what was asked: exit with this status and say
/// nothing more.
#[derive(Debug, thiserror::Error)]
#[error("exit status {0}")]
pub struct Exit(pub u8);

/// The exit status of a command that failed: one of the `EXIT_*` statuses when a cause says which, else 1
/// (README, "Exit status"; clap's usage errors exit with 2 before anything runs).
pub fn exit_status(error: &anyhow::Error) -> u8 {
    for cause in error.chain() {
        if let Some(Exit(status)) = cause.downcast_ref::<Exit>() {
            return *status;
        }
        if let Some(ServiceError::NotFound(_)) = cause.downcast_ref::<ServiceError>() {
            return EXIT_NOT_FOUND;
        }
        if is_in_use(cause) {
            return EXIT_IN_USE;
        }
    }
    1
}

/// Whether a command failed only because the reader of its output went away (`… | head`): then it stops
/// quietly, as a Unix tool does, instead of reporting "Broken pipe".
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error
        .chain()
        .any(|cause| cause.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe))
}

fn is_in_use(cause: &(dyn std::error::Error + 'static)) -> bool {
    cause.downcast_ref::<StoreError>().is_some_and(StoreError::is_in_use)
        || matches!(cause.downcast_ref::<mms_log::OpenError>(), Some(mms_log::OpenError::InUse { .. }))
}

/// Runs one command that exits when done; the one place these commands are dispatched.
pub async fn run(config: &Config, command: CliCommand) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    let out: &mut dyn Write = &mut stdout;
    let result = match command {
        CliCommand::Memory(command) => memory::run(config, command, out).await,
        CliCommand::Rebuild => rebuild(config, out).await,
        CliCommand::Backup { action } => {
            tokio::task::block_in_place(|| backup::backup(config, action.as_ref().unwrap_or(&BackupAction::Now), out))
        }
        CliCommand::Keygen => keygen(out),
        CliCommand::Sync { action } => sync::sync(config, action, out).await,
        CliCommand::Export { file, format } => portability::export(config, &file, format, out)
            .await
            .map(|n| eprintln!("exported {}", count(n as u64, "memory", "memories"))),
    };
    let result = result.map_err(|error| {
        if error.chain().any(is_in_use) {
            error.context(
                "a running `serve` or MCP client holds this store: while it runs, go through it with the HTTP \
                 API or the MCP tools (a backup: POST /api/backup/now or memory_backup), or stop it first",
            )
        } else {
            error
        }
    });
    result.and_then(|()| Ok(stdout.flush()?))
}

/// `rebuild`: drops the read models and replays the log into them.
async fn rebuild(config: &Config, out: &mut dyn Write) -> anyhow::Result<()> {
    let settings = Settings::of(config)?;
    let started = std::time::Instant::now();
    let mut last_report = std::time::Instant::now();
    let rebuilt = tokio::task::block_in_place(|| {
        store::rebuild(&settings, |done, total| {
            if last_report.elapsed().as_millis() >= 500 || done == total {
                eprintln!("rebuild: applied {done}/{total} events");
                last_report = std::time::Instant::now();
            }
        })
    })?;
    writeln!(
        out,
        "rebuilt the read models from {} in {:.1} s (sqlite read model {:.1} s, ANN index {:.1} s, in parallel)",
        count(rebuilt.events.0, "event", "events"),
        started.elapsed().as_secs_f64(),
        rebuilt.read_model.as_secs_f64(),
        rebuilt.ann.as_secs_f64()
    )?;
    // The rebuild moved an original's database aside: import it now rather than at the next start.
    if store::migration_pending(&settings.paths) {
        let store = store::open(&settings, false).await?;
        tokio::task::block_in_place(|| store.close());
    }
    Ok(())
}

/// `keygen`: a new RSA pair for OAuth and a random API key, as `.env` lines (the PEM keys multi-line in
/// double quotes, which the `.env` reader accepts).
fn keygen(out: &mut dyn Write) -> anyhow::Result<()> {
    let (private, public) = crate::oauth::generate_rsa_pair()?;
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| anyhow::anyhow!("cannot read the system's random source: {e}"))?;
    writeln!(out, "# Made by `mcp-memory-service keygen`: paste into .env and keep it secret.")?;
    writeln!(out, "MCP_API_KEY={}", hex::encode(key))?;
    writeln!(out, "MCP_OAUTH_PRIVATE_KEY=\"{}\"", private.trim_end())?;
    writeln!(out, "MCP_OAUTH_PUBLIC_KEY=\"{}\"", public.trim_end())?;
    Ok(())
}
