//! Document ingestion against the real binary: every format through the HTTP routes (found by meaning,
//! listed with their metadata, still there after a restart, removed through delete events), bad files
//! answered 400 / 413 with nothing stored, progress on the SSE stream, kill -9 in the middle of an upload
//! leaving nothing of it, the CLI's `ingest` and `documents`, and MCP's memory_ingest over stdio and over
//! HTTP with its path confinement (the official Python MCP SDK).

use crate::support::{BIN, DataDir, Server, run_python_client, run_python_unittests, signal};
use mcp_memory_service::ingest::extract::fixtures;
use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};

const KEY: &str = "doc-key-0123";

async fn server(data: &DataDir, extra: &[(&str, &str)]) -> Server {
    let mut env = vec![("MCP_API_KEY", KEY)];
    env.extend_from_slice(extra);
    Server::start(data, &env).await
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(120)).build().expect("an HTTP client")
}

/// Sends a request with the key; the status and the JSON body.
async fn send(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let response = request.bearer_auth(KEY).send().await.expect("the request is answered");
    let status = response.status();
    let text = response.text().await.expect("a body");
    (status, serde_json::from_str(&text).unwrap_or_else(|_| panic!("{status}: not JSON: {text}")))
}

/// Uploads one file with form fields; the status and answer.
async fn upload(server: &Server, name: &str, bytes: Vec<u8>, fields: &[(&str, &str)]) -> (StatusCode, Value) {
    let mut form = Form::new().part("file", Part::bytes(bytes).file_name(name.to_string()));
    for (key, value) in fields {
        form = form.text(key.to_string(), value.to_string());
    }
    send(client().post(server.url("/api/documents/upload")).multipart(form)).await
}

async fn get(server: &Server, path: &str) -> (StatusCode, Value) {
    send(client().get(server.url(path))).await
}

