//! The `Projection` trait and the `Projector` that feeds projections from the log.

use mms_log::{ContentHash, Event, Log, Seq, SeqWatch};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// One event with the vector of the memory it stores, when it stores one.
#[derive(Clone, Copy, Debug)]
pub struct Applied<'a> {
    pub event: &'a Event,
    pub vector: Option<&'a [f32]>,
}

/// Why a projection could not make progress.
#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    /// The storage error itself (SQLite, usearch or the file system) is the source.
    #[error("projection {name}: storage failed: {source}")]
    Storage { name: &'static str, source: Box<dyn std::error::Error + Send + Sync> },
    #[error("reading the log failed: {0}")]
    Log(#[from] mms_log::ReadError),
    #[error("vectors are unavailable: {0}")]
    Vectors(String),
}

/// A read model built from the log.
pub trait Projection: Send {
    /// A short, stable name used for its checkpoint and in messages.
    fn name(&self) -> &'static str;
    /// The last sequence number applied (0 when empty).
    fn checkpoint(&self) -> Seq;
    /// Applies events in log order, skipping any at or below the checkpoint, and moves the checkpoint to
    /// the last one in the same atomic step. An event that cannot be applied is recorded and skipped.
    fn apply(&mut self, batch: &[Applied<'_>]) -> Result<(), ProjectionError>;
    /// Forgets everything: the checkpoint goes back to 0.
    fn reset(&mut self) -> Result<(), ProjectionError>;
    /// Makes what was applied durable where `apply` alone does not (a no-op for most projections).
    fn persist(&mut self) -> Result<(), ProjectionError> {
        Ok(())
    }
    /// Work that waits for a quiet moment, such as a truncation of the sqlite read model's write-ahead log
    /// that readers kept busy; the projector's thread calls it whenever it has caught up (at least every
    /// 200 ms). A no-op for most projections.
    fn upkeep(&mut self) -> Result<(), ProjectionError> {
        Ok(())
    }
}

/// Where the projector gets vectors: the embedding cache, or the model on a cache miss.
pub trait VectorSource: Send + Sync {
    /// Vectors for the given memories, whose contents are given.
    fn vectors(&self, wanted: &[(ContentHash, &str)]) -> Result<HashMap<ContentHash, Vec<f32>>, String>;
}

/// Feeds a set of projections from one pass over the log.
pub struct Projector {
    log: Log,
    projections: Vec<Box<dyn Projection>>,
    source: Arc<dyn VectorSource>,
    applied: Arc<SeqWatch>,
    batch_size: usize,
    /// Set to stop work between batches (shutdown), leaving the checkpoints where they are.
    stop: Arc<AtomicBool>,
}

impl Projector {
    /// A projector over `projections`; `applied` starts at the lowest checkpoint.
    pub fn new(log: Log, projections: Vec<Box<dyn Projection>>, source: Arc<dyn VectorSource>) -> Projector {
        let lowest = projections.iter().map(|p| p.checkpoint()).min().unwrap_or_default();
        Projector {
            log,
            projections,
            source,
            applied: Arc::new(SeqWatch::new(lowest)),
            batch_size: 512,
            stop: Arc::new(AtomicBool::new(false)),
        }
    }

    /// How far every projection has applied the log; wait on it for read-your-writes.
    pub fn applied(&self) -> Arc<SeqWatch> {
        self.applied.clone()
    }

    /// Events per batch (default 512).
    pub fn with_batch_size(mut self, batch_size: usize) -> Projector {
        self.batch_size = batch_size.max(1);
        self
    }

    /// Applies the log up to its current end, calling `progress(applied, total)` after each batch.
    /// Returns early, between batches, once a stop was asked for.
    pub fn catch_up(&mut self, progress: impl FnMut(Seq, Seq)) -> Result<Seq, ProjectionError> {
        let end = self.log.last_seq();
        self.catch_up_to(end, progress)
    }

    /// Applies the log up to `end` (or its current end, if earlier) and no further: a read model of the store
    /// as it was right after event `end`. Returns early, between batches, once a stop was asked for.
    pub fn catch_up_to(&mut self, end: Seq, mut progress: impl FnMut(Seq, Seq)) -> Result<Seq, ProjectionError> {
        let end = end.min(self.log.last_seq());
        loop {
            if self.stop.load(Ordering::Acquire) {
                return Ok(self.projections.iter().map(|p| p.checkpoint()).min().unwrap_or(end));
            }
            let lowest = self.projections.iter().map(|p| p.checkpoint()).min().unwrap_or(end);
            if lowest >= end {
                self.applied.advance(lowest);
                return Ok(lowest);
            }
            // Sequence numbers are never skipped, so this many events reach `end` at most.
            let limit = usize::try_from(end.0 - lowest.0).unwrap_or(usize::MAX).min(self.batch_size);
            let mut events = self.log.read_from(lowest.next(), limit)?;
            events.retain(|e| e.seq <= end);
            if events.is_empty() {
                return Ok(lowest);
            }
            self.apply_batch(&events)?;
            let reached = events.last().map_or(lowest, |e| e.seq);
            self.applied.advance(reached);
            progress(reached, end);
        }
    }

    fn apply_batch(&mut self, events: &[Event]) -> Result<(), ProjectionError> {
        let wanted: Vec<(ContentHash, &str)> =
            events.iter().filter_map(|e| e.kind.record().map(|record| (e.memory, record.content.as_str()))).collect();
        let vectors = if wanted.is_empty() {
            HashMap::new()
        } else {
            self.source.vectors(&wanted).map_err(ProjectionError::Vectors)?
        };
        let batch: Vec<Applied<'_>> = events
            .iter()
            .map(|event| Applied {
                event,
                vector: match event.kind.record() {
                    Some(_) => vectors.get(&event.memory).map(Vec::as_slice),
                    None => None,
                },
            })
            .collect();
        for projection in &mut self.projections {
            projection.apply(&batch)?;
        }
        Ok(())
    }

    /// Drops every projection's data and replays the whole log.
    pub fn rebuild(&mut self, progress: impl FnMut(Seq, Seq)) -> Result<Seq, ProjectionError> {
        for projection in &mut self.projections {
            projection.reset()?;
        }
        self.applied.reset(Seq::ZERO);
        // Large batches let sqlite commit less often and the ANN index insert whole runs.
        let live_batch = self.batch_size;
        self.batch_size = live_batch.max(4096);
        let reached = self.catch_up(progress);
        self.batch_size = live_batch;
        let reached = reached?;
        self.persist()?;
        Ok(reached)
    }

    /// Makes every projection durable at its checkpoint.
    pub fn persist(&mut self) -> Result<(), ProjectionError> {
        for projection in &mut self.projections {
            projection.persist()?;
        }
        Ok(())
    }

    /// Runs on a thread named `name`: applies each commit as it comes, until `stop` is set, then
    /// persists. Failures (an unavailable model, a full disk) are logged and retried with a growing pause.
    pub fn spawn(mut self, name: &str, stop: Arc<AtomicBool>) -> std::io::Result<std::thread::JoinHandle<()>> {
        self.stop = stop.clone();
        std::thread::Builder::new().name(name.into()).spawn(move || {
            let mut pause = Duration::from_millis(100);
            while !stop.load(Ordering::Acquire) {
                match self.catch_up(|_, _| {}) {
                    Ok(reached) => {
                        pause = Duration::from_millis(100);
                        for projection in &mut self.projections {
                            if let Err(error) = projection.upkeep() {
                                tracing::warn!(%error, projection = projection.name(), "projection upkeep failed");
                            }
                        }
                        self.log.wait_for(reached.next(), Duration::from_millis(200));
                    }
                    Err(error) => {
                        tracing::warn!(%error, retry_in_ms = pause.as_millis() as u64, "projection is behind the log");
                        std::thread::sleep(pause);
                        pause = (pause * 2).min(Duration::from_secs(10));
                    }
                }
            }
            if let Err(error) = self.persist() {
                tracing::warn!(%error, "projection could not be persisted at shutdown; it will catch up at next start");
            }
        })
    }
}
