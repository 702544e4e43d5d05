//! What the benches share: criterion settings, a deterministic corpus of distinct sentences, its MiniLM
//! vectors cached on disk, event and vector builders, and process memory figures.
//!
//! Every bench binary includes this module with `mod common;` and uses a different part of it.

#![allow(dead_code, reason = "each bench binary uses a different part of this module")]

use mcp_memory_service::embed::{Embedder, ModelPaths, ModelStatus};
use mms_log::{Actor, ContentHash, Event, EventId, EventKind, Interface, MemoryRecord, NewEvent, Seq, Timestamp};
use mms_projections::AnnOptions;
use std::collections::HashSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Dimensions of a MiniLM vector.
pub(crate) const DIMENSIONS: usize = 384;

/// True under `cargo bench`; false under `cargo test --benches`, where criterion runs each benchmark once
/// and the benches use small inputs so that a test run stays quick.
pub(crate) fn bench_mode() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// Short criterion settings: 10 samples, a one-second warm-up and a few seconds of measurement, so that
/// all benches together finish in minutes on two cores.
pub(crate) fn criterion() -> criterion::Criterion {
    criterion::Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .without_plots()
        .configure_from_args()
}

/// Where benches keep data between runs: `$MMS_BENCH_DATA_DIR`, else `bench-data/` in the target directory
/// (the bench binary lives in `<target>/release/deps/`), never inside the repository's sources.
pub(crate) fn data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("MMS_BENCH_DATA_DIR") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().expect("the bench binary knows its own path");
    let target = exe.ancestors().nth(3).map(Path::to_path_buf).unwrap_or_else(std::env::temp_dir);
    target.join("bench-data")
}

/// A small, fast, deterministic generator (splitmix64): benches need repeatable inputs, not good randomness.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// A uniform float in [-1, 1).
    fn symmetric(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }

    /// A random unit vector: good enough for throughput, meaningless for recall.
    pub(crate) fn unit_vector(&mut self) -> Vec<f32> {
        let mut v: Vec<f32> = (0..DIMENSIONS).map(|_| self.symmetric()).collect();
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
        v.iter_mut().for_each(|x| *x /= norm);
        v
    }
}

const SUBJECTS: &[&str] = &[
    "The backend team",
    "Alice from the platform group",
    "Our CI pipeline",
    "The on-call engineer",
    "The mobile app team",
    "The new intern",
    "Customer support",
    "The data science group",
    "Bob, the tech lead,",
    "The security auditor",
    "The product manager",
    "The release captain",
    "Our largest customer",
    "The database administrator",
    "The frontend developers",
    "The infrastructure team",
    "Maria in finance",
    "The QA engineers",
    "The design team",
    "The open source maintainers",
    "The SRE rotation",
    "Our Berlin office",
    "The analytics pipeline",
    "The hiring committee",
    "The legal department",
    "The machine learning team",
    "The documentation writers",
    "The payments squad",
    "The search team",
    "The CTO",
    "The support bot",
    "The accessibility reviewer",
    "The performance working group",
    "Jonas, a contractor,",
    "The growth team",
    "The embedded firmware team",
    "The observability team",
    "The architecture board",
    "Priya from sales engineering",
    "The weekend on-call",
];

const VERBS: &[&str] = &[
    "fixed",
    "broke",
    "reviewed",
    "deployed",
    "rolled back",
    "documented",
    "profiled",
    "refactored",
    "load tested",
    "discussed",
    "postponed work on",
    "benchmarked",
    "migrated",
    "started monitoring",
    "filed a bug against",
    "rewrote",
    "deprecated",
    "approved the design of",
    "paired on",
    "asked questions about",
    "found a memory leak in",
    "added tracing to",
    "split up",
    "cleaned up",
    "estimated",
    "wrote tests for",
    "complained about",
    "automated",
    "audited",
    "simplified",
];

