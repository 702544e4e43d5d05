//! Point-in-time restore. The law: after a restore to event N, the store equals the store as it was right
//! after event N, relations between memories included (recorded live while random operations ran, restores
//! among them), and restoring to the event before the restore undoes it. Checked with proptest through the
//! library and the real model; then the CLI, HTTP and MCP surfaces, preview first, and bad targets (400 over
//! HTTP).

use crate::support::{DataDir, Op, Server, apply_op, op};
use mcp_memory_service::service::{ListRequest, Memory, Point, Service};
use mms_log::{Actor, Interface};
use proptest::prelude::*;
use reqwest::StatusCode;
use serde_json::json;
use std::collections::BTreeMap;

fn content(memory: u8) -> String {
    format!("Restorable memory number {memory}, about topic {}", memory * 7)
}

/// Every live memory, by hash, and every relation under `"relations"`: its ends (a symmetric relation's in
/// hash order), type, similarity and reason.
async fn state(service: &Service) -> BTreeMap<String, serde_json::Value> {
    let request =
        ListRequest { page: 1, page_size: 100, tags: vec![], match_all: false, memory_type: None, created: None };
    let page = service.list(request).await.expect("list");
    let mut state: BTreeMap<String, serde_json::Value> = page
        .memories
        .into_iter()
        .map(|m: Memory| (m.content_hash.clone(), serde_json::to_value(&m).expect("JSON")))
        .collect();
    let mut relations: Vec<_> = (service.graph_view(500, 1).await.expect("the graph").edges)
        .into_iter()
        .map(|e| {
            let ends = match e.symmetric && e.target < e.source {
                true => (e.target, e.source),
                false => (e.source, e.target),
            };
            json!([ends.0, ends.1, e.relationship_type, e.similarity, e.reason])
        })
        .collect();
    relations.sort_by_key(|r| r.to_string());
    state.insert("relations".into(), relations.into());
    state
}

fn actor() -> Actor {
    Actor::new(Interface::Cli, Some("proptest".into()))
}

async fn run(service: &Service, ops: &[Op], checks: &[u8]) -> Result<(), TestCaseError> {
    // The store right after each event, recorded as it happened.
    let mut points = vec![(0, state(service).await)];
    for op in ops {
        let result = apply_op(service, op, content, &points).await;
        if result.is_ok() {
            points.push((service.log().last_seq().0, state(service).await));
        }
    }
    for check in checks {
        let (seq, expected) = &points[*check as usize % points.len()];
        let before = state(service).await;
        let preview = service.restore(Point::Seq(*seq), true, actor()).await.expect("a preview");
        prop_assert!(preview.appended_seqs.is_empty());
        prop_assert_eq!(&state(service).await, &before, "a preview changes nothing");
        let plan = service.restore(Point::Seq(*seq), false, actor()).await.expect("a restore");
        let after = state(service).await;
        prop_assert_eq!(&after, expected, "restored to {} = the store as it was then", seq);
        prop_assert_eq!(plan.memories_after, expected.len() - 1);
        let differing = plan.come_back.len() + plan.disappear.len() + plan.change.len();
        let relations = plan.relations_restored + plan.relations_removed;
        prop_assert!(
            differing + relations <= plan.appended_seqs.len() && plan.appended_seqs.len() <= 2 * differing + relations,
            "one or two events per memory that differs, one per relation"
        );
        let undo = service.restore(Point::Seq(plan.from_seq), false, actor()).await.expect("an undo");
        prop_assert_eq!(&state(service).await, &before, "restoring to {} undoes it", undo.target_seq);
    }
    Ok(())
}

