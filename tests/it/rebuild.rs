//! The read models are a pure function of the log: `rebuild`, a deleted read model and a stale one all give
//! back exactly what the live projections showed.

use crate::support::{DataDir, content_hash};
use std::path::Path;

const SENTENCES: [&str; 18] = [
    "The deployment pipeline fails when the cache volume is full.",
    "Alice prefers tea over coffee in the afternoon.",
    "The billing service retries failed card payments three times.",
    "Our office plants need watering every Thursday.",
    "Use exponential backoff when the upstream API rate limits us.",
    "The quarterly report is due at the end of March.",
    "Bob is allergic to peanuts; order lunch accordingly.",
    "The search index is rebuilt nightly from the primary database.",
    "Meeting rooms on the third floor have broken projectors.",
    "Customer churn dropped after the onboarding emails were rewritten.",
    "The mobile app crashes on Android 12 when the camera permission is denied.",
    "Keep secrets in the vault, never in environment files committed to git.",
    "The marketing team wants a dark mode for the landing page.",
    "Latency of the recommendation endpoint doubled after the last release.",
    "Friday demos start at four in the big conference room.",
    "The backup job copies snapshots to cold storage every Sunday.",
    "New hires get a laptop and a security key on their first day.",
    "The GraphQL gateway caches persisted queries for ten minutes.",
];

const TOPICS: [&str; 3] = ["topic-a", "topic-b", "topic-c"];

/// Fills a data directory: an import of 18 memories with tags, types, metadata and distinct creation
/// times, two CLI stores, then three deletes by hash and a bulk delete by tag.
fn seed(data: &DataDir) {
    let lines: Vec<String> = SENTENCES
        .iter()
        .enumerate()
        .map(|(i, content)| {
            serde_json::json!({
                "content": content,
                "tags": [TOPICS[i % 3], format!("group-{}", i % 4)],
                "memory_type": if i % 2 == 0 { "note" } else { "fact" },
                "metadata": {"i": i},
                "created_at": 1_750_000_000.0 + 3600.0 * i as f64 + 0.25,
            })
            .to_string()
        })
        .collect();
    let file = data.path().join("seed.jsonl");
    std::fs::write(&file, lines.join("\n")).expect("write the seed file");
    assert_eq!(
        data.ok(&["import", file.to_str().expect("a UTF-8 path")]),
        "imported 18 of 18 memories (0 duplicates skipped)\n"
    );
    data.store("Fresh CLI memory about the database migration plan.", &["topic-a", "cli"]);
    data.store("Another fresh memory: the staging cluster moves to a new region.", &["topic-b", "cli"]);
    for i in [1, 7, 12] {
        data.ok(&["delete", &content_hash(SENTENCES[i])]);
    }
    let deleted = data.ok(&["delete", "--tags", "group-3"]);
    assert!(deleted.starts_with("deleted "), "{deleted}");
}

/// What the read models show, through every query of the CLI.
fn snapshot(data: &DataDir) -> Vec<(Vec<&'static str>, String)> {
    let queries: [&[&'static str]; 10] = [
        &["list", "--page-size", "100"],
        &["list", "--page", "2", "--page-size", "4"],
        &["list", "--tags", "group-0"],
        &["list", "--tags", "topic-a,group-1", "--all-tags"],
        &["list", "--type", "fact"],
        &["search", "problems with the database and search index", "-n", "20"],
        &["search", "lunch and food allergies", "--tags", "topic-b,topic-c", "-n", "3"],
        &["search", "--mode", "keyword", "the", "-n", "20"],
        &["search", "--mode", "hybrid", "release latency", "-n", "5"],
        &["export"],
    ];
    let mut out: Vec<(Vec<&str>, String)> = queries.iter().map(|args| (args.to_vec(), data.ok(args))).collect();
    let stats = data.stats();
    let counts: Vec<String> = [
        "total_memories",
        "unique_tags",
        "events",
        "memories_ever",
        "ann_vectors",
        "projection_checkpoint",
        "projection_errors",
    ]
    .iter()
    .map(|key| format!("{key}={}", stats[*key]))
    .collect();
    out.push((vec!["stats"], counts.join("\n")));
    out
}

fn assert_same(before: &[(Vec<&str>, String)], after: &[(Vec<&str>, String)], when: &str) {
    for ((query, expected), (_, actual)) in before.iter().zip(after) {
        assert_eq!(actual, expected, "`{}` differs {when}", query.join(" "));
    }
}

fn remove_read_models(data: &DataDir) {
    for entry in std::fs::read_dir(data.path()).expect("read the data dir").flatten() {
        if entry.file_name().to_string_lossy().starts_with("sqlite_vec.db") {
            std::fs::remove_file(entry.path()).expect("remove a read model file");
        }
    }
    let ann = data.path().join("ann");
    if ann.exists() {
        std::fs::remove_dir_all(&ann).expect("remove the ANN index");
    }
}

fn copy_read_models(from: &Path, to: &Path) {
    std::fs::create_dir_all(to.join("ann")).expect("create the ANN copy");
    for entry in std::fs::read_dir(from).expect("read the data dir").flatten() {
        if entry.file_name().to_string_lossy().starts_with("sqlite_vec.db") {
            std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy a read model file");
        }
    }
    if let Ok(entries) = std::fs::read_dir(from.join("ann")) {
        for entry in entries.flatten() {
            std::fs::copy(entry.path(), to.join("ann").join(entry.file_name())).expect("copy the ANN index");
        }
    }
}

#[test]
fn rebuild_and_a_deleted_read_model_give_back_the_same_answers() {
    let data = DataDir::new();
    seed(&data);
    let live = snapshot(&data);
    let total = live[0].1.lines().next().expect("a list header").to_string();
    assert!(total.ends_with(" of 14 memories"), "18 + 2 - 3 - 3 (the live ones of group-3) remain: {total}");
    let events = data.stats()["events"].as_u64().expect("events");

    let rebuilt = data.ok(&["rebuild"]);
    assert!(rebuilt.starts_with(&format!("rebuilt the read models from {events} events in ")), "{rebuilt}");
    assert_same(&live, &snapshot(&data), "after `rebuild`");

    // Without any read model, the first command rebuilds it from the log at open.
    remove_read_models(&data);
    assert_eq!(data.ok(&live[0].0), live[0].1, "list differs after removing the read model");
    assert!(data.sqlite_path().is_file(), "the read model is recreated");
    assert_same(&live, &snapshot(&data), "after removing the read model");

    // And again with a semantic search as the first command, which needs the vectors at once.
    remove_read_models(&data);
    assert_eq!(data.ok(&live[5].0), live[5].1, "search differs after removing the read model");
    assert_same(&live, &snapshot(&data), "after removing the read model again");
}

#[test]
fn a_stale_read_model_catches_up_with_the_log_at_open() {
    let data = DataDir::new();
    data.store("First memory before the copy.", &["old"]);
    data.store("Second memory before the copy.", &["old"]);
    let stale = tempfile::tempdir().expect("a temp dir");
    copy_read_models(data.path(), stale.path());

    let third = data.store("Third memory, after the copy.", &["new"]);
    data.ok(&["delete", &content_hash("First memory before the copy.")]);
    let live = snapshot(&data);

    remove_read_models(&data);
    copy_read_models(stale.path(), data.path());
    let caught_up = snapshot(&data);
    assert_same(&live, &caught_up, "after restoring a stale read model");
    assert_eq!(data.list(&["--tags", "new"]).0, vec![third]);
}
