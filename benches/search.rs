//! Search latency and recall at 10k and 100k memories: sqlite-vec's exact KNN scan (`SqliteReader::nearest`,
//! no filter) against the usearch HNSW index (`AnnIndex::search`) and usearch's brute force
//! (`AnnIndex::exact_search`).
//!
//! Recall on random vectors means nothing, so the memories are a generated corpus of distinct sentences
//! embedded with the real MiniLM model, and the queries are further sentences not in the corpus. The vectors
//! are cached under the target directory (see `common::data_dir`); the first run embeds them, which takes
//! minutes. Recall@10 and per-query percentiles are printed to stderr before criterion's figures.
//!
//! Run: `cargo bench --bench search`.

mod common;

use criterion::{Criterion, SamplingMode};
use mms_log::{ContentHash, Event};
use mms_projections::{AnnIndex, AnnOptions, Applied, Filter, Projection, SqliteProjection, SqliteReader};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

const K: usize = 10;
/// Queries for recall and percentiles.
const QUERIES: usize = 200;
/// Timed passes over the queries for the usearch percentiles (sqlite-vec gets one, being 100x slower).
const PASSES: usize = 5;

/// The read models over the first `len` memories of the corpus.
struct Fixture {
    sqlite: SqliteProjection,
    reader: SqliteReader,
    ann: AnnIndex,
    len: usize,
}

impl Fixture {
    fn open(dir: &Path) -> Fixture {
        let path = dir.join("sqlite_vec.db");
        let sqlite = SqliteProjection::open(&path).expect("the read model opens");
        let reader = SqliteReader::new(&path);
        // Saved explicitly once per size (to reopen it with another efSearch), not every few thousand events.
        let options = AnnOptions { save_every: usize::MAX, ..common::ann_options() };
        let ann = AnnIndex::open(&dir.join("ann"), options).expect("the index opens");
        Fixture { sqlite, reader, ann, len: 0 }
    }

    /// Applies the corpus up to `len` memories through the projections' own apply path.
    fn grow(&mut self, corpus: &common::Corpus, len: usize) {
        let (mut sqlite_time, mut ann_time) = (Duration::ZERO, Duration::ZERO);
        for start in (self.len..len).step_by(5000) {
            let end = (start + 5000).min(len);
            let events: Vec<Event> =
                (start..end).map(|i| common::stored_event(i as u64 + 1, &corpus.texts[i])).collect();
            let batch: Vec<Applied<'_>> = events
                .iter()
                .zip(&corpus.vectors[start..end])
                .map(|(event, vector)| Applied { event, vector: Some(vector) })
                .collect();
            let started = Instant::now();
            self.sqlite.apply(&batch).expect("the batch applies to sqlite");
            sqlite_time += started.elapsed();
            let started = Instant::now();
            self.ann.apply(&batch).expect("the batch applies to usearch");
            ann_time += started.elapsed();
        }
        let started = Instant::now();
        self.ann.persist().expect("the index saves");
        eprintln!(
            "grew the read models from {} to {len} memories: sqlite-vec {:.1} s, usearch {:.1} s (save {:.1} s)",
            self.len,
            sqlite_time.as_secs_f64(),
            ann_time.as_secs_f64(),
            started.elapsed().as_secs_f64()
        );
        self.len = len;
    }
}

fn hashes(found: &[ContentHash]) -> HashSet<String> {
    found.iter().map(ContentHash::to_hex).collect()
}

/// The `K` nearest of the index's candidates by exact distance, as the service keeps them.
fn rescored(found: &[ContentHash], query: &[f32], vectors: &HashMap<ContentHash, &[f32]>) -> HashSet<String> {
    // The corpus vectors are of unit length: the dot product orders as the cosine distance does.
    let dot = |v: &[f32]| -> f32 { v.iter().zip(query).map(|(a, b)| a * b).sum() };
    let mut measured: Vec<(f32, &ContentHash)> = found.iter().map(|h| (dot(vectors[h]), h)).collect();
    measured.sort_by(|a, b| b.0.total_cmp(&a.0));
    measured.iter().take(K).map(|(_, h)| h.to_hex()).collect()
}

fn recall(found: &HashSet<String>, truth: &HashSet<String>) -> f64 {
    found.intersection(truth).count() as f64 / truth.len().max(1) as f64
}

/// Times `run` once per query per pass and returns the sorted latencies.
fn latencies(queries: &[Vec<f32>], passes: usize, mut run: impl FnMut(&[f32])) -> Vec<Duration> {
    let mut times = Vec::with_capacity(queries.len() * passes);
    for _ in 0..passes {
        for query in queries {
            let started = Instant::now();
            run(query);
            times.push(started.elapsed());
        }
    }
    times.sort();
    times
}

fn report_latency(len: usize, name: &str, times: &[Duration]) {
    eprintln!(
        "search/{len}/{name}: p50 {:.3} ms, p90 {:.3} ms, p99 {:.3} ms over {} queries",
        common::percentile_ms(times, 50.0),
        common::percentile_ms(times, 90.0),
        common::percentile_ms(times, 99.0),
        times.len()
    );
}

