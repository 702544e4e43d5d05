//! Migration from the original service: its `sqlite_vec.db` (built here with its exact v8.9 schema and real
//! all-MiniLM-L6-v2 vectors) imports with every field and, where they are our model's, its vectors; the
//! drop-in start moves such a database aside and imports it; `export --format original` writes the
//! original's exporter document, which imports into a fresh store unchanged; and over HTTP,
//! `GET /api/export` and `POST /api/import` do the same. Bad input is refused and stores nothing.

use crate::support::{DataDir, Server, content_hash};
use rusqlite::{Connection, params};
use serde_json::{Value, json};
use std::path::Path;
use std::sync::OnceLock;

const KEY: &str = "import-test-key";

/// The original v8.9 schema, as `SqliteVecMemoryStorage.initialize` creates it.
const ORIGINAL_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS metadata (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO metadata (key, value) VALUES ('distance_metric', 'cosine');
CREATE TABLE IF NOT EXISTS memories (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  content_hash TEXT UNIQUE NOT NULL,
  content TEXT NOT NULL,
  tags TEXT,
  memory_type TEXT,
  metadata TEXT,
  created_at REAL, updated_at REAL, created_at_iso TEXT, updated_at_iso TEXT);
CREATE VIRTUAL TABLE IF NOT EXISTS memory_embeddings USING vec0(
  content_embedding FLOAT[384] distance_metric=cosine);
CREATE INDEX IF NOT EXISTS idx_content_hash ON memories(content_hash);
CREATE INDEX IF NOT EXISTS idx_created_at ON memories(created_at);
CREATE INDEX IF NOT EXISTS idx_memory_type ON memories(memory_type);
";

fn path_str(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 temp path")
}

#[derive(serde::Deserialize)]
struct Reference {
    items: Vec<ReferenceItem>,
}

#[derive(serde::Deserialize)]
struct ReferenceItem {
    text: String,
    vector: Vec<f32>,
}

/// sentence-transformers' vectors of the committed texts: what the original stored for them.
fn reference() -> &'static Reference {
    static REFERENCE: OnceLock<Reference> = OnceLock::new();
    REFERENCE.get_or_init(|| {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/minilm_reference.json");
        serde_json::from_str(&std::fs::read_to_string(path).expect("read the fixture")).expect("parse the fixture")
    })
}

/// Vectors from our own model (the same model as the original's), for more rows than the fixture has.
fn embed(texts: Vec<String>) -> Vec<Vec<f32>> {
    use clap::Parser;
    let paths = mcp_memory_service::cli::Cli::parse_from(["mcp-memory-service", "stats"]).config.paths();
    let embedder = mcp_memory_service::embed::Embedder::start(mcp_memory_service::embed::ModelPaths {
        model_dir: paths.model_dir,
        runtime_library: paths.runtime_library,
        threads: 1,
        eager: true,
    });
    embedder.embed_blocking(texts).expect("embed the generated rows")
}

/// One row of the original's `memories` table, and its vector (none: no row in `memory_embeddings`).
struct Row {
    content: String,
    tags: Option<&'static str>,
    memory_type: Option<&'static str>,
    metadata: Option<String>,
    created_at: f64,
    updated_at: f64,
    deleted_at: Option<f64>,
    vector: Option<Vec<f32>>,
}

fn iso(secs: f64) -> String {
    let at = chrono::DateTime::from_timestamp_micros((secs * 1e6).round() as i64).expect("a time");
    at.format("%Y-%m-%dT%H:%M:%S%.6f").to_string() + "Z"
}

fn blob(vector: &[f32]) -> Vec<u8> {
    vector.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// A random unit vector: the vector of "another model".
fn random_vector(seed: u64) -> Vec<f32> {
    let mut state = seed;
    let raw: Vec<f32> = (0..384)
        .map(|_| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((state >> 33) as f32 / (1u64 << 31) as f32) - 0.5
        })
        .collect();
    let norm = raw.iter().map(|x| x * x).sum::<f32>().sqrt();
    raw.into_iter().map(|x| x / norm).collect()
}

/// Writes the original's database at `path`: the v8.9 schema, plus HEAD's `deleted_at` and `version`
/// columns when `head`. The stored hash is the v8.9 MCP one (content plus metadata) where metadata is set.
fn write_original(path: &Path, rows: &[Row], head: bool) {
    drop(original_connection(path, rows, head, false));
}

