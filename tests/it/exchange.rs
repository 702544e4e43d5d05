//! Import and export: our JSON lines round-trip every field into a fresh data directory, the original
//! service's export document imports with its timestamps, and importing twice skips duplicates.

use crate::support::{DataDir, content_hash};
use serde_json::{Value, json};

fn path_str(path: &std::path::Path) -> &str {
    path.to_str().expect("a UTF-8 temp path")
}

#[test]
fn export_then_import_into_a_fresh_directory_preserves_every_memory() {
    let source = DataDir::new();
    source.store("Plain memory without anything else.", &[]);
    source.ok(&[
        "store",
        "Decided: the API stays backwards compatible until v3.",
        "--tags",
        "api,decision",
        "--type",
        "decision",
        "--metadata",
        r#"{"owner": "platform", "priority": 2, "nested": {"ok": true}}"#,
    ]);
    let gone = source.store("This one is deleted before the export.", &["temp"]);
    let old = [
        json!({"content": "An old memory from 2023.", "tags": ["history"], "created_at": 1_690_000_000.125, "updated_at": 1_690_000_100.0}),
        json!({"content": "Ünïcödé memory: 東京 🌞", "tags": ["i18n", "test"], "memory_type": "note", "created_at": 1_695_000_000.0}),
    ];
    let seed = source.path().join("seed.jsonl");
    std::fs::write(&seed, old.iter().map(Value::to_string).collect::<Vec<_>>().join("\n") + "\n").expect("write");
    assert_eq!(source.ok(&["import", path_str(&seed)]), "imported 2 of 2 memories (0 duplicates skipped)\n");
    source.ok(&["delete", &gone]);

    let exported = source.path().join("export.jsonl");
    let run = source.run(&["export", path_str(&exported)]);
    assert!(run.status.success(), "{}", run.stderr);
    assert_eq!(run.stdout, "", "the export goes to the file");
    assert!(run.stderr.contains("exported 4 memories"), "{}", run.stderr);
    let text = std::fs::read_to_string(&exported).expect("read the export");
    assert_eq!(source.ok(&["export"]), text, "`export` without a file writes the same lines to stdout");
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).expect("each line is JSON")).collect();
    assert_eq!(lines.len(), 4, "{text}");
    for line in &lines {
        let content = line["content"].as_str().expect("content");
        assert_eq!(line["content_hash"], content_hash(content).as_str(), "{line}");
        assert!(line["created_at"].is_f64() && line["created_at_iso"].is_string(), "{line}");
    }
    assert!(!text.contains(&gone), "deleted memories are not exported");

    let target = DataDir::new();
    assert_eq!(target.ok(&["import", path_str(&exported)]), "imported 4 of 4 memories (0 duplicates skipped)\n");
    let list = ["list", "--page-size", "100"];
    assert_eq!(target.ok(&list), source.ok(&list), "list shows the same memories, times and tags");
    assert_eq!(target.ok(&["export"]), text, "a second export is identical, field for field");
    for line in &lines {
        let hash = line["content_hash"].as_str().expect("hash");
        assert_eq!(target.get(hash), source.get(hash));
    }
    let old_one = target.get(&content_hash("An old memory from 2023."));
    assert_eq!(old_one["created_at"], 1_690_000_000.125);
    assert_eq!(old_one["created_at_iso"], "2023-07-22T04:26:40.125000Z");
    assert_eq!(old_one["updated_at"], 1_690_000_100.0);

    let events = target.stats()["events"].clone();
    assert_eq!(target.ok(&["import", path_str(&exported)]), "imported 0 of 4 memories (4 duplicates skipped)\n");
    assert_eq!(target.stats()["events"], events, "a re-import appends nothing");
}

