//! A full consolidation run (monthly: relevance, clusters with their summaries, associations, forgetting)
//! over a store of `MMS_BENCH_CONSOLIDATION_N` memories (10,000 by default; the issue also asks 100,000), and
//! search latency while a run goes on.
//!
//! The store is a real one (`store::Store`): its log holds the memories, created over the last 60 days, with
//! vectors in the embedding cache that fall into groups of 20 (a group's vectors are a shared direction plus
//! noise, so DBSCAN finds clusters as in a store of real notes), and each memory's text is a topic sentence
//! with random words. Each iteration runs on a fresh copy of that store (the copy is not timed), so every
//! run does the same work: it appends the summaries (embedded with the real model), their edges, the
//! associations and the archives. Then one more run is made while a client searches in a loop, and the
//! search p50/p99 during the run are printed beside those of the same searches before it, and beside those
//! of the same searches with `quality_boost` 0.3 (relevance weighs in their ranking).
//! Under `cargo test --benches` it uses 300 memories.
//!
//! Run: `cargo bench --bench consolidation` (`MMS_BENCH_CONSOLIDATION_N=100000` for the larger store: above
//! 20,000 memories only the run beside the searches is made, and its duration is the figure).

mod common;

use clap::Parser;
use common::Rng;
use mcp_memory_service::cli::Cli;
use mcp_memory_service::consolidation::Horizon;
use mcp_memory_service::service::{SearchMode, SearchRequest, Service};
use mcp_memory_service::store::{Settings, Store};
use mms_log::{Actor, EventId, EventKind, Expect, Interface, MemoryRecord, NewEvent, Timestamp, VectorEntry};
use std::path::Path;
use std::time::{Duration, Instant};

/// Memories per group of similar vectors.
const GROUP: usize = 20;

/// A log of `n` memories in groups of similar vectors, created over the last 60 days.
fn fill(dir: &Path, n: usize, now: f64) {
    let log = mms_log::Log::open(dir.join("events.redb")).expect("a fresh log opens");
    let mut rng = Rng::new(7);
    let centres: Vec<Vec<f32>> = (0..n.div_ceil(GROUP)).map(|_| rng.unit_vector()).collect();
    let words: Vec<String> = (0..2000).map(|i| format!("word{i}")).collect();
    for chunk in (0..n).collect::<Vec<_>>().chunks(1000) {
        let mut events = Vec::new();
        let mut vectors = Vec::new();
        for i in chunk {
            let picked: Vec<&str> = (0..12).map(|_| words[rng.below(words.len())].as_str()).collect();
            let content = format!("Topic {} note {i}: {}.", i / GROUP, picked.join(" "));
            let at = Timestamp(((now - (i % 60) as f64 * 86_400.0) * 1e6) as i64);
            let record = MemoryRecord {
                content: content.clone(),
                tags: vec![format!("topic{}", i / GROUP)],
                memory_type: Some("note".into()),
                metadata: "{}".into(),
                created_at: at,
                updated_at: at,
            };
            let memory = mms_log::ContentHash::of_content(&content);
            let noise = rng.unit_vector();
            let centre = &centres[i / GROUP];
            let mut vector: Vec<f32> = centre.iter().zip(&noise).map(|(c, e)| c + 0.5 * e).collect();
            let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
            vector.iter_mut().for_each(|x| *x /= norm);
            vectors.push(VectorEntry { model: mcp_memory_service::embed::MODEL_NAME.into(), memory, vector });
            events.push(NewEvent {
                event_id: EventId::generate(),
                actor: Actor::new(Interface::Import, None),
                memory,
                kind: EventKind::Stored(record),
                expect: Expect::Any,
            });
        }
        log.append(events, vectors).expect("the memories are appended");
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("a directory");
    for entry in std::fs::read_dir(from).expect("a directory to copy").flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("a copy");
        }
    }
}

fn open(dir: &Path) -> Store {
    let base = dir.to_string_lossy().into_owned();
    let config = Cli::parse_from(["mcp-memory-service", "--base-dir", &base, "stats"]).config;
    Store::open(&Settings::of(&config).expect("valid settings"), false).expect("the store opens")
}

