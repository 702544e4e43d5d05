//! Durable append throughput of the redb event log: one writer committing one event per call, and 32
//! writer threads whose appends the log's single writer groups into shared commits.
//!
//! Every event stores a new memory with distinct content, so each append passes the writer's checks and
//! is acknowledged only after its commit is durable (fsync). Run: `cargo bench --bench log`.

mod common;

use criterion::{Criterion, Throughput};
use mms_log::Log;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

/// Concurrent writer threads in the group-commit bench.
const WRITERS: usize = 32;
/// Appends each writer thread makes per iteration, one event per call.
const APPENDS_PER_WRITER: usize = 16;

/// Numbers for distinct contents, shared by every bench of this binary.
static NEXT: AtomicU64 = AtomicU64::new(0);

fn next_content() -> String {
    common::memory_text(NEXT.fetch_add(1, Ordering::Relaxed))
}

fn append_one(log: &Log) {
    let appended = log.append(vec![common::new_stored(&next_content())], Vec::new()).expect("the append commits");
    assert!(appended[0].fresh, "every bench event is new");
}

fn single_writer(c: &mut Criterion, log: &Log) {
    let mut group = c.benchmark_group("log_append");
    group.throughput(Throughput::Elements(1));
    group.bench_function("1_writer_1_event_per_commit", |b| {
        b.iter_custom(|iters| {
            let contents: Vec<String> = (0..iters).map(|_| next_content()).collect();
            let started = Instant::now();
            for content in &contents {
                log.append(vec![common::new_stored(content)], Vec::new()).expect("the append commits");
            }
            started.elapsed()
        })
    });
    group.finish();
}

/// The ceiling of group commit with 32 writers: one caller committing 32 events per call, which is the
/// largest group 32 writers with one append in flight each can form.
fn batched_writer(c: &mut Criterion, log: &Log) {
    let mut group = c.benchmark_group("log_append");
    group.throughput(Throughput::Elements(WRITERS as u64));
    group.bench_function("1_writer_32_events_per_commit", |b| {
        b.iter_custom(|iters| {
            let batches: Vec<Vec<_>> =
                (0..iters).map(|_| (0..WRITERS).map(|_| common::new_stored(&next_content())).collect()).collect();
            let started = Instant::now();
            for batch in batches {
                log.append(batch, Vec::new()).expect("the append commits");
            }
            started.elapsed()
        })
    });
    group.finish();
}

fn concurrent_writers(c: &mut Criterion, log: &Log) {
    let mut group = c.benchmark_group("log_append");
    group.throughput(Throughput::Elements((WRITERS * APPENDS_PER_WRITER) as u64));
    group.bench_function("32_writers_group_commit", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                // Each thread prepares its contents, then all start together; the clock runs from the
                // start signal until the last thread has had its last append acknowledged.
                let barrier = Arc::new(Barrier::new(WRITERS + 1));
                let started = std::thread::scope(|scope| {
                    for _ in 0..WRITERS {
                        let barrier = barrier.clone();
                        scope.spawn(move || {
                            let events: Vec<_> =
                                (0..APPENDS_PER_WRITER).map(|_| common::new_stored(&next_content())).collect();
                            barrier.wait();
                            for event in events {
                                log.append(vec![event], Vec::new()).expect("the append commits");
                            }
                        });
                    }
                    barrier.wait();
                    Instant::now()
                });
                // The scope joined every writer when it returned.
                total += started.elapsed();
            }
            total
        })
    });
    group.finish();
}

fn main() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let log = Log::open(dir.path().join("events.redb")).expect("a fresh log opens");
    // One append before measuring, so the first commit's table creation is not counted.
    append_one(&log);
    // The log's position advances once per commit: counting advances gives the events per commit.
    let commits = Arc::new(AtomicU64::new(0));
    let counter = commits.clone();
    log.committed().on_advance(move |_| {
        counter.fetch_add(1, Ordering::Relaxed);
    });
    let mut c = common::criterion();
    single_writer(&mut c, &log);
    batched_writer(&mut c, &log);
    let (events_before, commits_before) = (log.last_seq().0, commits.load(Ordering::Relaxed));
    concurrent_writers(&mut c, &log);
    let events = log.last_seq().0 - events_before;
    let groups = commits.load(Ordering::Relaxed) - commits_before;
    eprintln!(
        "log_append/32_writers_group_commit: {events} events in {groups} commits, {:.1} events per commit",
        events as f64 / groups.max(1) as f64
    );
    eprintln!(
        "log: {} events committed, file size {:.1} MiB",
        log.last_seq(),
        log.file_size() as f64 / (1024.0 * 1024.0)
    );
    c.final_summary();
}