/// Recall@10 and per-query latency percentiles, printed; these are the figures the targets name.
fn quality(fixture: &Fixture, ann_128: &AnnIndex, corpus: &common::Corpus) {
    let (len, queries) = (fixture.len, &corpus.query_vectors);
    let vectors: HashMap<ContentHash, &[f32]> = corpus.texts[..len]
        .iter()
        .zip(&corpus.vectors)
        .map(|(text, vector)| (ContentHash::of_content(text), vector.as_slice()))
        .collect();
    let filter = Filter::default();
    let candidates = AnnIndex::candidates(K);
    let (mut vs_exact, mut vs_sqlite, mut vs_sqlite_128, mut exact_vs_sqlite) = (0.0, 0.0, 0.0, 0.0);
    for query in queries {
        let exact = fixture.ann.exact_search(query, K).expect("exact search");
        let approx = fixture.ann.search(query, candidates).expect("ANN search");
        let approx_128 = ann_128.search(query, candidates).expect("ANN search");
        let sqlite: HashSet<String> = fixture
            .reader
            .nearest(query, K, &filter)
            .expect("sqlite-vec search")
            .into_iter()
            .map(|(row, _)| row.content_hash)
            .collect();
        vs_exact += recall(&hashes(&approx[..K.min(approx.len())]), &hashes(&exact));
        vs_sqlite += recall(&rescored(&approx, query, &vectors), &sqlite);
        vs_sqlite_128 += recall(&rescored(&approx_128, query, &vectors), &sqlite);
        exact_vs_sqlite += recall(&hashes(&exact), &sqlite);
    }
    let n = queries.len() as f64;
    eprintln!(
        "search/{len}: recall@{K} over {} queries: usearch ef64 top {K} vs usearch exact (both 8-bit) {:.3}; \
         against sqlite-vec (f32 exact): usearch ef64 {candidates} candidates rescored {:.3}, ef128 {:.3}, \
         usearch exact (8-bit) {:.3}",
        queries.len(),
        vs_exact / n,
        vs_sqlite / n,
        vs_sqlite_128 / n,
        exact_vs_sqlite / n
    );
    let times = latencies(queries, PASSES, |q| {
        std::hint::black_box(fixture.ann.search(q, candidates).expect("ANN search"));
    });
    report_latency(len, "usearch_ef64", &times);
    let times = latencies(queries, PASSES, |q| {
        std::hint::black_box(ann_128.search(q, candidates).expect("ANN search"));
    });
    report_latency(len, "usearch_ef128", &times);
    let times = latencies(queries, 1, |q| {
        std::hint::black_box(fixture.ann.exact_search(q, K).expect("exact search"));
    });
    report_latency(len, "usearch_exact", &times);
    let times = latencies(queries, 1, |q| {
        std::hint::black_box(fixture.reader.nearest(q, K, &filter).expect("sqlite-vec search"));
    });
    report_latency(len, "sqlite_vec_knn", &times);
}

fn bench_size(c: &mut Criterion, fixture: &Fixture, ann_128: &AnnIndex, queries: &[Vec<f32>]) {
    let filter = Filter::default();
    let mut group = c.benchmark_group(format!("search_{}", fixture.len));
    let mut next = 0usize;
    let mut query = move || {
        next = (next + 1) % queries.len();
        &queries[next]
    };
    group.bench_function("usearch_ann_ef64", |b| {
        b.iter(|| fixture.ann.search(query(), AnnIndex::candidates(K)).expect("ANN search"))
    });
    group.bench_function("usearch_ann_ef128", |b| {
        b.iter(|| ann_128.search(query(), AnnIndex::candidates(K)).expect("ANN search"))
    });
    group.bench_function("usearch_exact", |b| b.iter(|| fixture.ann.exact_search(query(), K).expect("exact search")));
    // A scan of 100k vectors takes about 80 ms: equal-sized samples fit the few seconds allowed.
    group.sampling_mode(SamplingMode::Flat);
    group.bench_function("sqlite_vec_knn", |b| {
        b.iter(|| fixture.reader.nearest(query(), K, &filter).expect("sqlite-vec search"))
    });
    group.finish();
}

fn main() {
    let bench = common::bench_mode();
    let sizes: &[usize] = if bench { &[10_000, 100_000] } else { &[1000] };
    let largest = sizes[sizes.len() - 1];
    let corpus = common::load_corpus(largest, QUERIES);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut fixture = Fixture::open(dir.path());
    let mut c = common::criterion();
    for &len in sizes {
        fixture.grow(&corpus, len);
        // The saved index reopened with efSearch 128: the same graph, searched wider.
        let options = AnnOptions { expansion_search: 128, save_every: usize::MAX, ..common::ann_options() };
        let ann_128 = AnnIndex::open(&dir.path().join("ann"), options).expect("the saved index opens");
        assert_eq!(ann_128.len(), len, "the saved index holds every vector");
        quality(&fixture, &ann_128, &corpus);
        bench_size(&mut c, &fixture, &ann_128, &corpus.query_vectors);
    }
    let (peak, now) = common::memory_mib();
    eprintln!("process memory: peak {peak:.0} MiB, now {now:.0} MiB (corpus vectors and two indexes included)");
    c.final_summary();
}