/// Polls an upload's status until it is no longer queued or processing (at most 120 s).
async fn finished(server: &Server, upload_id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (status, body) = get(server, &format!("/api/documents/status/{upload_id}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        if !matches!(body["status"].as_str(), Some("queued" | "processing")) {
            return body;
        }
        assert!(Instant::now() < deadline, "upload {upload_id} still running: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Uploads a file and waits for it to be completed; its status.
async fn ingest(server: &Server, name: &str, bytes: Vec<u8>, fields: &[(&str, &str)]) -> Value {
    let (status, body) = upload(server, name, bytes, fields).await;
    assert_eq!(status, StatusCode::OK, "{name}: {body}");
    assert_eq!(body["status"], "queued", "{body}");
    assert_eq!(body["message"], format!("Document {name} queued for processing"));
    let done = finished(server, body["upload_id"].as_str().expect("an id")).await;
    assert_eq!(done["status"], "completed", "{name}: {done}");
    done
}

/// The top hit's content for a query.
async fn top_hit(server: &Server, query: &str) -> Value {
    let (status, body) =
        send(client().post(server.url("/api/search")).json(&json!({ "query": query, "n_results": 1 }))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["results"][0]["memory"].clone()
}

fn paragraphs(topic: &str, n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                "Paragraph {i} about {topic}. The team wrote down what it learned about {topic} in week {i}, \
                 including the numbers it measured and the decisions it took. Nothing here is secret; it is \
                 simply long enough to make several chunks of about a thousand characters each.\n\n"
            )
        })
        .collect()
}

#[tokio::test]
async fn every_format_is_ingested_found_by_meaning_kept_across_a_restart_and_removed() {
    let data = DataDir::new();
    let mut server = server(&data, &[]).await;
    let markdown = format!(
        "# Billing service\n\nThe billing team chose PostgreSQL 16 because of row-level security.\n\n{}",
        paragraphs("invoices", 12)
    );
    let files: Vec<(&str, Vec<u8>, &str)> = vec![
        ("billing.md", markdown.into_bytes(), "which database did the billing team choose"),
        ("notes.txt", format!("The office plants are watered on Fridays by Marta.\n\n{}", paragraphs("plants", 2)).into_bytes(), "who waters the plants"),
        ("config.json", br#"{"deploy": {"region": "eu-west-3", "replicas": 4}, "owner": "platform team of Lyon"}"#.to_vec(), "deployment region of the service"),
        ("people.csv", b"name,role,city\n\"Doe, Jane\",lighthouse keeper,\"Brest\"\nAlan,baker,Lyon\n".to_vec(), "who keeps the lighthouse"),
        ("page.html", b"<html><head><style>p{}</style><script>var secret=1;</script></head><body><h1>Volcano trip</h1><p>We climbed Etna &amp; saw lava.</p></body></html>".to_vec(), "climbing a volcano"),
        ("report.pdf", fixtures::pdf(&["Page one speaks of the quarterly budget.", "Page two: the submarine cable was repaired in March."]), "repair of the undersea cable"),
        ("minutes.docx", fixtures::docx(&["Minutes of the garden committee.", "We will plant three apple trees in spring."]), "planting fruit trees"),
    ];
    let mut uploads = Vec::new();
    for (name, bytes, query) in files {
        let done = ingest(&server, name, bytes, &[("tags", "corpus, handbook")]).await;
        assert!(done["chunks_stored"].as_u64().is_some_and(|n| n >= 1), "{name}: {done}");
        let hit = top_hit(&server, query).await;
        assert_eq!(hit["metadata"]["source_file"], name, "'{query}' finds {name}: {hit}");
        let tags: Vec<&str> = hit["tags"].as_array().expect("tags").iter().filter_map(Value::as_str).collect();
        let upload_id = done["upload_id"].as_str().expect("an id").to_string();
        for tag in ["corpus", "handbook", &format!("source_file:{name}"), &format!("upload_id:{upload_id}")] {
            assert!(tags.contains(&tag), "{name}: tag {tag} in {tags:?}");
        }
        assert_eq!(hit["memory_type"], "document");
        assert_eq!(hit["metadata"]["upload_id"], upload_id.as_str());
        uploads.push((name, upload_id, done));
    }
    // The PDF's chunks know their page; the markdown's are in order.
    let (_, pdf_id, _) = &uploads[5];
    let (status, content) = get(&server, &format!("/api/documents/search-content/{pdf_id}")).await;
    assert_eq!(status, StatusCode::OK, "{content}");
    let pages: Vec<Value> =
        content["memories"].as_array().expect("memories").iter().map(|m| m["page"].clone()).collect();
    assert_eq!(pages, [json!(1), json!(2)], "{content}");
    assert_eq!(content["filename"], "report.pdf");
    let (_, md_id, md_done) = &uploads[0];
    let (_, content) = get(&server, &format!("/api/documents/search-content/{md_id}")).await;
    let indexes: Vec<u64> =
        content["memories"].as_array().expect("memories").iter().filter_map(|m| m["chunk_index"].as_u64()).collect();
    assert!(indexes.len() >= 3 && indexes.windows(2).all(|w| w[0] < w[1]), "{content}");
    assert_eq!(content["total_found"], md_done["chunks_stored"]);
    let (status, first) = get(&server, &format!("/api/documents/search-content/{md_id}?limit=1")).await;
    assert_eq!((status, first["total_found"].as_u64()), (StatusCode::OK, Some(1)), "a query's limit: {first}");

    // The same file again is recognised by its content and stores nothing; force ingests it again (its
    // chunks are stored already, so they count as duplicates).
    let markdown = format!(
        "# Billing service\n\nThe billing team chose PostgreSQL 16 because of row-level security.\n\n{}",
        paragraphs("invoices", 12)
    );
    let (_, again) = upload(&server, "copy-of-billing.md", markdown.clone().into_bytes(), &[]).await;
    let again = finished(&server, again["upload_id"].as_str().expect("id")).await;
    assert_eq!(again["status"], "failed", "{again}");
    assert!(again["errors"][0].as_str().is_some_and(|e| e.contains(md_id.as_str()) && e.contains("force")), "{again}");
    let forced = ingest(&server, "copy-of-billing.md", markdown.into_bytes(), &[("force", "true")]).await;
    assert_eq!(
        (forced["chunks_stored"].as_u64(), forced["duplicates"].as_u64()),
        (Some(0), md_done["chunks_stored"].as_u64())
    );

    // History and status survive a restart: they are in the log.
    let (_, history) = get(&server, "/api/documents/history").await;
    assert!(history["uploads"].as_array().expect("uploads").len() >= 8, "{history}");
    signal(server.pid(), "TERM");
    assert!(server.wait_exit(Duration::from_secs(30)).is_some(), "the server stops");
    drop(server);
    let server = self::server(&data, &[]).await;
    let (_, after) = get(&server, &format!("/api/documents/status/{md_id}")).await;
    assert_eq!(after["status"], "completed", "{after}");
    assert_eq!(after["chunks_stored"], md_done["chunks_stored"]);
    let (_, history) = get(&server, "/api/documents/history").await;
    let listed: Vec<&str> =
        history["uploads"].as_array().expect("uploads").iter().filter_map(|u| u["filename"].as_str()).collect();
    assert!(listed.contains(&"billing.md") && listed.contains(&"minutes.docx"), "{history}");

    // Removal deletes the chunks through delete events: gone from search, still in their history.
    let chunk = content["memories"][0]["content_hash"].as_str().expect("a hash").to_string();
    let (status, removed) = send(client().delete(server.url(&format!("/api/documents/remove/{md_id}")))).await;
    assert_eq!(status, StatusCode::OK, "{removed}");
    assert_eq!((removed["status"].as_str(), removed["filename"].as_str()), (Some("success"), Some("billing.md")));
    assert_eq!(removed["memories_deleted"], md_done["chunks_stored"]);
    let (status, _) = get(&server, &format!("/api/memories/{chunk}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, history) = get(&server, &format!("/api/memories/{chunk}/history")).await;
    let kinds: Vec<&str> =
        history["history"].as_array().expect("history").iter().filter_map(|e| e["kind"].as_str()).collect();
    assert_eq!(kinds, ["stored", "deleted"], "{history}");
    let (_, after) = get(&server, &format!("/api/documents/status/{md_id}")).await;
    assert_eq!(after["status"], "removed", "{after}");
    // The upload's own audit trail: who ingested and removed it, when.
    let record = after["record_hash"].as_str().expect("the record's hash");
    let (_, trail) = get(&server, &format!("/api/memories/{record}/history")).await;
    let kinds: Vec<&str> =
        trail["history"].as_array().expect("history").iter().filter_map(|e| e["kind"].as_str()).collect();
    assert_eq!(kinds, ["document_ingested", "document_removed"], "{trail}");
    assert_eq!(trail["history"][0]["actor"], "api_key", "{trail}");
    let (status, twice) = send(client().delete(server.url(&format!("/api/documents/remove/{md_id}")))).await;
    assert_eq!(status, StatusCode::CONFLICT, "{twice}");
    // Keeping the memories only marks the upload removed; remove-by-tags takes the rest.
    let (_, txt_id, _) = &uploads[1];
    let path = format!("/api/documents/remove/{txt_id}?remove_from_memory=false");
    let (_, kept) = send(client().delete(server.url(&path))).await;
    assert_eq!(kept["memories_deleted"], 0, "{kept}");
    let (status, by_tags) =
        send(client().delete(server.url("/api/documents/remove-by-tags")).json(&json!(["corpus"]))).await;
    assert_eq!(status, StatusCode::OK, "{by_tags}");
    assert_eq!(by_tags["affected_uploads"].as_array().map(Vec::len), Some(5), "{by_tags}");
    let (_, stats) = get(&server, "/api/health/detailed").await;
    assert_eq!(stats["statistics"]["total_memories"], 0, "{stats}");
    let (status, _) = get(&server, "/api/documents/status/no-such-upload").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bad_files_are_refused_at_once_and_store_nothing() {
    let data = DataDir::new();
    let server = server(&data, &[("MCP_DOCUMENT_MAX_FILE_MB", "1")]).await;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("tool.exe", b"MZ\x90\x00".to_vec(), "Unsupported file type for tool.exe: .exe"),
        ("junk.txt", vec![0xff, 0xfe, 0x00, 0x81, 0x00, 0x00, 0x9c], "junk.txt"),
        ("fake.pdf", b"\x89PNG\r\n\x1a\nnot a pdf".to_vec(), "fake.pdf"),
        ("letter.docx", b"Dear all, this is plain text with the wrong extension.".to_vec(), "letter.docx"),
        ("broken.json", b"{\"a\": [1, 2".to_vec(), "broken.json"),
        ("cut.pdf", fixtures::pdf(&["A page that is cut in half."])[..60].to_vec(), "cut.pdf"),
    ];
    for (name, bytes, says) in cases {
        let (status, body) = upload(&server, name, bytes, &[]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}: {body}");
        assert!(body["detail"].as_str().is_some_and(|d| d.contains(says)), "{name}: {body}");
    }
    let (status, body) = upload(&server, "big.md", vec![b'a'; 1024 * 1024 + 10], &[]).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(body["detail"].as_str().is_some_and(|d| d.contains("MCP_DOCUMENT_MAX_FILE_MB")), "{body}");
    let (status, body) =
        upload(&server, "notes.md", b"# Notes\n\nSome notes that are long enough.".to_vec(), &[("chunk_size", "5")])
            .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) =
        send(client().post(server.url("/api/documents/batch-upload")).multipart(Form::new().text("tags", "x"))).await;
    assert_eq!((status, body["detail"].as_str()), (StatusCode::BAD_REQUEST, Some("No files provided")));
    // An empty file is a completed upload of no chunks, not an error.
    let empty = ingest(&server, "empty.md", Vec::new(), &[]).await;
    assert_eq!(empty["chunks_stored"], 0, "{empty}");
    let (_, stats) = get(&server, "/api/health/detailed").await;
    assert_eq!(stats["statistics"]["total_memories"], 0, "nothing was stored: {stats}");
    assert_eq!(stats["storage"]["memories_ever"], 0, "an upload's record is not a memory: {stats}");
}

#[tokio::test]
async fn a_batch_streams_its_progress_and_each_file_is_recorded_in_the_log() {
    let data = DataDir::new();
    let server = server(&data, &[]).await;
    let events = client().get(server.url(&format!("/api/events?api_key={KEY}"))).send().await.expect("stream");
    let form = Form::new()
        .part("files", Part::bytes(paragraphs("tides", 8).into_bytes()).file_name("tides.md"))
        .part("files", Part::bytes(paragraphs("winds", 3).into_bytes()).file_name("winds.txt"))
        .text("tags", "weather");
    let (status, body) = send(client().post(server.url("/api/documents/batch-upload")).multipart(form)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["message"], "Batch of 2 documents queued for processing");
    let ids: Vec<String> =
        body["upload_ids"].as_array().expect("ids").iter().map(|i| i.as_str().expect("id").to_string()).collect();
    assert_eq!(body["upload_id"], ids[0].as_str());
    for id in &ids {
        assert_eq!(finished(&server, id).await["status"], "completed");
    }
    // The stream carried the progress notices and the log's upload events.
    let mut events = events;
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !(seen.contains("event: document_progress") && seen.matches("event: document_ingested").count() == 2) {
        let left = deadline.saturating_duration_since(Instant::now());
        let chunk = tokio::time::timeout(left, events.chunk()).await.expect("events within 20 s").expect("read");
        seen.push_str(&String::from_utf8_lossy(&chunk.expect("the stream is open")));
    }
    assert!(seen.contains("\"filename\":\"tides.md\""), "{seen}");
    // The upload is an event of its own in the log, after its chunks.
    let (_, log) = get(&server, "/api/log?since=0&limit=100").await;
    let kinds: Vec<&str> =
        log["events"].as_array().expect("events").iter().filter_map(|e| e["kind"].as_str()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "document_ingested").count(), 2, "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"document_ingested"), "{kinds:?}");
}

#[tokio::test]
async fn kill_9_in_the_middle_of_an_upload_leaves_nothing_of_it() {
    let data = DataDir::new();
    let mut server = server(&data, &[("MCP_EMBEDDING_THREADS", "1")]).await;
    let (status, body) = upload(&server, "long.md", paragraphs("glaciers", 400).into_bytes(), &[("tags", "ice")]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let upload_id = body["upload_id"].as_str().expect("id").to_string();
    // Wait until it is embedding, then kill the server without warning.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, status) = get(&server, &format!("/api/documents/status/{upload_id}")).await;
        if status["chunks_processed"].as_u64().is_some_and(|n| n > 0) {
            assert_eq!(status["status"], "processing", "killed before the end: {status}");
            break;
        }
        assert!(Instant::now() < deadline, "no progress: {status}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    signal(server.pid(), "KILL");
    assert!(server.wait_exit(Duration::from_secs(10)).is_some(), "the server is gone");
    drop(server);
    let server = self::server(&data, &[]).await;
    let (status, _) = get(&server, &format!("/api/documents/status/{upload_id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "an upload that did not finish is not recorded");
    let (_, found) = send(client().post(server.url("/api/search/by-tag")).json(&json!({ "tags": ["ice"] }))).await;
    assert_eq!(found["results"].as_array().map(Vec::len), Some(0), "no chunk of it was stored: {found}");
    // The same file goes in whole afterwards.
    let done = ingest(&server, "long.md", paragraphs("glaciers", 400).into_bytes(), &[("tags", "ice")]).await;
    assert!(done["chunks_stored"].as_u64().is_some_and(|n| n > 100), "{done}");
}

/// Writes the documents the CLI and MCP tests read: notes.md, guide.html and sub/table.csv under `docs`, an
/// unreadable junk.pdf beside it, and a file outside it (returned) that `docs/escape.md` links to.
fn write_docs(root: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let docs = root.join("docs");
    std::fs::create_dir_all(docs.join("sub")).expect("mkdir");
    let notes = format!(
        "# Team notes\n\nThe billing team chose PostgreSQL 16 for row-level security.\n\n{}",
        paragraphs("billing", 3)
    );
    std::fs::write(docs.join("notes.md"), notes).expect("write");
    std::fs::write(docs.join("guide.html"), "<html><body><h1>Guide</h1><p>Restart the router by holding the reset button for ten seconds.</p></body></html>").expect("write");
    std::fs::write(docs.join("sub/table.csv"), "city,river\nLyon,Rhone\nParis,Seine\n").expect("write");
    std::fs::write(docs.join("ignored.exe"), "MZ").expect("write");
    std::fs::write(root.join("junk.pdf"), "not a pdf at all").expect("write");
    let outside = root.join("outside.md");
    std::fs::write(
        &outside,
        "# Private\n\nA file outside the document roots: the server's own notes about its keys and secrets.",
    )
    .expect("write");
    std::os::unix::fs::symlink(&outside, docs.join("escape.md")).expect("link");
    (docs, outside)
}

#[test]
fn the_cli_ingests_a_directory_lists_the_uploads_and_removes_one() {
    let data = DataDir::new();
    let (docs, _) = write_docs(data.path());
    let docs = docs.to_str().expect("a UTF-8 path");
    let planned = data.ok(&["ingest", docs, "--recursive", "--dry-run"]);
    assert!(planned.contains("notes.md: would store") && planned.contains("table.csv: would store"), "{planned}");
    assert_eq!(data.stats()["total_memories"], 0, "a dry run stores nothing");
    let done =
        data.ok(&["ingest", docs, "--recursive", "--tags", "cli,docs", "--chunk-size", "300", "--chunk-overlap", "50"]);
    assert_eq!(done.matches("ingested as upload").count(), 3, "notes, guide and table: {done}");
    assert!(!done.contains("escape.md"), "a link out of the directory is not followed: {done}");
    let again = data.ok(&["ingest", &format!("{docs}/notes.md")]);
    assert!(again.contains("skipped, the same file was ingested"), "{again}");
    let hits = data.search(&["which database for billing", "--limit", "1"]);
    assert_eq!(hits.len(), 1);
    let listed = data.ok(&["documents"]);
    assert_eq!(listed.lines().count(), 3, "{listed}");
    let upload_id =
        listed.lines().find(|l| l.contains("notes.md")).and_then(|l| l.split_whitespace().next()).expect("an id");
    let removed = data.ok(&["documents", "--remove", upload_id]);
    assert!(removed.contains("removed upload") && removed.contains("notes.md"), "{removed}");
    assert!(data.ok(&["documents"]).contains("removed"), "the upload stays listed as removed");
    let failed = data.fails(&["ingest", &format!("{}/junk.pdf", data.path().display())]);
    assert!(failed.contains("junk.pdf"), "{failed}");
}

#[tokio::test]
async fn memory_ingest_over_stdio_reads_the_users_files_and_over_http_only_the_configured_roots() {
    let data = DataDir::new();
    let (docs, outside) = write_docs(data.path());
    let (docs, outside) = (docs.to_str().expect("UTF-8"), outside.to_str().expect("UTF-8"));
    let store = data.path().join("stdio-store");
    std::fs::create_dir_all(&store).expect("mkdir");
    run_python_client("ingest_client.py", &["stdio", BIN, store.to_str().expect("UTF-8"), docs, outside]);
    let confined = server(&data, &[("MCP_DOCUMENT_ROOTS", docs)]).await;
    run_python_client("ingest_client.py", &["http", &confined.url("/mcp"), KEY, docs, outside, "confined"]);
    drop(confined);
    let open = DataDir::new();
    let server = server(&open, &[]).await;
    run_python_client("ingest_client.py", &["http", &server.url("/mcp"), KEY, docs, outside, "none"]);
}

/// The dashboard's Documents panel in headless Chromium: uploads through the file input and a drop, each
/// followed to its end; the history with its chunks and a removal; a refused file; an identical file sent
/// again, refused, then forced. The panel's screenshot is kept in the target's tmp directory.
#[tokio::test]
async fn the_dashboards_documents_panel_works_end_to_end_in_headless_chromium() {
    let data = DataDir::new();
    let server = server(&data, &[]).await;
    let files = DataDir::new();
    let notes = format!(
        "# Team notes\n\nThe billing team chose PostgreSQL 16 for row-level security.\n\n{}",
        paragraphs("billing", 8)
    );
    std::fs::write(files.path().join("notes.md"), notes).expect("write notes.md");
    let pdf = fixtures::pdf(&[
        "Page one speaks of the quarterly budget.",
        "Page two: the submarine cable was repaired in March.",
    ]);
    std::fs::write(files.path().join("report.pdf"), pdf).expect("write report.pdf");
    std::fs::write(files.path().join("tool.exe"), b"MZ\x90\x00junk").expect("write tool.exe");
    let shots = crate::support::panel_shots();
    let shot = shots.join("panel-documents.png");
    let _ = std::fs::remove_file(&shot);
    let args = [&server.url("") as &str, KEY, &shots.to_string_lossy(), &files.path().to_string_lossy()];
    crate::support::browser_check("documents_check.py", &args, &server);
    assert!(shot.exists(), "the screenshot is kept at {}", shot.display());
}

/// Every file under `dir` whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &str) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_containing(&path, needle));
        } else if std::fs::read(&path).unwrap_or_default().windows(needle.len()).any(|w| w == needle.as_bytes()) {
            found.push(path);
        }
    }
    found
}

#[tokio::test]
async fn redacting_an_upload_erases_its_memories_and_record_from_the_log_and_the_backups() {
    let data = DataDir::new();
    let server = server(&data, &[]).await;
    let text =
        format!("# Zorblax plan\n\nThe Zorblax launch code is kept by Quentin.\n\n{}", paragraphs("launches", 10));
    let done = ingest(&server, "zorblax-secret.md", text.into_bytes(), &[]).await;
    let upload_id = done["upload_id"].as_str().expect("id").to_string();
    let chunk = done["content_hashes"][0].as_str().expect("a chunk").to_string();
    // One chunk deleted by hand first: a redaction takes deleted memories too.
    let (status, _) = send(client().delete(server.url(&format!("/api/memories/{chunk}")))).await;
    assert_eq!(status, StatusCode::OK);
    let (status, backup) = send(client().post(server.url("/api/backup/now"))).await;
    assert_eq!((status, &backup["success"]), (StatusCode::OK, &json!(true)), "{backup}");

    let url = server.url(&format!("/api/documents/redact/{upload_id}"));
    let (status, answer) = send(client().post(&url).json(&json!({ "reason": "asked to forget" }))).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["memories_redacted"], done["chunks_stored"], "{answer}");
    assert_eq!(answer["backups_scrubbed"], json!([backup["filename"]]), "{answer}");
    let (status, _) = send(client().post(&url).json(&json!({}))).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "the upload is forgotten");
    let (status, _) = get(&server, &format!("/api/documents/status/{upload_id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, history) = get(&server, &format!("/api/memories/{chunk}/history")).await;
    let kinds: Vec<&str> =
        history["history"].as_array().expect("history").iter().filter_map(|e| e["kind"].as_str()).collect();
    assert_eq!(kinds, ["stored", "deleted", "redacted"], "{history}");
    for needle in ["Zorblax", "zorblax-secret.md", "Quentin"] {
        for path in [data.path().join("events.redb"), data.sqlite_path()] {
            let bytes = std::fs::read(&path).unwrap_or_default();
            assert!(!bytes.windows(needle.len()).any(|w| w == needle.as_bytes()), "{needle} is still in {path:?}");
        }
        assert!(files_containing(&data.path().join("backups"), needle).is_empty(), "{needle} in a backup");
    }
    drop(server);
    let refused = data.fails(&["documents", "--redact", &upload_id]);
    assert!(refused.contains("--yes"), "{refused}");
}

/// The ingest benchmark's own unit tests (benches/ingest/test_bench.py): its document generator, its
/// percentiles, its multipart body and its tables.
#[test]
fn the_ingest_benchmarks_helpers_pass_their_unit_tests() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/ingest");
    run_python_unittests(&dir, &["-v", "test_bench"], "the ingest bench's unit tests");
}
