//! The sync law: devices that write the same memories in any interleaving, syncing at random moments, end
//! in the same state once each has pushed and pulled, and a fresh device that pulls reaches it too: the
//! same live memories, the same archived ones (with their reasons), and the same edges between memories
//! that no device deleted or redacted (an edge made on one device while another deletes and stores again
//! one of its ends can stay on one of them; the README says so). Checked with proptest through the library
//! (two stores in one process, each with its replication engine driven by hand), the real model, and the
//! local Cloudflare.

use crate::support::cloudflare::Standin;
use crate::support::{DataDir, Op, apply_op, content_hash};
use mcp_memory_service::cli::Cli;
use mcp_memory_service::service::{ListRequest, Service};
use mcp_memory_service::store::{Settings, Store};
use mcp_memory_service::sync::Sync;
use mms_log::{Actor, Interface};
use proptest::prelude::*;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};

/// What one device does next.
#[derive(Clone, Debug)]
enum Step {
    /// A store, tag edit, delete, undelete, relate, unrelate, archive or unarchive (never a restore).
    Change(Op),
    Redact(u8),
    /// Push and pull now.
    Sync,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0u8..4).prop_map(|m| Step::Change(Op::Store(m))),
        3 => (0u8..4, 0u8..3).prop_map(|(m, t)| Step::Change(Op::Tag(m, t))),
        2 => (0u8..4).prop_map(|m| Step::Change(Op::Delete(m))),
        1 => (0u8..4).prop_map(|m| Step::Change(Op::Undelete(m))),
        1 => (0u8..4).prop_map(Step::Redact),
        2 => (0u8..4, 0u8..4, 0u8..3, 1u8..11).prop_map(|(a, b, t, s)| Step::Change(Op::Relate(a, b, t, s))),
        1 => (0u8..4, 0u8..4).prop_map(|(a, b)| Step::Change(Op::Unrelate(a, b))),
        1 => (0u8..4, 0u8..2).prop_map(|(m, r)| Step::Change(Op::Archive(m, r))),
        1 => (0u8..4).prop_map(|m| Step::Change(Op::Unarchive(m))),
        2 => Just(Step::Sync),
    ]
}

fn content(memory: u8) -> String {
    format!("Shared memory number {memory}, written on several devices")
}

/// A device: its own data directory, store and replication engine (no worker: the test decides when).
struct Device {
    _data: DataDir,
    store: Store,
    sync: Sync,
}

impl Device {
    fn open(standin: &Standin) -> Device {
        use clap::Parser;
        let data = DataDir::new();
        let base = data.path().to_string_lossy().into_owned();
        let mut args = vec!["mcp-memory-service".to_string(), "--base-dir".into(), base.clone()];
        args.extend(["--storage-backend".into(), "hybrid".into()]);
        for (name, value) in standin.env() {
            let flag = match name {
                "MMS_CLOUDFLARE_TIMEOUT_SECONDS" => "--cloudflare-timeout".to_string(),
                other => format!("--{}", other.to_lowercase().replace('_', "-")),
            };
            args.push(format!("{flag}={value}"));
        }
        args.push("stats".into());
        let config = Cli::parse_from(args).config;
        let settings = Settings::of(&config).expect("the settings are valid");
        let store = Store::open(&settings, false).expect("open the store");
        let sync = Sync::open(&store.service, &settings.replication, data.path())
            .expect("configured")
            .expect("a hybrid store");
        Device { _data: data, store, sync }
    }

    fn service(&self) -> &Service {
        &self.store.service
    }

    async fn sync_now(&self) {
        self.sync.sync_now(true, true, |_, _, _| {}).await.expect("a sync round");
    }
}

async fn apply(device: &Device, step: &Step) {
    // Steps that do not apply (a delete of a deleted memory...) are refused and change nothing.
    match step {
        Step::Change(op) => {
            let _ = apply_op::<()>(device.service(), op, content, &[]).await;
        }
        Step::Redact(m) => {
            let actor = Actor::new(Interface::Cli, Some("proptest".into()));
            let _ = device.service().redact(&content_hash(&content(*m)), None, actor).await;
        }
        Step::Sync => device.sync_now().await,
    }
}

/// Every live memory, by hash, as the API shows it; every archived one with its reason; and the edges
/// between the memories in `graph`, as (source, target, type, strength).
async fn state(service: &Service, graph: &BTreeSet<String>) -> BTreeMap<String, serde_json::Value> {
    let request =
        ListRequest { page: 1, page_size: 100, tags: vec![], match_all: false, memory_type: None, created: None };
    let page = service.list(request).await.expect("list");
    let mut state: BTreeMap<String, serde_json::Value> =
        page.memories.into_iter().map(|m| (m.content_hash.clone(), serde_json::to_value(&m).expect("JSON"))).collect();
    for archived in service.archived(1, 100).await.expect("archived").memories {
        let memory = serde_json::to_value(&archived.memory).expect("JSON");
        state.insert(format!("archived {}", archived.memory.content_hash), json!([memory, archived.archive_reason]));
    }
    let mut edges = BTreeSet::new();
    for hash in graph {
        for edge in service.edges_of(hash.parse().expect("a hash")).await.expect("edges") {
            if graph.contains(&edge.source) && graph.contains(&edge.target) {
                edges.insert(json!([edge.source, edge.target, edge.relationship_type, edge.similarity]).to_string());
            }
        }
    }
    state.insert("edges".into(), json!(edges));
    state
}

async fn run(steps: &[(bool, Step)]) -> Result<(), TestCaseError> {
    let standin = Standin::start();
    let (a, b) = (Device::open(&standin), Device::open(&standin));
    for (on_b, step) in steps {
        apply(if *on_b { &b } else { &a }, step).await;
    }
    // Each pushes, then each pulls what the other pushed.
    for device in [&a, &b, &a] {
        device.sync_now().await;
    }
    // The memories no step deleted or redacted, whose edges must agree.
    let graph: BTreeSet<String> = (0..4)
        .filter(|m| {
            !steps.iter().any(|(_, step)| matches!(step, Step::Change(Op::Delete(d)) | Step::Redact(d) if d == m))
        })
        .map(|m| content_hash(&content(m)))
        .collect();
    let on_a = state(a.service(), &graph).await;
    prop_assert_eq!(&on_a, &state(b.service(), &graph).await, "devices A and B differ after {:?}", steps);
    let c = Device::open(&standin);
    c.sync_now().await;
    prop_assert_eq!(&on_a, &state(c.service(), &graph).await, "a fresh device differs");
    for device in [a, b, c] {
        device.store.close();
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn devices_converge_whatever_the_interleaving(steps in prop::collection::vec((any::<bool>(), step()), 4..24)) {
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a runtime");
        runtime.block_on(run(&steps))?;
    }
}
