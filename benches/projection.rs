//! Projection throughput: applying batches of `Stored` events to the sqlite-vec read model and the usearch
//! index, and a full `Projector::rebuild` from a log whose vectors are cached.
//!
//! Vectors are the real MiniLM vectors of the generated corpus (see `common`): HNSW inserts of random
//! vectors cost about twice as much, which one apply bench shows for comparison. The rebuild replays corpus
//! memories with their vectors served from memory by a `VectorSource`, as after a restart with a warm
//! embedding cache. The apply benches' read models grow over the measurement.
//!
//! Run: `cargo bench --bench projection`. For the one-off large figure, set `MMS_BENCH_REBUILD_N=100000`:
//! the bench then times one rebuild of that many memories (and nothing else), prints it with the process's
//! peak memory, and leaves the store in `<data dir>/rebuild-<N>/` with its vectors in the log's cache, so
//! that `mcp-memory-service rebuild` can be timed on it too (`MCP_MEMORY_BASE_DIR=<that dir>`). Past the
//! corpus's 100k sentences (`MMS_BENCH_REBUILD_N=1000000`), memories are pairs of its sentences with
//! synthetic vectors (see `common::extended`); the bench prints how close those are to the model's own.

mod common;

use criterion::{Criterion, SamplingMode, Throughput};
use mcp_memory_service::embed::MODEL_NAME;
use mms_log::{ContentHash, Event, Log, Seq, VectorEntry};
use mms_projections::{AnnIndex, Applied, Projection, ProjectionError, Projector, SqliteProjection, VectorSource};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Events per applied batch: the projector's default batch size.
const BATCH: usize = 512;
/// Size of the generated corpus the rebuild draws its memories from.
const CORPUS: usize = 100_000;

/// The vector source of a rebuild whose every vector is cached: a map lookup and a copy per memory.
struct MapSource(HashMap<ContentHash, Vec<f32>>);

impl VectorSource for MapSource {
    fn vectors(&self, wanted: &[(ContentHash, &str)]) -> Result<HashMap<ContentHash, Vec<f32>>, String> {
        Ok(wanted.iter().filter_map(|(hash, _)| self.0.get(hash).map(|v| (*hash, v.clone()))).collect())
    }
}

/// Which read models one apply bench feeds.
#[derive(Clone, Copy)]
enum Target {
    Sqlite,
    Ann,
    Both,
}

/// Where the vectors of applied events come from.
#[derive(Clone, Copy)]
enum Vectors {
    /// The corpus's MiniLM vectors, in order: what the index sees in practice.
    Real,
    /// Random unit vectors, for comparison: HNSW inserts of unstructured vectors cost more.
    Random,
}

fn open_projections(dir: &Path, target: Target) -> Vec<Box<dyn Projection>> {
    let sqlite = || -> Box<dyn Projection> {
        Box::new(SqliteProjection::open(&dir.join("sqlite_vec.db")).expect("the read model opens"))
    };
    let ann = || -> Box<dyn Projection> {
        Box::new(Arc::new(AnnIndex::open(&dir.join("ann"), common::ann_options()).expect("the index opens")))
    };
    match target {
        Target::Sqlite => vec![sqlite()],
        Target::Ann => vec![ann()],
        Target::Both => vec![sqlite(), ann()],
    }
}

