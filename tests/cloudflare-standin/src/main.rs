//! `cloudflare-standin`: a local server that answers like Cloudflare's REST API v4 (D1, Vectorize v2,
//! Workers AI, R2), with a control API to inject faults, for testing the service's Cloudflare client.
//! It prints one line, `cloudflare-standin listening on http://ADDR`, and serves until SIGTERM or SIGINT.

mod ai;
mod config;
mod control;
mod d1;
mod envelope;
mod filter;
mod gate;
mod hash;
mod r2;
mod rate;
mod router;
mod server;
mod state;
mod vectorize;

use anyhow::Context;
use clap::Parser;
use std::io::Write;
use std::sync::Arc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = config::Config::parse();
    if let Some(dir) = &config.state_dir {
        std::fs::create_dir_all(dir).with_context(|| format!("creating the state dir {}", dir.display()))?;
    }
    let state = Arc::new(state::AppState::new(&config).context("opening the D1 databases")?);
    let listener =
        tokio::net::TcpListener::bind(config.listen).await.with_context(|| format!("binding {}", config.listen))?;
    let address = listener.local_addr()?;
    // Tests read this line to learn the port; nothing else goes to stdout.
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "cloudflare-standin listening on http://{address}")?;
    stdout.flush()?;
    drop(stdout);
    server::serve(listener, router::router(state), shutdown_signal()).await;
    Ok(())
}

/// Completes on SIGTERM or SIGINT.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(e) => {
                    eprintln!("cloudflare-standin: cannot listen for SIGTERM: {e}");
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::select! {
            _ = interrupt => {}
            () = terminate => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
