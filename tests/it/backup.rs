//! Backups as log snapshots: from the CLI (take, list, verify, retention), a damaged backup detected without
//! touching the store, consistent snapshots over HTTP while four writers write, the schedule, and kill -9
//! in the middle of backups.

use crate::support::{DataDir, Server, content_hash, signal};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;

const KEY: &str = "backup-test-key";

/// The backup files (not manifests) in a directory, sorted.
fn backup_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(dir).map(|read| read.filter_map(Result::ok).map(|e| e.path()).collect()).unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "redb"));
    files.sort();
    files
}

fn manifest(backup: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(backup.with_extension("json")).expect("a manifest")).expect("JSON")
}

#[test]
fn the_cli_backs_up_lists_verifies_and_keeps_the_newest() {
    let data = DataDir::new();
    let hashes: Vec<String> = (0..5).map(|i| data.store(&format!("Backed-up memory number {i}"), &["b"])).collect();
    data.ok(&["delete", &hashes[0]]);
    let dir = data.path().join("backups");

    let taken = data.ok(&["backup"]);
    let files = backup_files(&dir);
    assert_eq!(files.len(), 1, "{taken}");
    let name = files[0].file_name().expect("a name").to_string_lossy().into_owned();
    assert!(name.starts_with("memory_backup_") && taken.contains(&name), "{taken}");
    let first = manifest(&files[0]);
    assert_eq!((first["first_seq"].as_u64(), first["last_seq"].as_u64()), (Some(1), Some(6)), "{first}");
    assert_eq!((first["events"].as_u64(), first["memories"].as_u64()), (Some(6), Some(4)), "{first}");
    assert_eq!(first["format_version"], 1);
    assert_eq!(first["size_bytes"].as_u64(), Some(std::fs::metadata(&files[0]).expect("size").len()));

    let listed = data.ok(&["backup", "list"]);
    assert!(listed.contains(&name) && listed.contains("full, up to event 6, 4 memories"), "{listed}");
    // An unchanged store is not backed up again, whatever the kind asked for.
    for args in [&["backup"][..], &["backup", "full"]] {
        let again = data.ok(args);
        assert!(again.contains("no new backup taken") && again.contains(&name), "{again}");
    }
    assert_eq!(backup_files(&dir).len(), 1);
    let verified = data.ok(&["backup", "verify", &name]);
    assert!(verified.contains("checksum ok") && verified.contains("into 4 memories"), "{verified}");

    // Retention: at most MCP_BACKUP_MAX_COUNT backups, the newest kept.
    for i in 0..3 {
        data.store(&format!("Later memory {i}"), &[]);
        let output = data.command(&["backup", "full"]).env("MCP_BACKUP_MAX_COUNT", "2").output().expect("run backup");
        assert!(output.status.success(), "{output:?}");
    }
    let kept = backup_files(&dir);
    assert_eq!(kept.len(), 2, "{kept:?}");
    let last_seqs: Vec<u64> = kept.iter().map(|f| manifest(f)["last_seq"].as_u64().expect("seq")).collect();
    assert_eq!(last_seqs, vec![8, 9], "the two newest are kept");
    assert!(!dir.join(&name).exists() && !dir.join(name.replace(".redb", ".json")).exists(), "pruned whole");
}

#[test]
fn a_damaged_backup_is_detected_and_nothing_is_touched() {
    let data = DataDir::new();
    let hash = data.store("A memory that must survive a bad backup", &["keep"]);
    data.ok(&["backup"]);
    let file = backup_files(&data.path().join("backups")).remove(0);
    let name = file.file_name().expect("a name").to_string_lossy().into_owned();

    let mut bytes = std::fs::read(&file).expect("read the backup");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&file, &bytes).expect("damage the backup");
    let error = data.fails(&["backup", "verify", &name]);
    assert!(error.contains("damaged") && error.contains("SHA-256"), "{error}");
    // The store is unchanged since, but its newest backup is damaged: backing up again writes a new one.
    let again = data.ok(&["backup"]);
    assert!(again.contains("full backup, events 1..1"), "{again}");
    assert_eq!(backup_files(&data.path().join("backups")).len(), 2);

    std::fs::write(&file, &bytes[..middle]).expect("truncate the backup");
    let error = data.fails(&["backup", "verify", &name]);
    assert!(error.contains("damaged") && error.contains("bytes"), "{error}");
    std::fs::remove_file(file.with_extension("json")).expect("remove the manifest");
    assert!(data.fails(&["backup", "verify", &name]).contains("no manifest"));
    let missing = data.fails_with(4, &["backup", "verify", "memory_backup_nope.redb"]);
    assert!(missing.contains("no such backup"), "{missing}");

    assert_eq!(data.get(&hash)["content"], "A memory that must survive a bad backup", "the store is untouched");
    assert_eq!(data.stats()["events"], 1);
}