const OBJECTS: &[&str] = &[
    "the login flow",
    "the caching layer",
    "the nightly backup job",
    "the billing report",
    "the Kubernetes cluster",
    "the onboarding guide",
    "the recommendation model",
    "the password reset email",
    "the GraphQL gateway",
    "the invoice PDF generator",
    "the rate limiter",
    "the feature flag service",
    "the Postgres replica",
    "the dark mode theme",
    "the push notification worker",
    "the search autocomplete",
    "the CSV export",
    "the SSO integration",
    "the audit log",
    "the checkout page",
    "the image resizing service",
    "the Terraform modules",
    "the message queue consumers",
    "the mobile release checklist",
    "the customer churn dashboard",
    "the API documentation",
    "the retry logic of the webhook sender",
    "the localisation files",
    "the TLS certificates",
    "the vector search index",
    "the pricing page",
    "the data retention policy",
    "the build cache",
    "the error budget report",
    "the Slack alert routing",
    "the GDPR deletion job",
    "the video transcoding queue",
    "the quarterly roadmap",
    "the cron scheduler",
    "the offline sync of the mobile app",
];

const CONTEXTS: &[&str] = &[
    "before the Friday release",
    "after the outage on Tuesday",
    "to reduce memory usage",
    "during the quarterly planning",
    "because customers complained about latency",
    "in the staging environment",
    "ahead of the security review",
    "while the main database was being upgraded",
    "so that the next audit goes smoothly",
    "after a long discussion in the architecture meeting",
    "to cut the cloud bill by a third",
    "for the enterprise launch in March",
    "because the error rate doubled overnight",
    "as part of the accessibility push",
    "to unblock the mobile team",
    "after a customer lost data",
    "during the hackathon",
    "while migrating to the new region",
    "to make onboarding faster for new hires",
    "because the old vendor raised prices",
    "right before the holiday freeze",
    "to satisfy the new compliance rules",
    "after the load test failed at ten thousand users",
    "with help from the vendor's support engineers",
    "on the advice of the external consultant",
    "because nobody remembered how it worked",
    "to prepare for the board demo",
    "after users reported wrong totals",
    "in a late-night incident call",
    "for the open source release",
    "to speed up the test suite",
    "while the team was short-staffed",
    "because the disk filled up again",
    "after the upgrade to the new framework version",
    "to support right-to-left languages",
    "as requested in last week's retrospective",
];

/// `n` distinct sentences (subject, verb, object, context), in a fixed pseudo-random order, followed by
/// `queries` more sentences that are not among the first `n`.
pub(crate) fn corpus(n: usize, queries: usize) -> (Vec<String>, Vec<String>) {
    let total = n + queries;
    let combinations = SUBJECTS.len() * VERBS.len() * OBJECTS.len() * CONTEXTS.len();
    assert!(total <= combinations / 4, "the word lists give {combinations} sentences, too few for {total}");
    let mut rng = Rng::new(0x5eed_0fc0_4905);
    let mut seen = HashSet::with_capacity(total);
    let mut sentences = Vec::with_capacity(total);
    while sentences.len() < total {
        let pick =
            (rng.below(SUBJECTS.len()), rng.below(VERBS.len()), rng.below(OBJECTS.len()), rng.below(CONTEXTS.len()));
        if seen.insert(pick) {
            let (s, v, o, c) = pick;
            sentences.push(format!("{} {} {} {}.", SUBJECTS[s], VERBS[v], OBJECTS[o], CONTEXTS[c]));
        }
    }
    let queries = sentences.split_off(n);
    (sentences, queries)
}

