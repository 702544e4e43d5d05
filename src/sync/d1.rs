//! What the replica keeps in D1, as SQL: the original service's schema (`memories`, `tags`, `memory_tags`),
//! so a user of the original's Cloudflare backend reads the same data, plus two tables of ours:
//! `mms_events` (every device's events, keyed by event id, with origin device, origin sequence and stamp) and
//! `mms_state` (each memory's winning stamp, and whether it is live, archived or gone). Every write to the
//! original's tables is guarded by the stamp, so devices pushing in any order leave D1 holding each memory's
//! highest-stamped state. The memory graph's events are recorded in `mms_events` only, for the devices.

use super::stamp::Stamp;
use crate::cloudflare::Statement;
use mms_log::{ContentHash, MemoryRecord, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Created once per start; every statement is idempotent.
pub(super) const SCHEMA: &str = "\
CREATE TABLE IF NOT EXISTS memories (id INTEGER PRIMARY KEY AUTOINCREMENT, content_hash TEXT UNIQUE NOT NULL, \
content TEXT NOT NULL, memory_type TEXT, created_at REAL NOT NULL, created_at_iso TEXT NOT NULL, updated_at REAL, \
updated_at_iso TEXT, metadata_json TEXT, vector_id TEXT UNIQUE, content_size INTEGER DEFAULT 0, r2_key TEXT);
CREATE TABLE IF NOT EXISTS tags (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE NOT NULL);
CREATE TABLE IF NOT EXISTS memory_tags (memory_id INTEGER, tag_id INTEGER, PRIMARY KEY (memory_id, tag_id), \
FOREIGN KEY (memory_id) REFERENCES memories(id) ON DELETE CASCADE, FOREIGN KEY (tag_id) REFERENCES tags(id) ON DELETE CASCADE);
CREATE INDEX IF NOT EXISTS idx_memories_content_hash ON memories(content_hash);
CREATE INDEX IF NOT EXISTS idx_memories_created_at ON memories(created_at);
CREATE INDEX IF NOT EXISTS idx_memories_vector_id ON memories(vector_id);
CREATE INDEX IF NOT EXISTS idx_tags_name ON tags(name);
CREATE TABLE IF NOT EXISTS mms_events (event_id TEXT PRIMARY KEY, origin TEXT NOT NULL, origin_seq INTEGER NOT NULL, \
content_hash TEXT NOT NULL, stamp TEXT NOT NULL, kind TEXT NOT NULL, payload TEXT, UNIQUE (origin, origin_seq));
CREATE INDEX IF NOT EXISTS idx_mms_events_memory ON mms_events(content_hash, stamp);
CREATE TABLE IF NOT EXISTS mms_state (content_hash TEXT PRIMARY KEY, stamp TEXT NOT NULL, live INTEGER NOT NULL)";

/// The origin of memories an original service left in D1 without events.
pub(super) const ORIGINAL: &str = "original";

/// What `mms_events.payload` holds: the state an event leaves its memory in (live, archived or not,
/// deleted, redacted), or, for an event of the memory graph, the state it leaves one edge in. Times are
/// microseconds, so a memory is bit-for-bit the same on every device.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub(super) enum Payload {
    Live {
        content: String,
        tags: Vec<String>,
        memory_type: Option<String>,
        metadata: Value,
        created_at: i64,
        updated_at: i64,
        /// Set while the memory is archived (absent in payloads written before archiving was synced).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        archived: Option<ArchiveMark>,
    },
    Deleted,
    Redacted {
        reason: Option<String>,
    },
    /// The edge of this type from the event's memory to `target` exists, with this strength and reason.
    Related {
        target: String,
        relation_type: String,
        strength: f64,
        reason: Option<String>,
    },
    /// The edge of this type from the event's memory to `target` no longer exists.
    Unrelated {
        target: String,
        relation_type: String,
    },
}

/// An archived memory's mark: why it was archived.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(super) struct ArchiveMark {
    pub reason: Option<String>,
}

