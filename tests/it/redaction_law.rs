//! The redaction law (#17), property-tested black-box: two hybrid devices (real `serve` processes on the
//! Cloudflare stand-in) go through random interleavings of stores, tag updates, deletes, undeletes, full
//! and incremental backups (one of them running while the redaction commits), point-in-time restores,
//! restores from a backup, `as_of` reads, rebuilds by the CLI, syncs, and redactions. After each redaction
//! settles, no file under either device's data directory (the log, the read model and its WAL, the ANN
//! files, the sync state, the time-travel scratch files, every backup) holds the redacted content, its
//! tags, or its vectors' bytes (the model's as f32 and as the ANN index's 8-bit integers, and Workers AI's): the raw
//! files are searched.
//!
//! Each device starts with unrelated memories and a full backup, so most backups the operations take are
//! incremental. Six cases of up to 13 operations by default, each with fresh devices;
//! `MMS_REDACTION_LAW_CASES=N` runs N.
//! The log file (`events.redb`) is the one known exception while a server runs: redb is copy-on-write, so
//! erased bytes may sit in its free pages until the store is next opened, when the file is rewritten whole.
//! Each settled redaction is therefore checked twice: every file but `events.redb` while both servers run,
//! then every file after both restarted.

use crate::support::cloudflare::Standin;
use crate::support::content_hash;
use crate::support::device::Device;
use proptest::prelude::*;
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Memories per case.
const POOL: u8 = 4;
/// Unrelated memories each device starts with.
const FILLER: usize = 16;
/// The log's file: redb is copy-on-write, so erased bytes would sit in its free pages if the writer did not
/// rewrite it right after a redaction (README, Redaction).
const LOG_FILE: &str = "events.redb";
/// Whether a running server leaves no erased bytes in `LOG_FILE` either: it does, since the writer rewrites
/// the file after each redaction, so the first step of `check` covers the log too (the restart step stays).
const LOG_SCRUBBED_WHILE_RUNNING: bool = true;

/// One of the two devices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dev {
    A,
    B,
}

impl Dev {
    fn index(self) -> usize {
        match self {
            Dev::A => 0,
            Dev::B => 1,
        }
    }

    fn other(self) -> Dev {
        match self {
            Dev::A => Dev::B,
            Dev::B => Dev::A,
        }
    }
}

/// One step of a case. `memory` indexes the pool; `tags` is a non-empty set of the memory's three tags
/// (bits 0..3); `at` picks a point of the log (`at`/255 of the way to its end) and `pick` a backup.
#[derive(Clone, Debug)]
enum Op {
    Store {
        on: Dev,
        memory: u8,
        tags: u8,
    },
    Retag {
        on: Dev,
        memory: u8,
        tags: u8,
    },
    Delete {
        on: Dev,
        memory: u8,
    },
    Undelete {
        on: Dev,
        memory: u8,
    },
    Backup {
        on: Dev,
        full: bool,
    },
    RestoreToSeq {
        on: Dev,
        at: u8,
    },
    RestoreBackup {
        on: Dev,
        pick: u8,
    },
    AsOf {
        on: Dev,
        at: u8,
    },
    /// Stop the server, `rebuild` with the CLI, start it again.
    Rebuild {
        on: Dev,
    },
    Sync {
        on: Dev,
    },
    /// A redaction on `on`, or on the other device when only that one holds the memory.
    Redact {
        on: Dev,
        memory: u8,
    },
    /// A redaction and a backup sent together to one device (chosen as for `Redact`); the other device
    /// backs up while it pulls the redaction.
    RedactDuringBackup {
        on: Dev,
        memory: u8,
        full: bool,
    },
}

fn dev() -> impl Strategy<Value = Dev> {
    prop_oneof![Just(Dev::A), Just(Dev::B)]
}

