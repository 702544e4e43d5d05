//! Redaction: a memory forgotten for real. After `redact`, its words are in no file of the data directory
//! (the log, the read model and its write-ahead log, the ANN index, the backups), the history keeps a
//! tombstone, and nothing can bring it back; over HTTP it needs the admin scope, and the log exports as JSON
//! lines for audit tools.

use crate::support::{DataDir, Server, content_hash};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;

const KEY: &str = "redact-test-key";

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir").filter_map(Result::ok) {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// The files under `dir` whose bytes contain `needle`.
pub(crate) fn files_containing(dir: &Path, needle: &str) -> Vec<PathBuf> {
    files_under(dir)
        .into_iter()
        .filter(|path| {
            let bytes = std::fs::read(path).unwrap_or_default();
            bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
        })
        .collect()
}

#[test]
fn the_cli_redacts_a_memory_from_every_file_and_keeps_a_tombstone() {
    let data = DataDir::new();
    let secret = "Customer Zyxwvut Quorpel lives at 12 Secret Lane";
    let hash = data.store(secret, &["customer", "zyxwvut-tag"]);
    data.ok(&["update", &hash, "--tags", "customer,pii-zyxwvut"]);
    data.store("An unrelated memory about lunch", &["food"]);
    data.ok(&["backup"]);
    assert!(!files_containing(data.path(), "Quorpel").is_empty(), "the secret is on disk before the redaction");

    // Redaction cannot be undone: without a terminal to ask on, it needs --yes, and refuses otherwise.
    let refused = data.fails(&["redact", &hash, "--reason", "GDPR erasure request"]);
    assert!(refused.contains("add --yes"), "{refused}");
    assert!(!files_containing(data.path(), "Quorpel").is_empty(), "a refused redaction erased something");
    assert_eq!(data.get(&hash)["content"], secret);
    let redacted = data.ok(&["redact", &hash, "--reason", "GDPR erasure request", "--yes"]);
    assert!(redacted.contains("2 earlier events erased"), "{redacted}");
    assert!(redacted.contains("erased from backup memory_backup_"), "{redacted}");
    for needle in ["Quorpel", "Zyxwvut", "zyxwvut"] {
        let found = files_containing(data.path(), needle);
        assert!(found.is_empty(), "{needle} is still in {found:?}");
    }

    let history = data.ok(&["history", &hash]);
    assert!(history.contains("stored (erased by a redaction)"), "{history}");
    assert!(history.contains("updated (erased by a redaction)"), "{history}");
    assert!(history.contains("redacted by cli"), "{history}");
    let get = data.run(&["get", &hash]);
    assert!(!get.status.success(), "{}", get.stdout);
    let undelete = data.run(&["undelete", &hash]);
    assert!(!undelete.status.success() && undelete.stderr.contains("redacted"), "{}", undelete.stderr);
    let again = data.run(&["redact", &hash, "--yes"]);
    assert!(!again.status.success() && again.stderr.contains("redacted"), "{}", again.stderr);
    let found = data.ok(&["search", "Secret Lane customer address", "--mode", "exact"]);
    assert!(!found.contains(&hash), "{found}");

    // The backup is still whole: its manifest matches its rewritten content.
    let listed = data.ok(&["backup", "list"]);
    let name = listed.split_whitespace().next().expect("a backup").to_string();
    let verified = data.ok(&["backup", "verify", &name]);
    assert!(verified.contains("checksum ok") && verified.contains("into 1 memory,"), "{verified}");

    // The log as JSON lines: every event once, the redaction with its reason, nothing of the content.
    let lines: Vec<Value> = data.ok(&["log"]).lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
    let seqs: Vec<u64> = lines.iter().map(|l| l["seq"].as_u64().expect("seq")).collect();
    assert_eq!(seqs, (1..=4).collect::<Vec<_>>(), "{lines:?}");
    assert_eq!(lines[3]["kind"], "redacted");
    assert_eq!(lines[3]["reason"], "GDPR erasure request");
    assert_eq!(lines[0]["erased"], true);
    assert!(lines[0]["memory"].is_null(), "{}", lines[0]);
    let from_three = data.ok(&["log", "--from", "3"]);
    assert_eq!(from_three.lines().count(), 2, "{from_three}");

    // Storing the same words again is a new memory, with a history that starts over after the tombstone.
    assert_eq!(data.store(secret, &[]), hash);
    assert!(data.ok(&["get", &hash]).contains("Quorpel"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_redaction_needs_admin_and_erases_the_read_model_while_serving() {
    let data = DataDir::new();
    let secret = "The vault combination is Plonkfeather 31-44-17";
    let hash = content_hash(secret);
    let server = Server::start(&data, &[("MCP_API_KEY", KEY)]).await;
    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("client");
    let stored = client
        .post(server.url("/api/memories"))
        .bearer_auth(KEY)
        .json(&json!({ "content": secret, "tags": ["vault"] }))
        .send()
        .await
        .expect("store");
    assert_eq!(stored.status(), StatusCode::OK);
    let backup = client.post(server.url("/api/backup/now")).bearer_auth(KEY).send().await.expect("backup");
    let backup: Value = backup.json().await.expect("JSON");
    assert_eq!(backup["success"], true, "{backup}");

    let url = server.url(&format!("/api/memories/{hash}/redact"));
    let bad = client.post(&url).bearer_auth(KEY).json(&json!({ "reason": 7 })).send().await.expect("bad body");
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let unknown = client
        .post(server.url(&format!("/api/memories/{}/redact", "0".repeat(64))))
        .bearer_auth(KEY)
        .json(&json!({}))
        .send()
        .await
        .expect("unknown");
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let answer =
        client.post(&url).bearer_auth(KEY).json(&json!({ "reason": "a secret" })).send().await.expect("redact");
    assert_eq!(answer.status(), StatusCode::OK);
    let answer: Value = answer.json().await.expect("JSON");
    assert_eq!(answer["content_hash"], hash.as_str(), "{answer}");
    assert_eq!(answer["events_erased"], 1, "{answer}");
    assert_eq!(answer["backups_scrubbed"], json!([backup["filename"]]), "{answer}");
    let again = client.post(&url).bearer_auth(KEY).json(&json!({})).send().await.expect("again");
    assert_eq!(again.status(), StatusCode::CONFLICT);

    // While the server runs: gone from the API, and from the log's file, the read model's files and the backups.
    let get = client.get(server.url(&format!("/api/memories/{hash}"))).bearer_auth(KEY).send().await.expect("get");
    assert_eq!(get.status(), StatusCode::NOT_FOUND);
    for path in [data.path().join("events.redb"), data.sqlite_path(), data.sqlite_path().with_extension("db-wal")] {
        let bytes = std::fs::read(&path).unwrap_or_default();
        assert!(!bytes.windows(12).any(|w| w == b"Plonkfeather"), "the secret is still in {}", path.display());
    }
    assert!(files_containing(&data.path().join("backups"), "Plonkfeather").is_empty());

    let export = client.get(server.url("/api/log/export")).bearer_auth(KEY).send().await.expect("export");
    assert_eq!(export.status(), StatusCode::OK);
    assert_eq!(export.headers()["content-type"], "application/x-ndjson");
    let export = export.text().await.expect("body");
    let kinds: Vec<String> = export
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("a JSON line")["kind"].as_str().expect("kind").to_string())
        .collect();
    assert_eq!(kinds, vec!["stored", "redacted"], "{export}");
    assert!(!export.contains("Plonkfeather"));
    let since = client.get(server.url("/api/log/export?since=1")).bearer_auth(KEY).send().await.expect("since");
    assert_eq!(since.text().await.expect("body").lines().count(), 1);
    drop(server);

    // Anonymous access (read and write) may delete, but not redact.
    let other = "A note an anonymous client stored";
    let server = Server::start(&data, &[("MCP_ALLOW_ANONYMOUS_ACCESS", "true")]).await;
    let stored =
        client.post(server.url("/api/memories")).json(&json!({ "content": other })).send().await.expect("store");
    assert_eq!(stored.status(), StatusCode::OK);
    let url = server.url(&format!("/api/memories/{}/redact", content_hash(other)));
    let refused = client.post(&url).json(&json!({})).send().await.expect("redact");
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    drop(server);
    // Restarting rewrote the log file: the erased bytes left its free pages too.
    assert!(files_containing(data.path(), "Plonkfeather").is_empty());
}
