//! Time travel: what an `as_of` query costs on a store of 10,000 memories (500 under `cargo test --benches`).
//!
//! The store is a real one (`store::Store` on a data directory) whose log holds the memories with their
//! vectors in the embedding cache, as after normal use; the live read model and ANN index have caught up
//! before anything is measured. Measured through `Service`:
//! - `first_list`: a list as of an event no earlier query asked for, so the sqlite read model is
//!   materialised at that event (the log replayed into a scratch database), then queried;
//! - `next_event_list`: a list as of the event after the last one asked for: the kept read model of that
//!   one is copied and brought forward by one event;
//! - `cached_list` and `cached_keyword_search`: the same event asked again (the materialisation is kept);
//! - `get`: one memory as of an event, by folding its history (never materialised).
//!
//! Run: `cargo bench --bench as_of`.

mod common;

use clap::Parser;
use criterion::SamplingMode;
use mcp_memory_service::cli::Cli;
use mcp_memory_service::service::{ListRequest, Point, SearchMode, SearchRequest};
use mcp_memory_service::store::{Settings, Store};
use std::time::{Duration, Instant};

fn list_all() -> ListRequest {
    ListRequest { page: 1, page_size: 10, tags: vec![], match_all: false, memory_type: None, created: None }
}

fn main() {
    let n: u64 = if common::bench_mode() { 10_000 } else { 500 };
    let dir = tempfile::tempdir().expect("a temporary directory");
    common::fill_log(dir.path(), n as usize);
    let base = dir.path().to_string_lossy().into_owned();
    let config = Cli::parse_from(["mcp-memory-service", "--base-dir", &base, "stats"]).config;
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a runtime");
    let store = Store::open(&Settings::of(&config).expect("valid settings"), false).expect("the store opens");
    let service = store.service.clone();
    // Measure nothing while the live projections catch up (they would compete for the two cores).
    let started = Instant::now();
    runtime.block_on(async {
        while service.stats().await.expect("stats").ann_vectors < n as usize {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    eprintln!("as_of: live read models caught up with {n} memories in {:.1} s", started.elapsed().as_secs_f64());
    let hash = mms_log::ContentHash::of_content(&common::memory_text(n / 2)).to_hex();

    let mut c = common::criterion();
    let mut group = c.benchmark_group(format!("as_of_{n}_memories"));
    group.sampling_mode(SamplingMode::Flat);
    // Every iteration asks for an event not asked for before: always a cache miss, a full materialisation.
    let mut next = n;
    group.bench_function("first_list", |b| {
        b.iter(|| {
            next = if next <= n / 2 { n } else { next - 1 };
            let target = Point::Seq(next);
            let (page, _) = runtime.block_on(service.list_as_of(list_all(), target)).expect("a list");
            assert_eq!(page.total, next);
        })
    });
    // Each iteration asks for the event after the previous one: a copy of that read model, one event applied.
    let mut forward = n / 4;
    group.bench_function("next_event_list", |b| {
        b.iter(|| {
            forward = if forward >= n / 2 { n / 4 } else { forward + 1 };
            let target = Point::Seq(forward);
            let (page, _) = runtime.block_on(service.list_as_of(list_all(), target)).expect("a list");
            assert_eq!(page.total, forward);
        })
    });
    group.bench_function("cached_list", |b| {
        b.iter(|| runtime.block_on(service.list_as_of(list_all(), Point::Seq(n / 2))).expect("a list"))
    });
    let keyword = SearchRequest {
        query: "missing index on the invoices table".into(),
        mode: SearchMode::Keyword,
        limit: 10,
        ..SearchRequest::default()
    };
    group.bench_function("cached_keyword_search", |b| {
        b.iter(|| runtime.block_on(service.search_as_of(keyword.clone(), Point::Seq(n / 2))).expect("a search"))
    });
    group.bench_function("get", |b| {
        b.iter(|| runtime.block_on(service.get_as_of(&hash, Point::Seq(n))).expect("a memory"))
    });
    group.finish();
    c.final_summary();
    drop(service);
    store.close();
}