#[test]
fn a_restore_brings_back_the_relations_of_then_and_removes_those_made_since() {
    let (_data, runtime, store) = crate::support::fresh_store();
    let service = &store.service;
    let result: Result<(), TestCaseError> = runtime.block_on(async {
        let (a, b, c) = (0, 1, 2);
        for op in [Op::Store(a), Op::Store(b), Op::Relate(a, b, 0, 7)] {
            apply_op::<()>(service, &op, content, &[]).await.expect("applies");
        }
        let then = (service.log().last_seq().0, state(service).await);
        // Since: b deleted (its relation goes with it), c stored and related to a.
        for op in [Op::Delete(b), Op::Store(c), Op::Relate(c, a, 1, 10)] {
            apply_op::<()>(service, &op, content, &[]).await.expect("applies");
        }
        let before = state(service).await;
        prop_assert_eq!(before["relations"].as_array().map(Vec::len), Some(1), "{}", before["relations"]);
        let plan = service.restore(Point::Seq(then.0), false, actor()).await.expect("a restore");
        prop_assert_eq!(&state(service).await, &then.1, "a causes b again, c and its relation gone");
        // c disappears, taking its relation: only a causes b is made again.
        prop_assert_eq!((plan.relations_restored, plan.relations_removed), (1, 0));
        service.restore(Point::Seq(plan.from_seq), false, actor()).await.expect("an undo");
        prop_assert_eq!(&state(service).await, &before, "the undo removes a causes b and relates c again");
        Ok(())
    });
    store.close();
    result.expect("restored");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn a_restore_equals_the_store_as_it_was_and_can_be_undone(
        ops in prop::collection::vec(op(3), 8..30),
        checks in prop::collection::vec(any::<u8>(), 3),
    ) {
        let (_data, runtime, store) = crate::support::fresh_store();
        let result = runtime.block_on(run(&store.service, &ops, &checks));
        store.close();
        result?;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_previews_then_applies_from_the_cli_http_and_by_time() {
    let data = DataDir::new();
    let kept = data.store("Kept all along", &["keep"]);
    let later = data.store("Stored after the restore point", &["later"]);
    data.ok(&["update", &kept, "--tags", "keep,edited"]);
    // Events: 1 store, 2 store, 3 update. Restore to 1.
    let preview = data.ok(&["restore", "--to-seq", "1"]);
    // Each memory with the first line of its content.
    assert!(preview.contains(&format!("- {later}  Stored after the restore point\n")), "{preview}");
    assert!(preview.contains(&format!("~ {kept}  Kept all along\n")) && preview.contains("--apply"), "{preview}");
    let plan: serde_json::Value =
        serde_json::from_str(&data.ok(&["restore", "--to-seq", "1", "--json"])).expect("the plan as JSON");
    assert_eq!(
        (&plan["disappear"], &plan["change"], &plan["dry_run"]),
        (&json!([later]), &json!([kept]), &json!(true))
    );
    assert_eq!(data.list(&[]).1, 2, "a preview changes nothing");
    let applied = data.ok(&["restore", "--to-seq", "1", "--apply"]);
    assert!(applied.contains("1 disappeared, 1 changed back; 1 memory after"), "{applied}");
    // The answer says how to undo it: restoring to the event before the restore.
    assert!(applied.contains("to undo it: mcp-memory-service restore --to-seq 3 --apply"), "{applied}");
    assert_eq!(data.list(&[]).0, vec![kept.clone()]);
    assert_eq!(data.get(&kept)["tags"], json!(["keep"]));
    let history = data.ok(&["history", &later]);
    assert!(history.contains("deleted"), "the restore is in the memory's history: {history}");
    assert!(data.fails(&["restore", "--to-seq", "99"]).contains("does not exist yet"));
    assert!(data.fails(&["restore", "--to-time", "next blursday"]).contains("blursday"));
    // By time: before anything was written, the store was empty.
    let empty = data.ok(&["restore", "--to-time", "2020-01-01T00:00:00Z"]);
    assert!(empty.contains("0 memories after"), "{empty}");

    let server = Server::start(&data, &[("MCP_API_KEY", "restore-key")]).await;
    let client = reqwest::Client::new();
    let post =
        |body: serde_json::Value| client.post(server.url("/api/restore")).bearer_auth("restore-key").json(&body).send();
    let response = post(json!({"to_seq": 3})).await.expect("an answer");
    assert_eq!(response.status(), StatusCode::OK);
    let plan: serde_json::Value = response.json().await.expect("JSON");
    assert_eq!((plan["dry_run"].as_bool(), plan["target_seq"].as_u64()), (Some(true), Some(3)), "{plan}");
    assert_eq!(plan["come_back"], json!([later]), "{plan}");
    assert_eq!(plan["change"], json!([kept]), "{plan}");
    let now = chrono::Utc::now().to_rfc3339();
    let applied: serde_json::Value =
        post(json!({"to_time": now, "dry_run": false})).await.expect("an answer").json().await.expect("JSON");
    assert!(applied["appended_seqs"].as_array().expect("seqs").is_empty(), "now is now: {applied}");
    let applied: serde_json::Value =
        post(json!({"to_seq": 3, "dry_run": false})).await.expect("an answer").json().await.expect("JSON");
    assert_eq!(applied["appended_seqs"].as_array().map(Vec::len), Some(2), "{applied}");
    let listed: serde_json::Value = client
        .get(server.url("/api/memories"))
        .bearer_auth("restore-key")
        .send()
        .await
        .expect("an answer")
        .json()
        .await
        .expect("JSON");
    assert_eq!(listed["total"], 2, "both are back: {listed}");
    for bad in [json!({}), json!({"to_seq": 1, "to_time": "yesterday"}), json!({"to_seq": 999}), json!({"to_seq": -1})]
    {
        let response = post(bad.clone()).await.expect("an answer");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad}");
        let body: serde_json::Value = response.json().await.expect("JSON");
        assert!(
            body["detail"].as_str().is_some_and(|d| d.contains("to_seq") || d.contains("does not exist")),
            "{body}"
        );
    }
}

/// The only backup file in a data directory's backup folder.
fn only_backup(data: &DataDir) -> String {
    let listed = data.ok(&["backup", "list"]);
    let names: Vec<&str> = listed.lines().filter_map(|l| l.split_whitespace().next()).collect();
    assert_eq!(names.len(), 1, "{listed}");
    names[0].to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_is_restored_in_place_by_new_events_and_a_damaged_one_touches_nothing() {
    let data = DataDir::new();
    let gone = data.store("Deleted after the backup", &["a"]);
    let edited = data.store("Retagged after the backup", &["before"]);
    let kept = data.store("Untouched all along", &[]);
    data.ok(&["backup"]);
    let name = only_backup(&data);
    data.ok(&["delete", &gone]);
    data.ok(&["update", &edited, "--tags", "after"]);
    let newer = data.store("Stored after the backup", &[]);

    let preview = data.run(&["restore", "--from-backup", &name]);
    assert!(preview.status.success(), "{}", preview.stderr);
    assert!(preview.stdout.contains(&format!("restore to backup {name} (event 3)")), "{}", preview.stdout);
    for line in [format!("+ {gone}"), format!("~ {edited}"), format!("- {newer}")] {
        assert!(preview.stdout.contains(&line), "{line} in {}", preview.stdout);
    }
    assert!(preview.stderr.contains("restore: reading the backup"), "progress: {}", preview.stderr);
    assert_eq!(data.list(&[]).1, 3, "a preview changes nothing");
    let applied = data.run(&["restore", "--from-backup", &name, "--apply"]);
    assert!(applied.stderr.contains("restore: appending 3 events"), "{}", applied.stderr);
    let mut listed = data.list(&[]).0;
    listed.sort();
    let mut expected = vec![gone.clone(), edited.clone(), kept.clone()];
    expected.sort();
    assert_eq!(listed, expected);
    assert_eq!(data.get(&edited)["tags"], json!(["before"]));
    assert!(data.ok(&["history", &newer]).contains("deleted"), "history is kept, the restore is in it");

    // The same backup over HTTP: nothing to do now; bad names and a second target are refused.
    let server = Server::start(&data, &[("MCP_API_KEY", "restore-key")]).await;
    let client = reqwest::Client::new();
    let post =
        |body: serde_json::Value| client.post(server.url("/api/restore")).bearer_auth("restore-key").json(&body).send();
    let plan: serde_json::Value =
        post(json!({"backup": name, "dry_run": false})).await.expect("an answer").json().await.expect("JSON");
    assert_eq!(plan["backup"], name.as_str(), "{plan}");
    assert_eq!(plan["appended_seqs"], json!([]), "already restored: {plan}");
    for bad in [
        json!({"backup": "../events.redb"}),
        json!({"backup": "memory_backup_x.redb"}),
        json!({"backup": name, "to_seq": 1}),
    ] {
        let response = post(bad.clone()).await.expect("an answer");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    drop(server);

    // A damaged backup: detected before anything is read from it, and the store is left as it was.
    let path = data.path().join("backups").join(&name);
    let mut bytes = std::fs::read(&path).expect("read");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&path, bytes).expect("write");
    let events = data.stats()["events"].clone();
    let error = data.fails(&["restore", "--from-backup", &name, "--apply"]);
    assert!(error.contains("damaged"), "{error}");
    assert_eq!(data.stats()["events"], events);
}

#[test]
fn a_backup_restores_into_an_empty_store_and_never_brings_back_a_redacted_memory() {
    let source = DataDir::new();
    let first = source.store("Disaster recovery works from a backup alone", &["dr"]);
    let secret = source.store("A secret that is redacted later", &[]);
    source.ok(&["update", &first, "--metadata", r#"{"owner": "ops"}"#]);
    source.ok(&["backup"]);
    let name = only_backup(&source);
    // A copy kept outside the backup folder, so the redaction cannot scrub it.
    let outside = source.path().join("copy");
    std::fs::create_dir(&outside).expect("mkdir");
    for file in [name.clone(), name.replace(".redb", ".json")] {
        std::fs::copy(source.path().join("backups").join(&file), outside.join(&file)).expect("copy");
    }
    source.ok(&["redact", &secret, "--yes"]);
    let copy = outside.join(&name);
    let plan = source.ok(&["restore", "--from-backup", copy.to_str().expect("utf-8"), "--apply"]);
    assert!(plan.contains("0 came back") && plan.contains("(1 redacted since, never brought back)"), "{plan}");
    assert!(source.fails_with(4, &["get", &secret]).contains("not found"));

    // A new machine with only the backup: every memory comes back with its times and metadata.
    let target = DataDir::new();
    let restored = target.ok(&["restore", "--from-backup", copy.to_str().expect("utf-8"), "--apply"]);
    assert!(restored.contains("2 came back"), "{restored}");
    let original = source.get(&first);
    let copied = target.get(&first);
    for field in ["content", "tags", "metadata", "created_at", "updated_at", "memory_type"] {
        assert_eq!(copied[field], original[field], "{field}");
    }
    let found = target.ok(&["search", "recovering after a disaster", "--limit", "1"]);
    assert!(found.contains(&first), "found by meaning: {found}");
    assert!(target.ok(&["history", &first]).contains("stored"));
}

#[test]
fn kill_9_during_a_restore_leaves_the_store_as_it_was_or_fully_restored() {
    let data = DataDir::new();
    data.import_all(
        (0..400).map(|i| json!({"content": format!("Bulk memory {i} for the crash test"), "tags": ["bulk"]})),
    );
    data.ok(&["delete", "--tags", "bulk"]);
    let point = 400;
    for attempt in 0..3 {
        let mut child = data
            .command(&["restore", "--to-seq", &point.to_string(), "--apply"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start the restore");
        // Kill at a different moment each time: while reading the log, or as the events are appended.
        let wanted = ["reading the log", "appending", "appending"][attempt];
        let stderr = child.stderr.take().expect("stderr");
        for line in std::io::BufRead::lines(std::io::BufReader::new(stderr)).map_while(Result::ok) {
            if line.contains(wanted) {
                break;
            }
        }
        if attempt == 2 {
            std::thread::sleep(std::time::Duration::from_millis(30));
        }
        let _ = child.kill();
        let _ = child.wait();
        let stats = data.stats();
        let live = stats["total_memories"].as_u64().expect("a count");
        assert!(live == 0 || live == 400, "attempt {attempt}: {live} memories: all or nothing");
        if live == 400 {
            data.ok(&["delete", "--tags", "bulk"]);
        }
    }
    // The read model agrees with the log after every crash.
    let before = data.stats()["total_memories"].clone();
    data.ok(&["rebuild"]);
    assert_eq!(data.stats()["total_memories"], before);
    assert!(data.ok(&["restore", "--to-seq", &point.to_string(), "--apply"]).contains("400 memories after"));
}
