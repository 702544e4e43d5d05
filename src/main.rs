//! The `mcp-memory-service` binary: reads `.env` and the command line, sets up logging, runs a command.

use mcp_memory_service::cli::{Cli, Command};
use mcp_memory_service::{app, cli, healthcheck};
use std::io::IsTerminal;

fn main() -> std::process::ExitCode {
    // Before any thread: glibc fixes its arena limit when it first needs a second arena.
    mcp_memory_service::malloc::limit_arenas();
    tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("the async runtime starts").block_on(run())
}

async fn run() -> std::process::ExitCode {
    // `.env` (when there is one), the environment and the command line.
    let Cli { config, command } = Cli::load();
    // Logs go to stderr: stdout carries command output (and MCP messages in stdio mode).
    let default_level = if matches!(command, Command::Serve(_)) { "info" } else { "warn" };
    let level = config.log_level.as_deref().unwrap_or(default_level).to_ascii_lowercase();
    let filter = tracing_subscriber::EnvFilter::try_new(quiet_dependencies(&level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(quiet_dependencies(default_level)));
    // Colours only on a terminal: files, pipes, docker logs and journald get plain text.
    let ansi = std::io::stderr().is_terminal();
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi).init();
    let result = match command {
        Command::Serve(args) => app::serve(&config, &args, shutdown_signal()).await,
        Command::Mcp => app::mcp(&config).await,
        Command::Run(command) => cli::run(&config, command).await,
        Command::Healthcheck(args) => healthcheck::check(&args).map_err(anyhow::Error::from),
    };
    // ONNX Runtime is torn down when the process exits: wait for a model still loading (or a batch) first.
    mcp_memory_service::embed::shut_down();
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        // The reader of the output went away (`… | head`): nothing more to say to anyone.
        Err(error) if cli::is_broken_pipe(&error) => std::process::exit(0),
        Err(error) => {
            // A command that printed its whole answer (a duplicate store) only sets the status.
            if error.downcast_ref::<cli::Exit>().is_none() {
                eprintln!("error: {error:#}");
            }
            // Exit without dropping the runtime: that waits for every blocking task, and the MCP relay's
            // read of stdin ends only when its client writes or closes it, so a refusal would hang.
            let _ = std::io::Write::flush(&mut std::io::stdout());
            std::process::exit(i32::from(cli::exit_status(&error)))
        }
    }
}

/// The log filter for `level`: rmcp logs every MCP session's and notification's Rust debug dump at INFO, so
/// at INFO it only speaks of warnings, unless `level` names it (`LOG_LEVEL=info,rmcp=info`).
fn quiet_dependencies(level: &str) -> String {
    let info = level.split(',').any(|directive| directive.trim() == "info");
    if info && !level.contains("rmcp") { format!("{level},rmcp=warn") } else { level.to_string() }
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
