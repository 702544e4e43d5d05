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
mod memory;
mod portability;
mod sync;

pub use args::{Cli, CliCommand, Command};

use crate::config::Config;
use crate::store::{self, Settings};
use args::BackupAction;
use std::io::Write;

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
        CliCommand::Export { file, format } => {
            portability::export(config, &file, format, out).await.map(|n| eprintln!("exported {n} memories"))
        }
    };
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
        "rebuilt the read models from {} events in {:.1} s (sqlite read model {:.1} s, ANN index {:.1} s, in parallel)",
        rebuilt.events,
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