/// The connection that wrote the original's database; with `wal`, in WAL mode without checkpoints, so the
/// rows stay in the `-wal` file while the connection lives (as when the original was killed).
fn original_connection(path: &Path, rows: &[Row], head: bool, wal: bool) -> Connection {
    mms_projections::register_sqlite_vec();
    let conn = Connection::open(path).expect("create the original's database");
    if wal {
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0;").expect("WAL");
    }
    conn.execute_batch(ORIGINAL_SCHEMA).expect("the original's schema");
    if head {
        conn.execute_batch(
            "ALTER TABLE memories ADD COLUMN deleted_at REAL DEFAULT NULL; \
             ALTER TABLE memories ADD COLUMN version INTEGER DEFAULT 1;",
        )
        .expect("HEAD's columns");
    }
    for row in rows {
        let hash = match &row.metadata {
            Some(metadata) if metadata != "{}" => content_hash(&format!("{}{metadata}", row.content)),
            _ => content_hash(&row.content),
        };
        conn.execute(
            "INSERT INTO memories (content_hash, content, tags, memory_type, metadata, created_at, updated_at, \
             created_at_iso, updated_at_iso) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            params![
                hash,
                row.content,
                row.tags,
                row.memory_type,
                row.metadata,
                row.created_at,
                row.updated_at,
                iso(row.created_at),
                iso(row.updated_at)
            ],
        )
        .expect("insert a memory");
        let id = conn.last_insert_rowid();
        if let Some(deleted_at) = row.deleted_at {
            conn.execute("UPDATE memories SET deleted_at = ? WHERE id = ?", params![deleted_at, id]).expect("delete");
        }
        if let Some(vector) = &row.vector {
            conn.execute(
                "INSERT INTO memory_embeddings (rowid, content_embedding) VALUES (?, ?)",
                params![id, blob(vector)],
            )
            .expect("insert a vector");
        }
    }
    conn
}

const CAFE: usize = 7;
const SPRING: usize = 11;

