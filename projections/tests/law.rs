//! The projection law, property-tested: for any sequence of commands, the read models built live (event by
//! event, as the service runs) equal the read models rebuilt by replaying the whole log, and both equal a
//! plain in-memory model of what the commands mean. And catching up to an event equals replaying the log cut
//! there.

use mms_log::{
    Actor, ContentHash, DocumentUpload, EventId, EventKind, Expect, Interface, Log, MemoryMeta, MemoryRecord, NewEvent,
    Relation, Timestamp,
};
use mms_projections::{
    AnnIndex, AnnOptions, ArchivedRow, EdgeRow, Filter, MemoryRow, Projection, Projector, SqliteProjection,
    SqliteReader, TagMatch, UploadRow, VectorSource,
};
use proptest::prelude::*;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Vectors derived from the content alone (a fixed pseudo-random unit vector per text), so both builds
/// see the same vector for the same memory, as they do with the embedding cache in production.
struct DerivedVectors;

fn vector_of(content: &str) -> Vec<f32> {
    let mut state = ContentHash::of_content(content)
        .0
        .iter()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3));
    let mut v: Vec<f32> = (0..mms_projections::DIMENSIONS)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % 2000) as f32 / 1000.0 - 1.0
        })
        .collect();
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter_mut().for_each(|x| *x /= norm);
    v
}

impl VectorSource for DerivedVectors {
    fn vectors(&self, wanted: &[(ContentHash, &str)]) -> Result<HashMap<ContentHash, Vec<f32>>, String> {
        Ok(wanted.iter().map(|(h, c)| (*h, vector_of(c))).collect())
    }
}

#[derive(Clone, Debug)]
enum Op {
    Store {
        text: usize,
        tags: Vec<usize>,
    },
    Update {
        text: usize,
        tags: Vec<usize>,
        typed: bool,
    },
    Delete {
        text: usize,
    },
    Undelete {
        text: usize,
    },
    Redact {
        text: usize,
    },
    /// A document upload: its chunks (the texts not live yet) and its record, in one append.
    Ingest {
        upload: usize,
        texts: Vec<usize>,
    },
    /// Removing an upload: its live chunks' deletes and the removal, in one append.
    RemoveUpload {
        upload: usize,
    },
    /// An edge of the memory graph (the graph's own test checks its meaning; here, that it replays).
    Relate {
        from: usize,
        to: usize,
        symmetric: bool,
    },
    /// Archiving a live memory (it leaves every search and list) and bringing it back.
    Archive {
        text: usize,
    },
    Unarchive {
        text: usize,
    },
}

const UPLOADS: usize = 3;

const TEXTS: usize = 12;
const TAGS: [&str; 5] = ["alpha", "beta", "gamma", "data", "database"];

fn text(i: usize) -> String {
    format!("memory number {i} about {}", TAGS[i % TAGS.len()])
}

fn op() -> impl Strategy<Value = Op> {
    let tags = proptest::collection::vec(0..TAGS.len(), 0..3);
    prop_oneof![
        4 => (0..TEXTS, tags.clone()).prop_map(|(text, tags)| Op::Store { text, tags }),
        3 => (0..TEXTS, tags, any::<bool>()).prop_map(|(text, tags, typed)| Op::Update { text, tags, typed }),
        2 => (0..TEXTS).prop_map(|text| Op::Delete { text }),
        1 => (0..TEXTS).prop_map(|text| Op::Undelete { text }),
        1 => (0..TEXTS).prop_map(|text| Op::Redact { text }),
        1 => (0..UPLOADS, proptest::collection::vec(0..TEXTS, 1..4)).prop_map(|(upload, texts)| Op::Ingest { upload, texts }),
        1 => (0..UPLOADS).prop_map(|upload| Op::RemoveUpload { upload }),
        2 => (0..TEXTS, 0..TEXTS, any::<bool>()).prop_map(|(from, to, symmetric)| Op::Relate { from, to, symmetric }),
        2 => (0..TEXTS).prop_map(|text| Op::Archive { text }),
        1 => (0..TEXTS).prop_map(|text| Op::Unarchive { text }),
    ]
}

fn tag_names(tags: &[usize]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for t in tags {
        if !names.iter().any(|n| n == TAGS[*t]) {
            names.push(TAGS[*t].to_string());
        }
    }
    names
}