async fn post(client: &reqwest::Client, server: &Server, path: &str, body: Value) -> (StatusCode, Value) {
    let response = client.post(server.url(path)).bearer_auth(KEY).json(&body).send().await.expect("an answer");
    let status = response.status();
    (status, response.json().await.expect("a JSON body"))
}

async fn get(client: &reqwest::Client, server: &Server, path: &str) -> Value {
    let response = client.get(server.url(path)).bearer_auth(KEY).send().await.expect("an answer");
    assert_eq!(response.status(), StatusCode::OK, "GET {path}");
    response.json().await.expect("a JSON body")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backups_taken_while_four_writers_write_are_consistent_snapshots() {
    let data = DataDir::new();
    let server = Server::start(&data, &[("MCP_API_KEY", KEY), ("MCP_BACKUP_ENABLED", "false")]).await;
    let client = reqwest::Client::new();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let written = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (client, url, stop) = (client.clone(), server.url("/api/memories"), stop.clone());
            let written = written.clone();
            tokio::spawn(async move {
                let mut acknowledged = Vec::new();
                let mut i = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) && i < 150 {
                    let content = format!("writer {w} note {i} during backups");
                    let response = client.post(&url).bearer_auth(KEY).json(&json!({"content": content})).send().await;
                    if response.is_ok_and(|r| r.status() == StatusCode::OK) {
                        acknowledged.push(content_hash(&content));
                        written.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    i += 1;
                }
                acknowledged
            })
        })
        .collect();
    let mut taken = Vec::new();
    let mut seen = 0;
    for round in 0..3 {
        tokio::time::sleep(Duration::from_millis(700)).await;
        // Each backup must hold new events, also on a loaded machine where the first writes are slow: past
        // the (at most 4) requests in flight when the last backup returned, an ack is of a later write.
        while written.load(std::sync::atomic::Ordering::Relaxed) <= seen + 4 && !writers.iter().all(|w| w.is_finished())
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // The last one is opened as a store below, so it must be a full snapshot: an automatic one is an
        // increment when few events came since the previous one (a slow, loaded machine writes fewer).
        let path = if round == 2 { "/api/backup/now?full=true" } else { "/api/backup/now" };
        let (status, created) = post(&client, &server, path, json!({})).await;
        assert_eq!(status, StatusCode::OK, "{created}");
        assert_eq!(created["success"], true);
        assert!(created["duration_seconds"].as_f64().is_some() && created["error"].is_null(), "{created}");
        taken.push(created);
        seen = written.load(std::sync::atomic::Ordering::Relaxed);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut acknowledged = Vec::new();
    for writer in writers {
        acknowledged.extend(writer.await.expect("a writer"));
    }
    assert!(taken.windows(2).all(|w| w[0]["manifest"]["last_seq"].as_u64() < w[1]["manifest"]["last_seq"].as_u64()));
    for created in &taken {
        let name = created["filename"].as_str().expect("a file name");
        let (status, verified) = post(&client, &server, &format!("/api/backup/verify/{name}"), json!({})).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(verified["valid"], true, "{verified}");
        assert_eq!(verified["memories"], created["manifest"]["memories"], "its manifest matches its content");
        assert_eq!(verified["last_seq"], created["manifest"]["last_seq"]);
        assert!(created["manifest"]["events"].as_u64() > Some(0));
    }
    let (status, _) = post(&client, &server, "/api/backup/verify/memory_backup_nope.redb", json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let listed = get(&client, &server, "/api/backup/list").await;
    assert_eq!(listed["total_count"], 3, "{listed}");
    let first = &listed["backups"][0];
    for field in ["filename", "size_bytes", "created_at", "age_days", "sha256", "last_seq"] {
        assert!(!first[field].is_null(), "list entries carry {field}: {first}");
    }
    assert_eq!(first["filename"], taken[2]["filename"], "newest first");
    let status = get(&client, &server, "/api/backup/status").await;
    for field in [
        "enabled",
        "interval",
        "retention_days",
        "max_count",
        "backup_count",
        "total_size_bytes",
        "last_backup_time",
        "time_since_last_seconds",
        "next_backup_at",
        "scheduler_running",
        "backup_directory",
    ] {
        assert!(status.as_object().expect("an object").contains_key(field), "status has {field}: {status}");
    }
    assert_eq!((status["enabled"].as_bool(), status["backup_count"].as_u64()), (Some(false), Some(3)));
    // With the writers done, one more backup takes what came after the last; then the store is unchanged,
    // and backing it up again writes nothing and names the newest backup.
    let (_, caught_up) = post(&client, &server, "/api/backup/now", json!({})).await;
    let (status, again) = post(&client, &server, "/api/backup/now", json!({})).await;
    assert_eq!(
        (status, &again["success"], &again["unchanged"]),
        (StatusCode::OK, &json!(true), &json!(true)),
        "{again}"
    );
    assert_eq!(again["filename"], caught_up["filename"], "{caught_up} {again}");
    let expected = if caught_up["unchanged"] == true { 3 } else { 4 };
    assert_eq!(get(&client, &server, "/api/backup/list").await["total_count"], expected);
    let anonymous = client.get(server.url("/api/backup/list")).send().await.expect("an answer");
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    // The store holds every acknowledged write; the last backup, opened as a store, holds what its
    // manifest says, all of it also in the store.
    for hash in &acknowledged {
        get(&client, &server, &format!("/api/memories/{hash}")).await;
    }
    let last = data.path().join("backups").join(taken[2]["filename"].as_str().expect("a name"));
    drop(server);
    let copy = DataDir::new();
    std::fs::copy(&last, copy.path().join("events.redb")).expect("restore the snapshot by hand");
    let (in_copy, total) = copy.list(&[]);
    assert_eq!(total, taken[2]["manifest"]["memories"].as_u64().expect("memories"));
    let (in_store, _) = data.list(&[]);
    assert!(in_copy.iter().all(|h| in_store.contains(h)), "the snapshot is a prefix of the store");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_schedule_backs_up_a_changed_store_and_kill_9_mid_backup_leaves_it_whole() {
    let data = DataDir::new();
    for i in 0..20 {
        data.store(&format!("Scheduled backup memory {i}"), &[]);
    }
    let dir = data.path().join("backups");
    let mut server = Server::start(
        &data,
        &[("MCP_API_KEY", KEY), ("MMS_BACKUP_CHECK_SECONDS", "1"), ("MCP_BACKUP_INTERVAL", "hourly")],
    )
    .await;
    let client = reqwest::Client::new();
    for _ in 0..100 {
        if !backup_files(&dir).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(backup_files(&dir).len(), 1, "a changed store without a backup is backed up at once");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(backup_files(&dir).len(), 1, "not again within the hour");
    let status = get(&client, &server, "/api/backup/status").await;
    assert_eq!((status["scheduler_running"].as_bool(), status["interval"].as_str()), (Some(true), Some("hourly")));

    // Writes and backups back to back (each backup has something new to take), and kill -9 while they run.
    let (client2, backup_url, store_url) = (client.clone(), server.url("/api/backup/now"), server.url("/api/memories"));
    let hammer = tokio::spawn(async move {
        let mut acknowledged = Vec::new();
        for i in 0..50 {
            let content = format!("Written between backups {i}");
            match client2.post(&store_url).bearer_auth(KEY).json(&json!({"content": content})).send().await {
                Ok(response) if response.status() == StatusCode::OK => acknowledged.push(content_hash(&content)),
                _ => break,
            }
            if client2.post(&backup_url).bearer_auth(KEY).send().await.is_err() {
                break;
            }
        }
        acknowledged
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    signal(server.pid(), "KILL");
    server.wait_exit(Duration::from_secs(10)).expect("killed");
    let acknowledged = hammer.await.expect("the hammer");

    let hash = data.store("Written after the crash", &[]);
    assert_eq!(data.get(&hash)["content"], "Written after the crash", "the store is usable");
    let (hashes, total) = data.list(&[]);
    assert!(acknowledged.iter().all(|h| hashes.contains(h)), "every acknowledged write survived");
    // The 20 from the start, the acknowledged ones, the one after the crash, and at most one in flight.
    let floor = 21 + acknowledged.len() as u64;
    assert!((floor..=floor + 1).contains(&total), "and nothing else: {total}, {} acknowledged", acknowledged.len());
    let taken = data.ok(&["backup"]);
    let name = backup_files(&dir).pop().expect("a backup").file_name().expect("a name").to_string_lossy().into_owned();
    assert!(taken.contains(&name));
    assert!(data.ok(&["backup", "verify", &name]).contains(&format!("into {total} memories")));
    for file in backup_files(&dir) {
        let name = file.file_name().expect("a name").to_string_lossy().into_owned();
        if file.with_extension("json").exists() {
            assert!(data.ok(&["backup", "verify", &name]).contains("checksum ok"), "every listed backup verifies");
        }
    }
}

#[test]
fn small_changes_are_backed_up_as_increments_that_verify_restore_and_keep_their_base() {
    let data = DataDir::new();
    data.import_all((0..40).map(|i| json!({"content": format!("Base memory {i} of the chain"), "tags": ["base"]})));
    let early = content_hash("Base memory 3 of the chain");
    assert!(data.ok(&["backup"]).contains("full backup, events 1..40"));
    let dir = data.path().join("backups");
    let full = backup_files(&dir)[0].clone();

    let later = data.store("Stored after the full backup", &["later"]);
    data.ok(&["update", &early, "--tags", "base,edited"]);
    let taken = data.ok(&["backup"]);
    assert!(taken.contains("incremental backup, events 41..42 (2 events, 41 memories)"), "{taken}");
    let files = backup_files(&dir);
    let increment = files.iter().find(|f| f.to_string_lossy().ends_with("_inc.redb")).expect("an increment").clone();
    let inc_name = increment.file_name().expect("name").to_string_lossy().into_owned();
    let manifest_of_inc = manifest(&increment);
    assert_eq!(manifest_of_inc["base"], full.file_name().expect("name").to_string_lossy().as_ref());
    assert_eq!((manifest_of_inc["events"].as_u64(), manifest_of_inc["kind"].as_str()), (Some(2), Some("incremental")));
    let sizes = (std::fs::metadata(&increment).expect("size").len(), std::fs::metadata(&full).expect("size").len());
    eprintln!("increment {} bytes, full {} bytes", sizes.0, sizes.1);
    assert!(sizes.0 < sizes.1, "{sizes:?}");
    let verified = data.ok(&["backup", "verify", &inc_name]);
    assert!(verified.contains("into 41 memories"), "{verified}");

    // Restoring the increment into an empty store gives the whole store as of it.
    let fresh = DataDir::new();
    let restored = fresh.ok(&["restore", "--from-backup", increment.to_str().expect("utf-8"), "--apply"]);
    assert!(restored.contains("41 came back"), "{restored}");
    assert_eq!(fresh.get(&early)["tags"], json!(["base", "edited"]));
    assert_eq!(fresh.get(&later)["tags"], json!(["later"]));

    // Retention never breaks a chain: the full backup stays while an increment needs it.
    data.store("One more", &[]);
    let output = data.command(&["backup"]).env("MCP_BACKUP_MAX_COUNT", "1").output().expect("backup");
    assert!(output.status.success(), "{output:?}");
    let kept = backup_files(&dir);
    assert!(kept.contains(&full) && kept.contains(&increment) && kept.len() == 3, "the newest and its chain: {kept:?}");

    // A redaction reaches the whole chain, and the increments' counts follow.
    data.ok(&["redact", &early, "--yes"]);
    let mut counts = Vec::new();
    for file in backup_files(&dir) {
        let name = file.file_name().expect("name").to_string_lossy().into_owned();
        assert!(data.ok(&["backup", "verify", &name]).contains("as its manifest says"), "{name}");
        counts.push(manifest(&file)["memories"].as_u64().expect("a count"));
    }
    assert_eq!(counts, vec![39, 40, 41], "one memory fewer in each");

    // A damaged base fails the increment's check too.
    let mut bytes = std::fs::read(&full).expect("read");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&full, bytes).expect("write");
    let last = backup_files(&dir).into_iter().last().expect("newest");
    let error = data.fails(&["backup", "verify", last.to_str().expect("utf-8")]);
    assert!(error.contains("damaged"), "{error}");

    // Many changes since the chain's full snapshot: the next backup is a full one again.
    std::fs::remove_file(&full).expect("rm");
    std::fs::remove_file(full.with_extension("json")).expect("rm");
    let error = data.fails(&["backup", "verify", last.to_str().expect("utf-8")]);
    assert!(error.contains("missing"), "{error}");
    data.import_all((0..30).map(|i| json!({"content": format!("Another batch {i}")})));
    assert!(data.ok(&["backup"]).contains("full backup"));
}

/// Every key that appears twice in one object of `json`: serde_json's `Value` keeps the last one silently,
/// while strict decoders refuse such a document.
fn repeated_keys(json: &str) -> Vec<String> {
    use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
    use std::cell::RefCell;
    use std::collections::HashSet;

    struct Walk<'a>(&'a RefCell<Vec<String>>);
    impl<'de> DeserializeSeed<'de> for Walk<'_> {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
            deserializer.deserialize_any(self)
        }
    }
    impl<'de> Visitor<'de> for Walk<'_> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("any JSON value")
        }
        fn visit_bool<E>(self, _: bool) -> Result<(), E> {
            Ok(())
        }
        fn visit_i64<E>(self, _: i64) -> Result<(), E> {
            Ok(())
        }
        fn visit_u64<E>(self, _: u64) -> Result<(), E> {
            Ok(())
        }
        fn visit_f64<E>(self, _: f64) -> Result<(), E> {
            Ok(())
        }
        fn visit_str<E>(self, _: &str) -> Result<(), E> {
            Ok(())
        }
        fn visit_unit<E>(self) -> Result<(), E> {
            Ok(())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<(), A::Error> {
            while items.next_element_seed(Walk(self.0))?.is_some() {}
            Ok(())
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            let mut seen = HashSet::new();
            while let Some(key) = map.next_key::<String>()? {
                if !seen.insert(key.clone()) {
                    self.0.borrow_mut().push(key);
                }
                map.next_value_seed(Walk(self.0))?;
            }
            Ok(())
        }
    }
    let repeated = RefCell::new(Vec::new());
    Walk(&repeated).deserialize(&mut serde_json::Deserializer::from_str(json)).expect("the body is JSON");
    repeated.into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_list_entries_name_each_field_once() {
    let data = DataDir::new();
    data.store("A memory for a backup to hold", &[]);
    data.ok(&["backup"]);
    let server = Server::start(&data, &[("MCP_API_KEY", KEY), ("MCP_BACKUP_ENABLED", "false")]).await;
    let response =
        reqwest::Client::new().get(server.url("/api/backup/list")).bearer_auth(KEY).send().await.expect("an answer");
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.text().await.expect("a body");
    assert_eq!(repeated_keys(&body), Vec::<String>::new(), "repeated keys in {body}");
    let listed: Value = serde_json::from_str(&body).expect("JSON");
    let entry = &listed["backups"][0];
    for field in ["filename", "size_bytes", "created_at", "age_days", "sha256", "last_seq", "kind"] {
        assert!(!entry[field].is_null(), "the entry carries {field}: {entry}");
    }
}
