//! Moving memories in and out of the store, shared by the CLI, the HTTP API and start-up: the import formats
//! (JSON lines, the original's exporter document, the original's `sqlite_vec.db`) and the export formats
//! (JSON lines, the original's exporter document). Every import goes through `Service::store_many` as the
//! `import` interface, so duplicates (by content hash) are skipped and a re-run appends nothing.

use crate::embed::MODEL_NAME;
use crate::service::{Memory, Service, ServiceError, StoreRequest};
use mms_log::{Actor, ContentHash, Interface, Timestamp};
use mms_projections::{DIMENSIONS, OriginalRow};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::path::Path;
use utoipa::ToSchema;

/// Cosine similarity at or above which a stored vector is taken as the same model's vector of the content.
pub const SAME_MODEL_SIMILARITY: f64 = 0.99;
/// How many stored vectors of an original database are checked against our model.
pub const MODEL_SAMPLE: usize = 32;
/// Memories per chunk of an export.
const EXPORT_CHUNK: usize = 500;

/// The format of an export.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, Deserialize, ToSchema, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    /// One memory object per line (this service's shape, with the ISO times).
    #[default]
    Jsonl,
    /// The original service's exporter document: `{"export_metadata": {...}, "memories": [...]}`.
    Original,
}

/// What an import did. `imported + duplicates + skipped_deleted + skipped_empty == total`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, ToSchema, JsonSchema)]
pub struct ImportReport {
    pub imported: usize,
    /// Already stored (same content hash), or twice in the input.
    pub duplicates: usize,
    pub total: usize,
    /// Rows the original had soft-deleted (`deleted_at` set): not imported.
    #[serde(skip_serializing_if = "is_zero")]
    pub skipped_deleted: usize,
    /// Rows of the original with blank content: not imported.
    #[serde(skip_serializing_if = "is_zero")]
    pub skipped_empty: usize,
    /// Memories whose stored vector was kept (no embedding needed).
    #[serde(skip_serializing_if = "is_zero")]
    pub vectors_kept: usize,
    /// Memories whose original content hash differs from ours (the original v8.9 hashed content plus metadata).
    #[serde(skip_serializing_if = "is_zero")]
    pub rehashed: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl ImportReport {
    /// One line for people.
    pub fn summary(&self) -> String {
        let mut line = format!(
            "imported {} of {} ({} skipped)",
            self.imported,
            crate::service::count(self.total as u64, "memory", "memories"),
            crate::service::count(self.duplicates as u64, "duplicate", "duplicates")
        );
        let mut notes = Vec::new();
        if self.skipped_deleted > 0 {
            notes.push(format!("{} deleted in the original, not imported", self.skipped_deleted));
        }
        if self.skipped_empty > 0 {
            notes.push(format!("{} with empty content, not imported", self.skipped_empty));
        }
        if self.vectors_kept > 0 {
            notes.push(format!("{} stored vectors kept", self.vectors_kept));
        }
        if self.rehashed > 0 {
            notes.push(format!("{} with a new content hash", self.rehashed));
        }
        if !notes.is_empty() {
            line.push_str("; ");
            line.push_str(&notes.join(", "));
        }
        line
    }
}

/// One memory of a JSON import: our export lines and the original exporter's entries share these fields.
#[derive(serde::Deserialize)]
struct Entry {
    content: String,
    #[serde(default)]
    tags: TagsField,
    #[serde(default)]
    memory_type: Option<String>,
    #[serde(default)]
    metadata: Option<Value>,
    #[serde(default)]
    created_at: Option<f64>,
    #[serde(default)]
    updated_at: Option<f64>,
}

/// Tags as a list or as the original's comma-joined string.
#[derive(Default, serde::Deserialize)]
#[serde(untagged)]
enum TagsField {
    #[default]
    None,
    List(Vec<String>),
    Joined(String),
}

fn split_joined(joined: &str) -> Vec<String> {
    joined.split(',').map(str::trim).filter(|t| !t.is_empty()).map(str::to_string).collect()
}

fn time(field: &str, secs: Option<f64>, n: usize) -> Result<Option<Timestamp>, ServiceError> {
    secs.map(|s| {
        Timestamp::try_from_secs_f64(s).ok_or_else(|| {
            ServiceError::Invalid(format!(
                "memory {n}: {field} {s} is not a time between the years 1 and 9999 (seconds since 1970)"
            ))
        })
    })
    .transpose()
}

/// Reads JSON lines (one memory object per line) or the original's exporter document.
pub fn parse_json(text: &str) -> Result<Vec<StoreRequest>, ServiceError> {
    let trimmed = text.trim_start();
    let entries: Vec<Entry> = match serde_json::from_str::<Value>(trimmed) {
        // The original's exporter writes one JSON document: {"export_metadata": ..., "memories": [...]}.
        Ok(Value::Object(mut document)) if document.contains_key("memories") => {
            serde_json::from_value(document.remove("memories").unwrap_or_default())
                .map_err(|e| ServiceError::Invalid(format!("the export's `memories` list is malformed: {e}")))?
        }
        whole => {
            let mut lines = text.lines().enumerate().filter(|(_, line)| !line.trim().is_empty()).peekable();
            // A first line that is not JSON at all: the input is no JSON lines, so say why the whole is
            // not a document either (a truncated export, another kind of file).
            if let (Err(error), Some((_, first))) = (&whole, lines.peek())
                && serde_json::from_str::<Value>(first).is_err()
            {
                return Err(ServiceError::Invalid(format!(
                    "neither JSON lines (one memory object per line) nor the original service's export document \
                     ({{\"export_metadata\": ..., \"memories\": [...]}}): {error}"
                )));
            }
            lines
                .map(|(n, line)| {
                    serde_json::from_str(line)
                        .map_err(|e| ServiceError::Invalid(format!("line {} is not a memory object: {e}", n + 1)))
                })
                .collect::<Result<_, _>>()?
        }
    };
    entries
        .into_iter()
        .enumerate()
        .map(|(n, m)| {
            Ok(StoreRequest {
                created_at: time("created_at", m.created_at, n + 1)?,
                updated_at: time("updated_at", m.updated_at, n + 1)?,
                content: m.content,
                tags: match m.tags {
                    TagsField::None => Vec::new(),
                    TagsField::List(tags) => tags,
                    TagsField::Joined(joined) => split_joined(&joined),
                },
                memory_type: m.memory_type,
                metadata: match m.metadata {
                    Some(Value::Object(map)) => map,
                    _ => Map::new(),
                },
                ..StoreRequest::default()
            })
        })
        .collect()
}

/// Prints `import: done/total` on stderr at most twice a second, and always the last step.
pub fn progress_on_stderr() -> impl FnMut(usize, usize) {
    let mut last: Option<std::time::Instant> = None;
    move |done, total| {
        if done == total || last.is_none_or(|at| at.elapsed().as_millis() >= 500) {
            eprintln!("import: {done}/{total}");
            last = Some(std::time::Instant::now());
        }
    }
}

fn actor() -> Actor {
    Actor::new(Interface::Import, None)
}

/// Stores parsed memories as an import; `progress(done, total)` after each batch.
pub async fn import_requests(
    service: &Service,
    requests: Vec<StoreRequest>,
    progress: impl FnMut(usize, usize),
) -> Result<ImportReport, ServiceError> {
    let total = requests.len();
    let (imported, duplicates) = service.store_many(requests, actor(), progress).await?;
    Ok(ImportReport { imported, duplicates, total, ..ImportReport::default() })
}

/// Seconds since the epoch of the original's ISO form (`2025-10-27T10:27:44.123456Z`, or without `Z`).
fn iso_secs(iso: &str) -> Option<f64> {
    let iso = iso.trim();
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(iso) {
        return Some(crate::service::epoch_seconds(at));
    }
    chrono::NaiveDateTime::parse_from_str(iso.trim_end_matches('Z'), "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|at| crate::service::epoch_seconds(at.and_utc()))
}

/// The metadata column as an object. Anything else is kept under `original_metadata`, never dropped.
fn metadata_of(text: Option<&str>) -> Map<String, Value> {
    let text = text.map(str::trim).unwrap_or_default();
    if text.is_empty() {
        return Map::new();
    }
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => map,
        Ok(Value::Null) => Map::new(),
        Ok(other) => Map::from_iter([("original_metadata".to_string(), other)]),
        Err(_) => Map::from_iter([("original_metadata".to_string(), Value::String(text.to_string()))]),
    }
}

fn request_of(row: &OriginalRow, n: usize) -> Result<StoreRequest, ServiceError> {
    let created = row.created_at.or_else(|| row.created_at_iso.as_deref().and_then(iso_secs));
    let updated = row.updated_at.or_else(|| row.updated_at_iso.as_deref().and_then(iso_secs)).or(created);
    Ok(StoreRequest {
        content: row.content.clone(),
        tags: split_joined(row.tags.as_deref().unwrap_or_default()),
        memory_type: row.memory_type.clone(),
        metadata: metadata_of(row.metadata.as_deref()),
        created_at: time("created_at", created, n)?,
        updated_at: time("updated_at", updated, n)?,
        ..StoreRequest::default()
    })
}

/// Cosine similarity, 0 when a vector is zero.
fn cosine(a: &[f32], b: &[f32]) -> f64 {
    1.0 - f64::from(crate::embed::cosine_distance(a, b))
}

/// A stored vector that could be ours: 384 finite values of unit length (the model's output is normalised).
fn plausible(vector: &[f32]) -> bool {
    let norm = vector.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    vector.len() == DIMENSIONS && vector.iter().all(|x| x.is_finite()) && (norm - 1.0).abs() < 0.01
}

/// Imports the original service's database at `path` (its `sqlite_vec.db`), keeping content, tags, type,
/// metadata and both times. Rows the original soft-deleted and rows with blank content are skipped.
///
/// Vectors: a plausible stored vector (384 finite values, unit length) is reused when the database's vectors
/// come from our model. To decide, up to [`MODEL_SAMPLE`] rows with plausible vectors, spread over the table,
/// are embedded now; the sampled rows always take the fresh vector, and if at least three quarters of them
/// agree with their stored vector (cosine similarity ≥ [`SAME_MODEL_SIMILARITY`]), the other rows keep theirs.
/// Otherwise (another model), and for rows without a plausible vector, the content is embedded again.
pub async fn import_original_database(
    service: &Service,
    path: &Path,
    progress: impl FnMut(usize, usize),
) -> Result<ImportReport, ServiceError> {
    let file = path.to_path_buf();
    let database = tokio::task::spawn_blocking(move || mms_projections::read_original(&file))
        .await?
        .map_err(|error| ServiceError::Invalid(error.to_string()))?;
    if let Some(why) = &database.vectors_unreadable {
        tracing::warn!(path = %path.display(), why, "the original's vectors cannot be read; every memory is embedded again");
    }
    let mut report = ImportReport { total: database.rows.len(), ..ImportReport::default() };
    let mut requests = Vec::with_capacity(database.rows.len());
    let mut stored_vectors = Vec::with_capacity(database.rows.len());
    for (n, row) in database.rows.iter().enumerate() {
        if row.deleted_at.is_some() {
            report.skipped_deleted += 1;
            continue;
        }
        if row.content.trim().is_empty() {
            report.skipped_empty += 1;
            continue;
        }
        if row.content_hash != ContentHash::of_content(&row.content).to_hex() {
            report.rehashed += 1;
        }
        requests.push(request_of(row, n + 1)?);
        stored_vectors.push(row.embedding.as_deref().filter(|v| plausible(v)));
    }

    let candidates: Vec<usize> = (0..requests.len()).filter(|&i| stored_vectors[i].is_some()).collect();
    let step = candidates.len().div_ceil(MODEL_SAMPLE).max(1);
    let sample: Vec<usize> = candidates.iter().copied().step_by(step).collect();
    if !sample.is_empty() {
        let texts = sample.iter().map(|&i| requests[i].content.clone()).collect();
        let fresh = service.embedder().embed(texts).await?;
        let mut agree = 0;
        for (&i, vector) in sample.iter().zip(fresh) {
            if stored_vectors[i].is_some_and(|stored| cosine(stored, &vector) >= SAME_MODEL_SIMILARITY) {
                agree += 1;
            }
            requests[i].vector = Some(vector);
        }
        let same_model = agree * 4 >= sample.len() * 3;
        tracing::info!(
            sampled = sample.len(),
            agree,
            same_model,
            "checked the original's vectors against {MODEL_NAME}"
        );
        if same_model {
            for &i in &candidates {
                if requests[i].vector.is_none() {
                    requests[i].vector = stored_vectors[i].map(<[f32]>::to_vec);
                    report.vectors_kept += 1;
                }
            }
        }
    }
    let imported = import_requests(service, requests, progress).await?;
    report.imported = imported.imported;
    report.duplicates = imported.duplicates;
    Ok(report)
}

/// What the original's exporter writes about the export itself.
pub struct ExportContext {
    /// The machine's name, as `source_machine` and each memory's `export_source`.
    pub machine: String,
    /// The database the memories come from.
    pub database_path: String,
}

impl ExportContext {
    /// This machine (its host name, lower case, spaces as dashes, as the original) and a database path.
    pub fn here(database_path: &Path) -> ExportContext {
        let machine = ["/proc/sys/kernel/hostname", "/etc/hostname"]
            .iter()
            .find_map(|file| std::fs::read_to_string(file).ok().map(|h| h.trim().to_string()).filter(|h| !h.is_empty()))
            .unwrap_or_else(|| "unknown-machine".into())
            .to_lowercase()
            .replace(' ', "-");
        ExportContext { machine, database_path: database_path.display().to_string() }
    }
}

/// One memory as the original's exporter writes it, in its field order.
#[derive(Serialize)]
struct OriginalEntry<'a> {
    content: &'a str,
    content_hash: &'a str,
    tags: &'a [String],
    created_at: f64,
    updated_at: f64,
    memory_type: Option<&'a str>,
    metadata: &'a Value,
    export_source: &'a str,
}

