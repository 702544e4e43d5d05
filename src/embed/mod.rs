//! Embeddings: all-MiniLM-L6-v2 through ONNX Runtime on a dedicated thread, with dynamic batching.
//!
//! The model loads in the background when the embedder starts, so a server answers health checks and MCP
//! handshakes before it is ready; requests made meanwhile wait for it. Requests queued while the model is
//! busy are run together, up to 32 texts at a time, which is where batching pays on two cores.

mod model;

pub(crate) use model::{DIMENSIONS, MAX_WORD_PIECES};

use model::MiniLm;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, OnceLock};
use tokenizers::Tokenizer;

/// The name under which vectors are cached.
pub const MODEL_NAME: &str = "all-MiniLM-L6-v2";
/// How many texts run through the model together at most.
const MAX_BATCH: usize = 32;

/// Why texts could not be embedded.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EmbedError {
    #[error(
        "the embedding model file {path} is missing; run `scripts/install-assets` (or set MCP_MEMORY_MODEL_DIR to a directory holding model.onnx and tokenizer.json)"
    )]
    ModelMissing { path: PathBuf },
    #[error("{0}; run `scripts/install-assets` (or set ORT_DYLIB_PATH to libonnxruntime.so 1.32 or newer)")]
    Runtime(String),
    #[error("the embedding model failed: {0}")]
    Model(String),
    #[error("the embedder has shut down")]
    Closed,
}

/// Where the model and ONNX Runtime are.
#[derive(Clone, Debug)]
pub struct ModelPaths {
    pub model_dir: PathBuf,
    pub runtime_library: PathBuf,
    pub threads: usize,
    /// Load at start (a server) rather than at the first request (a CLI command that may not need it).
    pub eager: bool,
}

/// Cosine distance (1 - cosine similarity, from 0 to 2) as sqlite-vec's `vec_distance_cosine` measures it,
/// so a memory measured here and one measured by the read model compare exactly; 1 when a vector is zero.
pub(crate) fn cosine_distance(a: &[f32], b: &[f32]) -> f32 {
    let (mut dot, mut aa, mut bb) = (0f32, 0f32, 0f32);
    for (x, y) in a.iter().zip(b) {
        dot += x * y;
        aa += x * x;
        bb += y * y;
    }
    // In f64 from here, as the C code computes it (its sqrt takes and gives doubles).
    let norms = f64::from(aa).sqrt() * f64::from(bb).sqrt();
    if norms == 0.0 { 1.0 } else { (1.0 - f64::from(dot) / norms) as f32 }
}

/// Waits for a call into ONNX Runtime in progress (a model still loading, a batch being embedded) and lets
/// none start after it: `main` calls it once, before the process exits, because ONNX Runtime's teardown at
/// exit crashes a thread that is still inside it. Requests made after it fail with [`EmbedError::Closed`].
pub fn shut_down() {
    model::shut_down();
}

/// The state of the model, for health checks.
#[derive(Clone, Debug, PartialEq)]
pub enum ModelStatus {
    Loading,
    Ready,
    Failed(String),
}

type Reply = Box<dyn FnOnce(Result<Vec<Vec<f32>>, EmbedError>) + Send>;

struct Job {
    texts: Vec<String>,
    reply: Reply,
    /// Bulk work (a document's chunks): runs only when no other job waits, one job at a time, so a search
    /// queued behind it waits for one batch at most.
    background: bool,
}

/// A handle to the embedding thread. Cheap to clone.
#[derive(Clone)]
pub struct Embedder {
    jobs: Sender<Job>,
    status: Arc<Mutex<ModelStatus>>,
    model_dir: PathBuf,
    /// The tokenizer for counting word pieces, loaded at its first use.
    counter: Arc<OnceLock<Result<Tokenizer, EmbedError>>>,
}

