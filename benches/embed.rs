//! Embedding throughput with the real all-MiniLM-L6-v2 model through the service's `Embedder` (ONNX Runtime
//! on its own thread, all cores, batches of up to 32): one short query, a batch of 32 short texts, a batch of
//! 8 long texts for reference, and a batch of 8 document chunks of about 1,000 characters each (what
//! document ingestion embeds, through `embed_background`: the ceiling `scripts/bench-ingest` is compared with).
//!
//! Needs the model and ONNX Runtime (`scripts/install-assets`, or `MCP_MEMORY_MODEL_DIR` and
//! `ORT_DYLIB_PATH`). Per-query percentiles are printed to stderr before criterion's figures.
//!
//! Run: `cargo bench --bench embed`.

mod common;

use criterion::{Criterion, SamplingMode, Throughput};
use mcp_memory_service::embed::Embedder;
use std::time::Instant;

/// Distinct short texts (about 10 to 20 word pieces), as search queries are.
fn short_texts(n: usize) -> Vec<String> {
    let (texts, _) = common::corpus(n, 0);
    texts
}

/// Distinct long texts of about 200 word pieces, as long memories are.
fn long_texts(n: usize) -> Vec<String> {
    let (sentences, _) = common::corpus(n * 10, 0);
    sentences.chunks(10).map(|chunk| chunk.join(" ")).collect()
}

/// Distinct chunks of about 1,000 characters, as document ingestion cuts them.
fn chunk_texts(n: usize) -> Vec<String> {
    let (sentences, _) = common::corpus(n * 20, 0);
    let mut chunks = Vec::with_capacity(n);
    let mut current = String::new();
    for sentence in sentences {
        if current.len() + sentence.len() > 1000 && !current.is_empty() {
            chunks.push(std::mem::take(&mut current));
            if chunks.len() == n {
                break;
            }
        }
        current.push_str(&sentence);
        current.push(' ');
    }
    chunks
}

fn single_query_percentiles(embedder: &Embedder, queries: &[String]) {
    let mut times: Vec<_> = queries
        .iter()
        .map(|query| {
            let started = Instant::now();
            std::hint::black_box(embedder.embed_blocking(vec![query.clone()]).expect("the query embeds"));
            started.elapsed()
        })
        .collect();
    times.sort();
    eprintln!(
        "embed/query_1_short: p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms over {} queries",
        common::percentile_ms(&times, 50.0),
        common::percentile_ms(&times, 90.0),
        common::percentile_ms(&times, 99.0),
        times.len()
    );
}

fn benches(c: &mut Criterion, embedder: &Embedder) {
    let short = short_texts(32 * 64);
    let long = long_texts(8 * 4);
    let mut group = c.benchmark_group("embed");

    group.throughput(Throughput::Elements(1));
    let mut next = 0usize;
    group.bench_function("query_1_short", |b| {
        b.iter(|| {
            next = (next + 1) % short.len();
            embedder.embed_blocking(vec![short[next].clone()]).expect("the query embeds")
        })
    });

    // About 100 ms per batch: equal-sized samples fit the few seconds allowed.
    group.sampling_mode(SamplingMode::Flat);
    group.throughput(Throughput::Elements(32));
    let batches: Vec<&[String]> = short.chunks(32).collect();
    let mut next = 0usize;
    group.bench_function("batch_32_short", |b| {
        b.iter(|| {
            next = (next + 1) % batches.len();
            embedder.embed_blocking(batches[next].to_vec()).expect("the batch embeds")
        })
    });

    group.throughput(Throughput::Elements(8));
    let batches: Vec<&[String]> = long.chunks(8).collect();
    let mut next = 0usize;
    group.bench_function("batch_8_long", |b| {
        b.iter(|| {
            next = (next + 1) % batches.len();
            embedder.embed_blocking(batches[next].to_vec()).expect("the batch embeds")
        })
    });
    // Document chunks, 8 at a time (ingestion sends 2 at a time, `service::documents::EMBED_BATCH`; chunks
    // this long embed at about the same rate either way, see BENCHMARKS.md "Document ingestion").
    let chunks = chunk_texts(8 * 4);
    group.throughput(Throughput::Elements(8));
    let batches: Vec<&[String]> = chunks.chunks(8).collect();
    let mut next = 0usize;
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("a runtime");
    group.bench_function("background_8_chunks", |b| {
        b.iter(|| {
            next = (next + 1) % batches.len();
            runtime.block_on(embedder.embed_background(batches[next].to_vec())).expect("the chunks embed")
        })
    });
    group.finish();
}

fn main() {
    let embedder = common::ready_embedder();
    // Warm-up: ONNX Runtime allocates and tunes on the first runs of each shape.
    let warm = short_texts(64);
    for chunk in warm.chunks(32) {
        embedder.embed_blocking(chunk.to_vec()).expect("the warm-up embeds");
    }
    let queries: Vec<String> = common::corpus(300, 200).1;
    single_query_percentiles(&embedder, &queries);
    let mut c = common::criterion();
    benches(&mut c, &embedder);
    c.final_summary();
}