/// What `mms_state.live` holds for a memory: D1 keeps the original's row (and Vectorize a vector) only for
/// a live memory; an archived one keeps its R2 object, so that another device can bring it back.
pub(super) const GONE: i64 = 0;
pub(super) const LIVE: i64 = 1;
pub(super) const ARCHIVED: i64 = 2;

impl Payload {
    /// A live memory's payload; `archived` is set while it is archived.
    pub(super) fn live(record: &MemoryRecord, archived: Option<ArchiveMark>) -> Payload {
        Payload::Live {
            content: record.content.clone(),
            tags: record.tags.clone(),
            memory_type: record.memory_type.clone(),
            metadata: serde_json::from_str(&record.metadata).unwrap_or_else(|_| json!({})),
            created_at: record.created_at.0,
            updated_at: record.updated_at.0,
            archived,
        }
    }

    /// Whether it is an edge's state rather than a memory's.
    pub(super) fn is_edge(&self) -> bool {
        matches!(self, Payload::Related { .. } | Payload::Unrelated { .. })
    }

    /// How many bytes of content it carries.
    pub(super) fn content_len(&self) -> usize {
        match self {
            Payload::Live { content, .. } => content.len(),
            _ => 0,
        }
    }

    /// The record of a live payload.
    pub(super) fn record(&self) -> Option<MemoryRecord> {
        match self {
            Payload::Live { content, tags, memory_type, metadata, created_at, updated_at, .. } => Some(MemoryRecord {
                content: content.clone(),
                tags: tags.clone(),
                memory_type: memory_type.clone(),
                metadata: match metadata {
                    Value::Object(_) => metadata.to_string(),
                    _ => "{}".into(),
                },
                created_at: Timestamp(*created_at),
                updated_at: Timestamp(*updated_at),
            }),
            _ => None,
        }
    }
}

/// The text D1 keeps instead of content moved to R2 (the original's placeholder).
pub(super) fn r2_placeholder(key: &str) -> String {
    format!("[R2 Content: {key}]")
}

/// The key named by a placeholder.
pub(super) fn r2_key_of(content: &str) -> Option<&str> {
    content.strip_prefix("[R2 Content: ")?.strip_suffix(']')
}

/// The R2 key of a memory's content (the original's layout).
pub(super) fn r2_key(memory: &ContentHash) -> String {
    format!("content/{}.txt", memory.to_hex())
}

/// One event to push: its identity, stamp and the state it leaves the memory in (None: erased by a later
/// redaction, so only its existence is pushed).
pub(super) struct Outgoing {
    pub event_id: String,
    pub origin: String,
    pub seq: u64,
    pub memory: ContentHash,
    pub stamp: Stamp,
    pub kind: &'static str,
    pub payload: Option<Payload>,
    /// Set when the content went to R2: D1 keeps the placeholder.
    pub r2_key: Option<String>,
}

/// "This event's stamp is the memory's winning stamp", as SQL over parameters `?hash` and `?stamp`.
const WINS: &str = "EXISTS (SELECT 1 FROM mms_state WHERE content_hash = ?1 AND stamp = ?2)";

