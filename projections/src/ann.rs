//! `AnnIndex`: a usearch HNSW index over the memories' vectors, kept as a projection of the log.
//!
//! Vectors are held as 8-bit integers (usearch scales each to unit length, then by 127) and compared by
//! their dot product: a quarter of the memory of f32 and half of f16, and inserts and searches about twice
//! as fast as f16 on a CPU without AVX-512 (BENCHMARKS.md). The index therefore only ranks: [`AnnIndex::search`]
//! returns candidates, more than asked for ([`AnnIndex::candidates`]), and the caller measures their exact distances
//! with the f32 vectors it holds (the log caches every memory's vector).
//!
//! Keys are the sequence number of the event that made a memory live (unique by construction), mapped to
//! content hashes beside the index. The index lives in memory and is saved with its checkpoint to
//! `<dir>/ann.usearch` + `<dir>/ann.keys` every few thousand events and at shutdown; after a crash it
//! loads the last save and catches up from that checkpoint. A damaged or missing save means a replay.
//!
//! usearch's `remove` only frees a slot: the vector's bytes stay in the index and in any file saved since.
//! The index therefore remembers (and saves) which memories it removed, and a redaction of a memory it
//! holds or once held starts the index over, so no save keeps the redacted vector.

use crate::DIMENSIONS;
use crate::projector::{Applied, Projection, ProjectionError};
use mms_log::{ContentHash, EventKind, Seq};
use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use usearch::{Index, IndexOptions, MetricKind, ScalarKind};

const NAME: &str = "usearch";
/// usearch gives each concurrent search a per-thread context from a fixed pool; searches run in parallel
/// under the read lock, so the pool is sized for many concurrent requests, not for the cores.
const THREAD_SLOTS: usize = 64;
/// Version 2 added the removed memories; a version-1 file may hold removed vectors it does not name, so
/// it is not loaded (the index is rebuilt).
/// Version 3 holds 8-bit vectors (f16 before); an older save is not loaded (the index is rebuilt).
const KEYS_MAGIC: &[u8; 8] = b"MMSANN03";

/// Tuning of the HNSW graph.
#[derive(Clone, Copy, Debug)]
pub struct AnnOptions {
    /// Graph degree M.
    pub connectivity: usize,
    /// efConstruction.
    pub expansion_add: usize,
    /// efSearch.
    pub expansion_search: usize,
    /// Save after this many applied events (and at shutdown).
    pub save_every: usize,
}

impl Default for AnnOptions {
    fn default() -> Self {
        // M 16, efConstruction 64, efSearch 64: recall@10 0.978 at 100k MiniLM vectors, rescored from
        // `AnnIndex::candidates(10)` (BENCHMARKS.md). efConstruction 128 gains 0.01 of recall for twice the insert
        // cost, which a rebuild on two cores cannot afford.
        AnnOptions { connectivity: 16, expansion_add: 64, expansion_search: 64, save_every: 5000 }
    }
}

struct State {
    index: Index,
    keys: HashMap<ContentHash, u64>,
    hashes: HashMap<u64, ContentHash>,
    /// Memories whose vectors were removed from this index: their bytes may remain in its free slots and
    /// in its saved files until it is started over.
    removed: HashSet<ContentHash>,
    checkpoint: Seq,
    unsaved: usize,
}

/// The ANN projection. Share it behind an `Arc`: the projector applies, searches read concurrently.
pub struct AnnIndex {
    dir: PathBuf,
    options: AnnOptions,
    state: RwLock<State>,
}

