//! Cloudflare replication for the `hybrid` and `cloudflare` backends: push (the replica as a projection of
//! the log, `push.rs`) and pull (other devices' events applied here, `pull.rs`), resolved by stamps
//! (`stamp.rs`, last writer wins), with the replica's own checkpoints in `sync.sqlite3` (`state.rs`).
//!
//! One worker task does all of it, one round at a time: push whatever the log has beyond the checkpoint as
//! soon as it is committed, and pull every `MCP_HYBRID_SYNC_INTERVAL`. A failing round is retried with a
//! growing pause while local reads and writes go on; the status says what failed. A refused API token stops
//! a round like an outage does (nothing is split, recorded as failed or skipped): the checkpoint stays, and
//! the cloudflare backend's writes waiting for it are told at once.

mod d1;
mod pull;
mod push;
mod search;
mod stamp;
mod state;

pub use state::{Failure, Skipped, StateError, SyncState};

use crate::cloudflare::{Cloudflare, CloudflareError};
pub use crate::config::Backend;
use crate::config::{CloudflareConfig, HybridConfig};
use crate::service::{ReplicaProgress, Service, ServiceError};
use mms_log::{ContentHash, Seq};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, broadcast, watch};

/// Why replication could not start, or a sync round failed. Clone: the status keeps the last one.
#[derive(Clone, Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Cloudflare(#[from] CloudflareError),
    /// The Cloudflare configuration is incomplete; the message names what is missing.
    #[error("MCP_MEMORY_STORAGE_BACKEND={backend}: {message}")]
    Incomplete { backend: &'static str, message: String },
    #[error(transparent)]
    State(Arc<StateError>),
    #[error("cannot write {path}")]
    DeviceId { path: PathBuf, source: Arc<std::io::Error> },
    #[error(transparent)]
    Read(Arc<mms_log::ReadError>),
    #[error(transparent)]
    Append(#[from] mms_log::AppendError),
    /// Applying a pulled event failed.
    #[error(transparent)]
    Apply(Arc<ServiceError>),
    #[error("memory {0} kept changing while a synced event was applied")]
    KeptChanging(ContentHash),
    /// An event read from the log is missing from its memory's history as the log reads it back.
    #[error("event {seq} is not in the history of memory {memory}")]
    NotInHistory { seq: u64, memory: ContentHash },
    #[error(transparent)]
    Join(Arc<tokio::task::JoinError>),
}

impl From<StateError> for SyncError {
    fn from(error: StateError) -> Self {
        SyncError::State(Arc::new(error))
    }
}

impl From<mms_log::ReadError> for SyncError {
    fn from(error: mms_log::ReadError) -> Self {
        SyncError::Read(Arc::new(error))
    }
}

/// Runs blocking work (log and sync-state reads) off the async runtime.
async fn blocking<T: Send + 'static, E: Into<SyncError> + Send + 'static>(
    work: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, SyncError> {
    tokio::task::spawn_blocking(work).await.map_err(|e| SyncError::Join(Arc::new(e)))?.map_err(Into::into)
}

/// With the cloudflare backend, how soon after a round refused for the API token a new write tries again.
const REFUSED_TOKEN_RETRY: Duration = Duration::from_secs(1);

/// The file holding this device's id, beside the log.
fn device_file(base_dir: &Path) -> PathBuf {
    base_dir.join("device-id")
}

/// This device's id: made once, kept in the data directory.
pub fn device_id(base_dir: &Path) -> Result<String, SyncError> {
    let path = device_file(base_dir);
    match std::fs::read_to_string(&path) {
        Ok(id) if !id.trim().is_empty() => Ok(id.trim().to_string()),
        _ => {
            let id = uuid::Uuid::new_v4().to_string();
            let temp = path.with_extension("tmp");
            std::fs::write(&temp, &id)
                .and_then(|()| std::fs::rename(&temp, &path))
                .map_err(|source| SyncError::DeviceId { path: path.clone(), source: Arc::new(source) })?;
            Ok(id)
        }
    }
}

/// The sync state file of a data directory.
pub fn state_path(base_dir: &Path) -> PathBuf {
    base_dir.join("sync.sqlite3")
}

/// What the worker last saw, for the status.
#[derive(Default)]
struct Live {
    running: bool,
    reachable: Option<bool>,
    /// The last round failed because Cloudflare refused the API token.
    token_refused: bool,
    last_error: Option<String>,
    processed: u64,
    pulled: u64,
}

/// The replication engine, shared by the worker, the HTTP API, MCP and the CLI.
pub(crate) struct Engine {
    service: Service,
    cf: Arc<Cloudflare>,
    state: Mutex<SyncState>,
    me: String,
    batch_size: usize,
    interval: Duration,
    on_startup: bool,
    backend: Backend,
    live: Mutex<Live>,
    wake: Notify,
    /// One round at a time: the worker's and a forced one.
    round: tokio::sync::Mutex<()>,
    /// Set once the D1 schema is known to exist (created at the first successful round).
    schema_ready: std::sync::atomic::AtomicBool,
    notices: broadcast::Sender<(&'static str, Value)>,
    /// The push checkpoint, and whether the API token is being refused: what the cloudflare backend's
    /// writes wait on.
    replica: watch::Sender<ReplicaProgress>,
}

impl Engine {
    fn with_state<T>(&self, work: impl FnOnce(&mut SyncState) -> Result<T, StateError>) -> Result<T, SyncError> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        Ok(work(&mut state)?)
    }
}

/// What replication is configured by: the backend, the Cloudflare account and the hybrid settings.
#[derive(Clone, Debug)]
pub struct Settings {
    pub backend: Backend,
    pub cloudflare: CloudflareConfig,
    pub hybrid: HybridConfig,
}

/// A handle on the replication engine. Cheap to clone.
#[derive(Clone)]
pub struct Sync {
    engine: Arc<Engine>,
}

impl Sync {
    /// The engine for a store, when the backend replicates; fails at once when the Cloudflare configuration
    /// is incomplete (naming what is missing).
    pub fn open(service: &Service, settings: &Settings, base_dir: &Path) -> Result<Option<Sync>, SyncError> {
        let Settings { backend, cloudflare, hybrid } = settings;
        let backend = *backend;
        if backend == Backend::SqliteVec {
            return Ok(None);
        }
        let cf = Cloudflare::new(cloudflare)
            .map_err(|message| SyncError::Incomplete { backend: backend.name(), message })?;
        let state = SyncState::open(&state_path(base_dir))?;
        let pushed = state.pushed()?;
        let engine = Engine {
            service: service.clone(),
            cf: Arc::new(cf),
            state: Mutex::new(state),
            me: device_id(base_dir)?,
            batch_size: hybrid.batch_size as usize,
            interval: Duration::from_secs_f64(hybrid.sync_interval.max(0.05)),
            on_startup: hybrid.sync_on_startup,
            backend,
            live: Mutex::new(Live::default()),
            wake: Notify::new(),
            round: tokio::sync::Mutex::new(()),
            schema_ready: std::sync::atomic::AtomicBool::new(false),
            notices: broadcast::channel(64).0,
            replica: watch::channel(ReplicaProgress { pushed, refused: None }).0,
        };
        Ok(Some(Sync { engine: Arc::new(engine) }))
    }

    pub fn backend(&self) -> Backend {
        self.engine.backend
    }

    /// This device's id (the origin of its events in D1).
    pub fn device(&self) -> &str {
        &self.engine.me
    }

    /// Vectorize and D1 as a semantic index: the `cloudflare` backend's search.
    pub fn remote_search(&self) -> Arc<dyn crate::service::RemoteSearch> {
        Arc::new(search::VectorizeSearch { cf: self.engine.cf.clone() })
    }

    /// `sync_progress` and `sync_completed` notices, for the SSE stream.
    pub fn subscribe(&self) -> broadcast::Receiver<(&'static str, Value)> {
        self.engine.notices.subscribe()
    }

    /// The push checkpoint, to wait on (the `cloudflare` backend acknowledges a write once it is pushed, and
    /// refuses to once a round that would have pushed it found the API token refused).
    pub fn pushed(&self) -> watch::Receiver<ReplicaProgress> {
        self.engine.replica.subscribe()
    }

    /// Starts the worker; it stops when `stop` is cancelled.
    pub fn spawn(&self, stop: tokio_util::sync::CancellationToken) -> tokio::task::JoinHandle<()> {
        let engine = self.engine.clone();
        let waker = engine.clone();
        engine.service.log().committed().on_advance(move |_| waker.wake.notify_one());
        tokio::spawn(async move {
            tokio::select! {
                () = stop.cancelled() => {}
                () = engine.run() => {}
            }
        })
    }

    /// Pushes everything the log holds (retrying recorded failures first) and pulls everything other devices
    /// pushed; `progress` is told after each batch. What `/api/sync/force` and `sync push|pull` run.
    pub async fn sync_now(
        &self,
        push: bool,
        pull: bool,
        progress: impl FnMut(&str, u64, u64),
    ) -> Result<u64, SyncError> {
        let _round = self.engine.round.lock().await;
        self.engine.round_now(push, pull, true, progress).await
    }

    /// Pauses or resumes replication (kept in the sync state, so it holds across restarts).
    pub fn set_paused(&self, paused: bool) -> Result<(), SyncError> {
        self.engine.with_state(|s| s.set_paused(paused))?;
        self.engine.wake.notify_one();
        Ok(())
    }

    /// The original's `/api/sync/status` fields, and ours.
    pub fn status(&self) -> Value {
        let engine = &self.engine;
        let (pushed, failures, paused, devices, last) = engine
            .with_state(|s| Ok((s.pushed()?, s.failures()?, s.paused()?, s.pulled()?, s.last_sync()?)))
            .unwrap_or_default();
        let ((skipped_count, skipped), rehashed) =
            engine.with_state(|s| Ok((s.skipped()?, s.rehashed()?.len()))).unwrap_or_default();
        let log_seq = engine.service.log().last_seq();
        let pending = log_seq.0.saturating_sub(pushed.0);
        let live = engine.live.lock().unwrap_or_else(|e| e.into_inner());
        let last_sync = last.as_deref().and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()).map(|t| t.to_utc());
        let since = last_sync.map(|t| (chrono::Utc::now() - t).num_milliseconds().max(0) as f64 / 1000.0);
        let interval = engine.interval.as_secs_f64();
        let status = if live.running {
            "syncing"
        } else if live.last_error.is_some() || !failures.is_empty() {
            "error"
        } else if pending > 0 || paused {
            "pending"
        } else {
            "synced"
        };
        json!({
            "is_hybrid": engine.backend == Backend::Hybrid,
            "is_running": live.running,
            "last_sync_time": last_sync.map_or(0.0, crate::service::epoch_seconds),
            "operations_pending": pending,
            "operations_processed": live.processed,
            "operations_failed": failures.len(),
            "sync_interval_seconds": interval,
            "time_since_last_sync_seconds": since.unwrap_or(0.0),
            "next_sync_eta_seconds": since.map_or(0.0, |s| (interval - s).max(0.0)),
            "status": status,
            "backend": engine.backend.name(),
            "device_id": engine.me,
            "paused": paused,
            "cloudflare_reachable": live.reachable,
            "token_refused": live.token_refused,
            "last_error": live.last_error,
            "pushed_seq": pushed.0,
            "log_seq": log_seq.0,
            "events_pulled": live.pulled,
            "devices": devices,
            "failures": failures,
            "operations_skipped": skipped_count,
            "skipped": skipped,
            "rehashed": rehashed,
        })
    }
}

impl Engine {
    fn notice(&self, name: &'static str, data: Value) {
        let _ = self.notices.send((name, data));
    }

    /// Keeps a round's outcome for the status; `through` is the log's last event when the round began.
    fn record(&self, outcome: &Result<u64, SyncError>, through: Seq) {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        live.running = false;
        let refused = match outcome {
            Ok(_) => {
                let now = chrono::Utc::now();
                live.reachable = Some(true);
                live.token_refused = false;
                live.last_error = None;
                drop(live);
                let _ = self.with_state(|s| s.set_last_sync(&now.to_rfc3339()));
                None
            }
            Err(error) => {
                let unauthorized = matches!(error, SyncError::Cloudflare(CloudflareError::Unauthorized(_)));
                match error {
                    SyncError::Cloudflare(CloudflareError::Transient(_)) => live.reachable = Some(false),
                    SyncError::Cloudflare(_) => live.reachable = Some(true),
                    _ => {}
                }
                live.token_refused = unauthorized;
                live.last_error = Some(error.to_string());
                unauthorized.then(|| (through, error.to_string()))
            }
        };
        self.replica.send_if_modified(|progress| {
            let changed = progress.refused != refused;
            progress.refused = refused;
            changed
        });
    }

    /// One round: push until the checkpoint reaches the log's end, then pull. Returns the events handled.
    async fn round_now(
        &self,
        push: bool,
        pull: bool,
        retry_failures: bool,
        mut progress: impl FnMut(&str, u64, u64),
    ) -> Result<u64, SyncError> {
        self.live.lock().unwrap_or_else(|e| e.into_inner()).running = true;
        let through = self.service.log().last_seq();
        let outcome = self.round_inner(push, pull, retry_failures, &mut progress).await;
        self.record(&outcome, through);
        // Rounds that found nothing to do (the interval's pulls) stay quiet.
        if let Ok(handled) = outcome
            && handled > 0
        {
            self.notice("sync_completed", json!({"operations_synced": handled, "status": "synced"}));
        }
        outcome
    }

    async fn round_inner(
        &self,
        push: bool,
        pull: bool,
        retry_failures: bool,
        progress: &mut impl FnMut(&str, u64, u64),
    ) -> Result<u64, SyncError> {
        use std::sync::atomic::Ordering;
        if !self.schema_ready.load(Ordering::Acquire) {
            self.cf.d1(&[crate::cloudflare::Statement::new(d1::SCHEMA, Vec::new())]).await?;
            self.schema_ready.store(true, Ordering::Release);
        }
        let mut handled = 0u64;
        if push {
            if retry_failures {
                handled += self.retry_failures().await? as u64;
            }
            self.push_all(|batch| {
                handled += batch.sent as u64;
                let pushed = batch.last;
                self.replica.send_if_modified(|progress| {
                    let changed = progress.pushed != pushed;
                    progress.pushed = pushed;
                    changed
                });
                let total = self.service.log().last_seq().0;
                self.live.lock().unwrap_or_else(|e| e.into_inner()).processed += batch.sent as u64;
                progress("push", pushed.0, total);
                self.notice("sync_progress", json!({"phase": "push", "pushed_seq": pushed.0, "log_seq": total}));
            })
            .await?;
        }
        if pull {
            let pulled = self
                .pull(true, |p| {
                    progress("pull", p.events as u64, p.applied as u64);
                    self.notice("sync_progress", json!({"phase": "pull", "events": p.events, "applied": p.applied}));
                })
                .await?;
            self.live.lock().unwrap_or_else(|e| e.into_inner()).pulled += pulled.events as u64;
            handled += pulled.applied as u64;
        }
        Ok(handled)
    }

    /// The worker: pushes after every commit, pulls on the interval, backs off while Cloudflare fails.
    async fn run(self: Arc<Self>) {
        let mut next_pull = if self.on_startup { Instant::now() } else { Instant::now() + self.interval };
        let mut pause = Duration::from_secs(1);
        loop {
            let paused = self.with_state(|s| s.paused()).unwrap_or(false);
            if !paused {
                let pull = Instant::now() >= next_pull;
                let outcome = {
                    let _round = self.round.lock().await;
                    self.round_now(true, pull, false, |_, _, _| {}).await
                };
                match outcome {
                    Ok(_) => {
                        pause = Duration::from_secs(1);
                        if pull {
                            next_pull = Instant::now() + self.interval;
                        }
                    }
                    Err(error) => {
                        tracing::warn!(%error, retry_in_s = pause.as_secs(), "Cloudflare sync failed; local reads and writes go on");
                        let refused = matches!(error, SyncError::Cloudflare(CloudflareError::Unauthorized(_)));
                        if refused && self.backend == Backend::Cloudflare {
                            // A write waits for its push: the next commit tries again (at most once a second),
                            // so that it hears at once whether the token is still refused.
                            tokio::time::sleep(REFUSED_TOKEN_RETRY).await;
                            tokio::select! {
                                () = self.wake.notified() => {}
                                () = tokio::time::sleep(pause.saturating_sub(REFUSED_TOKEN_RETRY)) => {}
                            }
                        } else {
                            tokio::time::sleep(pause).await;
                        }
                        pause = (pause * 2).min(Duration::from_secs(60));
                        continue;
                    }
                }
            }
            let wait =
                if paused { Duration::from_secs(1) } else { next_pull.saturating_duration_since(Instant::now()) };
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
            // Commits come in bursts: let a burst finish so that it goes out in full batches.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
