//! Wiring: opens the log, the projections, the embedder and the service, and runs the server.
//! Used by `main` and by tests; the only module that sees every piece.

use crate::config::{Config, Paths, ServeArgs};
use crate::embed::{Embedder, ModelPaths, ModelStatus};
use crate::service::{CachedVectors, Service, ServiceOptions};
use anyhow::{Context, bail};
use mms_log::{Log, Seq};
use mms_projections::{AnnIndex, AnnOptions, Projection, Projector, SqliteProjection, SqliteReader};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

/// An open store: the service plus the projector thread that keeps the read models current.
pub struct Store {
    pub service: Service,
    pub paths: Paths,
    stop: Arc<AtomicBool>,
    projector: Option<JoinHandle<()>>,
}

struct Parts {
    log: Log,
    reader: Arc<SqliteReader>,
    ann: Arc<AnnIndex>,
    embedder: Embedder,
    options: ServiceOptions,
    paths: Paths,
}

fn check_backend(config: &Config) -> anyhow::Result<()> {
    match config.storage.storage_backend.trim().to_ascii_lowercase().as_str() {
        "sqlite_vec" | "sqlite-vec" | "" => {}
        "cloudflare" | "hybrid" => bail!(
            "MCP_MEMORY_STORAGE_BACKEND={} is not available in this version; use sqlite_vec",
            config.storage.storage_backend
        ),
        other => {
            tracing::warn!(backend = other, "unknown MCP_MEMORY_STORAGE_BACKEND; using sqlite_vec as the original does")
        }
    }
    if config.model.embedding_model != crate::embed::MODEL_NAME {
        bail!(
            "MCP_EMBEDDING_MODEL={} is not supported; only {} is",
            config.model.embedding_model,
            crate::embed::MODEL_NAME
        );
    }
    Ok(())
}

fn open_parts(config: &Config, eager_model: bool) -> anyhow::Result<(Parts, SqliteProjection)> {
    check_backend(config)?;
    let paths = config.paths();
    std::fs::create_dir_all(&paths.base_dir)
        .with_context(|| format!("cannot create the data directory {}", paths.base_dir.display()))?;
    let log = Log::open(&paths.log)?;
    let sqlite = SqliteProjection::open(&paths.sqlite)?;
    let reader = Arc::new(SqliteReader::new(&paths.sqlite));
    let ann = Arc::new(AnnIndex::open(&paths.ann_dir, AnnOptions::default())?);
    let threads =
        config.model.embedding_threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let embedder = Embedder::start(ModelPaths {
        model_dir: paths.model_dir.clone(),
        runtime_library: paths.runtime_library.clone(),
        threads,
        eager: eager_model,
    });
    let hostname = if config.storage.include_hostname {
        std::fs::read_to_string("/etc/hostname").ok().map(|h| h.trim().to_string()).filter(|h| !h.is_empty())
    } else {
        None
    };
    let options = ServiceOptions {
        max_content_length: config.max_content_length().map_err(anyhow::Error::msg)?,
        ann_threshold: config.storage.ann_threshold,
        hostname,
    };
    Ok((Parts { log, reader, ann, embedder, options, paths }, sqlite))
}

fn projector(parts: &Parts, sqlite: SqliteProjection) -> Projector {
    let source = Arc::new(CachedVectors::new(parts.log.clone(), parts.embedder.clone()));
    let projections: Vec<Box<dyn Projection>> = vec![Box::new(sqlite), Box::new(parts.ann.clone())];
    Projector::new(parts.log.clone(), projections, source)
}

impl Store {
    /// Opens the store in `config`'s data directory and starts the projector thread. With `eager_model`
    /// the embedding model starts loading at once; otherwise at the first request that needs it.
    pub fn open(config: &Config, eager_model: bool) -> anyhow::Result<Store> {
        let (parts, sqlite) = open_parts(config, eager_model)?;
        let projector = projector(&parts, sqlite);
        let service = Service::new(
            parts.log.clone(),
            parts.reader.clone(),
            parts.ann.clone(),
            &projector.applied(),
            parts.embedder.clone(),
            parts.options.clone(),
        );
        let stop = Arc::new(AtomicBool::new(false));
        let handle = projector.spawn(stop.clone()).context("cannot start the projector thread")?;
        Ok(Store { service, paths: parts.paths, stop, projector: Some(handle) })
    }

    /// Waits until the read models have applied the whole log (after a start with a stale read model).
    /// Fails at once when they cannot: replaying stored memories needs their vectors, and the model that
    /// would compute missing ones cannot load.
    pub async fn wait_current(&self) -> anyhow::Result<()> {
        let last = self.service.log().last_seq();
        while !self.service.wait_applied(last, std::time::Duration::from_millis(500)).await {
            if let ModelStatus::Failed(reason) = self.service.embedder().status() {
                bail!("the read model cannot catch up with the log: {reason}");
            }
        }
        Ok(())
    }

    /// Stops the projector (which saves the ANN index) and closes the store.
    pub fn close(mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(handle) = self.projector.take() {
            let _ = handle.join();
        }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(handle) = self.projector.take() {
            let _ = handle.join();
        }
    }
}

/// Drops the read models and replays the whole log into them; returns the last sequence number applied.
pub fn rebuild(config: &Config, progress: impl FnMut(Seq, Seq)) -> anyhow::Result<Seq> {
    let (parts, sqlite) = open_parts(config, false)?;
    let mut projector = projector(&parts, sqlite);
    Ok(projector.rebuild(progress)?)
}

/// Runs the HTTP server until `shutdown` completes.
pub async fn serve(
    config: &Config,
    args: &ServeArgs,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let address = format!("{}:{}", args.host, args.port);
    let listener =
        tokio::net::TcpListener::bind(&address).await.with_context(|| format!("cannot listen on {address}"))?;
    let store = Store::open(config, true)?;
    tracing::info!(address = %listener.local_addr()?, data = %store.paths.base_dir.display(), "serving");
    let router = crate::http::router(store.service.clone());
    axum::serve(listener, router).with_graceful_shutdown(shutdown).await?;
    tokio::task::spawn_blocking(move || store.close()).await?;
    Ok(())
}