/// What a command means, in plain data: live memories by hash, with their tags and type.
#[derive(Default)]
struct Model {
    live: BTreeMap<String, (Vec<String>, Option<String>)>,
    deleted: BTreeMap<String, (Vec<String>, Option<String>)>,
    /// Live but archived: out of `live`'s searches and lists.
    archived: BTreeMap<String, (Vec<String>, Option<String>)>,
    /// Uploads by id: their chunks' hashes and whether they were removed.
    uploads: BTreeMap<String, (Vec<String>, bool)>,
}

fn upload_id(i: usize) -> String {
    format!("upload-{i}")
}

/// A record as the commands write them: empty metadata, made at `tick`.
fn record_of(content: String, tags: Vec<String>, memory_type: Option<String>, tick: i64) -> MemoryRecord {
    MemoryRecord {
        content,
        tags,
        memory_type,
        metadata: "{}".into(),
        created_at: Timestamp(tick),
        updated_at: Timestamp(tick),
    }
}

fn stored(content: String, tags: Vec<String>, tick: i64) -> (String, EventKind) {
    (content.clone(), EventKind::Stored(record_of(content, tags, None, tick)))
}

fn new_event(memory: ContentHash, kind: EventKind, expect: Expect) -> NewEvent {
    NewEvent { event_id: EventId::generate(), actor: Actor::new(Interface::System, None), memory, kind, expect }
}

/// The events of an upload command, the way the service makes them; None when it does not apply.
fn upload_events(op: &Op, model: &Model, tick: i64) -> Option<Vec<NewEvent>> {
    match op {
        Op::Ingest { upload, texts } => {
            let mut events = Vec::new();
            let mut chunks = Vec::new();
            for i in texts {
                let hash = ContentHash::of_content(&text(*i));
                let known = model.live.contains_key(&hash.to_hex()) || model.archived.contains_key(&hash.to_hex());
                if known || chunks.contains(&hash) {
                    continue;
                }
                let (_, kind) = stored(text(*i), vec![format!("upload_id:{}", upload_id(*upload))], tick);
                events.push(new_event(hash, kind, Expect::Any));
                chunks.push(hash);
            }
            let record = DocumentUpload {
                upload_id: upload_id(*upload),
                file_name: format!("file-{upload}.md"),
                file_type: "md".into(),
                size: 100,
                sha256: format!("{upload:064}"),
                tags: Vec::new(),
                memory_type: "document".into(),
                chunk_size: 1000,
                chunk_overlap: 200,
                pages: 0,
                duplicates: (texts.len() - chunks.len()) as u32,
                chunks,
            };
            let key = ContentHash::of_upload(&upload_id(*upload));
            events.push(new_event(key, EventKind::DocumentIngested(record), Expect::Any));
            Some(events)
        }
        Op::RemoveUpload { upload } => {
            let (chunks, removed) = model.uploads.get(&upload_id(*upload))?;
            if *removed {
                return None;
            }
            let mut events: Vec<NewEvent> = chunks
                .iter()
                .filter(|h| model.live.contains_key(*h) || model.archived.contains_key(*h))
                .map(|h| new_event(h.parse().expect("a hash"), EventKind::Deleted { reason: None }, Expect::Any))
                .collect();
            let chunks_deleted = events.len() as u32;
            let removal = EventKind::DocumentRemoved { reason: None, chunks_deleted };
            events.push(new_event(ContentHash::of_upload(&upload_id(*upload)), removal, Expect::Version(1)));
            Some(events)
        }
        _ => None,
    }
}

/// The events of a command: one, or an upload's several.
fn events(op: &Op, model: &Model, tick: i64) -> Option<Vec<NewEvent>> {
    match op {
        Op::Ingest { .. } | Op::RemoveUpload { .. } => upload_events(op, model, tick),
        _ => event(op, model, tick).map(|e| vec![e]),
    }
}