enum Stage {
    Header,
    Memories(usize),
    Footer,
    Done,
}

/// An export in progress: pull its bytes chunk by chunk with [`Export::next_chunk`], so a large store is
/// written (or streamed over HTTP) without holding it in memory. The set of memories is fixed at the start.
pub struct Export {
    format: ExportFormat,
    context: ExportContext,
    hashes: Vec<String>,
    written: usize,
    stage: Stage,
}

/// Pretty JSON (two spaces, as Python's `json.dump(indent=2)`) indented by `indent` more spaces.
fn pretty_at<T: Serialize>(value: &T, indent: usize) -> Result<String, ServiceError> {
    let text = serde_json::to_string_pretty(value).map_err(ServiceError::internal)?;
    Ok(text.replace('\n', &format!("\n{}", " ".repeat(indent))))
}

impl Export {
    /// Starts an export of every memory stored now, newest first.
    pub async fn start(
        service: &Service,
        format: ExportFormat,
        context: ExportContext,
    ) -> Result<Export, ServiceError> {
        let hashes = service.all_hashes().await?;
        Ok(Export { format, context, hashes, written: 0, stage: Stage::Header })
    }

    /// How many memories the export holds (those deleted while it runs are left out).
    pub fn total(&self) -> usize {
        self.hashes.len()
    }