/// The statements that record one event and, if it wins, apply it to the original's tables.
pub(super) fn statements(out: &Outgoing) -> Vec<Statement> {
    let hash = out.memory.to_hex();
    let stamp = out.stamp.as_str().to_string();
    let stored_payload = out.payload.as_ref().map(|payload| {
        let mut payload = payload.clone();
        if let (Payload::Live { content, .. }, Some(key)) = (&mut payload, &out.r2_key) {
            *content = r2_placeholder(key);
        }
        serde_json::to_string(&payload).expect("payloads are plain data")
    });
    let mut statements = vec![Statement::new(
        "INSERT OR IGNORE INTO mms_events (event_id, origin, origin_seq, content_hash, stamp, kind, payload) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        vec![
            json!(out.event_id),
            json!(out.origin),
            json!(out.seq),
            json!(hash),
            json!(stamp),
            json!(out.kind),
            json!(stored_payload),
        ],
    )];
    // An edge's events are recorded for the other devices only: the original's tables have no graph, and
    // a memory's winning stamp is its state's, which an edge does not change.
    let Some(payload) = out.payload.as_ref().filter(|p| !p.is_edge()) else {
        return statements;
    };
    let live = match payload {
        Payload::Live { archived: None, .. } => LIVE,
        Payload::Live { archived: Some(_), .. } => ARCHIVED,
        _ => GONE,
    };
    statements.push(Statement::new(
        "INSERT INTO mms_state (content_hash, stamp, live) VALUES (?1, ?2, ?3) ON CONFLICT(content_hash) DO UPDATE \
         SET stamp = excluded.stamp, live = excluded.live WHERE excluded.stamp > mms_state.stamp",
        vec![json!(hash), json!(stamp), json!(live)],
    ));
    let guard = || vec![json!(hash), json!(stamp)];
    statements.push(Statement::new(
        format!(
            "DELETE FROM memory_tags WHERE memory_id IN (SELECT id FROM memories WHERE content_hash = ?1) AND {WINS}"
        ),
        guard(),
    ));
    match payload {
        Payload::Live { content, tags, memory_type, metadata, created_at, updated_at, archived: None } => {
            let (content, size) = match &out.r2_key {
                Some(key) => (r2_placeholder(key), content.len()),
                None => (content.clone(), content.len()),
            };
            let secs = |micros: i64| micros as f64 / 1e6;
            let iso = |micros: i64| mms_projections::iso_utc(micros);
            statements.push(Statement::new(
                format!(
                    "INSERT INTO memories (content_hash, content, memory_type, created_at, created_at_iso, updated_at, \
                     updated_at_iso, metadata_json, vector_id, content_size, r2_key) \
                     SELECT ?1, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?1, ?10, ?11 WHERE {WINS} \
                     ON CONFLICT(content_hash) DO UPDATE SET content = excluded.content, memory_type = excluded.memory_type, \
                     created_at = excluded.created_at, created_at_iso = excluded.created_at_iso, \
                     updated_at = excluded.updated_at, updated_at_iso = excluded.updated_at_iso, \
                     metadata_json = excluded.metadata_json, content_size = excluded.content_size, r2_key = excluded.r2_key"
                ),
                vec![
                    json!(hash),
                    json!(stamp),
                    json!(content),
                    json!(memory_type),
                    json!(secs(*created_at)),
                    json!(iso(*created_at)),
                    json!(secs(*updated_at)),
                    json!(iso(*updated_at)),
                    json!(metadata.to_string()),
                    json!(size),
                    json!(out.r2_key),
                ],
            ));
            if !tags.is_empty() {
                let names = json!(serde_json::to_string(tags).expect("tags are strings"));
                statements.push(Statement::new(
                    format!("INSERT OR IGNORE INTO tags (name) SELECT value FROM json_each(?3) WHERE {WINS}"),
                    vec![json!(hash), json!(stamp), names.clone()],
                ));
                statements.push(Statement::new(
                    format!(
                        "INSERT OR IGNORE INTO memory_tags (memory_id, tag_id) SELECT m.id, t.id FROM memories m, tags t \
                         WHERE m.content_hash = ?1 AND t.name IN (SELECT value FROM json_each(?3)) AND {WINS}"
                    ),
                    vec![json!(hash), json!(stamp), names],
                ));
            }
        }
        // Out of the original's tables (and so of its searches) while archived, as the original's forgetting
        // leaves it; the payload in `mms_events` keeps the memory for the devices.
        Payload::Live { archived: Some(_), .. } | Payload::Deleted | Payload::Redacted { .. } => {
            statements
                .push(Statement::new(format!("DELETE FROM memories WHERE content_hash = ?1 AND {WINS}"), guard()));
        }
        Payload::Related { .. } | Payload::Unrelated { .. } => {}
    }
    if let Payload::Redacted { .. } = payload {
        // Whatever the order of arrival, no earlier event of a redacted memory keeps its content in D1.
        statements.push(Statement::new(
            "UPDATE mms_events SET payload = NULL WHERE content_hash = ?1 AND stamp < ?2 AND payload IS NOT NULL",
            vec![json!(hash), json!(stamp)],
        ));
    }
    statements
}

