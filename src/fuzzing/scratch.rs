//! A scratch store for the targets that drive the service (`http_json`, `original_import`): a real store
//! (log, sqlite read model, ANN index, projector threads) in a temporary directory, in `/dev/shm` when there
//! is one (commits sync to memory, so a store costs no disk flush), without the embedding model.
//!
//! The model is pointed at a directory that does not exist, so a fuzz run needs no assets and never loads
//! ONNX Runtime. Content the harness is about to store gets a made-up vector in the log's embedding cache
//! first ([`Scratch::cache_vectors`]): the service finds it there and embeds nothing, so stores and imports
//! run to the end. What must embed a text that is not stored (a semantic search's query, a sample of an
//! original database's vectors) answers `Unavailable`, which the targets accept there and only there.

use crate::cli::{Cli, Command};
use crate::config::{BackupConfig, ServeConfig};
use crate::embed::MODEL_NAME;
use crate::service::Service;
use crate::store::{Settings, Store};
use clap::Parser;
use mms_log::{ContentHash, VectorEntry};
use mms_projections::DIMENSIONS;
use std::path::Path;

/// The API key of the scratch server (every scope).
pub(crate) const API_KEY: &str = "fuzz-harness-key";

/// A store in a temporary directory, removed when dropped.
pub(crate) struct Scratch {
    // Dropped in this order: the store closes before its directory goes.
    pub(crate) store: Store,
    pub(crate) serve: ServeConfig,
    pub(crate) backup: BackupConfig,
    pub(crate) dir: tempfile::TempDir,
}

fn temporary_dir() -> tempfile::TempDir {
    let builder = || {
        let mut builder = tempfile::Builder::new();
        builder.prefix("mms-fuzz-");
        builder
    };
    let shm = Path::new("/dev/shm");
    let in_memory = if shm.is_dir() { builder().tempdir_in(shm).ok() } else { None };
    in_memory.unwrap_or_else(|| builder().tempdir().expect("a temporary directory"))
}

impl Scratch {
    /// Opens an empty store. Every path is given on the command line, so no environment variable can point
    /// the harness at real data.
    pub(crate) fn open() -> Scratch {
        let dir = temporary_dir();
        let path = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
        let (base, sqlite, log, backups) = (path(""), path("sqlite_vec.db"), path("events.redb"), path("backups"));
        let (model, runtime) = (path("no-model"), path("no-onnxruntime.so"));
        let args = [
            "mcp-memory-service",
            "--base-dir",
            &base,
            "--sqlite-path",
            &sqlite,
            "--log-path",
            &log,
            "--backups-path",
            &backups,
            "--storage-backend",
            "sqlite_vec",
            "--model-dir",
            &model,
            "--ort-dylib-path",
            &runtime,
            "--include-hostname",
            "serve",
            "--api-key",
            API_KEY,
            "--host",
            "127.0.0.1",
        ];
        let cli = Cli::try_parse_from(args).unwrap_or_else(|error| panic!("the harness's command line: {error}"));
        let Command::Serve(serve) = cli.command else { panic!("the harness's command line is `serve`") };
        let settings = Settings::of(&cli.config).expect("the scratch store's settings are valid");
        let store = Store::open(&settings, false).expect("a scratch store opens");
        Scratch { store, serve: *serve, backup: cli.config.backup.clone(), dir }
    }

    pub(crate) fn service(&self) -> &Service {
        &self.store.service
    }

    /// Puts a made-up vector for each content into the log's embedding cache, so storing it needs no model.
    pub(crate) fn cache_vectors<'a>(&self, contents: impl IntoIterator<Item = &'a str>) {
        let entries: Vec<VectorEntry> = contents
            .into_iter()
            .map(|content| {
                let memory = ContentHash::of_content(content);
                VectorEntry { model: MODEL_NAME.into(), memory, vector: made_up_vector(&memory) }
            })
            .collect();
        if !entries.is_empty() {
            self.service().log().append(Vec::new(), entries).expect("the vectors are cached");
        }
    }
}

/// A unit vector of the model's size that depends on the memory only.
pub(crate) fn made_up_vector(memory: &ContentHash) -> Vec<f32> {
    let raw: Vec<f32> =
        (0..DIMENSIONS).map(|i| f32::from(memory.0[i % 32] ^ (i as u8)) - 127.5 + (i % 7) as f32).collect();
    let norm = raw.iter().map(|x| x * x).sum::<f32>().sqrt().max(f32::MIN_POSITIVE);
    raw.into_iter().map(|x| x / norm).collect()
}