fn apply_throughput(c: &mut Criterion, corpus: &common::Corpus) {
    let mut group = c.benchmark_group("projection_apply");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.sampling_mode(SamplingMode::Flat);
    let cases = [
        ("sqlite", Target::Sqlite, Vectors::Real),
        ("usearch", Target::Ann, Vectors::Real),
        ("usearch_random_vectors", Target::Ann, Vectors::Random),
        ("sqlite+usearch", Target::Both, Vectors::Real),
    ];
    for (name, target, source) in cases {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut projections = open_projections(dir.path(), target);
        let mut rng = common::Rng::new(7);
        let mut next_seq = 1u64;
        group.bench_function(format!("{name}_batch_{BATCH}"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let seqs = next_seq..next_seq + BATCH as u64;
                    next_seq += BATCH as u64;
                    let events: Vec<Event> =
                        seqs.clone().map(|seq| common::stored_event(seq, &common::memory_text(seq))).collect();
                    let vectors: Vec<Vec<f32>> = match source {
                        // Past the corpus's end the vectors repeat; the measurement stays well below that.
                        Vectors::Real => {
                            seqs.map(|seq| corpus.vectors[(seq as usize - 1) % corpus.vectors.len()].clone()).collect()
                        }
                        Vectors::Random => (0..BATCH).map(|_| rng.unit_vector()).collect(),
                    };
                    let batch: Vec<Applied<'_>> =
                        events.iter().zip(&vectors).map(|(event, v)| Applied { event, vector: Some(v) }).collect();
                    let started = Instant::now();
                    for projection in &mut projections {
                        projection.apply(&batch).expect("the batch applies");
                    }
                    total += started.elapsed();
                }
                total
            })
        });
        eprintln!("projection_apply/{name}: {} events applied in all", next_seq - 1);
    }
    group.finish();
}

/// A projection that adds up the time spent in it, to split a rebuild's time between the read models.
struct Timed {
    inner: Box<dyn Projection>,
    spent: Arc<std::sync::Mutex<Duration>>,
}

impl Timed {
    fn wrap(inner: Box<dyn Projection>) -> (Box<dyn Projection>, Arc<std::sync::Mutex<Duration>>) {
        let spent = Arc::new(std::sync::Mutex::new(Duration::ZERO));
        (Box::new(Timed { inner, spent: spent.clone() }), spent)
    }

    fn time<T>(&mut self, work: impl FnOnce(&mut dyn Projection) -> T) -> T {
        let started = Instant::now();
        let out = work(self.inner.as_mut());
        if let Ok(mut spent) = self.spent.lock() {
            *spent += started.elapsed();
        }
        out
    }
}

impl Projection for Timed {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn checkpoint(&self) -> Seq {
        self.inner.checkpoint()
    }

    fn apply(&mut self, batch: &[Applied<'_>]) -> Result<(), ProjectionError> {
        self.time(|p| p.apply(batch))
    }

    fn reset(&mut self) -> Result<(), ProjectionError> {
        self.time(|p| p.reset())
    }

    fn persist(&mut self) -> Result<(), ProjectionError> {
        self.time(|p| p.persist())
    }
}

/// A store directory laid out as the service's (`events.redb`, `sqlite_vec.db`, `ann/`) with a log of the
/// first `n` corpus memories, their vectors in the log's embedding cache, and a map source of the same.
struct RebuildStore {
    log: Log,
    source: Arc<MapSource>,
    dir: std::path::PathBuf,
}

fn fill_store(dir: &Path, texts: &[String], vectors: &[Vec<f32>]) -> RebuildStore {
    let started = Instant::now();
    let n = texts.len();
    let log = Log::open(dir.join("events.redb")).expect("a fresh log opens");
    let mut map = HashMap::with_capacity(n);
    for (texts, vectors) in texts.chunks(1000).zip(vectors.chunks(1000)) {
        let events: Vec<_> = texts.iter().map(|t| common::new_stored(t)).collect();
        let entries: Vec<VectorEntry> = events
            .iter()
            .zip(vectors)
            .map(|(e, v)| VectorEntry { model: MODEL_NAME.into(), memory: e.memory, vector: v.clone() })
            .collect();
        for entry in &entries {
            map.insert(entry.memory, entry.vector.clone());
        }
        log.append(events, entries).expect("the corpus is appended");
    }
    eprintln!("rebuild: log of {n} memories written in {:.1} s", started.elapsed().as_secs_f64());
    RebuildStore { log, source: Arc::new(MapSource(map)), dir: dir.to_path_buf() }
}

fn projector(store: &RebuildStore) -> Projector {
    let projections = open_projections(&store.dir, Target::Both);
    Projector::new(store.log.clone(), projections, store.source.clone())
}

fn rebuild(c: &mut Criterion, corpus: &common::Corpus, n: usize) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = fill_store(dir.path(), &corpus.texts[..n], &corpus.vectors[..n]);
    let mut projector = projector(&store);
    let mut group = c.benchmark_group("projection_rebuild");
    group.throughput(Throughput::Elements(n as u64));
    group.sampling_mode(SamplingMode::Flat);
    group.measurement_time(Duration::from_secs(20));
    group.bench_function(format!("{n}_memories"), |b| {
        b.iter(|| {
            let reached = projector.rebuild(|_, _| {}).expect("the rebuild succeeds");
            assert_eq!(reached, Seq(n as u64));
        })
    });
    group.finish();
}