#[test]
fn the_original_services_export_document_imports_with_its_timestamps() {
    let data = DataDir::new();
    let document = json!({
        "export_metadata": {"source_machine": "laptop", "export_timestamp": "2023-11-15T10:00:00Z", "total_memories": 2, "exported_by": "mcp-memory-service"},
        "memories": [
            {"content": "Original service memory", "content_hash": content_hash("Original service memory"), "tags": ["a"],
             "created_at": 1_700_000_000.5, "updated_at": 1_700_000_001.0, "memory_type": "note", "metadata": {"k": 1}},
            {"content": "Tags as one string", "content_hash": content_hash("Tags as one string"), "tags": "x,y",
             "created_at": 1_600_000_000.0, "updated_at": 1_600_000_000.0, "memory_type": null, "metadata": {}},
        ]
    });
    let file = data.path().join("original.json");
    std::fs::write(&file, serde_json::to_string_pretty(&document).expect("JSON")).expect("write");
    assert_eq!(data.ok(&["import", path_str(&file)]), "imported 2 of 2 memories (0 duplicates skipped)\n");

    let memory = data.get(&content_hash("Original service memory"));
    assert_eq!(memory["content"], "Original service memory");
    assert_eq!(memory["tags"], json!(["a"]));
    assert_eq!(memory["memory_type"], "note");
    assert_eq!(memory["metadata"], json!({"k": 1}));
    assert_eq!(memory["created_at"], 1_700_000_000.5, "created_at is kept");
    assert_eq!(memory["created_at_iso"], "2023-11-14T22:13:20.500000Z");
    assert_eq!(memory["updated_at"], 1_700_000_001.0);
    let history = data.ok(&["history", &content_hash("Original service memory")]);
    assert!(history.starts_with("#1 v1 ") && history.contains(" stored by import"), "{history}");
    let joined = data.get(&content_hash("Tags as one string"));
    assert_eq!(joined["tags"], json!(["x", "y"]), "the original's comma-joined tags are split");
    assert_eq!(joined["created_at_iso"], "2020-09-13T12:26:40Z");
    // Newest first, by the kept creation times.
    assert_eq!(data.list(&[]).0, vec![content_hash("Original service memory"), content_hash("Tags as one string")]);

    let run = data.run_with_stdin(&["import", "-"], &document.to_string());
    assert!(run.status.success(), "{}", run.stderr);
    assert_eq!(run.stdout, "imported 0 of 2 memories (2 duplicates skipped)\n");
    assert_eq!(data.stats()["events"], 2);
}

#[test]
fn a_malformed_import_is_refused_and_stores_nothing() {
    let data = DataDir::new();
    let file = data.path().join("bad.jsonl");
    std::fs::write(&file, "{\"content\": \"fine\"}\nnot json at all\n").expect("write");
    let error = data.fails(&["import", path_str(&file)]);
    assert!(error.contains("line 2"), "{error}");
    std::fs::write(&file, "{\"content\": \"fine\"}\n{\"content\": \"  \"}\n").expect("write");
    let error = data.fails(&["import", path_str(&file)]);
    assert!(error.contains("empty"), "{error}");
    let error = data.fails(&["import", path_str(&data.path().join("missing.jsonl"))]);
    assert!(error.contains("cannot read"), "{error}");
    assert_eq!(data.stats()["events"], 0);
}

#[test]
fn an_out_of_range_timestamp_is_refused_not_mangled() {
    let data = DataDir::new();
    let file = data.path().join("dates.jsonl");
    for created_at in ["1e300", "-1e300", "1e15"] {
        std::fs::write(&file, format!("{{\"content\": \"dated {created_at}\", \"created_at\": {created_at}}}\n"))
            .expect("write");
        let run = data.run(&["import", path_str(&file)]);
        if run.status.success() {
            let memory = data.get(&content_hash(&format!("dated {created_at}")));
            let iso = memory["created_at_iso"].as_str().unwrap_or_default();
            assert!(
                chrono::DateTime::parse_from_rfc3339(iso).is_ok(),
                "created_at {created_at} was imported as {} with created_at_iso {iso:?}",
                memory["created_at"]
            );
        } else {
            assert!(run.stderr.contains("created_at"), "{created_at}: {}", run.stderr);
        }
    }
    // An ordinary date before 1970 is fine.
    std::fs::write(&file, "{\"content\": \"before the epoch\", \"created_at\": -86400.5}\n").expect("write");
    data.ok(&["import", path_str(&file)]);
    assert_eq!(data.get(&content_hash("before the epoch"))["created_at_iso"], "1969-12-30T23:59:59.500000Z");
}