fn op() -> impl Strategy<Value = Op> {
    let memory = 0..POOL;
    let tags = 1u8..8;
    prop_oneof![
        4 => (dev(), memory.clone(), tags.clone()).prop_map(|(on, memory, tags)| Op::Store { on, memory, tags }),
        2 => (dev(), memory.clone(), tags).prop_map(|(on, memory, tags)| Op::Retag { on, memory, tags }),
        2 => (dev(), memory.clone()).prop_map(|(on, memory)| Op::Delete { on, memory }),
        1 => (dev(), memory.clone()).prop_map(|(on, memory)| Op::Undelete { on, memory }),
        2 => (dev(), any::<bool>()).prop_map(|(on, full)| Op::Backup { on, full }),
        1 => (dev(), any::<u8>()).prop_map(|(on, at)| Op::RestoreToSeq { on, at }),
        1 => (dev(), any::<u8>()).prop_map(|(on, pick)| Op::RestoreBackup { on, pick }),
        1 => (dev(), any::<u8>()).prop_map(|(on, at)| Op::AsOf { on, at }),
        // Rare: a rebuild stops and starts a server.
        1 => dev().prop_map(|on| Op::Rebuild { on }),
        3 => dev().prop_map(|on| Op::Sync { on }),
        2 => (dev(), memory.clone()).prop_map(|(on, memory)| Op::Redact { on, memory }),
        1 => (dev(), memory, any::<bool>()).prop_map(|(on, memory, full)| Op::RedactDuringBackup { on, memory, full }),
    ]
}

/// A case: a memory stored first, random operations, then both devices sync and one redacts that memory
/// (so every case redacts something both devices hold, unless it was redacted already on the way).
fn case() -> impl Strategy<Value = (u64, Vec<Op>)> {
    (any::<u64>(), dev(), 0..POOL, 1u8..8, prop::collection::vec(op(), 2..=9), dev(), any::<bool>()).prop_map(
        |(seed, first_on, memory, tags, mut middle, last_on, concurrent)| {
            let mut ops = vec![Op::Store { on: first_on, memory, tags }];
            ops.append(&mut middle);
            ops.extend([Op::Sync { on: first_on }, Op::Sync { on: first_on.other() }]);
            ops.push(if concurrent {
                Op::RedactDuringBackup { on: last_on, memory, full: false }
            } else {
                Op::Redact { on: last_on, memory }
            });
            (seed, ops)
        },
    )
}

/// A memory of the pool: words no other memory and no other file has, so bytes found can only be its own.
struct Secret {
    content: String,
    content_word: String,
    tag_word: String,
    /// all-MiniLM-L6-v2's vector of the content (the local read models, the log's cache, the backups).
    model_vector: Vec<f32>,
    /// The stand-in's Workers AI vector of the content (cached in the log by the push).
    cloud_vector: Vec<f32>,
}

impl Secret {
    fn tags(&self, set: u8) -> Vec<String> {
        (0..3).filter(|bit| set & (1 << bit) != 0).map(|bit| format!("{}-{bit}", self.tag_word)).collect()
    }

    fn hash(&self) -> String {
        content_hash(&self.content)
    }

    /// What must not be found once the memory is redacted, with a name for the failure message.
    fn needles(&self) -> Vec<(String, Needle)> {
        let mut needles = vec![
            ("content".to_string(), Needle::Bytes(self.content.clone().into_bytes())),
            ("content word".to_string(), Needle::Bytes(self.content_word.clone().into_bytes())),
            // Every tag of the memory contains the tag word.
            ("tag word".to_string(), Needle::Bytes(self.tag_word.clone().into_bytes())),
        ];
        needles.extend((0..3).map(|bit| (format!("tag {}-{bit}", self.tag_word), Needle::tag(&self.tag_word, bit))));
        // Three 32-byte windows, far enough apart that a sqlite overflow-page boundary splits at most one.
        for start in [100, 200, 300] {
            needles.push((
                format!("model vector dims {start}..{} as f32", start + 8),
                Needle::F32(self.model_vector[start..start + 8].to_vec()),
            ));
        }
        // The ANN index holds each component scaled to unit length and by 127, truncated to an integer.
        let magnitude = self.model_vector.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
        let scaled: Vec<f32> = self.model_vector.iter().map(|x| (f64::from(*x) * 127.0 / magnitude) as f32).collect();
        for start in [96, 192, 288] {
            needles.push((
                format!("model vector dims {start}..{} as i8", start + 16),
                Needle::I8(scaled[start..start + 16].to_vec()),
            ));
        }
        // Workers AI's vector is sparse (hashed words): the whole of it, anchored at its largest value.
        needles.push(("Workers AI vector as f32".to_string(), Needle::F32(self.cloud_vector.clone())));
        needles
    }
}