/// `MMS_BENCH_REBUILD_N`: one timed rebuild of that many memories, kept on disk for the CLI.
fn rebuild_once(corpus: &common::Corpus, n: usize) {
    let dir = common::data_dir().join(format!("rebuild-{n}"));
    let _ = std::fs::remove_dir_all(&dir);
    let (texts, vectors) = common::extended(corpus, n);
    if n > corpus.texts.len() {
        let (mean, lowest) = common::pair_vector_fidelity(&texts, &vectors, corpus.texts.len(), 64);
        eprintln!(
            "memories past the corpus's {} have synthetic vectors: cosine to the model's own, over 64 of them, \
             mean {mean:.3}, lowest {lowest:.3}",
            corpus.texts.len()
        );
    }
    let store = fill_store(&dir, &texts, &vectors);
    drop((texts, vectors));
    let mut spent = Vec::new();
    let projections: Vec<Box<dyn Projection>> = open_projections(&store.dir, Target::Both)
        .into_iter()
        .map(|p| {
            let name = p.name();
            let (timed, time) = Timed::wrap(p);
            spent.push((name, time));
            timed
        })
        .collect();
    let mut projector = Projector::new(store.log.clone(), projections, store.source.clone());
    let started = Instant::now();
    let mut last = Instant::now();
    let reached = projector
        .rebuild(|done, total| {
            if last.elapsed() >= Duration::from_secs(5) {
                eprintln!("  applied {done}/{total} events after {:.1} s", started.elapsed().as_secs_f64());
                last = Instant::now();
            }
        })
        .expect("the rebuild succeeds");
    let seconds = started.elapsed().as_secs_f64();
    let mut accounted = 0.0;
    for (name, time) in &spent {
        let seconds = time.lock().map(|t| t.as_secs_f64()).unwrap_or_default();
        accounted += seconds;
        eprintln!("  in {name} (reset, apply, save): {seconds:.2} s");
    }
    eprintln!("  elsewhere (reading and decoding the log, vector lookups): {:.2} s", seconds - accounted);
    let (peak, now) = common::memory_mib();
    eprintln!(
        "rebuild of {} memories (sqlite-vec + usearch, vectors cached): {seconds:.2} s, {:.0} events/s",
        reached.0,
        n as f64 / seconds
    );
    eprintln!("process memory: peak {peak:.0} MiB, now {now:.0} MiB (the corpus and its vectors included)");
    eprintln!("store kept in {}", dir.display());
}

fn main() {
    let bench = common::bench_mode();
    let corpus_size = if bench { CORPUS } else { 1000 };
    if let Some(n) = std::env::var("MMS_BENCH_REBUILD_N").ok().and_then(|n| n.parse::<usize>().ok()) {
        let corpus = common::load_corpus(CORPUS, 200);
        rebuild_once(&corpus, n);
        return;
    }
    let corpus = common::load_corpus(corpus_size, 200);
    let mut c = common::criterion();
    apply_throughput(&mut c, &corpus);
    rebuild(&mut c, &corpus, if bench { 10_000 } else { 500 });
    c.final_summary();
}
