//! Embedding parity: the real all-MiniLM-L6-v2 through ONNX Runtime gives the vectors that
//! sentence-transformers gave for the committed fixture, one text at a time and batched, and its notion of
//! similarity is the expected one. Uses the model wherever the binary finds it (the same `Config`).

use clap::Parser;
use mcp_memory_service::cli::Cli;
use mcp_memory_service::embed::{EmbedError, Embedder, ModelPaths};
use std::sync::OnceLock;

#[derive(serde::Deserialize)]
struct Fixture {
    dims: usize,
    items: Vec<Item>,
}

#[derive(serde::Deserialize)]
struct Item {
    text: String,
    vector: Vec<f32>,
}

fn fixture() -> Fixture {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/minilm_reference.json");
    let text = std::fs::read_to_string(path).expect("read the sentence-transformers fixture");
    serde_json::from_str(&text).expect("parse the fixture")
}

/// The model paths the binary would use: defaults under ~/.cache/mcp-memory-service, or the environment's.
fn model_paths() -> ModelPaths {
    let paths = Cli::parse_from(["mcp-memory-service", "stats"]).config.paths();
    ModelPaths { model_dir: paths.model_dir, runtime_library: paths.runtime_library, threads: 2, eager: true }
}

/// One embedder for the whole test binary: ONNX Runtime is process-wide, and loading the model once is faster.
fn embedder() -> &'static Embedder {
    static EMBEDDER: OnceLock<Embedder> = OnceLock::new();
    EMBEDDER.get_or_init(|| Embedder::start(model_paths()))
}

pub(crate) fn embed(texts: &[&str]) -> Vec<Vec<f32>> {
    let texts: Vec<String> = texts.iter().map(|t| t.to_string()).collect();
    let count = texts.len();
    let vectors = embedder().embed_blocking(texts).unwrap_or_else(|e| panic!("embedding failed: {e}"));
    assert_eq!(vectors.len(), count, "one vector per text");
    vectors
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    let dot: f64 = a.iter().zip(b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum();
    let norm = |v: &[f32]| v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    dot / (norm(a) * norm(b))
}

fn assert_matches(item: &Item, vector: &[f32], how: &str) {
    assert_eq!(vector.len(), 384, "{how}: dimensions");
    let norm = vector.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    assert!((norm - 1.0).abs() < 1e-4, "{how}: vectors are unit length, not {norm}");
    let similarity = cosine(vector, &item.vector);
    let short: String = item.text.chars().take(40).collect();
    assert!(similarity >= 0.9999, "{how}: cosine {similarity:.6} with sentence-transformers for {short:?}");
}

#[test]
fn each_text_alone_matches_sentence_transformers() {
    let fixture = fixture();
    assert_eq!(fixture.dims, 384);
    assert!(fixture.items.len() >= 10, "the fixture covers short, long, multilingual and odd texts");
    for item in &fixture.items {
        let vector = embed(&[item.text.as_str()]).remove(0);
        assert_matches(item, &vector, "alone");
    }
}

#[test]
fn one_padded_batch_matches_sentence_transformers() {
    let fixture = fixture();
    let texts: Vec<&str> = fixture.items.iter().map(|i| i.text.as_str()).collect();
    let vectors = embed(&texts);
    for (item, vector) in fixture.items.iter().zip(&vectors) {
        assert_matches(item, vector, "in a batch");
    }
    // The same batch in reverse order gives each text the same vector: order and padding do not leak.
    let reversed: Vec<&str> = texts.iter().rev().copied().collect();
    let again = embed(&reversed);
    for (vector, other) in vectors.iter().zip(again.iter().rev()) {
        assert!(cosine(vector, other) >= 0.99999);
    }
}

#[test]
fn similarity_follows_meaning() {
    let vectors = embed(&["hello world", "The cat sits on the mat.", "A feline is resting on a rug."]);
    let unrelated = cosine(&vectors[0], &vectors[1]);
    assert!(unrelated < 0.5, "'hello world' and the cat are not similar: {unrelated:.4}");
    let paraphrase = cosine(&vectors[1], &vectors[2]);
    assert!((paraphrase - 0.5735).abs() <= 0.01, "cat and feline: {paraphrase:.4}, expected 0.5735");
    assert!(paraphrase > unrelated + 0.1);
}

#[test]
fn a_missing_model_is_a_clear_error() {
    let mut paths = model_paths();
    paths.model_dir = std::env::temp_dir().join("mms-it-no-such-model-dir");
    paths.eager = false;
    let missing = Embedder::start(paths);
    match missing.embed_blocking(vec!["anything".into()]) {
        Err(error @ EmbedError::ModelMissing { .. }) => {
            let message = error.to_string();
            assert!(message.contains("model.onnx") && message.contains("install-assets"), "{message}");
        }
        other => panic!("expected ModelMissing, got {:?}", other.map(|v| v.len())),
    }
}
