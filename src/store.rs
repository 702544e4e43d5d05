//! The store's lifecycle, shared by every command and adapter (like qdrant's `TableOfContent`): open the log,
//! the read models, the embedder and the service (`open`, `try_open`), rebuild the read models from the log
//! (`rebuild`, also on a backup's scratch copy), and the drop-in migration from the original's database. It
//! knows nothing of HTTP, MCP or the command line.

use crate::config::{Config, ConsolidationConfig, Paths};
use crate::embed::{Embedder, ModelPaths, ModelStatus};
use crate::service::ServiceError;
use crate::service::{CachedVectors, SemanticDedup, Service, ServiceOptions};
use crate::sync::{Backend, Sync, SyncError};
use mms_log::{Log, Seq};
use mms_projections::{AnnIndex, AnnOptions, Projection, Projector, SqliteProjection, SqliteReader};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

/// Why the store could not be opened, rebuilt or migrated.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend's Cloudflare configuration is incomplete; the message names what is missing.
    #[error("MCP_MEMORY_STORAGE_BACKEND={backend}: {message}")]
    Backend { backend: String, message: String },
    #[error("MCP_EMBEDDING_MODEL={model} is not supported; only {} is", crate::embed::MODEL_NAME)]
    Model { model: String },
    /// Another setting is not usable; the message says which and why.
    #[error("{0}")]
    Config(String),
    #[error("cannot create the data directory {path}")]
    DataDirectory { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Log(#[from] mms_log::OpenError),
    #[error(transparent)]
    ReadModel(#[from] mms_projections::OpenError),
    #[error(transparent)]
    Original(#[from] mms_projections::OriginalError),
    #[error(transparent)]
    Projection(#[from] mms_projections::ProjectionError),
    #[error("the read model's path is not valid UTF-8")]
    NotUtf8,
    #[error("cannot read {path}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("cannot write {path}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("cannot move {from} to {to}")]
    Move { from: PathBuf, to: PathBuf, source: std::io::Error },
    #[error("cannot remove {path}")]
    Remove { path: PathBuf, source: std::io::Error },
    /// A projector's thread could not be started (`what` names the projector).
    #[error("cannot start {what}")]
    Projector { what: &'static str, source: std::io::Error },
    #[error(transparent)]
    Sync(#[from] SyncError),
    /// Replaying stored memories needs their vectors, and the model that would compute missing ones failed.
    #[error("the read model cannot catch up with the log: {0}")]
    CatchUp(String),
    /// The import of the original's database failed; it is resumed at the next start.
    #[error(
        "cannot import the original service's database {original} (it is kept, and the import resumes at the next \
         start; to start without it, remove {marker})"
    )]
    Import { original: PathBuf, marker: PathBuf, source: ServiceError },
    #[error("the ANN rebuild panicked")]
    RebuildPanicked,
    #[error(transparent)]
    Join(#[from] tokio::task::JoinError),
}

impl StoreError {
    /// Whether opening the store failed because another process has the event log open.
    pub fn is_in_use(&self) -> bool {
        matches!(self, StoreError::Log(mms_log::OpenError::InUse { .. }))
    }
}

/// An open store: the service plus the projector threads that keep the read models current.
///
/// The sqlite read model and the ANN index follow the log on separate threads: commands wait only for the
/// read model (read-your-writes), and a slow ANN insert never delays an acknowledgement. Semantic search
/// uses the ANN index only once it has caught up with the read model.
pub struct Store {
    pub service: Service,
    pub settings: Settings,
    stop: Arc<AtomicBool>,
    projectors: Vec<JoinHandle<()>>,
    /// The Cloudflare replication worker, once `replicate` started it; stopped when the store closes.
    replication: Option<(Sync, tokio_util::sync::CancellationToken)>,
}

struct Parts {
    log: Log,
    reader: Arc<SqliteReader>,
    ann: Arc<AnnIndex>,
    embedder: Embedder,
    options: ServiceOptions,
}

/// What opening a store needs, taken from the configuration once: where its files are, the embedding model
/// and the service's options.
#[derive(Clone, Debug)]
pub struct Settings {
    pub paths: Paths,
    pub embedding_threads: usize,
    pub options: ServiceOptions,
    /// Where the store replicates to (the hybrid and cloudflare backends).
    pub replication: crate::sync::Settings,
    /// Consolidation's schedule, for the store's owner (its rules are in `options`).
    pub consolidation: ConsolidationConfig,
}

impl Settings {
    /// The settings of `config`'s store; fails when the backend or the model it names cannot be used.
    pub fn of(config: &Config) -> Result<Settings, StoreError> {
        // Read once: an unknown name logs its warning each time it is read.
        let backend = config.storage.backend();
        if backend != Backend::SqliteVec {
            crate::cloudflare::Resources::from_config(&config.cloudflare).map_err(|message| StoreError::Backend {
                backend: config.storage.storage_backend.trim().to_string(),
                message,
            })?;
        }
        if config.model.model_name() != crate::embed::MODEL_NAME {
            return Err(StoreError::Model { model: config.model.embedding_model.clone() });
        }
        let hostname = if config.storage.include_hostname {
            std::fs::read_to_string("/etc/hostname").ok().map(|h| h.trim().to_string()).filter(|h| !h.is_empty())
        } else {
            None
        };
        let options = ServiceOptions {
            max_content_length: config.max_content_length().map_err(StoreError::Config)?,
            ann_threshold: config.storage.ann_threshold,
            hostname,
            chunk_size: config.documents.document_chunk_size as usize,
            chunk_overlap: config.documents.document_chunk_overlap as usize,
            max_file_bytes: config.documents.max_file_bytes(),
            document_roots: config.documents.document_roots.clone(),
            semantic_dedup: config.storage.semantic_dedup_enabled.then(|| SemanticDedup {
                window_secs: f64::from(config.storage.semantic_dedup_time_window_hours) * 3600.0,
                threshold: config.storage.semantic_dedup_threshold,
            }),
            consolidation: consolidation_settings(&config.consolidation),
        };
        let embedding_threads = config
            .model
            .embedding_threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
        let replication =
            crate::sync::Settings { backend, cloudflare: config.cloudflare.clone(), hybrid: config.hybrid.clone() };
        let consolidation = config.consolidation.clone();
        Ok(Settings { paths: config.paths(), embedding_threads, options, replication, consolidation })
    }

    /// The same store's settings for a log and read models inside `dir` (a backup's scratch replay): the
    /// same model, never replicated.
    pub fn scratch(&self, dir: &Path) -> Settings {
        let paths = Paths {
            base_dir: dir.to_path_buf(),
            log: dir.join("events.redb"),
            sqlite: dir.join("sqlite_vec.db"),
            ann_dir: dir.join("ann"),
            backups: dir.join("backups"),
            ..self.paths.clone()
        };
        let replication = crate::sync::Settings { backend: Backend::SqliteVec, ..self.replication.clone() };
        Settings { paths, replication, ..self.clone() }
    }
}

fn open_parts(settings: &Settings, eager_model: bool) -> Result<(Parts, SqliteProjection), StoreError> {
    let paths = settings.paths.clone();
    std::fs::create_dir_all(&paths.base_dir)
        .map_err(|source| StoreError::DataDirectory { path: paths.base_dir.clone(), source })?;
    let log = Log::open(&paths.log)?;
    move_original_aside(&paths, &log)?;
    let sqlite = SqliteProjection::open(&paths.sqlite)?;
    let reader = Arc::new(SqliteReader::new(&paths.sqlite));
    let ann = Arc::new(AnnIndex::open(&paths.ann_dir, AnnOptions::default())?);
    let embedder = Embedder::start(ModelPaths {
        model_dir: paths.model_dir.clone(),
        runtime_library: paths.runtime_library.clone(),
        threads: settings.embedding_threads,
        eager: eager_model,
    });
    Ok((Parts { log, reader, ann, embedder, options: settings.options.clone() }, sqlite))
}

/// `path` with `suffix` appended to its file name.
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// The file beside the read model that names an original database moved aside and not yet fully imported.
/// An interrupted import is resumed from it at the next start (an import skips what is already stored).
fn migration_marker(paths: &Paths) -> PathBuf {
    with_suffix(&paths.sqlite, ".migrating")
}

/// Whether an original database moved aside waits to be imported.
pub fn migration_pending(paths: &Paths) -> bool {
    migration_marker(paths).exists()
}

/// The file that names where an original database is being moved: written before the first of its files
/// is moved and removed after the last, so that a start after a crash in between finishes the move first.
fn move_journal(paths: &Paths) -> PathBuf {
    with_suffix(&paths.sqlite, ".moving")
}

/// The drop-in start: when the read model's path holds the original service's database (our read model has
/// a checkpoint table, the original's has not), moves it with its `-wal` and `-shm` files aside to
/// `sqlite_vec.db.original` (`.original.1`... when that exists: nothing is ever overwritten), so the read
/// model can be created in its place. With an empty log it is then imported (see [`Store::finish_migration`]);
/// a log that already holds memories is the truth, and the file is only kept.
///
/// The three files move one rename at a time, and the database needs its `-wal` (the rows the original
/// committed but did not checkpoint): the destination is written to a journal first, and a start that
/// finds the journal finishes the move before anything opens a file at the read model's path. A crash at
/// any point leaves them apart only until the next start, which reunites them under the chosen name.
fn move_original_aside(paths: &Paths, log: &Log) -> Result<(), StoreError> {
    move_original_aside_with(paths, log, &mut |_| Ok(()))
}

/// [`move_original_aside`] with a fault seam: `after_step` is called with each file written or moved, and
/// an error from it stops the move there, as a crash would.
fn move_original_aside_with(
    paths: &Paths,
    log: &Log,
    after_step: &mut dyn FnMut(&Path) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    if let Some(aside) = finish_move(paths, after_step)? {
        tracing::warn!(original = %aside.display(), "finished moving the original service's database aside (a start was interrupted)");
    }
    if !mms_projections::is_original_database(&paths.sqlite)? {
        return Ok(());
    }
    let taken = |path: &Path| path.exists() || with_suffix(path, "-wal").exists() || with_suffix(path, "-shm").exists();
    let aside = (0..)
        .map(|n| with_suffix(&paths.sqlite, &if n == 0 { ".original".into() } else { format!(".original.{n}") }))
        .find(|path| !taken(path))
        .expect("some numbered name is free");
    let marker = migration_marker(paths);
    let named = aside.to_str().ok_or(StoreError::NotUtf8)?;
    // A marker that names this very file: a start that crashed between writing it and moving the file.
    // A marker that names another file is a pending import of its own, which this one must not replace.
    let import = match std::fs::read_to_string(&marker) {
        Ok(pending) => pending.trim_end() == named,
        Err(_) => log.last_seq() == Seq::ZERO,
    };
    if import {
        // Written first, so a crash before the import completes resumes it rather than starting empty.
        write_durably(&marker, named)?;
        after_step(&marker)?;
    }
    let journal = move_journal(paths);
    write_durably(&journal, named)?;
    after_step(&journal)?;
    finish_move(paths, after_step)?;
    if import {
        tracing::warn!(
            original = %aside.display(),
            "{} was the original service's database: moved aside, to be imported into the event log now",
            paths.sqlite.display()
        );
    } else {
        tracing::warn!(
            original = %aside.display(),
            "{} was the original service's database, but the event log already holds memories (or another import \
             is pending): moved aside and not imported (`mcp-memory-service import {}` brings its memories in, \
             skipping those already stored)",
            paths.sqlite.display(),
            aside.display()
        );
    }
    Ok(())
}

/// Moves the original's files still at the read model's path to the name the journal gives, then removes
/// the journal; returns that name, or `None` when no move was under way. A file already at its
/// destination was moved before a crash; a destination is never overwritten.
fn finish_move(
    paths: &Paths,
    after_step: &mut dyn FnMut(&Path) -> Result<(), StoreError>,
) -> Result<Option<PathBuf>, StoreError> {
    let journal = move_journal(paths);
    let aside = match std::fs::read_to_string(&journal) {
        Ok(named) => PathBuf::from(named.trim_end()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(StoreError::Read { path: journal, source }),
    };
    for suffix in ["-wal", "-shm", ""] {
        let from = with_suffix(&paths.sqlite, suffix);
        if !from.exists() {
            continue;
        }
        let to = with_suffix(&aside, suffix);
        if to.exists() {
            let source =
                std::io::Error::new(std::io::ErrorKind::AlreadyExists, "both files exist; move one away by hand");
            return Err(StoreError::Move { from, to, source });
        }
        std::fs::rename(&from, &to).map_err(|source| StoreError::Move { from, to: to.clone(), source })?;
        after_step(&to)?;
    }
    sync_directory(&journal)?;
    std::fs::remove_file(&journal).map_err(|source| StoreError::Remove { path: journal.clone(), source })?;
    sync_directory(&journal)?;
    Ok(Some(aside))
}

/// Writes `contents` to `path` so that a crash leaves the old file or the whole new one, and makes it durable.
fn write_durably(path: &Path, contents: &str) -> Result<(), StoreError> {
    let write = |source| StoreError::Write { path: path.to_path_buf(), source };
    let partial = with_suffix(path, ".partial");
    std::fs::write(&partial, contents).map_err(write)?;
    std::fs::File::open(&partial).and_then(|file| file.sync_all()).map_err(write)?;
    std::fs::rename(&partial, path).map_err(write)?;
    sync_directory(path)
}

/// Makes the renames and removals in the directory of `path` durable.
fn sync_directory(path: &Path) -> Result<(), StoreError> {
    let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) else { return Ok(()) };
    std::fs::File::open(dir)
        .and_then(|dir| dir.sync_all())
        .map_err(|source| StoreError::Write { path: dir.to_path_buf(), source })
}

/// One projector for the sqlite read model and one for the ANN index, over the same vector source.
fn projectors(parts: &Parts, sqlite: SqliteProjection) -> (Projector, Projector) {
    let source = Arc::new(CachedVectors::new(parts.log.clone(), parts.embedder.clone()));
    let read_model: Vec<Box<dyn Projection>> = vec![Box::new(sqlite)];
    let ann: Vec<Box<dyn Projection>> = vec![Box::new(parts.ann.clone())];
    (Projector::new(parts.log.clone(), read_model, source.clone()), Projector::new(parts.log.clone(), ann, source))
}

impl Store {
    /// Opens the store in `config`'s data directory and starts the projector thread. With `eager_model`
    /// the embedding model starts loading at once; otherwise at the first request that needs it.
    pub fn open(settings: &Settings, eager_model: bool) -> Result<Store, StoreError> {
        let (parts, sqlite) = open_parts(settings, eager_model)?;
        let (read_model, ann) = projectors(&parts, sqlite);
        let service = Service::new(
            parts.log.clone(),
            parts.reader.clone(),
            parts.ann.clone(),
            &read_model.applied(),
            parts.embedder.clone(),
            parts.options.clone(),
        );
        let stop = Arc::new(AtomicBool::new(false));
        let projectors = vec![
            read_model
                .spawn("project-sqlite", stop.clone())
                .map_err(|source| StoreError::Projector { what: "the read model's projector", source })?,
            ann.spawn("project-ann", stop.clone())
                .map_err(|source| StoreError::Projector { what: "the ANN projector", source })?,
        ];
        Ok(Store { service, settings: settings.clone(), stop, projectors, replication: None })
    }

    /// Starts replicating to Cloudflare when the backend is hybrid or cloudflare (once; later calls return
    /// the same engine). Must run inside the async runtime.
    pub fn replicate(&mut self) -> Result<Option<Sync>, StoreError> {
        if let Some((sync, _)) = &self.replication {
            return Ok(Some(sync.clone()));
        }
        let Some(sync) = Sync::open(&self.service, &self.settings.replication, &self.paths().base_dir)? else {
            return Ok(None);
        };
        if sync.backend() == Backend::Cloudflare {
            self.service.acknowledge_after(sync.pushed());
            self.service.search_remotely(sync.remote_search());
        }
        let stop = tokio_util::sync::CancellationToken::new();
        sync.spawn(stop.clone());
        tracing::info!(backend = sync.backend().name(), device = sync.device(), "replicating to Cloudflare");
        self.replication = Some((sync.clone(), stop));
        Ok(Some(sync))
    }

    /// Where the store's files are.
    pub fn paths(&self) -> &Paths {
        &self.settings.paths
    }

    /// The replication engine, when one runs.
    pub fn sync(&self) -> Option<Sync> {
        self.replication.as_ref().map(|(sync, _)| sync.clone())
    }

    /// Waits until the read models have applied the whole log (after a start with a stale read model).
    /// Fails at once when they cannot: replaying stored memories needs their vectors, and the model that
    /// would compute missing ones cannot load.
    pub async fn wait_current(&self) -> Result<(), StoreError> {
        let last = self.service.log().last_seq();
        while !self.service.wait_applied(last, std::time::Duration::from_millis(500)).await {
            if let ModelStatus::Failed(reason) = self.service.embedder().status() {
                return Err(StoreError::CatchUp(reason));
            }
        }
        Ok(())
    }

    /// Imports the original's database that start-up moved aside, if one waits (see `move_original_aside`).
    /// Progress goes to stderr; the marker is removed only when the import is complete.
    pub async fn finish_migration(&self) -> Result<(), StoreError> {
        let marker = migration_marker(self.paths());
        let Ok(named) = std::fs::read_to_string(&marker) else {
            return Ok(());
        };
        let original = PathBuf::from(named.trim_end());
        if !original.exists() {
            tracing::warn!(marker = %marker.display(), "the original database to import, {}, is gone", original.display());
        } else {
            eprintln!("importing the original service's database {} into the event log", original.display());
            let progress = crate::portability::progress_on_stderr();
            let report = crate::portability::import_original_database(&self.service, &original, progress)
                .await
                .map_err(|source| StoreError::Import { original: original.clone(), marker: marker.clone(), source })?;
            eprintln!("{} from {}", report.summary(), original.display());
            tracing::info!(original = %original.display(), imported = report.imported, "migrated the original's database");
        }
        std::fs::remove_file(&marker).map_err(|source| StoreError::Remove { path: marker, source })?;
        Ok(())
    }

    /// Stops the projectors (the ANN one saves its index) and closes the store.
    pub fn close(self) {
        drop(self);
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        if let Some((_, stop)) = self.replication.take() {
            stop.cancel();
        }
        self.stop.store(true, Ordering::Release);
        for handle in self.projectors.drain(..) {
            let _ = handle.join();
        }
    }
}

/// How long each part of a rebuild took.
#[derive(Clone, Copy, Debug)]
pub struct Rebuilt {
    pub events: Seq,
    pub read_model: std::time::Duration,
    pub ann: std::time::Duration,
}

/// Drops the read models and replays the whole log into them, the sqlite read model and the ANN index on
/// two threads at once. `progress(applied, total)` follows the read model.
pub fn rebuild(settings: &Settings, progress: impl FnMut(Seq, Seq) + Send) -> Result<Rebuilt, StoreError> {
    let (parts, sqlite) = open_parts(settings, false)?;
    // The log is open, so no other process has the store, and nothing here has read the read model yet.
    let sqlite = sqlite.recreate()?;
    let (mut read_model, mut ann) = projectors(&parts, sqlite);
    let timed = |projector: &mut Projector, progress: &mut dyn FnMut(Seq, Seq)| {
        let started = std::time::Instant::now();
        projector.rebuild(progress).map(|seq| (seq, started.elapsed()))
    };
    let (read_model, ann) = std::thread::scope(|scope| {
        let ann = scope.spawn(|| timed(&mut ann, &mut |_, _| {}));
        let mut progress = progress;
        let read_model = timed(&mut read_model, &mut progress);
        (read_model, ann.join())
    });
    let (events, read_model) = read_model?;
    let (_, ann) = ann.map_err(|_| StoreError::RebuildPanicked)??;
    Ok(Rebuilt { events, read_model, ann })
}

/// Opens the store off the async runtime, waits until the read models are current and finishes a migration
/// from the original's database; what every CLI command uses.
pub async fn open(settings: &Settings, eager_model: bool) -> Result<Store, StoreError> {
    let opener = settings.clone();
    let store = tokio::task::spawn_blocking(move || Store::open(&opener, eager_model)).await??;
    store.wait_current().await?;
    store.finish_migration().await?;
    Ok(store)
}

/// Opens the store (the model loading at once) off the async runtime; `None` when another process has it.
pub async fn try_open(settings: &Settings) -> Result<Option<Store>, StoreError> {
    let opener = settings.clone();
    match tokio::task::spawn_blocking(move || Store::open(&opener, true)).await? {
        Ok(store) => {
            store.finish_migration().await?;
            Ok(Some(store))
        }
        Err(error) if error.is_in_use() => Ok(None),
        Err(error) => Err(error),
    }
}

/// Consolidation's rules, as the settings ask for them.
fn consolidation_settings(config: &ConsolidationConfig) -> crate::consolidation::Settings {
    use crate::consolidation::{associations, decay, forgetting};
    if !config.clustering_algorithm.eq_ignore_ascii_case("dbscan") {
        tracing::warn!(
            algorithm = %config.clustering_algorithm,
            "MCP_CLUSTERING_ALGORITHM: only dbscan is implemented; clustering uses dbscan"
        );
    }
    crate::consolidation::Settings {
        retention: decay::Retention {
            critical: config.retention_critical,
            reference: config.retention_reference,
            standard: config.retention_standard,
            temporary: config.retention_temporary,
        },
        associations: config.associations_enabled.then_some(associations::AssociationSettings {
            min_similarity: config.association_min_similarity,
            max_similarity: config.association_max_similarity,
            max_pairs: config.association_max_pairs as usize,
        }),
        clustering_min_size: config.clustering_enabled.then_some(config.clustering_min_size as usize),
        compression_max_length: (config.clustering_enabled && config.compression_enabled)
            .then_some(config.compression_max_length as usize),
        forgetting: config.forgetting_enabled.then_some(forgetting::ForgettingSettings {
            relevance_threshold: config.forgetting_relevance_threshold,
            access_threshold_days: config.forgetting_access_threshold,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(dir: &Path) -> Paths {
        Paths {
            base_dir: dir.to_path_buf(),
            log: dir.join("events.redb"),
            sqlite: dir.join("sqlite_vec.db"),
            ann_dir: dir.join("ann"),
            backups: dir.join("backups"),
            model_dir: dir.join("model"),
            runtime_library: dir.join("libonnxruntime.so"),
        }
    }

    const ROWS: usize = 30;

    /// Puts at the read model's path what the original service leaves when it is killed mid-run: its
    /// database with every row still in the `-wal` file (never checkpointed), and the `-shm` file.
    fn killed_original(paths: &Paths) {
        let running = paths.base_dir.join("running");
        std::fs::create_dir_all(&running).expect("a directory");
        let db = running.join("sqlite_vec.db");
        let conn = rusqlite::Connection::open(&db).expect("the original's database");
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0; \
             CREATE TABLE memories (id INTEGER PRIMARY KEY AUTOINCREMENT, content_hash TEXT UNIQUE NOT NULL, \
             content TEXT NOT NULL, tags TEXT, memory_type TEXT, metadata TEXT, created_at REAL, updated_at REAL, \
             created_at_iso TEXT, updated_at_iso TEXT);",
        )
        .expect("the original's schema");
        for i in 0..ROWS {
            conn.execute(
                "INSERT INTO memories (content_hash, content, created_at, updated_at) VALUES (?, ?, 1.0, 1.0)",
                rusqlite::params![format!("hash {i}"), format!("memory {i}")],
            )
            .expect("a row");
        }
        // Copied while the connection is open: the files as a kill leaves them.
        for suffix in ["", "-wal", "-shm"] {
            std::fs::copy(with_suffix(&db, suffix), with_suffix(&paths.sqlite, suffix)).expect("copy");
        }
        drop(conn);
    }

    fn crash(at: &Path) -> StoreError {
        StoreError::Write { path: at.to_path_buf(), source: std::io::Error::other("simulated crash") }
    }

    /// Issue #17: the drop-in start moved the original's `-wal`, `-shm` and database one by one; a crash
    /// after moving the `-wal` left the database without its committed rows, and the next start imported
    /// nothing. A crash after any step of the move must leave the next start importing every row.
    #[test]
    fn a_crash_after_any_step_of_moving_the_original_aside_loses_no_row() {
        let clean = tempfile::tempdir().expect("temp dir");
        let paths_of_clean = paths(clean.path());
        killed_original(&paths_of_clean);
        let log = Log::open(&paths_of_clean.log).expect("open");
        let mut steps = 0;
        move_original_aside_with(&paths_of_clean, &log, &mut |_| {
            steps += 1;
            Ok(())
        })
        .expect("a move without a crash");
        assert!(steps >= 3, "each file is a step");

        for crash_at in 1..=steps {
            let dir = tempfile::tempdir().expect("temp dir");
            let paths = paths(dir.path());
            killed_original(&paths);
            let log = Log::open(&paths.log).expect("open");
            let mut step = 0;
            let crashed = move_original_aside_with(&paths, &log, &mut |at| {
                step += 1;
                if step == crash_at { Err(crash(at)) } else { Ok(()) }
            });
            assert!(crashed.is_err(), "the crash after step {crash_at} stops the move");

            // The next start.
            move_original_aside(&paths, &log).expect("the next start");
            let marker = std::fs::read_to_string(migration_marker(&paths)).expect("an import is pending");
            let aside = PathBuf::from(marker.trim_end());
            let rows = mms_projections::read_original(&aside).map_or(0, |original| original.rows.len());
            assert_eq!(
                rows,
                ROWS,
                "after a crash after step {crash_at}, {} holds every row to import",
                aside.display()
            );
            for suffix in ["", "-wal", "-shm"] {
                assert!(
                    !with_suffix(&paths.sqlite, suffix).exists(),
                    "nothing of the original is left at the read model's path"
                );
            }
            SqliteProjection::open(&paths.sqlite).expect("the read model is created in its place");
        }
    }
}