/// A usearch or file system error, or a message where there is no error value (a poisoned lock).
fn ann_error(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> ProjectionError {
    ProjectionError::Storage { name: NAME, source: error.into() }
}

fn new_index(options: &AnnOptions) -> Result<Index, ProjectionError> {
    let index = Index::new(&IndexOptions {
        dimensions: DIMENSIONS,
        metric: MetricKind::IP,
        quantization: ScalarKind::I8,
        connectivity: options.connectivity,
        expansion_add: options.expansion_add,
        expansion_search: options.expansion_search,
        multi: false,
    })
    .map_err(ann_error)?;
    index.reserve_capacity_and_threads(1024, THREAD_SLOTS).map_err(ann_error)?;
    Ok(index)
}

impl AnnIndex {
    /// Opens the saved index in `dir`, or starts empty when there is none or it cannot be read.
    pub fn open(dir: &Path, options: AnnOptions) -> Result<AnnIndex, ProjectionError> {
        std::fs::create_dir_all(dir).map_err(ann_error)?;
        let state = match load(dir, &options) {
            Ok(state) => state,
            Err(reason) => {
                if dir.join("ann.keys").exists() {
                    tracing::warn!(%reason, "the saved ANN index cannot be used; it will be rebuilt from the log");
                }
                State {
                    index: new_index(&options)?,
                    keys: HashMap::new(),
                    hashes: HashMap::new(),
                    removed: HashSet::new(),
                    checkpoint: Seq::ZERO,
                    unsaved: 0,
                }
            }
        };
        Ok(AnnIndex { dir: dir.to_path_buf(), options, state: RwLock::new(state) })
    }

    /// How many candidates to ask [`AnnIndex::search`] for, so that the `k` nearest by exact distance are among
    /// them: the 8-bit ranking misorders near ties, which half as many again recovers (recall@10 against
    /// exact f32 search at 100k MiniLM vectors: 0.935 with 10, 0.978 with 15; f16 ranked 0.980 with 10).
    pub fn candidates(k: usize) -> usize {
        k + (k / 2).max(5)
    }

    /// The number of vectors in the index.
    pub fn len(&self) -> usize {
        self.state.read().map(|s| s.index.size()).unwrap_or(0)
    }

    /// True when the index holds no vector.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The last sequence number applied.
    pub fn applied(&self) -> Seq {
        self.state.read().map(|s| s.checkpoint).unwrap_or_default()
    }

    /// About the `k` nearest memories, nearest first by the index's 8-bit vectors, without distances: ask
    /// for [`AnnIndex::candidates`]`(k)` and measure the exact distances to keep the `k` nearest.
    pub fn search(&self, query: &[f32], k: usize) -> Result<Vec<ContentHash>, ProjectionError> {
        self.nearest(query, k, false)
    }

    /// The `k` nearest by the same 8-bit vectors, by brute force: what the graph search should find.
    pub fn exact_search(&self, query: &[f32], k: usize) -> Result<Vec<ContentHash>, ProjectionError> {
        self.nearest(query, k, true)
    }

    fn nearest(&self, query: &[f32], k: usize, exact: bool) -> Result<Vec<ContentHash>, ProjectionError> {
        let state = self.state.read().map_err(|_| ann_error("index lock poisoned"))?;
        if k == 0 || state.index.size() == 0 {
            return Ok(Vec::new());
        }
        let found = if exact { state.index.exact_search(query, k) } else { state.index.search(query, k) };
        let found = found.map_err(ann_error)?;
        Ok(found.keys.iter().filter_map(|key| state.hashes.get(key).copied()).collect())
    }

    fn save(&self, state: &mut State) -> Result<(), ProjectionError> {
        let index_path = self.dir.join("ann.usearch");
        let keys_path = self.dir.join("ann.keys");
        let index_tmp = self.dir.join("ann.usearch.tmp");
        let keys_tmp = self.dir.join("ann.keys.tmp");
        state.index.save(&index_tmp.to_string_lossy()).map_err(ann_error)?;
        let mut bytes = Vec::with_capacity(32 + state.keys.len() * 40 + state.removed.len() * 32);
        bytes.extend_from_slice(KEYS_MAGIC);
        bytes.extend_from_slice(&state.checkpoint.0.to_le_bytes());
        bytes.extend_from_slice(&(state.keys.len() as u64).to_le_bytes());
        for (hash, key) in &state.keys {
            bytes.extend_from_slice(&key.to_le_bytes());
            bytes.extend_from_slice(&hash.0);
        }
        bytes.extend_from_slice(&(state.removed.len() as u64).to_le_bytes());
        for hash in &state.removed {
            bytes.extend_from_slice(&hash.0);
        }
        let mut file = std::fs::File::create(&keys_tmp).map_err(ann_error)?;
        file.write_all(&bytes).map_err(ann_error)?;
        file.sync_all().map_err(ann_error)?;
        // The keys file names the checkpoint; it is renamed last, so a crash between the renames leaves an
        // index newer than its keys file, which `load` detects by the vector count and discards.
        std::fs::rename(&index_tmp, &index_path).map_err(ann_error)?;
        std::fs::rename(&keys_tmp, &keys_path).map_err(ann_error)?;
        state.unsaved = 0;
        Ok(())
    }
}

fn load(dir: &Path, options: &AnnOptions) -> Result<State, String> {
    let mut bytes = Vec::new();
    std::fs::File::open(dir.join("ann.keys")).and_then(|mut f| f.read_to_end(&mut bytes)).map_err(|e| e.to_string())?;
    if bytes.len() < 24 || &bytes[..8] != KEYS_MAGIC {
        return Err("ann.keys has no valid header".into());
    }
    let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
    let checkpoint = Seq(word(8));
    let count = word(16) as usize;
    let removed_at = 24 + count * 40;
    if bytes.len() < removed_at + 8 {
        return Err("ann.keys is truncated".into());
    }
    let removed_count = word(removed_at) as usize;
    if bytes.len() != removed_at + 8 + removed_count * 32 {
        return Err("ann.keys is truncated".into());
    }
    let mut keys = HashMap::with_capacity(count);
    let mut hashes = HashMap::with_capacity(count);
    for i in 0..count {
        let at = 24 + i * 40;
        let key = word(at);
        let hash = ContentHash(bytes[at + 8..at + 40].try_into().expect("32 bytes"));
        keys.insert(hash, key);
        hashes.insert(key, hash);
    }
    let removed = (0..removed_count)
        .map(|i| {
            let at = removed_at + 8 + i * 32;
            ContentHash(bytes[at..at + 32].try_into().expect("32 bytes"))
        })
        .collect();
    let index = new_index(options).map_err(|e| e.to_string())?;
    index.load(&dir.join("ann.usearch").to_string_lossy()).map_err(|e| e.to_string())?;
    if index.size() != count || index.dimensions() != DIMENSIONS {
        return Err(format!("ann.usearch holds {} vectors, ann.keys {count}", index.size()));
    }
    index.change_expansion_search(options.expansion_search);
    Ok(State { index, keys, hashes, removed, checkpoint, unsaved: 0 })
}

/// The projector holds one `Arc`, searches hold others: every method works through the index's lock.
fn remove(state: &mut State, memory: &ContentHash) -> Result<(), ProjectionError> {
    if let Some(key) = state.keys.remove(memory) {
        state.hashes.remove(&key);
        state.index.remove(key).map_err(ann_error)?;
        state.removed.insert(*memory);
    }
    Ok(())
}

/// Adds a memory's vector under `key` (the sequence number of the event that made it live), growing the
/// index as it fills.
fn insert(state: &mut State, key: u64, memory: ContentHash, vector: &[f32]) -> Result<(), ProjectionError> {
    if state.index.size() >= state.index.capacity() {
        let grown = (state.index.capacity() * 2).max(1024);
        state.index.reserve_capacity_and_threads(grown, THREAD_SLOTS).map_err(ann_error)?;
    }
    // One thread: usearch's concurrent add() can leave a node stored but unreachable by search (USearch
    // issue #735, unfixed in 2.x); a memory the index cannot find is worse than a slower rebuild.
    state.index.add(key, vector).map_err(ann_error)?;
    state.keys.insert(memory, key);
    state.hashes.insert(key, memory);
    Ok(())
}

impl Projection for std::sync::Arc<AnnIndex> {
    fn name(&self) -> &'static str {
        NAME
    }

    fn checkpoint(&self) -> Seq {
        self.applied()
    }

    fn apply(&mut self, batch: &[Applied<'_>]) -> Result<(), ProjectionError> {
        AnnIndex::apply(self, batch)
    }

    fn reset(&mut self) -> Result<(), ProjectionError> {
        AnnIndex::reset(self)
    }

    fn persist(&mut self) -> Result<(), ProjectionError> {
        AnnIndex::persist(self)
    }
}

impl AnnIndex {
    /// Applies events in log order (see [`Projection::apply`]).
    pub fn apply(&self, batch: &[Applied<'_>]) -> Result<(), ProjectionError> {
        let mut guard = self.state.write().map_err(|_| ann_error("index lock poisoned"))?;
        let state = &mut *guard;
        let from = state.checkpoint;
        for applied in batch.iter().filter(|a| a.event.seq > from) {
            let event = applied.event;
            match &event.kind {
                EventKind::Stored(_) | EventKind::Undeleted(_) | EventKind::Unarchived(_) => {
                    remove(state, &event.memory)?;
                    // A memory without a vector is not in the ANN index; the sqlite projection records why.
                    if let Some(vector) = applied.vector {
                        insert(state, event.seq.0, event.memory, vector)?;
                    }
                }
                // An archived memory is out of searches: its vector comes back with `Unarchived`.
                EventKind::Deleted { .. } | EventKind::Archived { .. } => remove(state, &event.memory)?,
                EventKind::Redacted { .. }
                    if state.keys.contains_key(&event.memory) || state.removed.contains(&event.memory) =>
                {
                    // usearch keeps a removed vector's bytes in the index and in its saved files, and a
                    // deleted memory's vector was removed, not erased: start over. The projector replays the
                    // log, where the memory's events are now erased, so this arm is not reached again;
                    // meanwhile searches score exactly.
                    drop(guard);
                    tracing::info!(seq = event.seq.0, "rebuilding the ANN index after a redaction");
                    return self.reset();
                }
                EventKind::Redacted { .. }
                | EventKind::Erased { .. }
                | EventKind::Updated { .. }
                | EventKind::DocumentIngested(_)
                | EventKind::DocumentRemoved { .. }
                | EventKind::Related(_)
                | EventKind::Unrelated { .. } => {}
            }
            state.checkpoint = event.seq;
            state.unsaved += 1;
        }
        if state.unsaved >= self.options.save_every {
            self.save(state)?;
        }
        Ok(())
    }

    /// Empties the index and removes its saved files.
    pub fn reset(&self) -> Result<(), ProjectionError> {
        let mut state = self.state.write().map_err(|_| ann_error("index lock poisoned"))?;
        *state = State {
            index: new_index(&self.options)?,
            keys: HashMap::new(),
            hashes: HashMap::new(),
            removed: HashSet::new(),
            checkpoint: Seq::ZERO,
            unsaved: 0,
        };
        let _ = std::fs::remove_file(self.dir.join("ann.keys"));
        let _ = std::fs::remove_file(self.dir.join("ann.usearch"));
        Ok(())
    }

    /// Saves the index and its checkpoint if anything changed since the last save.
    pub fn persist(&self) -> Result<(), ProjectionError> {
        let mut state = self.state.write().map_err(|_| ann_error("index lock poisoned"))?;
        if state.unsaved > 0 || !self.dir.join("ann.keys").exists() {
            self.save(&mut state)?;
        }
        Ok(())
    }

    /// The directory of the saved index.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}