impl Embedder {
    /// Starts the embedding thread, which loads the model and then serves requests.
    pub fn start(paths: ModelPaths) -> Embedder {
        let (jobs, queue) = mpsc::channel::<Job>();
        let status = Arc::new(Mutex::new(ModelStatus::Loading));
        let model_dir = paths.model_dir.clone();
        let shared = status.clone();
        let spawned = std::thread::Builder::new().name("embedder".into()).spawn(move || serve(paths, queue, shared));
        if let (Err(e), Ok(mut s)) = (spawned, status.lock()) {
            *s = ModelStatus::Failed(format!("cannot start the embedding thread: {e}"));
        }
        Embedder { jobs, status, model_dir, counter: Arc::new(OnceLock::new()) }
    }

    /// Whether the model is loading, ready or failed.
    pub fn status(&self) -> ModelStatus {
        self.status.lock().map(|s| s.clone()).unwrap_or(ModelStatus::Loading)
    }

    /// Queues texts and calls `reply` on the embedding thread with their vectors, in order.
    pub fn submit(&self, texts: Vec<String>, reply: impl FnOnce(Result<Vec<Vec<f32>>, EmbedError>) + Send + 'static) {
        self.queue(Job { texts, reply: Box::new(reply), background: false });
    }

    fn queue(&self, job: Job) {
        if let Err(mpsc::SendError(job)) = self.jobs.send(job) {
            (job.reply)(Err(EmbedError::Closed));
        }
    }

    /// Embeds bulk texts (at most one model batch is worth sending at a time) behind every other request:
    /// searches and stores queued meanwhile run first.
    pub async fn embed_background(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, EmbedError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let reply = move |result| {
            let _ = tx.send(result);
        };
        self.queue(Job { texts, reply: Box::new(reply), background: true });
        rx.await.unwrap_or(Err(EmbedError::Closed))
    }

    /// How many word pieces the model reads for `text`, its two special pieces included: the model sees at
    /// most [`MAX_WORD_PIECES`] of them and truncates the rest.
    pub fn word_pieces(&self, text: &str) -> Result<usize, EmbedError> {
        let tokenizer = self.counter.get_or_init(|| model::counting_tokenizer(&self.model_dir));
        let tokenizer = tokenizer.as_ref().map_err(Clone::clone)?;
        let encoding = tokenizer.encode(text, true).map_err(|e| EmbedError::Model(e.to_string()))?;
        Ok(encoding.len())
    }

    /// Embeds texts, waiting on the calling thread.
    pub fn embed_blocking(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, EmbedError> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.submit(texts, move |result| {
            let _ = tx.send(result);
        });
        rx.recv().unwrap_or(Err(EmbedError::Closed))
    }

    /// Embeds texts without blocking the async runtime.
    pub async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, EmbedError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.submit(texts, move |result| {
            let _ = tx.send(result);
        });
        rx.await.unwrap_or(Err(EmbedError::Closed))
    }
}

