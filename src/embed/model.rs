//! The all-MiniLM-L6-v2 model: tokenizer, ONNX session, mean pooling and normalisation.

use super::EmbedError;
use ndarray::Array2;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::{RunOptions, Session};
use ort::value::Tensor;
use std::path::Path;
use std::sync::{OnceLock, PoisonError, RwLock, RwLockReadGuard};
use tokenizers::{PaddingStrategy, Tokenizer, TruncationParams};

/// Dimensions of an all-MiniLM-L6-v2 vector.
pub(crate) const DIMENSIONS: usize = 384;
/// sentence-transformers truncates this model's input at 256 word pieces (the two special ones included).
pub(crate) const MAX_WORD_PIECES: usize = 256;

/// ONNX Runtime is a process-wide library: it is loaded once and its environment kept for the process.
static RUNTIME: OnceLock<Result<ort::environment::Environment, String>> = OnceLock::new();

/// Whether ONNX Runtime may still be called (`false` once the process is exiting).
///
/// `exit()` runs ONNX Runtime's C++ static destructors on the exiting thread while the other threads go on,
/// so a thread inside ONNX Runtime at that moment (loading the model, running it, releasing a session) uses
/// freed memory and the process dies of SIGSEGV while it exits: `mcp` did when its client left while the
/// model was still loading. Every call into ONNX Runtime holds a read guard; [`shut_down`] takes the write
/// side once, before the process exits, so it waits for the call in progress, and no call starts after it.
static OPEN: RwLock<bool> = RwLock::new(true);

/// A guard that keeps ONNX Runtime from being torn down while it is held; `None` once it has shut down.
fn enter() -> Option<RwLockReadGuard<'static, bool>> {
    let guard = OPEN.read().unwrap_or_else(PoisonError::into_inner);
    (*guard).then_some(guard)
}

/// Waits until no thread is inside ONNX Runtime and keeps every thread out of it from now on (a model load
/// or a run that would start answers [`EmbedError::Closed`]). Called once, before the process exits.
pub(crate) fn shut_down() {
    *OPEN.write().unwrap_or_else(PoisonError::into_inner) = false;
}

fn runtime(library: &Path) -> Result<&'static ort::environment::Environment, EmbedError> {
    let loaded = RUNTIME.get_or_init(|| {
        if !library.is_file() {
            return Err(format!("ONNX Runtime library not found at {}", library.display()));
        }
        let builder = ort::init_from(library).map_err(|e| format!("cannot load {}: {e}", library.display()))?;
        builder.build().map_err(|e| format!("cannot start ONNX Runtime: {e}"))
    });
    loaded.as_ref().map_err(|reason| EmbedError::Runtime(reason.clone()))
}

/// A loaded model, used from one thread at a time (`Session::run` needs `&mut`).
pub(crate) struct MiniLm {
    /// Always `Some` until dropped (see the `Drop` impl).
    session: Option<Session>,
    tokenizer: Tokenizer,
    /// How a large batch runs: ONNX Runtime's arena keeps the memory of its largest run for good (a bulk
    /// import of long texts left a server at 666 MB), so after one it gives back what is not in use.
    shrink: RunOptions,
}

/// Batches above this many word pieces (all texts together, padded) give back their arena memory after
/// running; smaller ones (a query, a store, a document's two chunks) keep it for the next run.
const SHRINK_ABOVE_PIECES: usize = 1024;

impl Drop for MiniLm {
    fn drop(&mut self) {
        match enter() {
            Some(_open) => drop(self.session.take()),
            // The process is exiting: releasing the session now could race ONNX Runtime's teardown, so it
            // is left to the end of the process, like the runtime itself.
            None => std::mem::forget(self.session.take()),
        }
    }
}

/// The model's tokenizer without truncation or padding, for counting a text's word pieces.
pub(crate) fn counting_tokenizer(model_dir: &Path) -> Result<Tokenizer, EmbedError> {
    let file = model_dir.join("tokenizer.json");
    if !file.is_file() {
        return Err(EmbedError::ModelMissing { path: file });
    }
    let mut tokenizer =
        Tokenizer::from_file(&file).map_err(|e| EmbedError::Model(format!("{}: {e}", file.display())))?;
    tokenizer.with_padding(None);
    tokenizer.with_truncation(None).map_err(|e| EmbedError::Model(e.to_string()))?;
    Ok(tokenizer)
}

/// The ONNX Runtime session for `model_file` (whose weights may be in a file beside it, as
/// `scripts/install-assets` installs them: read straight into their tensors, which loads faster and keeps
/// less memory than one file).
fn load_session(library: &Path, model_file: &Path, threads: usize) -> Result<Session, EmbedError> {
    let environment = runtime(library)?;
    let model_error = |e: ort::Error| EmbedError::Model(format!("{}: {e}", model_file.display()));
    Session::builder(environment)
        .map_err(model_error)?
        .with_optimization_level(GraphOptimizationLevel::Level3)
        .map_err(|e| model_error(e.into()))?
        .with_intra_threads(threads.max(1))
        .map_err(|e| model_error(e.into()))?
        // ONNX Runtime's workers spin after each run, waiting for more: a quarter of the server's CPU per store
        // or search, taken from the threads beside them (the projections, BM25, HTTP), for no latency gained.
        .with_intra_op_spinning(false)
        .map_err(|e| model_error(e.into()))?
        .commit_from_file(model_file)
        .map_err(model_error)
}