/// The words of memory `n` of a case: two letters that say what they are, the memory's letter, eight letters
/// from the case's seed.
fn word(kind: &str, seed: u64, n: u8) -> String {
    let mut x = seed
        ^ (u64::from(n) + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ (kind.as_bytes()[1] as u64).wrapping_mul(0xD1B5_4A32_D192_ED03);
    let mut letters = String::new();
    for _ in 0..8 {
        // splitmix64
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        letters.push(char::from(b'a' + (z % 26) as u8));
    }
    format!("{kind}{}{letters}", char::from(b'a' + n))
}

fn content(n: u8, content_word: &str) -> String {
    format!("Memory {n} of the redaction law keeps the code word {content_word}, which must be forgotten for real")
}

/// Bytes to look for in a file: exact, or a vector's values as little-endian f32 or as 8-bit integers
/// within a tolerance (the server may embed in a batch, which changes the last bits; the index truncates).
enum Needle {
    Bytes(Vec<u8>),
    F32(Vec<f32>),
    /// Values already scaled as the index scales them (unit length, times 127), before truncation.
    I8(Vec<f32>),
}

impl Needle {
    fn tag(tag_word: &str, bit: u8) -> Needle {
        Needle::Bytes(format!("{tag_word}-{bit}").into_bytes())
    }

    fn found_in(&self, bytes: &[u8]) -> bool {
        match self {
            Needle::Bytes(needle) => contains(bytes, needle),
            Needle::F32(window) => contains_values(
                bytes,
                window,
                4,
                |b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
                |x, y| (x - y).abs() <= 1e-5 + y.abs() * 1e-3,
            ),
            Needle::I8(window) => {
                contains_values(bytes, window, 1, |b| f32::from(b[0] as i8), |x, y| (x - y).abs() <= 1.01)
            }
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    let Some((&first, rest)) = needle.split_first() else { return true };
    haystack.len() >= needle.len()
        && (0..=haystack.len() - needle.len())
            .any(|i| haystack[i] == first && &haystack[i + 1..i + needle.len()] == rest)
}

/// Whether `window` is somewhere in `bytes` as consecutive values of `width` bytes, each `close` to its own.
/// The search is anchored at the window's largest value, the one least likely to be there by chance.
fn contains_values(
    bytes: &[u8],
    window: &[f32],
    width: usize,
    decode: impl Fn(&[u8]) -> f32,
    close: impl Fn(f32, f32) -> bool,
) -> bool {
    let Some(anchor) = (0..window.len()).max_by(|&a, &b| window[a].abs().total_cmp(&window[b].abs())) else {
        return true;
    };
    let span = window.len() * width;
    if bytes.len() < span {
        return false;
    }
    (anchor * width..=bytes.len() - span + anchor * width).any(|at| {
        close(decode(&bytes[at..at + width]), window[anchor]) && {
            let start = at - anchor * width;
            window.iter().enumerate().all(|(i, &value)| close(decode(&bytes[start + i * width..]), value))
        }
    })
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return out };
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// `(file, what)` for each needle of each secret found in a file under `dir` that `include` accepts.
fn traces(dir: &Path, secrets: &[&Secret], include: impl Fn(&Path) -> bool) -> Vec<(PathBuf, String)> {
    let needles: Vec<(String, Needle)> = secrets
        .iter()
        .flat_map(|s| s.needles().into_iter().map(|(what, needle)| (format!("{} of {}", what, s.content_word), needle)))
        .collect();
    let mut found = Vec::new();
    for path in files_under(dir).into_iter().filter(|p| include(p.strip_prefix(dir).unwrap_or(p))) {
        // A file removed between the listing and the read (a backup's `.partial`, a scratch file) held nothing.
        let Ok(bytes) = std::fs::read(&path) else { continue };
        for (what, needle) in &needles {
            if needle.found_in(&bytes) {
                found.push((path.strip_prefix(dir).unwrap_or(&path).to_path_buf(), what.clone()));
            }
        }
    }
    found
}

fn is_log_file(relative: &Path) -> bool {
    relative == Path::new(LOG_FILE)
}

fn is_ann_file(relative: &Path) -> bool {
    relative.starts_with("ann")
}

/// The two devices; a slot is empty only while its server is being restarted.
struct Devices {
    slots: [Option<Device>; 2],
}

impl Devices {
    fn get(&self, dev: Dev) -> &Device {
        self.slots[dev.index()].as_ref().expect("the device is running")
    }

    async fn restart_both(&mut self) {
        let a = self.slots[0].take().expect("A is running");
        let b = self.slots[1].take().expect("B is running");
        let (a, b) = tokio::join!(a.restart(), b.restart());
        self.slots = [Some(a), Some(b)];
    }

    async fn rebuild(&mut self, dev: Dev) {
        let device = self.slots[dev.index()].take().expect("the device is running");
        let (device, _) = device.with_cli(&["rebuild"]).await;
        self.slots[dev.index()] = Some(device);
    }
}

/// A request whose status must be one of `allowed`; its status and body.
async fn send(device: &Device, method: Method, path: &str, body: Option<Value>, allowed: &[u16]) -> (u16, Value) {
    let (status, value) = device.request(method.clone(), path, body).await;
    assert!(
        allowed.contains(&status.as_u16()),
        "{method} {path}: {status} {value}, expected one of {allowed:?}\n{}",
        device.server.stderr()
    );
    (status.as_u16(), value)
}

async fn backup(device: &Device, full: bool) {
    let path = if full { "/api/backup/now?full=true" } else { "/api/backup/now" };
    let (_, created) = send(device, Method::POST, path, None, &[200]).await;
    assert_eq!(created["success"], true, "{created}");
}

async fn redact(device: &Device, secret: &Secret) -> bool {
    let path = format!("/api/memories/{}/redact", secret.hash());
    // 404: the device never had the memory; 409: it is redacted already.
    let (status, _) =
        send(device, Method::POST, &path, Some(json!({"reason": "the redaction law"})), &[200, 404, 409]).await;
    status == 200
}

/// The device's log position.
async fn log_seq(device: &Device) -> u64 {
    let detailed = device.call(Method::GET, "/api/health/detailed", None).await;
    detailed["projections"]["log_seq"].as_u64().expect("a log position")
}

/// The history of a memory on a device: None when the device never had it.
async fn history(device: &Device, secret: &Secret) -> Option<Vec<Value>> {
    let path = format!("/api/memories/{}/history", secret.hash());
    let (status, body) = send(device, Method::GET, &path, None, &[200, 404]).await;
    (status == 200).then(|| body["history"].as_array().expect("a history").clone())
}

/// The sequence number of the memory's redaction on a device, when its last event is one.
async fn redaction_seq(device: &Device, secret: &Secret) -> Option<u64> {
    let history = history(device, secret).await?;
    let last = history.last()?;
    (last["kind"] == "redacted").then(|| last["seq"].as_u64().expect("a seq"))
}

/// Applies one operation; returns the memory it redacted and the device that did, if it did.
async fn apply(devices: &mut Devices, secrets: &[Secret], op: &Op) -> Option<(u8, Dev)> {
    let hash = |m: u8| secrets[m as usize].hash();
    match *op {
        Op::Store { on, memory, tags } => {
            let secret = &secrets[memory as usize];
            let body = json!({"content": secret.content, "tags": secret.tags(tags)});
            // A duplicate is answered 200 with success false.
            send(devices.get(on), Method::POST, "/api/memories", Some(body), &[200]).await;
        }
        Op::Retag { on, memory, tags } => {
            let body = json!({"tags": secrets[memory as usize].tags(tags)});
            send(devices.get(on), Method::PUT, &format!("/api/memories/{}", hash(memory)), Some(body), &[200, 404])
                .await;
        }
        Op::Delete { on, memory } => {
            send(devices.get(on), Method::DELETE, &format!("/api/memories/{}", hash(memory)), None, &[200, 404]).await;
        }
        Op::Undelete { on, memory } => {
            let path = format!("/api/memories/{}/restore", hash(memory));
            send(devices.get(on), Method::POST, &path, None, &[200, 404, 409]).await;
        }
        Op::Backup { on, full } => backup(devices.get(on), full).await,
        Op::RestoreToSeq { on, at } => {
            let device = devices.get(on);
            let to_seq = log_seq(device).await * u64::from(at) / 255;
            let body = json!({"to_seq": to_seq, "dry_run": false});
            send(device, Method::POST, "/api/restore", Some(body), &[200]).await;
        }
        Op::RestoreBackup { on, pick } => {
            let device = devices.get(on);
            let listed = device.call(Method::GET, "/api/backup/list", None).await;
            let backups = listed["backups"].as_array().expect("a list");
            if !backups.is_empty() {
                let name = backups[pick as usize % backups.len()]["filename"].as_str().expect("a name").to_string();
                let body = json!({"backup": name, "dry_run": false});
                send(device, Method::POST, "/api/restore", Some(body), &[200]).await;
            }
        }
        Op::AsOf { on, at } => {
            let device = devices.get(on);
            let seq = log_seq(device).await * u64::from(at) / 255;
            send(device, Method::GET, &format!("/api/memories?as_of=seq:{seq}&page_size=100"), None, &[200]).await;
        }
        Op::Rebuild { on } => devices.rebuild(on).await,
        Op::Sync { on } => {
            devices.get(on).force().await;
        }
        Op::Redact { on, memory } => {
            let on = holder(devices, on, &secrets[memory as usize]).await;
            if redact(devices.get(on), &secrets[memory as usize]).await {
                return Some((memory, on));
            }
        }
        Op::RedactDuringBackup { on, memory, full } => {
            let on = holder(devices, on, &secrets[memory as usize]).await;
            let device = devices.get(on);
            let (redacted, ()) = tokio::join!(redact(device, &secrets[memory as usize]), backup(device, full));
            if redacted {
                return Some((memory, on));
            }
        }
    }
    None
}

/// The device to redact on: `preferred` when it holds the memory (live or deleted), else the other one when
/// it does, else `preferred` (which answers 404). Without this most redactions would miss, the devices
/// syncing only now and then.
async fn holder(devices: &Devices, preferred: Dev, secret: &Secret) -> Dev {
    for dev in [preferred, preferred.other()] {
        let history = history(devices.get(dev), secret).await;
        if history.is_some_and(|h| h.last().is_some_and(|e| e["kind"] != "redacted")) {
            return dev;
        }
    }
    preferred
}

/// Brings a redaction made on `on` to the other device and waits until both have erased it from their
/// backups and ANN files: sync both ways until the other's GET is 404 and its history ends with the
/// redaction (or it never had the memory), then until every backup's manifest counts the redaction as
/// applied. `backup_while_pulling` takes a backup on the other device during its first pull.
async fn settle(devices: &Devices, secret: &Secret, on: Dev, backup_while_pulling: bool, forgotten: &[&Secret]) {
    let (here, there) = (devices.get(on), devices.get(on.other()));
    let get = format!("/api/memories/{}", secret.hash());
    let mut pulled = false;
    for round in 0..10 {
        here.force().await;
        if round == 0 && backup_while_pulling {
            tokio::join!(there.force(), backup(there, false));
        } else {
            there.force().await;
        }
        let (status, _) = send(there, Method::GET, &get, None, &[200, 404]).await;
        let history = history(there, secret).await;
        let ends_redacted = history.as_ref().is_none_or(|h| h.last().is_some_and(|e| e["kind"] == "redacted"));
        if status == 404 && ends_redacted {
            pulled = true;
            break;
        }
    }
    assert!(pulled, "device {:?} never pulled the redaction of {}", on.other(), secret.content_word);
    for device in [here, there] {
        let Some(seq) = redaction_seq(device, secret).await else { continue };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let listed = device.call(Method::GET, "/api/backup/list", None).await;
            let behind: Vec<&Value> = listed["backups"]
                .as_array()
                .expect("a list")
                .iter()
                .filter(|b| b["redactions_applied"].as_u64().is_none_or(|applied| applied < seq))
                .collect();
            if behind.is_empty() {
                break;
            }
            assert!(Instant::now() < deadline, "backups never counted the redaction at {seq} as applied: {behind:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        // The ANN index is rebuilt in the background after a redaction (README): wait for its files.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let found = traces(device.data.path(), forgotten, is_ann_file);
            if found.is_empty() {
                break;
            }
            assert!(Instant::now() < deadline, "the ANN files still hold a redacted memory: {found:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// The law, for every memory redacted and not stored again since, in two steps: (1) while both servers run,
/// every file but the log; (2) after both restarted (which rewrites the log whole), every file.
async fn check(devices: &mut Devices, forgotten: &[&Secret], ops: &[Op]) -> Result<(), TestCaseError> {
    for dev in [Dev::A, Dev::B] {
        // While running: every file but events.redb, whose free pages may keep erased bytes until the
        // next open (see LOG_SCRUBBED_WHILE_RUNNING).
        let found = traces(devices.get(dev).data.path(), forgotten, |p| LOG_SCRUBBED_WHILE_RUNNING || !is_log_file(p));
        prop_assert!(found.is_empty(), "device {:?}, servers running, after {:?}: found {:?}", dev, ops, found);
    }
    devices.restart_both().await;
    for dev in [Dev::A, Dev::B] {
        let found = traces(devices.get(dev).data.path(), forgotten, |_| true);
        prop_assert!(found.is_empty(), "device {:?}, after a restart, after {:?}: found {:?}", dev, ops, found);
    }
    Ok(())
}

/// Stores unrelated memories and takes a full backup, so that the backups the operations take are mostly
/// incremental (an increment is taken while it has fewer events than half of its chain's full snapshot).
async fn fill(device: &Device, name: &str) {
    for i in 0..FILLER {
        device.store(&format!("Filler note {i} of device {name}, about nothing in particular"), &["filler"]).await;
    }
    backup(device, true).await;
}

async fn run(seed: u64, ops: &[Op], model_vectors: Vec<Vec<f32>>) -> Result<(), TestCaseError> {
    let standin = Standin::start();
    let mut secrets = Vec::new();
    for (n, model_vector) in (0..POOL).zip(model_vectors) {
        let content_word = word("cw", seed, n);
        let content = content(n, &content_word);
        let cloud_vector = standin.workers_ai_vector(&content).await;
        secrets.push(Secret { content, content_word, tag_word: word("tw", seed, n), model_vector, cloud_vector });
    }
    // Pulls only when forced, so a background pull never races a restore (409) or the order of a case.
    let extra = [
        ("MCP_HYBRID_SYNC_INTERVAL", "3600"),
        ("MCP_HYBRID_SYNC_ON_STARTUP", "false"),
        // The backup check erases pulled redactions from the backups; scheduled backups stay on.
        ("MMS_BACKUP_CHECK_SECONDS", "1"),
    ];
    let (a, b) = tokio::join!(Device::start(&standin, &extra), Device::start(&standin, &extra));
    tokio::join!(fill(&a, "A"), fill(&b, "B"));
    let mut devices = Devices { slots: [Some(a), Some(b)] };
    let mut forgotten: BTreeSet<u8> = BTreeSet::new();
    let mut unchecked = false;
    let mut checks = 0;
    for (i, op) in ops.iter().enumerate() {
        if let Op::Store { memory, .. } = op {
            // Stored again after its redaction: a new memory, whose bytes may be anywhere again.
            forgotten.remove(memory);
        }
        let redacted = apply(&mut devices, &secrets, op).await;
        unchecked = true;
        if let Some((memory, on)) = redacted {
            forgotten.insert(memory);
            let gone: Vec<&Secret> = forgotten.iter().map(|&m| &secrets[m as usize]).collect();
            let during_backup = matches!(op, Op::RedactDuringBackup { .. });
            settle(&devices, &secrets[memory as usize], on, during_backup, &gone).await;
            check(&mut devices, &gone, &ops[..=i]).await?;
            checks += 1;
            unchecked = false;
        }
    }
    if unchecked && !forgotten.is_empty() {
        // What came after the last redaction (restores from backups, syncs, rebuilds) brought nothing back.
        let gone: Vec<&Secret> = forgotten.iter().map(|&m| &secrets[m as usize]).collect();
        for dev in [Dev::A, Dev::B, Dev::A] {
            devices.get(dev).force().await;
        }
        check(&mut devices, &gone, ops).await?;
        checks += 1;
    }
    eprintln!("redaction law: {} operations, {checks} settled states checked: {ops:?}", ops.len());
    Ok(())
}

fn config() -> ProptestConfig {
    let cases = std::env::var("MMS_REDACTION_LAW_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(6);
    let mut config = ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() };
    if std::env::var_os("PROPTEST_MAX_SHRINK_ITERS").is_none() {
        // Each case starts three processes and takes seconds: shrink a failure, but not for hours.
        config.max_shrink_iters = 40;
    }
    config
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn a_redacted_memory_leaves_no_bytes_in_any_file_of_either_device((seed, ops) in case()) {
        let texts: Vec<String> = (0..POOL).map(|n| content(n, &word("cw", seed, n))).collect();
        let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
        let model_vectors = texts.iter().map(|t| crate::embedding::embed(&[t]).remove(0)).collect();
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a runtime");
        runtime.block_on(run(seed, &ops, model_vectors))?;
    }
}

/// The search finds what it looks for, so the law's "nothing found" means something: a memory stored on a
/// hybrid device, pushed, backed up, and saved in the ANN index by a restart leaves each kind of trace in
/// the files that should hold it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_search_finds_every_kind_of_trace_of_a_memory_not_yet_redacted() {
    let standin = Standin::start();
    let content_word = word("cw", 7, 0);
    let text = content(0, &content_word);
    let stored = text.clone();
    let model_vector = tokio::task::spawn_blocking(move || crate::embedding::embed(&[&text]).remove(0))
        .await
        .expect("the embedding runs");
    let cloud_vector = standin.workers_ai_vector(&stored).await;
    let secret = Secret { content: stored, content_word, tag_word: word("tw", 7, 0), model_vector, cloud_vector };
    let device = Device::start(&standin, &[("MCP_HYBRID_SYNC_INTERVAL", "3600")]).await;
    let tags = secret.tags(0b111);
    let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
    device.store(&secret.content, &tags).await;
    device.wait_pushed().await;
    backup(&device, true).await;
    let device = device.restart().await;

    let dir = device.data.path();
    let found = traces(dir, &[&secret], |_| true);
    let holders = |what: &str| -> BTreeSet<String> {
        found
            .iter()
            .filter(|(_, w)| w.starts_with(what))
            .map(|(p, _)| {
                let p = p.to_string_lossy();
                if p.starts_with("backups/") { "backups/".to_string() } else { p.into_owned() }
            })
            .collect()
    };
    let sqlite = |holders: &BTreeSet<String>| holders.iter().any(|h| h.starts_with("sqlite_vec.db"));
    for what in ["content of", "content word of", "tag word of", "tag tw"] {
        let holders = holders(what);
        assert!(holders.contains(LOG_FILE) && holders.contains("backups/") && sqlite(&holders), "{what}: {holders:?}");
    }
    for start in [100, 200, 300] {
        let holders = holders(&format!("model vector dims {start}..{} as f32", start + 8));
        assert!(holders.contains(LOG_FILE) && holders.contains("backups/") && sqlite(&holders), "{start}: {holders:?}");
    }
    for start in [96, 192, 288] {
        let holders = holders(&format!("model vector dims {start}..{} as i8", start + 16));
        assert!(holders.iter().any(|h| h.starts_with("ann/")), "i8 {start}: {holders:?}");
    }
    let holders = holders("Workers AI vector");
    assert!(holders.contains(LOG_FILE), "the Workers AI vector is cached in the log: {holders:?}");
    // And nothing is found where it is not: another memory's words and vectors are not this one's.
    let other_word = word("cw", 8, 1);
    let other = Secret {
        content: content(1, &other_word),
        content_word: other_word,
        tag_word: word("tw", 8, 1),
        model_vector: secret.model_vector.iter().map(|x| -x).collect(),
        cloud_vector: secret.cloud_vector.iter().map(|x| x * 0.5).collect(),
    };
    assert_eq!(traces(dir, &[&other], |_| true), Vec::<(PathBuf, String)>::new());
}