    /// How many memories were written so far.
    pub fn written(&self) -> usize {
        self.written
    }

    /// The next bytes of the export; `None` at the end.
    pub async fn next_chunk(&mut self, service: &Service) -> Result<Option<Vec<u8>>, ServiceError> {
        match self.stage {
            Stage::Header => {
                self.stage = Stage::Memories(0);
                if self.format == ExportFormat::Jsonl {
                    return Ok(Some(Vec::new()));
                }
                // The original's exporter metadata, field for field; there is no Python here, so
                // `python_version` is null, and `exported_by` says what wrote the file.
                let metadata = serde_json::json!({
                    "source_machine": self.context.machine,
                    "export_timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, false),
                    "total_memories": self.hashes.len(),
                    "database_path": self.context.database_path,
                    "platform": platform(),
                    "python_version": null,
                    "include_embeddings": false,
                    "filter_tags": null,
                    "exporter_version": "5.0.1",
                    "exported_by": concat!("mcp-memory-service ", env!("CARGO_PKG_VERSION")),
                });
                let header = format!("{{\n  \"export_metadata\": {},\n  \"memories\": [", pretty_at(&metadata, 2)?);
                Ok(Some(header.into_bytes()))
            }
            Stage::Memories(from) if from < self.hashes.len() => {
                let to = (from + EXPORT_CHUNK).min(self.hashes.len());
                self.stage = Stage::Memories(to);
                let memories = service.get_many(self.hashes[from..to].to_vec()).await?;
                let mut out = Vec::new();
                for memory in &memories {
                    self.write_memory(memory, &mut out)?;
                    self.written += 1;
                }
                Ok(Some(out))
            }
            Stage::Memories(_) => {
                self.stage = Stage::Footer;
                Ok(Some(match self.format {
                    ExportFormat::Jsonl => Vec::new(),
                    ExportFormat::Original if self.written == 0 => b"]\n}".to_vec(),
                    ExportFormat::Original => b"\n  ]\n}".to_vec(),
                }))
            }
            Stage::Footer | Stage::Done => {
                self.stage = Stage::Done;
                Ok(None)
            }
        }
    }

