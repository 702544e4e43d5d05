//! Semantic deduplication at write time: what it adds to a store on a store of 10,000 memories (500 under
//! `cargo test --benches`).
//!
//! Two real stores (`store::Store`) of the same memories, with their vectors in the log's embedding cache
//! and their read models and ANN index caught up, one with `MCP_SEMANTIC_DEDUP_ENABLED` and one without.
//! Each iteration stores a new memory through `Service::store`, embedding it with the real model, so the two
//! figures differ by the duplicate check: the nearest memories to the new vector (through the ANN index at
//! this size) and their creation times. The threshold is 1.0 so that every store is written and both stores
//! grow alike (the check costs the same whatever the threshold). `dedup_check` then times the check alone
//! (`Service::semantic_duplicate`) for the vector of a memory just stored.
//!
//! Run: `cargo bench --bench dedup`.

mod common;

use clap::Parser;
use mcp_memory_service::cli::Cli;
use mcp_memory_service::service::{SemanticDedup, StoreOutcome, StoreRequest};
use mcp_memory_service::store::{Settings, Store};
use mms_log::{Actor, Interface};
use std::time::{Duration, Instant};

fn main() {
    let n = if common::bench_mode() { 10_000 } else { 500 };
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a runtime");
    let mut c = common::criterion();
    let mut group = c.benchmark_group(format!("store_{n}_memories"));
    for dedup in [false, true] {
        let dir = tempfile::tempdir().expect("a temporary directory");
        common::fill_log(dir.path(), n);
        let base = dir.path().to_string_lossy().into_owned();
        let mut args = vec!["mcp-memory-service", "--base-dir", &base, "--semantic-dedup-threshold", "1.0"];
        args.extend(dedup.then_some("--semantic-dedup-enabled"));
        let config = Cli::parse_from(args.into_iter().chain(["stats"])).config;
        let store = Store::open(&Settings::of(&config).expect("valid settings"), false).expect("the store opens");
        let service = store.service.clone();
        let started = Instant::now();
        runtime.block_on(async {
            while service.stats().await.expect("stats").ann_vectors < n {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
        eprintln!("dedup {dedup}: read models caught up with {n} memories in {:.1} s", started.elapsed().as_secs_f64());
        let mut next = 0u64;
        let name = if dedup { "dedup_on" } else { "dedup_off" };
        group.bench_function(name, |b| {
            b.iter(|| {
                next += 1;
                let content = format!("A note taken during the benchmark, number {next}, about store latency.");
                let request = StoreRequest { content, ..StoreRequest::default() };
                let actor = Actor::new(Interface::Cli, Some("bench".into()));
                let outcome = runtime.block_on(service.store(request, actor)).expect("a store");
                assert!(matches!(outcome, StoreOutcome::Stored(_)), "{outcome:?}");
            })
        });
        if dedup {
            // The check alone, for the vector of a memory stored above (found: its own memory, similarity 1).
            let content = format!("A note taken during the benchmark, number {next}, about store latency.");
            let vector = runtime.block_on(service.embedder().embed(vec![content])).expect("a vector").remove(0);
            let settings = SemanticDedup { window_secs: 86_400.0, threshold: 0.85 };
            group.bench_function("dedup_check", |b| {
                b.iter(|| runtime.block_on(service.semantic_duplicate(vector.clone(), settings)).expect("a check"))
            });
        }
        drop(service);
        store.close();
    }
    group.finish();
    c.final_summary();
}