/// Turns a command into an event the way the service does, or None when the command does not apply
/// (the log refuses it, and the model does not change).
fn event(op: &Op, model: &Model, tick: i64) -> Option<NewEvent> {
    let (content, kind) = match op {
        Op::Store { text: i, tags } => stored(text(*i), tag_names(tags), tick),
        Op::Update { text: i, tags, typed } => {
            let content = text(*i);
            let hash = ContentHash::of_content(&content).to_hex();
            let (old_tags, old_type) = model.live.get(&hash).or_else(|| model.archived.get(&hash))?.clone();
            let meta = |tags: Vec<String>, memory_type: Option<String>| MemoryMeta {
                tags,
                memory_type,
                metadata: "{}".into(),
                updated_at: Timestamp(tick),
            };
            let kind = EventKind::Updated {
                before: meta(old_tags, old_type),
                after: meta(tag_names(tags), typed.then(|| "note".to_string())),
            };
            (content, kind)
        }
        Op::Delete { text: i } => (text(*i), EventKind::Deleted { reason: None }),
        Op::Undelete { text: i } => {
            let content = text(*i);
            let (tags, memory_type) = model.deleted.get(&ContentHash::of_content(&content).to_hex())?.clone();
            (content.clone(), EventKind::Undeleted(record_of(content, tags, memory_type, tick)))
        }
        Op::Redact { text: i } => (text(*i), EventKind::Redacted { reason: None }),
        Op::Relate { from, to, symmetric } => {
            let relation = Relation {
                target: ContentHash::of_content(&text(*to)),
                relation_type: if *symmetric { "related" } else { "causes" }.into(),
                strength: 0.5,
                reason: Some("a test".into()),
            };
            (text(*from), EventKind::Related(relation))
        }
        Op::Archive { text: i } => {
            // The service archives only what is not archived yet (the log leaves that check to it).
            model.live.get(&ContentHash::of_content(&text(*i)).to_hex())?;
            (text(*i), EventKind::Archived { reason: Some("a test".into()) })
        }
        Op::Unarchive { text: i } => {
            let content = text(*i);
            let (tags, memory_type) = model.archived.get(&ContentHash::of_content(&content).to_hex())?.clone();
            (content.clone(), EventKind::Unarchived(record_of(content, tags, memory_type, tick)))
        }
        Op::Ingest { .. } | Op::RemoveUpload { .. } => return None,
    };
    Some(NewEvent {
        event_id: EventId::generate(),
        actor: Actor::new(Interface::System, None),
        memory: ContentHash::of_content(&content),
        kind,
        expect: Expect::Any,
    })
}

fn apply_to_model(model: &mut Model, event: &NewEvent) {
    let hash = event.memory.to_hex();
    match &event.kind {
        EventKind::Stored(r) | EventKind::Undeleted(r) | EventKind::Unarchived(r) => {
            model.deleted.remove(&hash);
            model.archived.remove(&hash);
            model.live.insert(hash, (r.tags.clone(), r.memory_type.clone()));
        }
        EventKind::Updated { after, .. } => {
            let state = (after.tags.clone(), after.memory_type.clone());
            match model.archived.get_mut(&hash) {
                Some(archived) => *archived = state,
                None => {
                    model.live.insert(hash, state);
                }
            }
        }
        EventKind::Deleted { .. } => {
            if let Some(state) = model.live.remove(&hash).or_else(|| model.archived.remove(&hash)) {
                model.deleted.insert(hash, state);
            }
        }
        EventKind::Archived { .. } => {
            if let Some(state) = model.live.remove(&hash) {
                model.archived.insert(hash, state);
            }
        }
        EventKind::Redacted { .. } => {
            model.live.remove(&hash);
            model.deleted.remove(&hash);
            model.archived.remove(&hash);
        }
        EventKind::Erased { .. } => unreachable!("the log never accepts an erased event"),
        EventKind::Related(_) | EventKind::Unrelated { .. } => {}
        EventKind::DocumentIngested(upload) => {
            let chunks = upload.chunks.iter().map(|h| h.to_hex()).collect();
            model.uploads.insert(upload.upload_id.clone(), (chunks, false));
        }
        EventKind::DocumentRemoved { .. } => {
            let removed = model.uploads.iter_mut().find(|(id, _)| ContentHash::of_upload(id) == event.memory);
            if let Some((_, (_, removed))) = removed {
                *removed = true;
            }
        }
    }
}

struct Built {
    reader: SqliteReader,
    ann: Arc<AnnIndex>,
}

fn projector(log: &Log, dir: &std::path::Path) -> (Projector, Built) {
    let sqlite = SqliteProjection::open(&dir.join("read.db")).expect("open read model");
    let ann = Arc::new(AnnIndex::open(&dir.join("ann"), AnnOptions::default()).expect("open ann"));
    let projections: Vec<Box<dyn Projection>> = vec![Box::new(sqlite), Box::new(ann.clone())];
    let projector = Projector::new(log.clone(), projections, Arc::new(DerivedVectors));
    (projector, Built { reader: SqliteReader::new(&dir.join("read.db")), ann })
}