/// The fixture: the reference texts with their real vectors (one with a random vector instead, first in the
/// table so the model check samples it; one without a vector), tricky fields, and 40 rows with our model's
/// vectors, so that the stored vectors of the rows the check does not sample are kept.
fn rows(generated: usize) -> Vec<Row> {
    let items = &reference().items;
    let mut rows = Vec::new();
    let mut push = |i: usize, vector: Option<Vec<f32>>| {
        let (tags, memory_type, metadata) = match i {
            0 => (
                Some("greeting,test"),
                Some("note"),
                Some(r#"{"source": "cli", "nested": {"a": [1, 2.5, null], "b": "ü"}}"#.to_string()),
            ),
            1 => (Some(""), None, Some("{}".to_string())),
            2 => (None, None, None),
            4 => (Some("i18n,日本"), Some("observation"), Some(r#"{"lang": "ja"}"#.to_string())),
            _ => (Some("reference"), Some("note"), Some("{}".to_string())),
        };
        rows.push(Row {
            content: items[i].text.clone(),
            tags,
            memory_type,
            metadata,
            created_at: 1_700_000_000.25 + i as f64 * 86_400.0,
            updated_at: 1_700_000_000.25 + i as f64 * 86_400.0 + 3_600.5,
            deleted_at: None,
            vector,
        });
    };
    push(CAFE, Some(random_vector(7)));
    for i in (0..items.len()).filter(|&i| i != CAFE) {
        push(i, (i != SPRING).then(|| items[i].vector.clone()));
    }
    let texts: Vec<String> = (0..generated)
        .map(|i| format!("Generated note {i}: the build server number {i} was patched on a Tuesday."))
        .collect();
    if generated > 0 {
        for (i, (text, vector)) in texts.clone().into_iter().zip(embed(texts)).enumerate() {
            rows.push(Row {
                content: text,
                tags: Some("generated"),
                memory_type: Some("note"),
                metadata: Some("{}".into()),
                created_at: 1_600_000_000.0 + i as f64,
                updated_at: 1_600_000_000.0 + i as f64,
                deleted_at: None,
                vector: Some(vector),
            });
        }
    }
    rows
}

/// The vectors of the read model by content hash.
fn read_model_vectors(data: &DataDir) -> std::collections::HashMap<String, Vec<u8>> {
    mms_projections::register_sqlite_vec();
    let conn = Connection::open(data.sqlite_path()).expect("open the read model");
    let mut stmt = conn
        .prepare(
            "SELECT m.content_hash, e.content_embedding FROM memories m JOIN memory_embeddings e ON e.rowid = m.id",
        )
        .expect("prepare");
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).expect("query").collect::<Result<_, _>>().expect("rows")
}

#[test]
fn an_original_database_imports_with_every_field_and_keeps_its_models_vectors() {
    let data = DataDir::new();
    let original = data.path().join("old-sqlite_vec.db");
    let fixture = rows(40);
    write_original(&original, &fixture, false);

    let run = data.run(&["import", path_str(&original)]);
    assert!(run.status.success(), "{}", run.stderr);
    let total = fixture.len();
    assert!(
        run.stdout.starts_with(&format!("imported {total} of {total} memories (0 duplicates skipped)")),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("stored vectors kept"), "{}", run.stdout);
    assert!(run.stdout.contains("2 with a new content hash"), "the v8.9 MCP hashes included metadata: {}", run.stdout);
    assert!(run.stderr.contains(&format!("import: {total}/{total}")), "progress on stderr: {}", run.stderr);

    for row in &fixture {
        let memory = data.get(&content_hash(&row.content));
        assert_eq!(memory["content"], row.content.as_str());
        let tags: Vec<&str> = row.tags.unwrap_or_default().split(',').filter(|t| !t.is_empty()).collect();
        assert_eq!(memory["tags"], json!(tags), "{}", row.content);
        assert_eq!(memory["memory_type"], json!(row.memory_type));
        let metadata: Value = row.metadata.as_deref().map_or(json!({}), |m| serde_json::from_str(m).expect("JSON"));
        assert_eq!(memory["metadata"], metadata, "{}", row.content);
        assert_eq!(memory["created_at"], row.created_at, "{}", row.content);
        assert_eq!(memory["updated_at"], row.updated_at, "{}", row.content);
        assert_eq!(memory["created_at_iso"], iso(row.created_at).replace(".000000Z", "Z"));
    }
    let history = data.ok(&["history", &content_hash(&fixture[1].content)]);
    assert!(history.contains(" stored by import"), "{history}");

    // Found by meaning: the reference rows, the row whose vector was another model's, the row without one.
    let items = &reference().items;
    let cats = data.search(&["a cat lying on a carpet", "--limit", "2"]);
    assert_eq!(cats.len(), 2);
    for hash in [content_hash(&items[1].text), content_hash(&items[2].text)] {
        assert!(cats.contains(&hash), "{cats:?}");
    }
    assert_eq!(
        data.search(&["Cafe naive resume: Strasse, Angstrom", "--limit", "1"]),
        vec![content_hash(&items[CAFE].text)]
    );
    assert_eq!(
        data.search(&["the river flooded the valley in spring", "--limit", "1"]),
        vec![content_hash(&items[SPRING].text)]
    );

    // The vectors of our model were kept bit for bit (at least those the check did not sample); the random
    // one was not.
    let vectors = read_model_vectors(&data);
    assert_eq!(vectors.len(), total, "every memory has a vector");
    let kept = fixture
        .iter()
        .filter(|row| row.vector.as_ref().is_some_and(|v| vectors[&content_hash(&row.content)] == blob(v)))
        .count();
    assert!(kept >= 20, "only {kept} stored vectors were kept");
    assert_ne!(vectors[&content_hash(&items[CAFE].text)], blob(&fixture[0].vector.clone().expect("random")));

    let events = data.stats()["events"].clone();
    let again = data.ok(&["import", path_str(&original)]);
    assert!(again.starts_with(&format!("imported 0 of {total} memories ({total} duplicates skipped)")), "{again}");
    assert_eq!(data.stats()["events"], events, "a re-import appends nothing");
}

#[test]
fn a_database_of_another_model_is_embedded_again() {
    let data = DataDir::new();
    let original = data.path().join("other-model.db");
    let mut fixture = rows(40);
    for (i, row) in fixture.iter_mut().enumerate() {
        row.vector = Some(random_vector(100 + i as u64));
    }
    write_original(&original, &fixture, false);
    let out = data.ok(&["import", path_str(&original)]);
    assert!(!out.contains("stored vectors kept"), "{out}");
    let vectors = read_model_vectors(&data);
    assert_eq!(vectors.len(), fixture.len());
    for row in &fixture {
        assert_ne!(
            vectors[&content_hash(&row.content)],
            blob(row.vector.as_ref().expect("a vector")),
            "{}",
            row.content
        );
    }
    let items = &reference().items;
    assert_eq!(data.search(&["a cat lying on a carpet", "--limit", "2"]).len(), 2);
    assert_eq!(
        data.search(&["the river flooded the valley in spring", "--limit", "1"]),
        vec![content_hash(&items[SPRING].text)]
    );
}

/// The drop-in fixture: HEAD's schema, one soft-deleted row.
fn head_rows() -> Vec<Row> {
    let mut fixture = rows(0);
    fixture[3].deleted_at = Some(1_750_000_000.0);
    fixture
}

#[tokio::test]
async fn the_drop_in_start_moves_the_originals_database_aside_and_imports_it() {
    let fixture = head_rows();
    let live = fixture.len() - 1;

    // A CLI command on a data directory the original used.
    let data = DataDir::new();
    write_original(&data.sqlite_path(), &fixture, true);
    let run = data.run(&["stats"]);
    assert!(run.status.success(), "{}", run.stderr);
    assert!(run.stderr.contains("moved aside"), "{}", run.stderr);
    assert!(run.stderr.contains("1 deleted in the original, not imported"), "{}", run.stderr);
    let stats: Value = serde_json::from_str(&run.stdout).expect("stats JSON");
    assert_eq!(stats["total_memories"], live);
    let aside = data.path().join("sqlite_vec.db.original");
    assert!(aside.exists(), "the original's file is kept");
    assert!(!data.path().join("sqlite_vec.db.migrating").exists(), "the migration is complete");
    assert!(data.run(&["get", &content_hash(&fixture[3].content)]).stderr.contains("not found"));
    let memory = data.get(&content_hash(&fixture[1].content));
    assert_eq!(memory["metadata"], json!({"source": "cli", "nested": {"a": [1, 2.5, null], "b": "ü"}}));
    // The next start has nothing to migrate.
    let events = data.stats()["events"].clone();
    assert_eq!(data.stats()["events"], events);
    assert_eq!(events, live);

    // The original's database shows up again while the log holds memories: kept aside, not imported, and the
    // first copy is not overwritten.
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(data.path().join(format!("sqlite_vec.db{suffix}")));
    }
    write_original(&data.sqlite_path(), &fixture, true);
    let run = data.run(&["stats"]);
    assert!(run.status.success(), "{}", run.stderr);
    assert!(run.stderr.contains("not imported"), "{}", run.stderr);
    assert!(data.path().join("sqlite_vec.db.original.1").exists());
    assert!(aside.exists());
    assert_eq!(data.stats()["events"], events);

    // `serve` on another such directory: healthy, with every memory.
    let served = DataDir::new();
    write_original(&served.sqlite_path(), &fixture, true);
    let server = Server::start(&served, &[("MCP_API_KEY", KEY)]).await;
    let client = reqwest::Client::new();
    let page: Value = client
        .get(server.url("/api/memories?page_size=100"))
        .bearer_auth(KEY)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("JSON");
    assert_eq!(page["total"], live, "{page}");
    assert!(server.stderr().contains("moved aside"), "{}", server.stderr());
    assert!(served.path().join("sqlite_vec.db.original").exists());
}

#[test]
fn export_in_the_originals_format_round_trips_into_a_fresh_store() {
    let source = DataDir::new();
    let original = source.path().join("old.db");
    let fixture = rows(0);
    write_original(&original, &fixture, false);
    source.ok(&["import", path_str(&original)]);
    source.ok(&["update", &content_hash(&fixture[2].content), "--tags", "updated,twice"]);

    let file = source.path().join("export.json");
    let run = source.run(&["export", path_str(&file), "--format", "original"]);
    assert!(run.status.success(), "{}", run.stderr);
    let text = std::fs::read_to_string(&file).expect("read the export");
    assert!(text.starts_with("{\n  \"export_metadata\": {\n    \"source_machine\": "), "{text}");
    let document: Value = serde_json::from_str(&text).expect("one JSON document");
    let metadata = &document["export_metadata"];
    for key in ["source_machine", "export_timestamp", "database_path", "platform", "exporter_version"] {
        assert!(metadata[key].is_string(), "{key}: {metadata}");
    }
    assert_eq!(metadata["total_memories"], fixture.len());
    assert_eq!(metadata["include_embeddings"], false);
    let memories = document["memories"].as_array().expect("memories");
    assert_eq!(memories.len(), fixture.len());
    let keys: Vec<&str> = memories[0].as_object().expect("object").keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["content", "content_hash", "tags", "created_at", "updated_at", "memory_type", "metadata", "export_source"]
    );
    assert!(memories.iter().all(|m| m["export_source"] == metadata["source_machine"]));
    // Byte for byte what Python's json.dump(indent=2, ensure_ascii=False) writes, as the original's exporter.
    let dumped = std::process::Command::new(crate::support::test_python())
        .args([
            "-c",
            "import json, sys; d = json.load(open(sys.argv[1], encoding='utf-8')); \
             sys.stdout.buffer.write(json.dumps(d, indent=2, ensure_ascii=False).encode('utf-8'))",
            path_str(&file),
        ])
        .output()
        .expect("run Python");
    assert!(dumped.status.success(), "{}", String::from_utf8_lossy(&dumped.stderr));
    assert_eq!(String::from_utf8(dumped.stdout).expect("UTF-8"), text);
    assert_eq!(source.ok(&["export", "--format", "original"]).len(), text.len(), "the same to stdout");

    let target = DataDir::new();
    let out = target.ok(&["import", path_str(&file)]);
    assert!(out.starts_with(&format!("imported {0} of {0} memories (0 duplicates skipped)", fixture.len())), "{out}");
    for memory in memories {
        let hash = memory["content_hash"].as_str().expect("hash");
        assert_eq!(target.get(hash), source.get(hash), "every field, times included");
    }
    let again = target.ok(&["import", path_str(&file)]);
    assert!(again.starts_with(&format!("imported 0 of {0} memories ({0} duplicates skipped)", fixture.len())));
    // The JSON lines export is unchanged by default.
    assert!(source.ok(&["export"]).lines().all(|line| serde_json::from_str::<Value>(line).is_ok()));
}

