//! A batch of events is applied to the sqlite read model in one transaction; an event that cannot be applied
//! sends the batch back, to be applied event by event, each in a savepoint.

mod support;

use mms_log::Seq;
use mms_projections::{Applied, DIMENSIONS, Projection, SqliteProjection};

/// The others land as they would alone, each failure is recorded, and a rolled-back memory leaves nothing.
#[test]
fn an_event_that_cannot_be_applied_is_recorded_and_the_rest_of_its_batch_lands() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("read.db");
    let mut projection = SqliteProjection::open(&path).expect("the read model");
    let contents = ["alpha first note", "bravo second note", "charlie third note", "delta fourth note"];
    let events: Vec<_> =
        contents.iter().zip(1..).map(|(content, seq)| support::stored(seq, content, &["batch"])).collect();
    let vector = vec![0.05f32; DIMENSIONS];
    let wrong = vec![0.05f32; DIMENSIONS - 1];
    let batch = [
        Applied { event: &events[0], vector: Some(&vector) },
        // Kept without a vector (listed, found by its words and tags), and recorded.
        Applied { event: &events[1], vector: None },
        // vec0 refuses a vector of another size: the whole event is rolled back, and recorded.
        Applied { event: &events[2], vector: Some(&wrong) },
        Applied { event: &events[3], vector: Some(&vector) },
    ];
    projection.apply(&batch).expect("the batch applies");
    assert_eq!(projection.checkpoint(), Seq(4));
    drop(projection);

    // Plain sqlite reads vec0's row table and FTS5 without the sqlite-vec extension.
    let conn = rusqlite::Connection::open(&path).expect("open");
    let column = |sql: &str| -> Vec<String> {
        let mut statement = conn.prepare(sql).expect("prepare");
        let rows = statement.query_map([], |r| r.get::<_, String>(0)).expect("query");
        rows.collect::<Result<_, _>>().expect("rows")
    };
    assert_eq!(column("SELECT content FROM memories ORDER BY id"), [contents[0], contents[1], contents[3]]);
    assert_eq!(column("SELECT CAST(rowid AS TEXT) FROM memory_embeddings_rowids ORDER BY rowid"), ["1", "4"]);
    assert_eq!(column("SELECT CAST(seq AS TEXT) FROM projection_errors ORDER BY seq"), ["2", "3"]);
    assert_eq!(column("SELECT DISTINCT CAST(memory_id AS TEXT) FROM memory_tags ORDER BY memory_id"), ["1", "2", "4"]);
    let found =
        |word: &str| column(&format!("SELECT CAST(rowid AS TEXT) FROM memory_fts WHERE memory_fts MATCH '{word}'"));
    assert_eq!(found("bravo"), ["2"], "the memory kept without a vector is found by its words");
    assert!(found("charlie").is_empty(), "the rolled-back memory left its words behind");
}