/// Everything observable about a read model, minus nothing: rows (ids included), tag counts, searches.
#[derive(Debug, PartialEq)]
struct Observed {
    rows: Vec<MemoryRow>,
    tags: Vec<(String, u64)>,
    nearest: Vec<Vec<(String, u32)>>,
    filtered: Vec<String>,
    keyword: Vec<String>,
    ann_exact: Vec<Vec<String>>,
    uploads: Vec<UploadRow>,
    edges: Vec<EdgeRow>,
    archived: Vec<ArchivedRow>,
}

fn observe(built: &Built) -> Observed {
    let everything = Filter::default();
    let (rows, _) = built.reader.list(&everything, 0, 1000).expect("list");
    let queries: Vec<Vec<f32>> = (0..3).map(|i| vector_of(&text(i))).collect();
    let rounded = |hits: Vec<(MemoryRow, f32)>| -> Vec<(String, u32)> {
        hits.into_iter().map(|(r, d)| (r.content_hash, (d * 1e5).round() as u32)).collect()
    };
    let both = Filter { tags: vec!["alpha".into(), "beta".into()], tag_match: TagMatch::All, ..Filter::default() };
    Observed {
        rows,
        tags: built.reader.tags().expect("tags").into_iter().map(|t| (t.tag, t.count)).collect(),
        nearest: queries.iter().map(|q| rounded(built.reader.nearest(q, 5, &everything).expect("knn"))).collect(),
        filtered: built.reader.hashes(&both).expect("filtered"),
        keyword: built
            .reader
            .keyword("memory about data", 20, &everything)
            .expect("fts")
            .into_iter()
            .map(|(r, _)| r.content_hash)
            .collect(),
        ann_exact: queries
            .iter()
            .map(|q| built.ann.exact_search(q, 5).expect("ann").into_iter().map(|h| h.to_hex()).collect())
            .collect(),
        uploads: built.reader.uploads(100).expect("uploads"),
        edges: (0..TEXTS)
            .flat_map(|i| built.reader.edges_of(&ContentHash::of_content(&text(i)).to_hex()).expect("edges"))
            .collect(),
        archived: built.reader.archived(0, 1000).expect("archived").0,
    }
}