fn serve(paths: ModelPaths, queue: Receiver<Job>, status: Arc<Mutex<ModelStatus>>) {
    let mut pending = None;
    if !paths.eager {
        match queue.recv() {
            Ok(job) => pending = Some(job),
            Err(_) => return,
        }
    }
    let started = std::time::Instant::now();
    let loaded = MiniLm::load(&paths.model_dir, &paths.runtime_library, paths.threads);
    let set = |s: ModelStatus| {
        if let Ok(mut status) = status.lock() {
            *status = s;
        }
    };
    let mut model = match loaded {
        Ok(model) => {
            set(ModelStatus::Ready);
            tracing::info!(
                model = MODEL_NAME,
                load_ms = started.elapsed().as_millis() as u64,
                "embedding model loaded"
            );
            model
        }
        Err(error) => {
            // Closed: the process is exiting (see `shut_down`), which is no failure to report.
            if !matches!(error, EmbedError::Closed) {
                tracing::error!(%error, "embedding model unavailable");
            }
            set(ModelStatus::Failed(error.to_string()));
            if let Some(job) = pending {
                (job.reply)(Err(error.clone()));
            }
            while let Ok(job) = queue.recv() {
                (job.reply)(Err(error.clone()));
            }
            return;
        }
    };
    let mut deferred: VecDeque<Job> = VecDeque::new();
    while let Some(jobs) = next_jobs(&queue, &mut pending, &mut deferred) {
        let texts: Vec<&str> = jobs.iter().flat_map(|j| j.texts.iter().map(String::as_str)).collect();
        let mut vectors = Vec::with_capacity(texts.len());
        let mut failure = None;
        for chunk in texts.chunks(MAX_BATCH) {
            match model.embed(chunk) {
                Ok(v) => vectors.extend(v),
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        let mut vectors = vectors.into_iter();
        for job in jobs {
            let result = match &failure {
                Some(e) => Err(e.clone()),
                None => Ok(vectors.by_ref().take(job.texts.len()).collect()),
            };
            (job.reply)(result);
        }
    }
}

/// The jobs to run together next: every waiting request up to a batch, or else one background job; `None`
/// once the queue is closed and nothing is left.
fn next_jobs(queue: &Receiver<Job>, pending: &mut Option<Job>, deferred: &mut VecDeque<Job>) -> Option<Vec<Job>> {
    let mut jobs: Vec<Job> = Vec::new();
    let mut next = pending.take();
    loop {
        if let Some(job) = next.take() {
            if job.background {
                deferred.push_back(job);
            } else {
                jobs.push(job);
            }
        }
        let queued: usize = jobs.iter().map(|j| j.texts.len()).sum();
        if queued < MAX_BATCH
            && let Ok(job) = queue.try_recv()
        {
            next = Some(job);
            continue;
        }
        if !jobs.is_empty() {
            return Some(jobs);
        }
        if let Some(job) = deferred.pop_front() {
            return Some(vec![job]);
        }
        next = Some(queue.recv().ok()?);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(text: &str, background: bool) -> Job {
        Job { texts: vec![text.to_string()], reply: Box::new(|_| {}), background }
    }

    fn texts(jobs: Option<Vec<Job>>) -> Vec<String> {
        jobs.expect("jobs").into_iter().flat_map(|j| j.texts).collect()
    }

    #[test]
    fn requests_run_before_background_work_and_background_jobs_run_one_at_a_time() {
        let (sender, queue) = mpsc::channel();
        for (text, background) in [("chunks 1", true), ("search 1", false), ("chunks 2", true), ("store 1", false)] {
            sender.send(job(text, background)).expect("queued");
        }
        let (mut pending, mut deferred) = (None, VecDeque::new());
        assert_eq!(texts(next_jobs(&queue, &mut pending, &mut deferred)), ["search 1", "store 1"]);
        assert_eq!(texts(next_jobs(&queue, &mut pending, &mut deferred)), ["chunks 1"]);
        // A search that arrives between two background jobs goes first.
        sender.send(job("search 2", false)).expect("queued");
        assert_eq!(texts(next_jobs(&queue, &mut pending, &mut deferred)), ["search 2"]);
        assert_eq!(texts(next_jobs(&queue, &mut pending, &mut deferred)), ["chunks 2"]);
        drop(sender);
        assert!(next_jobs(&queue, &mut pending, &mut deferred).is_none(), "closed and empty: the thread ends");
    }

    #[test]
    fn a_pending_job_is_taken_first_and_requests_stop_at_a_batch() {
        let (sender, queue) = mpsc::channel();
        for i in 0..MAX_BATCH + 3 {
            sender.send(job(&format!("query {i}"), false)).expect("queued");
        }
        let (mut pending, mut deferred) = (Some(job("first", false)), VecDeque::new());
        let batch = texts(next_jobs(&queue, &mut pending, &mut deferred));
        assert_eq!(batch.len(), MAX_BATCH);
        assert_eq!(batch[0], "first");
        assert_eq!(texts(next_jobs(&queue, &mut pending, &mut deferred)).len(), 4);
    }
}
