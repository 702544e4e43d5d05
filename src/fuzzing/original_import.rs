//! Target `original_import`: the import of the original service's database (`sqlite_vec.db`) through
//! `portability::import_original_database`, which reads it (`mms_projections::read_original`), turns its rows
//! into memories and stores them (`Service::store_many`) in a scratch store (`scratch`).
//!
//! Input: byte 0 picks the form. A multiple of 4: the rest is the database file itself, byte for byte (the
//! seeds hold real files, so mutations are damaged databases). Otherwise the harness writes a database:
//! byte 1 says which of the optional columns of `memories` exist (tags, memory_type, metadata, created_at,
//! updated_at, their ISO forms, deleted_at), byte 2 whether the columns are declared with the original's types
//! or none (SQLite then keeps any type of value), whether `id` is an integer primary key, and whether
//! `memory_embeddings` is missing, a vec0 table like the original's, or a plain table; then come rows, each
//! column's value of any SQLite type (NULL, integers, floats with NaN and infinities, text, blobs, dates
//! written as text), each row with or without a stored vector (made up, of our model's size or not, or
//! arbitrary bytes).
//!
//! Invariants: nothing panics; an import either succeeds or fails with `Invalid` (a message for people), or
//! `Unavailable` where a stored vector of our model's size asks for the model (absent here); a failed import
//! stores nothing; a successful one accounts for every row (`imported + duplicates + skipped_deleted +
//! skipped_empty == total`, the rows the database has), appends one event per memory imported, and leaves
//! every row that is neither deleted nor blank live in the store.

use super::Bytes;
use super::scratch::{Scratch, made_up_vector};
use crate::portability::import_original_database;
use crate::service::ServiceError;
use mms_log::ContentHash;
use mms_projections::{DIMENSIONS, read_original, register_sqlite_vec};
use rusqlite::types::Value;
use rusqlite::{Connection, params_from_iter};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Inputs served by one scratch store before it is replaced.
const INPUTS_PER_STORE: u32 = 300;
/// The most rows a written database gets.
const MAX_ROWS: usize = 24;

/// The optional columns of the original's `memories` table with their declared types; bit `i` of byte 1
/// adds column `i`.
const OPTIONAL: &[(&str, &str)] = &[
    ("tags", "TEXT"),
    ("memory_type", "TEXT"),
    ("metadata", "TEXT"),
    ("created_at", "REAL"),
    ("updated_at", "REAL"),
    ("created_at_iso", "TEXT"),
    ("updated_at_iso", "TEXT"),
    ("deleted_at", "REAL"),
];

/// Contents that collide (the same memory in other case and spacing) and blank ones.
const CONTENTS: &[&str] = &["Remember the milk", "  remember THE milk\n", "", "   ", "Deploy on Fridays: never", "é"];
/// Texts for the text columns: tags, metadata and dates in the forms the original wrote, and others.
const TEXTS: &[&str] = &[
    "a,b, c,,",
    "{\"k\": 1, \"nested\": {\"x\": [1, 2]}}",
    "[1, 2]",
    "null",
    "{not json",
    "2025-10-27T10:27:44.123456Z",
    "2025-10-27T10:27:44",
    "9999-12-31T23:59:59Z",
    "0001-01-01T00:00:00",
    "1700000000.5",
    "  42 ",
];
/// Floats at the edges of the accepted times (the years 1 to 9999) and beyond.
const REALS: &[f64] = &[
    1_700_000_000.0,
    253_402_300_799.0,
    253_402_300_800.0,
    -62_135_596_800.0,
    -62_135_596_801.0,
    1e300,
    -0.0,
    f64::INFINITY,
    f64::NEG_INFINITY,
    f64::MIN_POSITIVE,
];

struct Harness {
    runtime: tokio::runtime::Runtime,
    scratch: Scratch,
    inputs: u32,
}

static HARNESS: Mutex<Option<Harness>> = Mutex::new(None);

/// A value of any SQLite type.
fn value(bytes: &mut Bytes<'_>) -> Value {
    match bytes.byte() % 8 {
        0 => Value::Null,
        1 => Value::Integer(i64::from_le_bytes(bytes.take(8).try_into().unwrap_or([0; 8]))),
        2 => Value::Real(f64::from_le_bytes(bytes.take(8).try_into().unwrap_or([0; 8]))),
        3 => Value::Real(REALS[usize::from(bytes.byte()) % REALS.len()]),
        4 => Value::Text(bytes.text()),
        5 => Value::Text(TEXTS[usize::from(bytes.byte()) % TEXTS.len()].to_string()),
        6 => {
            let n = usize::from(bytes.byte());
            Value::Blob(bytes.take(n).to_vec())
        }
        _ => Value::Integer(i64::from(bytes.byte())),
    }
}

fn blob(vector: &[f32]) -> Value {
    Value::Blob(vector.iter().flat_map(|x| x.to_le_bytes()).collect())
}

