//! Wiring of the two long-running modes: `serve` (the HTTP server, owning the store and hosting the MCP
//! sessions of the `mcp` processes) and `mcp` (the stdio relay). Only `main` names this module; everything
//! it wires lives below it (`store`, `http`, `mcp`, `tls`, `mdns`).

use crate::config::{Config, ServeConfig};
use crate::http::{EventHub, Served, router};
use crate::mcp::McpServer;
use crate::mcp::host::{DRAIN_GRACE, HostKind, Ownership, own};
use crate::oauth::OAuth;
use crate::store::{self, Settings, Store};
use anyhow::Context;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Opens the store for `serve`. When an `mcp` process owns it, asks that process to hand it over and
/// waits for the log's lock (the `mcp` processes then relay to this server). Asks again if a relay got
/// the lock first in the meantime.
async fn open_for_serve(settings: &Settings) -> anyhow::Result<Store> {
    use crate::mcp::host::{Takeover, request_takeover};
    use std::time::Instant;
    let base_dir = &settings.paths.base_dir;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(store) = store::try_open(settings).await? {
            return Ok(store);
        }
        let why = match request_takeover(base_dir).await {
            Takeover::Agreed => {
                tracing::info!("an MCP process owned the store and is handing it over");
                None
            }
            Takeover::Refused(reason) => anyhow::bail!("{reason}"),
            Takeover::NoAnswer(why) => Some(why),
        };
        // Wait for the lock a little (the owner drains its relays first), then ask again.
        let retry = Instant::now() + Duration::from_secs(if why.is_none() { 12 } else { 1 });
        while Instant::now() < retry.min(deadline) {
            tokio::time::sleep(Duration::from_millis(20)).await;
            if let Some(store) = store::try_open(settings).await? {
                return Ok(store);
            }
        }
        if Instant::now() >= deadline {
            anyhow::bail!(
                "the event log in {} is open in another process that does not hand it over ({}): stop that \
                 process (a CLI command?) or point this one at another data directory",
                base_dir.display(),
                why.unwrap_or_else(|| "it agreed but kept it".into())
            );
        }
    }
}

/// Runs the HTTP server until `shutdown` completes. It owns the store and hosts the MCP sessions of the
/// `mcp` processes on the same data directory.
pub async fn serve(
    config: &Config,
    args: &ServeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    crate::cli::envcheck::warn_unread();
    let settings = Settings::of(config)?;
    let port = if args.https_enabled { args.https_port } else { args.port };
    let address = format!("{}:{}", args.host, port);
    let listener =
        tokio::net::TcpListener::bind(&address).await.with_context(|| format!("cannot listen on {address}"))?;
    let tls = match args.https_enabled {
        true => {
            let files = crate::tls::cert_files(
                args.ssl_cert_file.as_deref(),
                args.ssl_key_file.as_deref(),
                &settings.paths.base_dir,
                &args.host,
            )?;
            Some(crate::tls::server_config(&files)?)
        }
        false => None,
    };
    let mut store = open_for_serve(&settings).await?;
    let (server, host) = own(&mut store, config.backup.clone(), HostKind::Serve)?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(address = %listener.local_addr()?, scheme, data = %store.paths().base_dir.display(), "serving");
    let (router, streams) = http(&store, server, args)?;
    let router = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
    let advertisement = advertise(args, listener.local_addr()?, tls.is_some());
    // At shutdown mDNS says goodbye and the SSE streams end (they never would by themselves); in-flight
    // requests finish.
    let shutdown = async move {
        shutdown.await;
        if let Some(advertisement) = advertisement {
            advertisement.withdraw().await;
        }
        streams.close();
    };
    match tls {
        None => axum::serve(listener, router).with_graceful_shutdown(shutdown).await?,
        Some(tls) => {
            // axum-server drives TLS; its handle gives the same graceful shutdown as axum::serve.
            let handle = axum_server::Handle::new();
            let stopping = handle.clone();
            tokio::spawn(async move {
                shutdown.await;
                stopping.graceful_shutdown(None);
            });
            let config = axum_server::tls_rustls::RustlsConfig::from_config(tls);
            axum_server::from_tcp_rustls(listener.into_std()?, config)?.handle(handle).serve(router).await?;
        }
    }
    host.finish(DRAIN_GRACE).await;
    tokio::task::spawn_blocking(move || store.close()).await?;
    Ok(())
}

/// The streams that never end by themselves: the SSE change stream's and MCP's streamable HTTP sessions.
struct Streams {
    events: Arc<EventHub>,
    mcp_sessions: CancellationToken,
}

impl Streams {
    /// Ends every SSE stream (with a `connection_closed` event) and every MCP session, so a graceful
    /// shutdown can finish.
    fn close(&self) {
        self.events.close();
        self.mcp_sessions.cancel();
    }
}

/// The HTTP router of an open store: starts the change stream's feeder (with the replication's notices),
/// opens OAuth's state when it is on, and mounts MCP's streamable HTTP service at `/mcp`.
fn http(store: &Store, server: McpServer, args: &ServeConfig) -> anyhow::Result<(axum::Router, Streams)> {
    let service = store.service.clone();
    let events = EventHub::new(service.clone(), Duration::from_secs(args.sse_heartbeat));
    events.spawn_feeder();
    let sync = store.sync();
    if let Some(sync) = &sync {
        events.relay_notices(sync.subscribe());
    }
    events.relay_notices(service.document_notices());
    let oauth = match args.oauth.oauth_enabled {
        true => {
            let base_dir = &store.paths().base_dir;
            Some(Arc::new(OAuth::open(&args.oauth, base_dir, args.issuer(), args.api_key().is_none())?))
        }
        false => None,
    };
    let mcp_sessions = CancellationToken::new();
    let backups = server.backups().clone();
    let consolidator = server.consolidator().clone();
    events.relay_notices(consolidator.subscribe());
    let mcp_tools = server.advertised_tools();
    let mcp = crate::mcp::streamable_http(server, args, mcp_sessions.clone());
    let paths = store.paths().clone();
    let served = Served { service, backups, consolidator, sync, paths, events: events.clone(), oauth, mcp_tools };
    Ok((router(served, mcp, args)?, Streams { events, mcp_sessions }))
}

/// Starts the mDNS advertisement of a server bound to `bound`, when MCP_MDNS_ENABLED is set.
fn advertise(args: &ServeConfig, bound: std::net::SocketAddr, https: bool) -> Option<crate::mdns::Advertisement> {
    if !args.mdns_enabled {
        return None;
    }
    crate::mdns::start(&crate::mdns::Announcement {
        instance: args.mdns_service_name.clone(),
        service_type: args.mdns_service_type.clone(),
        bound,
        https,
        auth_required: crate::http::auth_required(args),
    })
}

/// Runs the MCP server on stdin/stdout until the client closes the connection (see `mcp::relay`).
pub async fn mcp(config: &Config) -> anyhow::Result<()> {
    crate::cli::envcheck::warn_unread();
    crate::mcp::relay::run(Ownership { store: Settings::of(config)?, backups: config.backup.clone() }).await?;
    Ok(())
}