    fn write_memory(&self, memory: &Memory, out: &mut Vec<u8>) -> Result<(), ServiceError> {
        match self.format {
            ExportFormat::Jsonl => {
                serde_json::to_writer(&mut *out, memory).map_err(ServiceError::internal)?;
                out.push(b'\n');
            }
            ExportFormat::Original => {
                let entry = OriginalEntry {
                    content: &memory.content,
                    content_hash: &memory.content_hash,
                    tags: &memory.tags,
                    created_at: memory.created_at,
                    updated_at: memory.updated_at,
                    memory_type: memory.memory_type.as_deref(),
                    metadata: &memory.metadata,
                    export_source: &self.context.machine,
                };
                out.extend_from_slice(if self.written == 0 { b"\n    " } else { b",\n    " });
                out.extend_from_slice(pretty_at(&entry, 4)?.as_bytes());
            }
        }
        Ok(())
    }
}

/// Python's `platform.system()`.
fn platform() -> &'static str {
    match std::env::consts::OS {
        "linux" => "Linux",
        "macos" => "Darwin",
        "windows" => "Windows",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_and_the_originals_document_parse_to_the_same_requests() {
        let lines = "{\"content\": \"a\", \"tags\": \"x, y\", \"created_at\": 1.5}\n\n{\"content\": \"b\", \"tags\": [\"z\"]}\n";
        let document = r#"{"export_metadata": {}, "memories": [{"content": "a", "tags": "x, y", "created_at": 1.5}, {"content": "b", "tags": ["z"]}]}"#;
        for text in [lines, document] {
            let requests = parse_json(text).expect("parses");
            assert_eq!(requests.len(), 2);
            assert_eq!(requests[0].tags, ["x", "y"]);
            assert_eq!(requests[0].created_at, Timestamp::try_from_secs_f64(1.5));
            assert_eq!(requests[1].tags, ["z"]);
        }
        let error = parse_json("{\"export_metadata\": {}, \"memories\": [").expect_err("truncated");
        assert!(error.to_string().starts_with("neither JSON lines"), "{error}");
        let error = parse_json("{\"content\": \"a\"}\n[1]\n").expect_err("a bad line");
        assert!(error.to_string().starts_with("line 2 is not a memory object"), "{error}");
        assert!(parse_json("").expect("nothing").is_empty());
    }

    #[test]
    fn the_originals_metadata_column_is_never_dropped() {
        assert_eq!(metadata_of(None), Map::new());
        assert_eq!(metadata_of(Some(" ")), Map::new());
        assert_eq!(metadata_of(Some("null")), Map::new());
        assert_eq!(Value::Object(metadata_of(Some(r#"{"k": [1]}"#))), serde_json::json!({"k": [1]}));
        assert_eq!(Value::Object(metadata_of(Some("[1, 2]"))), serde_json::json!({"original_metadata": [1, 2]}));
        assert_eq!(Value::Object(metadata_of(Some("{oops"))), serde_json::json!({"original_metadata": "{oops"}));
    }

    #[test]
    fn the_originals_iso_times_parse() {
        assert_eq!(iso_secs("2023-11-14T22:13:20.500000Z"), Some(1_700_000_000.5));
        assert_eq!(iso_secs("2023-11-14T22:13:20Z"), Some(1_700_000_000.0));
        assert_eq!(iso_secs("2023-11-14T22:13:20.25"), Some(1_700_000_000.25));
        assert_eq!(iso_secs("2023-11-14T23:13:20+01:00"), Some(1_700_000_000.0));
        assert_eq!(iso_secs("yesterday"), None);
    }

    #[test]
    fn only_unit_vectors_of_our_dimension_are_plausible() {
        let mut unit = vec![0.0f32; DIMENSIONS];
        unit[3] = 1.0;
        assert!(plausible(&unit));
        assert!(!plausible(&unit[..100]));
        assert!(!plausible(&vec![0.5f32; DIMENSIONS]));
        unit[4] = f32::NAN;
        assert!(!plausible(&unit));
        assert!((cosine(&[1.0, 0.0], &[1.0, 0.0]) - 1.0).abs() < 1e-12);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 0.0]), 0.0);
    }
}