async fn caught_up(service: &Service, n: usize) {
    while service.stats().await.expect("stats").ann_vectors < n {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn search(query: &str, relevance_weight: f64) -> SearchRequest {
    SearchRequest {
        query: query.into(),
        mode: SearchMode::Hybrid,
        limit: 10,
        relevance_weight,
        ..SearchRequest::default()
    }
}

/// Search latencies (sorted) of `count` searches, or of searches until `until` says stop; relevance weighs
/// `relevance_weight` in their ranking (`quality_boost`).
async fn searches(service: &Service, count: usize, relevance_weight: f64, until: impl Fn() -> bool) -> Vec<Duration> {
    let mut taken = Vec::new();
    let queries = ["deploy rollback of the payments service", "topic 12 note", "word17 word230 word999"];
    while taken.len() < count && !until() {
        let started = Instant::now();
        service.search(search(queries[taken.len() % queries.len()], relevance_weight)).await.expect("a search");
        taken.push(started.elapsed());
    }
    taken.sort();
    taken
}

fn main() {
    tracing_subscriber::fmt().with_env_filter("mcp_memory_service::service=info").with_writer(std::io::stderr).init();
    let n = if common::bench_mode() {
        std::env::var("MMS_BENCH_CONSOLIDATION_N").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000)
    } else {
        300
    };
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a runtime");
    let now = chrono::Utc::now().timestamp() as f64;
    let source = tempfile::tempdir().expect("a temporary directory");
    fill(source.path(), n, now);
    {
        let started = Instant::now();
        let store = open(source.path());
        runtime.block_on(caught_up(&store.service, n));
        eprintln!("consolidation: read models of {n} memories built in {:.1} s", started.elapsed().as_secs_f64());
        store.close();
    }
    let settings = mcp_memory_service::consolidation::Settings::default();
    let actor = || Actor::new(Interface::System, Some("bench".into()));
    let mut c = common::criterion();
    let mut group = c.benchmark_group(format!("consolidation_{n}_memories"));
    group.sample_size(10);
    // Above 20,000 memories ten runs take too long: the one run timed beside the searches below is the figure.
    let sampled = n <= 20_000;
    sampled.then(|| {
        group.bench_function("monthly_run", |b| {
            b.iter_custom(|iterations| {
                let mut total = Duration::ZERO;
                for _ in 0..iterations {
                    let copy = tempfile::tempdir().expect("a temporary directory");
                    copy_dir(source.path(), copy.path());
                    let store = open(copy.path());
                    runtime.block_on(caught_up(&store.service, n));
                    let started = Instant::now();
                    let report = runtime
                        .block_on(store.service.consolidate(Horizon::Monthly, &settings, now, false, actor()))
                        .expect("a run");
                    total += started.elapsed();
                    eprintln!(
                        "  run: {} clusters, {} associations, {} archived, {} events in {:.2} s",
                        report.clusters_created,
                        report.associations_discovered,
                        report.memories_archived,
                        report.events_appended,
                        report.duration_seconds
                    );
                    store.close();
                }
                total
            })
        })
    });
    group.finish();

    // Search latency before and during a run, on the same store.
    let copy = tempfile::tempdir().expect("a temporary directory");
    copy_dir(source.path(), copy.path());
    let store = open(copy.path());
    let service = store.service.clone();
    runtime.block_on(async {
        caught_up(&service, n).await;
        let before = searches(&service, 200, 0.0, || false).await;
        let boosted = searches(&service, 200, 0.3, || false).await;
        eprintln!(
            "search p50/p99 with quality_boost 0.3: {:.2}/{:.2} ms (without: {:.2}/{:.2} ms)",
            common::percentile_ms(&boosted, 50.0),
            common::percentile_ms(&boosted, 99.0),
            common::percentile_ms(&before, 50.0),
            common::percentile_ms(&before, 99.0)
        );
        let running = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let flag = running.clone();
        let runner = service.clone();
        let run = tokio::spawn(async move {
            let report = runner.consolidate(Horizon::Monthly, &settings, now, false, actor()).await.expect("a run");
            flag.store(false, std::sync::atomic::Ordering::SeqCst);
            report
        });
        let during = searches(&service, usize::MAX, 0.0, || !running.load(std::sync::atomic::Ordering::SeqCst)).await;
        let report = run.await.expect("the run ends");
        eprintln!(
            "search p50/p99 before a run: {:.2}/{:.2} ms; during it ({} searches over {:.1} s): {:.2}/{:.2} ms",
            common::percentile_ms(&before, 50.0),
            common::percentile_ms(&before, 99.0),
            during.len(),
            report.duration_seconds,
            common::percentile_ms(&during, 50.0),
            common::percentile_ms(&during, 99.0)
        );
    });
    drop(service);
    store.close();
    c.final_summary();
}