/// An observation without the commit times of uploads and edges: a log cut by copying its events into a new one
/// stamps them with new commit times (memories keep theirs, which their records carry).
fn untimed(mut observed: Observed) -> Observed {
    for upload in &mut observed.uploads {
        upload.ingested_at = 0.0;
        upload.removed = upload.removed.map(|(_, deleted)| (0.0, deleted));
    }
    for edge in &mut observed.edges {
        edge.created_at = 0.0;
    }
    for archived in &mut observed.archived {
        archived.archived_at = 0.0;
    }
    // Listed by when they were archived: the copies' times can order them differently.
    observed.archived.sort_by(|a, b| a.memory.content_hash.cmp(&b.memory.content_hash));
    observed
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn live_projection_equals_replay_equals_model(ops in proptest::collection::vec(op(), 1..40)) {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = Log::open(dir.path().join("log.redb")).expect("open log");
        let (mut live, live_built) = projector(&log, &dir.path().join("live"));
        let mut model = Model::default();
        for (tick, op) in ops.iter().enumerate() {
            let Some(new) = events(op, &model, tick as i64) else { continue };
            // The log is the judge of what applies: a refused append changes nothing anywhere.
            if log.append(new.clone(), Vec::new()).is_ok() {
                new.iter().for_each(|e| apply_to_model(&mut model, e));
            }
            live.catch_up(|_, _| {}).expect("live catch-up");
        }
        let (mut replay, replay_built) = projector(&log, &dir.path().join("replay"));
        replay.catch_up(|_, _| {}).expect("replay");
        let live_view = observe(&live_built);
        prop_assert_eq!(&live_view, &observe(&replay_built));

        let rows: BTreeMap<String, (Vec<String>, Option<String>)> = live_view
            .rows
            .iter()
            .map(|r| (r.content_hash.clone(), (r.tags.clone(), r.memory_type.clone())))
            .collect();
        prop_assert_eq!(rows, model.live.clone());
        let archived: BTreeMap<String, (Vec<String>, Option<String>)> = live_view
            .archived
            .iter()
            .map(|a| (a.memory.content_hash.clone(), (a.memory.tags.clone(), a.memory.memory_type.clone())))
            .collect();
        prop_assert_eq!(archived, model.archived.clone());
        let uploads: BTreeMap<String, (Vec<String>, bool)> = live_view
            .uploads
            .iter()
            .map(|u| (u.upload_id.clone(), (u.chunks.clone(), u.removed.is_some())))
            .collect();
        prop_assert_eq!(uploads, model.uploads.clone());
        prop_assert_eq!(live_built.ann.len(), model.live.len());
        // Filters go through the tag index and the type column, not the joined tags: check them too.
        for tag in TAGS {
            let filter = Filter { tags: vec![tag.to_string()], ..Filter::default() };
            let mut found = live_built.reader.hashes(&filter).expect("by tag");
            found.sort();
            let expected: Vec<String> =
                model.live.iter().filter(|(_, (tags, _))| tags.iter().any(|t| t == tag)).map(|(h, _)| h.clone()).collect();
            prop_assert_eq!(found, expected, "memories tagged {}", tag);
        }
        let typed = Filter { memory_type: Some("note".into()), ..Filter::default() };
        prop_assert_eq!(
            live_built.reader.count(&typed).expect("by type") as usize,
            model.live.values().filter(|(_, t)| t.as_deref() == Some("note")).count()
        );

        // Rebuilding in place (reset + replay) gives the same again.
        live.rebuild(|_, _| {}).expect("rebuild");
        prop_assert_eq!(observe(&live_built), live_view);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// Catching up to event n (what an `as_of` query materialises), also from a read model at an earlier
    /// event k, equals replaying a log that ends at event n: the same events, appended to a new log.
    #[test]
    fn catching_up_to_an_event_equals_replaying_the_log_cut_there(
        ops in proptest::collection::vec(op(), 1..40),
        cuts in (any::<u16>(), any::<u16>()),
    ) {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = Log::open(dir.path().join("log.redb")).expect("open log");
        let mut model = Model::default();
        // Without redactions: they erase earlier events, which cannot be appended to another log (that a
        // redacted memory reads as absent at every point is checked through the service).
        for (tick, op) in ops.iter().enumerate().filter(|(_, op)| !matches!(op, Op::Redact { .. })) {
            let Some(new) = events(op, &model, tick as i64) else { continue };
            if log.append(new.clone(), Vec::new()).is_ok() {
                new.iter().for_each(|e| apply_to_model(&mut model, e));
            }
        }
        let last = log.last_seq().0;
        let (a, b) = (u64::from(cuts.0) % (last + 1), u64::from(cuts.1) % (last + 1));
        let (k, n) = (a.min(b), a.max(b));
        let (mut partial, partial_built) = projector(&log, &dir.path().join("partial"));
        prop_assert_eq!(partial.catch_up_to(mms_log::Seq(k), |_, _| {}).expect("to k"), mms_log::Seq(k));
        let cut_at = |seq: u64, name: &str| {
            let cut = Log::open(dir.path().join(format!("{name}.redb"))).expect("open the cut log");
            let events = log.read_from(mms_log::Seq(1), seq as usize).expect("read");
            if !events.is_empty() {
                let copies = events
                    .into_iter()
                    .map(|e| NewEvent { event_id: e.event_id, actor: e.actor, memory: e.memory, kind: e.kind, expect: Expect::Any })
                    .collect();
                cut.append(copies, Vec::new()).expect("the same events apply again");
            }
            let (mut replay, built) = projector(&cut, &dir.path().join(name));
            replay.catch_up(|_, _| {}).expect("replay the cut log");
            built
        };
        prop_assert_eq!(untimed(observe(&partial_built)), untimed(observe(&cut_at(k, "cut-k"))), "caught up to {} of {}", k, last);
        prop_assert_eq!(partial.catch_up_to(mms_log::Seq(n), |_, _| {}).expect("to n"), mms_log::Seq(n));
        prop_assert_eq!(untimed(observe(&partial_built)), untimed(observe(&cut_at(n, "cut-n"))), "then to {} of {}", n, last);
        // Past the end is the end.
        prop_assert_eq!(partial.catch_up_to(mms_log::Seq(last + 5), |_, _| {}).expect("to the end"), mms_log::Seq(last));
    }
}