/// Each given memory's winning state in D1 (for Vectorize and R2): hash, live, the original's row.
pub(super) fn readback(memories: &[ContentHash]) -> Statement {
    let hashes: Vec<String> = memories.iter().map(ContentHash::to_hex).collect();
    Statement::new(
        "SELECT s.content_hash AS content_hash, s.live AS live, m.content AS content, m.memory_type AS memory_type, \
         m.created_at_iso AS created_at_iso, m.r2_key AS r2_key, \
         (SELECT group_concat(t.name, ',') FROM memory_tags mt JOIN tags t ON t.id = mt.tag_id WHERE mt.memory_id = m.id) AS tags \
         FROM mms_state s LEFT JOIN memories m ON m.content_hash = s.content_hash \
         WHERE s.content_hash IN (SELECT value FROM json_each(?1))",
        vec![json!(serde_json::to_string(&hashes).expect("hashes are strings"))],
    )
}

/// Turns memories an original service wrote to D1 (rows no event of ours covers) into events of origin
/// `original`, which every device then pulls like any other. Idempotent.
pub(super) fn adopt_original() -> Vec<Statement> {
    let micros = "CAST(ROUND(m.created_at * 1000000) AS INTEGER)";
    vec![
        Statement::new(
            format!(
                "INSERT OR IGNORE INTO mms_events (event_id, origin, origin_seq, content_hash, stamp, kind, payload) \
                 SELECT 'original-' || m.content_hash, '{ORIGINAL}', m.id, m.content_hash, \
                 printf('%020d-{ORIGINAL}-%020d', {micros}, m.id), 'stored', \
                 json_object('state', 'live', 'content', m.content, \
                   'tags', json(COALESCE((SELECT json_group_array(t.name) FROM memory_tags mt JOIN tags t ON t.id = mt.tag_id WHERE mt.memory_id = m.id), '[]')), \
                   'memory_type', m.memory_type, \
                   'metadata', json(CASE WHEN json_valid(m.metadata_json) THEN m.metadata_json ELSE '{{}}' END), \
                   'created_at', {micros}, \
                   'updated_at', CAST(ROUND(COALESCE(m.updated_at, m.created_at) * 1000000) AS INTEGER)) \
                 FROM memories m WHERE NOT EXISTS (SELECT 1 FROM mms_state s WHERE s.content_hash = m.content_hash)"
            ),
            vec![],
        ),
        Statement::new(
            "INSERT OR IGNORE INTO mms_state (content_hash, stamp, live) SELECT content_hash, stamp, 1 FROM mms_events \
             WHERE origin = ?1",
            vec![json!(ORIGINAL)],
        ),
    ]
}

/// Every other device that pushed events, with its last origin sequence.
pub(super) fn origins(me: &str) -> Statement {
    Statement::new(
        "SELECT origin, MAX(origin_seq) AS last FROM mms_events WHERE origin <> ?1 GROUP BY origin",
        vec![json!(me)],
    )
}

/// One origin's events after `seq`, in its order.
pub(super) fn events_after(origin: &str, seq: u64, limit: usize) -> Statement {
    Statement::new(
        "SELECT event_id, origin, origin_seq, content_hash, stamp, kind, payload FROM mms_events \
         WHERE origin = ?1 AND origin_seq > ?2 ORDER BY origin_seq LIMIT ?3",
        vec![json!(origin), json!(seq), json!(limit)],
    )
}