/// The model's tokenizer as sentence-transformers runs it.
fn load_tokenizer(file: &Path) -> Result<Tokenizer, EmbedError> {
    let mut tokenizer =
        Tokenizer::from_file(file).map_err(|e| EmbedError::Model(format!("{}: {e}", file.display())))?;
    // The shipped tokenizer.json pads and truncates to a fixed 128; sentence-transformers truncates at
    // 256 and pads to the longest text of the batch, and so must we to give the same vectors.
    tokenizer
        .with_truncation(Some(TruncationParams { max_length: MAX_WORD_PIECES, ..Default::default() }))
        .map_err(|e| EmbedError::Model(e.to_string()))?;
    let mut padding = tokenizer.get_padding().cloned().unwrap_or_default();
    padding.strategy = PaddingStrategy::BatchLongest;
    tokenizer.with_padding(Some(padding));
    Ok(tokenizer)
}

impl MiniLm {
    /// Loads `model.onnx` and `tokenizer.json` from `model_dir` with ONNX Runtime from `library`.
    pub(crate) fn load(model_dir: &Path, library: &Path, threads: usize) -> Result<MiniLm, EmbedError> {
        let model_file = model_dir.join("model.onnx");
        let tokenizer_file = model_dir.join("tokenizer.json");
        for file in [&model_file, &tokenizer_file] {
            if !file.is_file() {
                return Err(EmbedError::ModelMissing { path: file.clone() });
            }
        }
        let _open = enter().ok_or(EmbedError::Closed)?;
        // The tokenizer (about a third of the load) is read on a second thread while ONNX Runtime starts and
        // builds the session.
        let (session, tokenizer) = std::thread::scope(|scope| {
            let tokenizer = scope.spawn(|| load_tokenizer(&tokenizer_file));
            let session = load_session(library, &model_file, threads);
            let tokenizer = tokenizer.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (session, tokenizer)
        });
        let mut shrink = RunOptions::new().map_err(|e| EmbedError::Model(e.to_string()))?;
        shrink.set("memory.enable_memory_arena_shrinkage", "cpu:0").map_err(|e| EmbedError::Model(e.to_string()))?;
        Ok(MiniLm { session: Some(session?), tokenizer: tokenizer?, shrink })
    }

    /// Embeds texts: unit-length 384-dimensional vectors, in input order.
    pub(crate) fn embed(&mut self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        // Declared first, so it is released last: after every ONNX Runtime value below is dropped.
        let _open = enter().ok_or(EmbedError::Closed)?;
        let session = self.session.as_mut().expect("the session lives until the model is dropped");
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| EmbedError::Model(format!("tokenizer: {e}")))?;
        let batch = encodings.len();
        let seq = encodings.iter().map(|e| e.get_ids().len()).max().unwrap_or(0);
        let mut ids = Array2::<i64>::zeros((batch, seq));
        let mut mask = Array2::<i64>::zeros((batch, seq));
        let mut types = Array2::<i64>::zeros((batch, seq));
        for (row, encoding) in encodings.iter().enumerate() {
            for (col, ((id, m), t)) in
                encoding.get_ids().iter().zip(encoding.get_attention_mask()).zip(encoding.get_type_ids()).enumerate()
            {
                ids[[row, col]] = i64::from(*id);
                mask[[row, col]] = i64::from(*m);
                types[[row, col]] = i64::from(*t);
            }
        }
        let run_error = |e: ort::Error| EmbedError::Model(format!("inference: {e}"));
        let inputs = ort::inputs![
            "input_ids" => Tensor::from_array(ids).map_err(run_error)?,
            "attention_mask" => Tensor::from_array(mask.clone()).map_err(run_error)?,
            "token_type_ids" => Tensor::from_array(types).map_err(run_error)?,
        ];
        let outputs = if batch * seq > SHRINK_ABOVE_PIECES {
            session.run_with_options(inputs, &self.shrink)
        } else {
            session.run(inputs)
        }
        .map_err(run_error)?;
        let (shape, hidden) = outputs["last_hidden_state"].try_extract_tensor::<f32>().map_err(run_error)?;
        if shape.len() != 3 || shape[2] as usize != DIMENSIONS {
            return Err(EmbedError::Model(format!("unexpected output shape {shape:?}")));
        }
        Ok((0..batch)
            .map(|row| {
                pool(
                    &hidden[row * seq * DIMENSIONS..(row + 1) * seq * DIMENSIONS],
                    mask.row(row).as_slice().unwrap_or(&[]),
                )
            })
            .collect())
    }
}

/// Attention-masked mean over the token vectors, then L2 normalisation (as sentence-transformers).
fn pool(hidden: &[f32], mask: &[i64]) -> Vec<f32> {
    let mut sum = vec![0f32; DIMENSIONS];
    let mut count = 0f32;
    for (token, m) in hidden.chunks_exact(DIMENSIONS).zip(mask) {
        if *m != 0 {
            count += 1.0;
            for (s, x) in sum.iter_mut().zip(token) {
                *s += x;
            }
        }
    }
    let count = count.max(1e-9);
    sum.iter_mut().for_each(|s| *s /= count);
    let norm = sum.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    sum.iter_mut().for_each(|s| *s /= norm);
    sum
}