/// Writes a database of the original's shape from the input; says whether a row got a vector of our model's
/// size (whose import asks the model).
fn write_structured(path: &Path, bytes: &mut Bytes<'_>) -> bool {
    let columns = bytes.byte();
    let shape = bytes.byte();
    let typed = shape & 1 != 0;
    let integer_id = shape & 2 == 0;
    let embeddings = (shape >> 2) % 3;
    let declared = |name: &str, kind: &str| if typed { format!("{name} {kind}") } else { name.to_string() };
    let optional: Vec<(&str, &str)> =
        OPTIONAL.iter().enumerate().filter(|(i, _)| columns & (1 << i) != 0).map(|(_, c)| *c).collect();
    let mut definitions = vec![
        if integer_id { "id INTEGER PRIMARY KEY AUTOINCREMENT".to_string() } else { "id".to_string() },
        declared("content_hash", "TEXT"),
        declared("content", "TEXT"),
    ];
    definitions.extend(optional.iter().map(|(name, kind)| declared(name, kind)));
    register_sqlite_vec();
    let conn = Connection::open(path).expect("a scratch database opens");
    let mut schema = format!("CREATE TABLE memories ({});", definitions.join(", "));
    schema.push_str(match embeddings {
        0 => "",
        1 => "CREATE VIRTUAL TABLE memory_embeddings USING vec0(content_embedding FLOAT[384] distance_metric=cosine, chunk_size=8);",
        _ => "CREATE TABLE memory_embeddings (rowid INTEGER PRIMARY KEY, content_embedding);",
    });
    conn.execute_batch(&schema).expect("the schema is valid SQL");
    let names: Vec<&str> =
        ["id", "content_hash", "content"].into_iter().chain(optional.iter().map(|(name, _)| *name)).collect();
    let insert = format!(
        "INSERT INTO memories ({}) VALUES ({})",
        names.join(", "),
        names.iter().map(|_| "?").collect::<Vec<_>>().join(", ")
    );
    let mut model_sized = false;
    for _ in 0..MAX_ROWS {
        if bytes.is_empty() {
            break;
        }
        let content = match bytes.byte() % 4 {
            0 | 1 => Value::Text(CONTENTS[usize::from(bytes.byte()) % CONTENTS.len()].to_string()),
            2 => Value::Text(bytes.text()),
            _ => value(bytes),
        };
        let text = match &content {
            Value::Text(text) => Some(text.clone()),
            _ => None,
        };
        let content_hash = match bytes.byte() % 3 {
            0 => Value::Text(ContentHash::of_content(text.as_deref().unwrap_or_default()).to_hex()),
            1 => Value::Text("not a hash".into()),
            _ => value(bytes),
        };
        let id = if integer_id { Value::Null } else { value(bytes) };
        let mut row = vec![id, content_hash, content];
        row.extend(optional.iter().map(|_| value(bytes)));
        // A row the schema refuses (a text id twice...) is simply not there.
        if conn.execute(&insert, params_from_iter(row)).is_err() {
            continue;
        }
        let rowid = conn.last_insert_rowid();
        let vector = match bytes.byte() % 5 {
            0 => None,
            1 => Some(blob(&made_up_vector(&ContentHash::of_content(text.as_deref().unwrap_or_default())))),
            2 => Some(blob(&[f32::NAN; DIMENSIONS])),
            3 => Some(blob(&vec![0.05; DIMENSIONS - 1])),
            _ => {
                let n = usize::from(bytes.byte()) * 4;
                Some(Value::Blob(bytes.take(n).to_vec()))
            }
        };
        if let (Some(vector), true) = (vector, embeddings != 0) {
            let sized = matches!(&vector, Value::Blob(b) if b.len() == DIMENSIONS * 4);
            let sql = "INSERT INTO memory_embeddings (rowid, content_embedding) VALUES (?, ?)";
            if conn.execute(sql, rusqlite::params![rowid, vector]).is_ok() {
                model_sized |= sized;
            }
        }
    }
    model_sized
}

/// Removes the database and the files SQLite keeps beside it.
fn remove_database(path: &Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(name));
    }
}

pub fn original_import(data: &[u8]) {
    let mut guard = HARNESS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if guard.as_ref().is_none_or(|h| h.inputs >= INPUTS_PER_STORE) {
        *guard = None;
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("a runtime");
        *guard = Some(Harness { runtime, scratch: Scratch::open(), inputs: 0 });
    }
    let harness = guard.as_mut().expect("opened above");
    harness.inputs += 1;

    let path = harness.scratch.dir.path().join("original.db");
    remove_database(&path);
    let mut bytes = Bytes::new(data);
    let model_sized = if bytes.byte().is_multiple_of(4) {
        std::fs::write(&path, bytes.rest()).expect("the database file is written");
        // Unknown until read: a damaged file may hold vectors of any size.
        true
    } else {
        write_structured(&path, &mut bytes)
    };

    // What the database holds, as the import reads it; its contents get vectors, so no model is needed.
    let read = read_original(&path).ok();
    if let Some(database) = &read {
        harness
            .scratch
            .cache_vectors(database.rows.iter().map(|r| r.content.as_str()).filter(|c| !c.trim().is_empty()));
    }
    let service = harness.scratch.service();
    let log = service.log().clone();
    let before = log.last_seq();
    let result = harness.runtime.block_on(import_original_database(service, &path, |_, _| {}));
    let appended = log.last_seq().0 - before.0;
    match result {
        Ok(report) => {
            let database = read.expect("a database the import read is readable");
            assert_eq!(report.total, database.rows.len(), "{report:?}");
            let accounted = report.imported + report.duplicates + report.skipped_deleted + report.skipped_empty;
            assert_eq!(accounted, report.total, "an import lost rows: {report:?}");
            assert_eq!(appended, report.imported as u64, "one event per memory imported: {report:?}");
            for row in database.rows.iter().filter(|r| r.deleted_at.is_none() && !r.content.trim().is_empty()) {
                let head = log.head(&ContentHash::of_content(&row.content)).expect("the log reads");
                assert!(head.is_some_and(|h| h.live), "row {} is not live after the import: {report:?}", row.id);
            }
        }
        Err(ServiceError::Invalid(_)) => assert_eq!(appended, 0, "a refused import stored memories"),
        Err(ServiceError::Unavailable(why)) => {
            assert!(model_sized, "an import asked the model without a vector of its size: {why}");
            assert_eq!(appended, 0, "an import that could not finish stored memories");
        }
        Err(other) => panic!("an import failed with {other:?}: {}", other.report()),
    }
}