#[tokio::test]
async fn http_export_and_import() {
    let source = DataDir::new();
    let original = source.path().join("old.db");
    let fixture = rows(0);
    write_original(&original, &fixture, false);
    source.ok(&["import", path_str(&original)]);
    let server = Server::start(&source, &[("MCP_API_KEY", KEY)]).await;
    let client = reqwest::Client::new();

    let response = client.get(server.url("/api/export")).bearer_auth(KEY).send().await.expect("export");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let document: Value = response.json().await.expect("the original's document");
    assert_eq!(document["memories"].as_array().expect("memories").len(), fixture.len());
    let response = client.get(server.url("/api/export?format=jsonl")).bearer_auth(KEY).send().await.expect("jsonl");
    assert_eq!(response.status(), 200);
    let lines = response.text().await.expect("text");
    assert_eq!(lines.lines().count(), fixture.len());
    let bad = client.get(server.url("/api/export?format=xml")).bearer_auth(KEY).send().await.expect("bad");
    assert_eq!(bad.status(), 422);
    let anonymous = client.get(server.url("/api/export")).send().await.expect("no key");
    assert_eq!(anonymous.status(), 401);
    let openapi: Value =
        client.get(server.url("/openapi.json")).bearer_auth(KEY).send().await.expect("doc").json().await.expect("json");
    assert!(openapi["paths"]["/api/export"]["get"].is_object() && openapi["paths"]["/api/import"]["post"].is_object());

    let target = DataDir::new();
    let server = Server::start(&target, &[("MCP_API_KEY", KEY)]).await;
    let import = |body: String| client.post(server.url("/api/import")).bearer_auth(KEY).body(body).send();
    // Bad input: a truncated document, something else entirely; nothing is stored.
    let text = document.to_string();
    let half: String = text.chars().take(text.chars().count() / 2).collect();
    for body in [half, "\u{1}\u{2} not json".to_string()] {
        let response = import(body).await.expect("import");
        assert_eq!(response.status(), 400);
        let error: Value = response.json().await.expect("a JSON error");
        assert!(error["detail"].as_str().expect("a message").contains("neither JSON lines"), "{error}");
    }
    for (body, why) in [("", "empty"), ("{}", "missing field `content`"), (r#"{"content": " "}"#, "empty")] {
        let response = import(body.to_string()).await.expect("import");
        assert_eq!(response.status(), 400, "{body}");
        let error: Value = response.json().await.expect("a JSON error");
        assert!(error["detail"].as_str().expect("a message").contains(why), "{error}");
    }
    let limited = DataDir::new();
    let small = Server::start(&limited, &[("MCP_API_KEY", KEY), ("MCP_HTTP_MAX_BODY_BYTES", "1000")]).await;
    let response =
        client.post(small.url("/api/import")).bearer_auth(KEY).body(text.clone()).send().await.expect("too large");
    assert_eq!(response.status(), 413);
    drop(small);
    let health: Value = client
        .get(server.url("/api/health/detailed"))
        .bearer_auth(KEY)
        .send()
        .await
        .expect("health")
        .json()
        .await
        .expect("JSON");
    assert_eq!(health["storage"]["total_memories"], 0, "nothing was stored: {health}");
    let answer: Value = import(text.clone()).await.expect("import").json().await.expect("JSON");
    assert_eq!(answer, json!({"imported": fixture.len(), "duplicates": 0, "total": fixture.len()}));
    let answer: Value = import(lines).await.expect("import").json().await.expect("JSON");
    assert_eq!(answer, json!({"imported": 0, "duplicates": fixture.len(), "total": fixture.len()}));
    let hash = content_hash(&fixture[1].content);
    let memory: Value = client
        .get(server.url(&format!("/api/memories/{hash}")))
        .bearer_auth(KEY)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("JSON");
    assert_eq!(memory["created_at"], fixture[1].created_at);
    assert_eq!(memory["tags"], json!(["greeting", "test"]));
}

#[test]
fn a_file_that_is_neither_is_refused_and_stores_nothing() {
    let data = DataDir::new();
    let file = data.path().join("random.bin");
    std::fs::write(&file, [0u8, 159, 146, 150, 255, 1, 2, 3]).expect("write");
    let error = data.fails(&["import", path_str(&file)]);
    assert!(error.contains("neither JSON"), "{error}");
    std::fs::write(&file, "{\"export_metadata\": {}, \"memories\": [{\"content\": \"cut").expect("write");
    let error = data.fails(&["import", path_str(&file)]);
    assert!(error.contains("neither JSON lines"), "{error}");
    // An SQLite file that is not the original's.
    mms_projections::register_sqlite_vec();
    let other = data.path().join("other.db");
    Connection::open(&other).expect("create").execute_batch("CREATE TABLE notes (x TEXT)").expect("a table");
    let error = data.fails(&["import", path_str(&other)]);
    assert!(error.contains("no `memories` table"), "{error}");
    assert_eq!(data.stats()["events"], 0);
}

#[test]
fn an_interrupted_migration_resumes_at_the_next_start() {
    let data = DataDir::new();
    data.store("Stored before the import was cut short.", &[]);
    // What a start that moved the original aside and stopped during the import leaves behind.
    let fixture = rows(0);
    let aside = data.path().join("sqlite_vec.db.original");
    write_original(&aside, &fixture, false);
    std::fs::write(data.path().join("sqlite_vec.db.migrating"), path_str(&aside)).expect("write the marker");
    let run = data.run(&["stats"]);
    assert!(run.status.success(), "{}", run.stderr);
    assert!(run.stderr.contains(&format!("imported {0} of {0} memories", fixture.len())), "{}", run.stderr);
    assert!(!data.path().join("sqlite_vec.db.migrating").exists());
    assert_eq!(data.stats()["total_memories"], fixture.len() + 1);
}

#[test]
fn rows_still_in_the_originals_write_ahead_log_move_and_import_with_it() {
    let data = DataDir::new();
    let fixture = rows(0);
    let conn = original_connection(&data.sqlite_path(), &fixture, false, true);
    let wal = data.path().join("sqlite_vec.db-wal");
    assert!(std::fs::metadata(&wal).expect("a -wal file").len() > 0, "the rows are in the -wal file");
    let run = data.run(&["stats"]);
    assert!(run.status.success(), "{}", run.stderr);
    assert_eq!(serde_json::from_str::<Value>(&run.stdout).expect("JSON")["total_memories"], fixture.len());
    assert!(data.path().join("sqlite_vec.db.original-wal").exists(), "the -wal file moved with its database");
    drop(conn);
}