/// FNV-1a over the texts, so that a cache written for other texts is never reused.
fn fingerprint(texts: &[String]) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    for text in texts {
        for byte in text.bytes().chain([b'\n']) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

const CACHE_MAGIC: &[u8; 8] = b"MMSBVEC1";

/// The model and ONNX Runtime as the service finds them: `MCP_MEMORY_MODEL_DIR` and `ORT_DYLIB_PATH`, else
/// the default assets directory of `scripts/install-assets`.
pub(crate) fn model_paths() -> ModelPaths {
    let assets = std::env::var_os("MCP_MEMORY_ASSETS_DIR").map(PathBuf::from).unwrap_or_else(|| {
        let cache = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache"));
        cache.join("mcp-memory-service")
    });
    let model_dir = std::env::var_os("MCP_MEMORY_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| assets.join("models").join("all-MiniLM-L6-v2"));
    let runtime_library = std::env::var_os("ORT_DYLIB_PATH")
        .map(PathBuf::from)
        .unwrap_or_else(|| assets.join("onnxruntime").join("libonnxruntime.so.1.32.0"));
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    ModelPaths { model_dir, runtime_library, threads, eager: true }
}

/// Starts the embedder as the server does (all cores, eager) and waits until the model is loaded.
pub(crate) fn ready_embedder() -> Embedder {
    let started = Instant::now();
    let embedder = Embedder::start(model_paths());
    loop {
        match embedder.status() {
            ModelStatus::Ready => break,
            ModelStatus::Failed(reason) => panic!("the embedding model cannot be loaded: {reason}"),
            ModelStatus::Loading => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    eprintln!("embedding model loaded in {:.0} ms", started.elapsed().as_secs_f64() * 1e3);
    embedder
}

/// The MiniLM vectors of `texts`, read from `<data dir>/<name>.bin` when it holds vectors of exactly these
/// texts, otherwise embedded with the real model (minutes for 100k texts on two cores) and saved there.
pub(crate) fn cached_vectors(name: &str, texts: &[String]) -> Vec<Vec<f32>> {
    let path = data_dir().join(format!("{name}.bin"));
    let print = fingerprint(texts);
    match read_vectors(&path, texts.len(), print) {
        Ok(vectors) => {
            eprintln!("using {} cached vectors from {}", vectors.len(), path.display());
            return vectors;
        }
        Err(reason) => eprintln!("no usable vector cache at {} ({reason})", path.display()),
    }
    eprintln!("embedding {} texts with all-MiniLM-L6-v2 to create it; this runs once", texts.len());
    let embedder = ready_embedder();
    let started = Instant::now();
    let mut vectors = Vec::with_capacity(texts.len());
    let mut reported = Instant::now();
    for chunk in texts.chunks(256) {
        let embedded = embedder.embed_blocking(chunk.to_vec()).expect("the model embeds the corpus");
        vectors.extend(embedded);
        if reported.elapsed() >= Duration::from_secs(10) || vectors.len() == texts.len() {
            let rate = vectors.len() as f64 / started.elapsed().as_secs_f64();
            let left = (texts.len() - vectors.len()) as f64 / rate;
            eprintln!("  embedded {}/{} texts, {rate:.0} texts/s, about {left:.0} s left", vectors.len(), texts.len());
            reported = Instant::now();
        }
    }
    write_vectors(&path, &vectors, print).expect("the vector cache can be written");
    eprintln!("saved the vectors to {}", path.display());
    vectors
}

fn read_vectors(path: &Path, count: usize, print: u64) -> Result<Vec<Vec<f32>>, String> {
    let mut bytes = Vec::new();
    std::fs::File::open(path).and_then(|mut f| f.read_to_end(&mut bytes)).map_err(|e| e.to_string())?;
    let header = 8 + 3 * 8;
    if bytes.len() < header || &bytes[..8] != CACHE_MAGIC {
        return Err("no valid header".into());
    }
    let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
    let (found, dimensions, found_print) = (word(8) as usize, word(16) as usize, word(24));
    if found != count || dimensions != DIMENSIONS || found_print != print {
        return Err("it holds vectors of other texts".into());
    }
    if bytes.len() != header + count * DIMENSIONS * 4 {
        return Err("it is truncated".into());
    }
    Ok(bytes[header..]
        .chunks_exact(DIMENSIONS * 4)
        .map(|v| v.chunks_exact(4).map(|x| f32::from_le_bytes([x[0], x[1], x[2], x[3]])).collect())
        .collect())
}

fn write_vectors(path: &Path, vectors: &[Vec<f32>], print: u64) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut bytes = Vec::with_capacity(32 + vectors.len() * DIMENSIONS * 4);
    bytes.extend_from_slice(CACHE_MAGIC);
    for word in [vectors.len() as u64, DIMENSIONS as u64, print] {
        bytes.extend_from_slice(&word.to_le_bytes());
    }
    for vector in vectors {
        bytes.extend(vector.iter().flat_map(|x| x.to_le_bytes()));
    }
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(&bytes)?;
    file.sync_all()?;
    std::fs::rename(tmp, path)
}

/// The corpus of the search and rebuild benches: 100k sentences plus 200 queries, with their vectors.
pub(crate) struct Corpus {
    pub(crate) texts: Vec<String>,
    pub(crate) vectors: Vec<Vec<f32>>,
    pub(crate) queries: Vec<String>,
    pub(crate) query_vectors: Vec<Vec<f32>>,
}

/// Loads (or creates) the vectors of the first `n` corpus sentences and of `queries` query sentences.
/// The cache is keyed by `n`, so the 100k corpus of `cargo bench` and the small one of a test run differ.
pub(crate) fn load_corpus(n: usize, queries: usize) -> Corpus {
    let (texts, query_texts) = corpus(n, queries);
    let vectors = cached_vectors(&format!("minilm-corpus-{n}"), &texts);
    let query_vectors = cached_vectors(&format!("minilm-queries-{n}-{queries}"), &query_texts);
    Corpus { texts, vectors, queries: query_texts, query_vectors }
}

/// `n` memories for a store larger than the corpus (the 1M row of the scaling table): the corpus's sentences,
/// then pairs of them, `"<a> Later, <b>"`, with `a` running through the corpus and `b` a fixed stride away per
/// pass, so every text is distinct. A pair's vector is the normalised sum of its two sentences' real vectors:
/// MiniLM mean-pools its tokens, so this is near what embedding the pair gives (`pair_vector_fidelity`
/// measures how near), without the hours of embedding a million texts would take here.
pub(crate) fn extended(corpus: &Corpus, n: usize) -> (Vec<String>, Vec<Vec<f32>>) {
    let base = corpus.texts.len();
    let mut texts = corpus.texts[..n.min(base)].to_vec();
    let mut vectors = corpus.vectors[..n.min(base)].to_vec();
    for i in base..n {
        let (a, b) = pair_of(i, base);
        texts.push(format!("{} Later, {}", corpus.texts[a], lowercase_first(&corpus.texts[b])));
        vectors.push(normalised_sum(&corpus.vectors[a], &corpus.vectors[b]));
    }
    (texts, vectors)
}

/// The two corpus sentences of the `i`-th memory past a corpus of `base`: a stride per pass that is never a
/// multiple of `base` (for the passes a million memories take), so no pair repeats.
fn pair_of(i: usize, base: usize) -> (usize, usize) {
    let (pass, a) = (i / base, i % base);
    (a, (a + pass * 7_919) % base)
}

fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |c| c.to_lowercase().chain(chars).collect())
}

fn normalised_sum(a: &[f32], b: &[f32]) -> Vec<f32> {
    let sum: Vec<f32> = a.iter().zip(b).map(|(x, y)| x + y).collect();
    let norm = sum.iter().map(|x| x * x).sum::<f32>().sqrt().max(f32::EPSILON);
    sum.into_iter().map(|x| x / norm).collect()
}

/// Embeds `sample` of the pair memories of [`extended`] for real and returns the mean and the lowest cosine
/// similarity between each real vector and the synthetic one the store holds.
pub(crate) fn pair_vector_fidelity(texts: &[String], vectors: &[Vec<f32>], base: usize, sample: usize) -> (f64, f64) {
    let picked: Vec<usize> = (0..sample).map(|k| base + k * (texts.len() - base) / sample.max(1)).collect();
    let embedder = ready_embedder();
    let real = embedder
        .embed_blocking(picked.iter().map(|&i| texts[i].clone()).collect())
        .expect("the model embeds the sample");
    let cosines: Vec<f64> = picked
        .iter()
        .zip(&real)
        .map(|(&i, r)| r.iter().zip(&vectors[i]).map(|(x, y)| f64::from(x * y)).sum())
        .collect();
    let mean = cosines.iter().sum::<f64>() / cosines.len().max(1) as f64;
    (mean, cosines.iter().copied().fold(f64::INFINITY, f64::min))
}

/// The service's ANN options, except `MMS_BENCH_ANN_EXPANSION_ADD` (efConstruction) when set: a knob for
/// measuring what a cheaper graph build costs in recall.
pub(crate) fn ann_options() -> AnnOptions {
    let mut options = AnnOptions::default();
    if let Some(expansion) = std::env::var("MMS_BENCH_ANN_EXPANSION_ADD").ok().and_then(|v| v.parse().ok()) {
        eprintln!("usearch efConstruction set to {expansion} by MMS_BENCH_ANN_EXPANSION_ADD");
        options.expansion_add = expansion;
    }
    options
}

/// A memory record with the given content, as the service would store it.
pub(crate) fn record(content: &str) -> MemoryRecord {
    let now = Timestamp::now();
    MemoryRecord {
        content: content.to_string(),
        tags: vec!["bench".into(), "notes".into()],
        memory_type: Some("note".into()),
        metadata: r#"{"source":"bench"}"#.into(),
        created_at: now,
        updated_at: now,
    }
}

/// An append request storing a new memory.
pub(crate) fn new_stored(content: &str) -> NewEvent {
    NewEvent {
        event_id: EventId::generate(),
        actor: Actor::new(Interface::Cli, Some("bench".into())),
        memory: ContentHash::of_content(content),
        kind: EventKind::Stored(record(content)),
        expect: mms_log::Expect::Any,
    }
}

/// A committed `Stored` event at `seq`, as a projection receives it from the log.
pub(crate) fn stored_event(seq: u64, content: &str) -> Event {
    Event {
        seq: Seq(seq),
        event_id: EventId::generate(),
        at: Timestamp::now(),
        actor: Actor::new(Interface::Cli, Some("bench".into())),
        memory: ContentHash::of_content(content),
        version: 1,
        kind: EventKind::Stored(record(content)),
    }
}

/// Content of a realistic length (about 250 bytes) that is distinct for every `n`.
pub(crate) fn memory_text(n: u64) -> String {
    format!(
        "Benchmark memory {n}: the deploy of the payments service was rolled back after the error rate rose; \
         the cause was a missing index on the invoices table, added in migration {n}, and the follow-up is \
         to alert on slow queries before the next release."
    )
}

/// A log of `n` memories (`memory_text(1..=n)`) with random vectors in its embedding cache, in
/// `dir/events.redb`: a store as after normal use, whose read models a `Store` opened on `dir` builds.
pub(crate) fn fill_log(dir: &Path, n: usize) {
    let log = mms_log::Log::open(dir.join("events.redb")).expect("a fresh log opens");
    let mut rng = Rng::new(11);
    for chunk in (1..=n as u64).collect::<Vec<_>>().chunks(1000) {
        let events: Vec<_> = chunk.iter().map(|i| new_stored(&memory_text(*i))).collect();
        let vectors = events
            .iter()
            .map(|e| mms_log::VectorEntry {
                model: mcp_memory_service::embed::MODEL_NAME.into(),
                memory: e.memory,
                vector: rng.unit_vector(),
            })
            .collect();
        log.append(events, vectors).expect("the memories are appended");
    }
}

/// Peak and current resident memory of this process, in MiB, from /proc/self/status.
pub(crate) fn memory_mib() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// The p-th percentile (0 to 100) of durations, in milliseconds.
pub(crate) fn percentile_ms(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)].as_secs_f64() * 1e3
}
