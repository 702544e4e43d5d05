//! `SqliteReader`: every query against the sqlite read model, over a small pool of read connections.
//!
//! WAL mode lets these connections read while the projector writes, so reads never wait for a write.

use crate::filter::Filter;
use crate::row::{COLUMNS, MemoryRow};
use crate::sqlite::{connect, vector_blob};
use mms_log::Seq;
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params_from_iter};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Why a read failed.
#[derive(Debug, thiserror::Error)]
#[error("reading the sqlite read model failed: {0}")]
pub struct ReadError(#[from] rusqlite::Error);

/// A tag and how many memories carry it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TagCount {
    pub tag: String,
    pub count: u64,
}

/// Aggregate numbers about the read model.
#[derive(Clone, Debug, PartialEq)]
pub struct Stats {
    pub total_memories: u64,
    pub unique_tags: u64,
    pub memories_with_vectors: u64,
    pub created_since: u64,
    pub database_size_bytes: u64,
    pub projection_errors: u64,
    pub checkpoint: Seq,
}

/// Read access to the read model. Cheap to share behind an `Arc`.
pub struct SqliteReader {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

/// A pooled connection, returned to the pool on drop.
pub(crate) struct Pooled<'a> {
    conn: Option<Connection>,
    reader: &'a SqliteReader,
}

impl std::ops::Deref for Pooled<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn.as_ref().expect("a pooled connection is present until drop")
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        if let (Some(conn), Ok(mut idle)) = (self.conn.take(), self.reader.idle.lock())
            && idle.len() < 8
        {
            idle.push(conn);
        }
    }
}

/// A reader keeps a small page cache of its own and reads the rest from the OS's page cache: with each of
/// up to 8 readers caching 32 MB, searches over a store of 10,000 memories grew the server by about 35 MB
/// of copies of the same pages. (A memory map would share them, but each connection maps the file anew and
/// each mapping counts in the resident size again.)
const READER_PRAGMAS: &str = "PRAGMA query_only = ON; PRAGMA cache_size = -2000;";

fn hash_params(hashes: &[String]) -> String {
    vec!["?"; hashes.len()].join(", ")
}

impl SqliteReader {
    /// A reader of the read model at `path`; the projection must have created it.
    pub fn new(path: &Path) -> SqliteReader {
        SqliteReader { path: path.to_path_buf(), idle: Mutex::new(Vec::new()) }
    }

    pub(crate) fn conn(&self) -> Result<Pooled<'_>, ReadError> {
        let reused = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let conn = match reused {
            Some(conn) => conn,
            None => {
                let conn = connect(&self.path)?;
                conn.execute_batch(READER_PRAGMAS)?;
                conn
            }
        };
        Ok(Pooled { conn: Some(conn), reader: self })
    }

    fn rows(&self, sql: &str, params: Vec<Value>) -> Result<Vec<MemoryRow>, ReadError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(sql)?;
        let rows = stmt.query_map(params_from_iter(params), MemoryRow::from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Rows of `COLUMNS` followed by one score column, with that score.
    fn scored(&self, sql: &str, params: Vec<Value>) -> Result<Vec<(MemoryRow, f64)>, ReadError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(sql)?;
        let rows =
            stmt.query_map(params_from_iter(params), |row| Ok((MemoryRow::from_row(row)?, row.get::<_, f64>(12)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// `scored` for vector distances.
    fn by_distance(&self, sql: &str, params: Vec<Value>) -> Result<Vec<(MemoryRow, f32)>, ReadError> {
        Ok(self.scored(sql, params)?.into_iter().map(|(row, d)| (row, d as f32)).collect())
    }

    /// The last sequence number the read model has applied.
    pub fn checkpoint(&self) -> Result<Seq, ReadError> {
        let conn = self.conn()?;
        let seq: Option<i64> = conn
            .query_row("SELECT seq FROM projection_state WHERE name = 'sqlite_vec'", [], |r| r.get(0))
            .optional()?;
        Ok(Seq(seq.unwrap_or(0) as u64))
    }

    /// One memory by content hash.
    pub fn get(&self, hash: &str) -> Result<Option<MemoryRow>, ReadError> {
        let sql = format!("SELECT {COLUMNS} FROM memories m WHERE m.content_hash = ?");
        Ok(self.rows(&sql, vec![Value::Text(hash.into())])?.pop())
    }

    /// Memories by content hash, in the order given; unknown hashes are left out.
    pub fn get_many(&self, hashes: &[String]) -> Result<Vec<MemoryRow>, ReadError> {
        if hashes.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!("SELECT {COLUMNS} FROM memories m WHERE m.content_hash IN ({})", hash_params(hashes));
        let mut rows = self.rows(&sql, hashes.iter().map(|h| Value::Text(h.clone())).collect())?;
        let order: std::collections::HashMap<&str, usize> =
            hashes.iter().enumerate().map(|(i, h)| (h.as_str(), i)).collect();
        rows.sort_by_key(|r| order.get(r.content_hash.as_str()).copied().unwrap_or(usize::MAX));
        Ok(rows)
    }

    /// Memories matching `filter` whose content equals `content` exactly.
    pub fn exact(&self, content: &str, limit: usize, filter: &Filter) -> Result<Vec<MemoryRow>, ReadError> {
        let (condition, filter_params) = filter.to_sql();
        let sql = format!(
            "SELECT {COLUMNS} FROM memories m WHERE m.content = ? AND {condition} ORDER BY m.created_at DESC LIMIT ?"
        );
        let mut params = vec![Value::Text(content.into())];
        params.extend(filter_params);
        params.push(Value::Integer(limit as i64));
        self.rows(&sql, params)
    }

    /// A page of matching memories, newest first, and the number of matches.
    pub fn list(&self, filter: &Filter, offset: usize, limit: usize) -> Result<(Vec<MemoryRow>, u64), ReadError> {
        let (condition, mut params) = filter.to_sql();
        let total = self.count(filter)?;
        let sql = format!(
            "SELECT {COLUMNS} FROM memories m WHERE {condition} ORDER BY m.created_at DESC, m.id DESC LIMIT ? OFFSET ?"
        );
        // SQLite integers are i64: larger offsets are past every row anyway.
        params.push(Value::Integer(i64::try_from(limit).unwrap_or(i64::MAX)));
        params.push(Value::Integer(i64::try_from(offset).unwrap_or(i64::MAX)));
        Ok((self.rows(&sql, params)?, total))
    }

    /// The number of matching memories.
    pub fn count(&self, filter: &Filter) -> Result<u64, ReadError> {
        let (condition, params) = filter.to_sql();
        let conn = self.conn()?;
        let sql = format!("SELECT count(*) FROM memories m WHERE {condition}");
        let n: i64 = conn.prepare_cached(&sql)?.query_row(params_from_iter(params), |r| r.get(0))?;
        Ok(n as u64)
    }

    /// Content hashes of every matching memory, oldest first.
    pub fn hashes(&self, filter: &Filter) -> Result<Vec<String>, ReadError> {
        let (condition, params) = filter.to_sql();
        let conn = self.conn()?;
        let sql = format!("SELECT m.content_hash FROM memories m WHERE {condition} ORDER BY m.created_at, m.id");
        let mut stmt = conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(params_from_iter(params), |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The `k` nearest memories to `query` by cosine distance, among those matching `filter`; exact.
    /// Without a filter this is sqlite-vec's KNN scan; with one, distances are computed over the matches
    /// only, so the filter applies before the top k.
    pub fn nearest(&self, query: &[f32], k: usize, filter: &Filter) -> Result<Vec<(MemoryRow, f32)>, ReadError> {
        if k == 0 {
            return Ok(Vec::new());
        }
        let blob = vector_blob(query);
        let (sql, params) = if filter.is_empty() {
            (
                format!(
                    "SELECT {COLUMNS}, e.distance FROM (SELECT rowid, distance FROM memory_embeddings \
                     WHERE content_embedding MATCH ? AND k = ? ORDER BY distance) e \
                     JOIN memories m ON m.id = e.rowid ORDER BY e.distance"
                ),
                vec![Value::Blob(blob), Value::Integer(k as i64)],
            )
        } else {
            let (condition, filter_params) = filter.to_sql();
            let mut params = vec![Value::Blob(blob)];
            params.extend(filter_params);
            params.push(Value::Integer(k as i64));
            (
                format!(
                    "SELECT {COLUMNS}, vec_distance_cosine(e.content_embedding, ?) AS distance FROM memories m \
                     JOIN memory_embeddings e ON e.rowid = m.id WHERE {condition} ORDER BY distance LIMIT ?"
                ),
                params,
            )
        };
        self.by_distance(&sql, params)
    }

    /// The `k` nearest among memories changed after `after` (exact distances): the part of the read model
    /// an index that has applied the log up to `after` has not seen yet. `INDEXED BY` and `CROSS JOIN` make
    /// the `last_seq` index find the few changed rows first, whatever the statistics say, instead of a scan of
    /// every vector (or of every memory).
    pub fn nearest_changed_since(
        &self,
        query: &[f32],
        k: usize,
        after: Seq,
    ) -> Result<Vec<(MemoryRow, f32)>, ReadError> {
        let sql = changed_since_sql();
        let params = vec![
            Value::Blob(vector_blob(query)),
            Value::Integer(i64::try_from(after.0).unwrap_or(i64::MAX)),
            Value::Integer(k as i64),
        ];
        self.by_distance(&sql, params)
    }

    /// The cosine distances from `query` to the stored vectors of `hashes`, by content hash (a memory without
    /// a vector is left out).
    pub fn distances(&self, query: &[f32], hashes: &[String]) -> Result<Vec<(String, f32)>, ReadError> {
        if hashes.is_empty() {
            return Ok(Vec::new());
        }
        let marks = vec!["?"; hashes.len()].join(", ");
        let sql = format!(
            "SELECT {COLUMNS}, vec_distance_cosine(e.content_embedding, ?) AS distance FROM memories m \
             JOIN memory_embeddings e ON e.rowid = m.id WHERE m.content_hash IN ({marks})"
        );
        let mut params = vec![Value::Blob(vector_blob(query))];
        params.extend(hashes.iter().map(|h| Value::Text(h.clone())));
        Ok(self.by_distance(&sql, params)?.into_iter().map(|(row, d)| (row.content_hash, d)).collect())
    }

    /// Keyword search with BM25 over the content, best first; the score is FTS5's rank (lower is better).
    pub fn keyword(&self, query: &str, k: usize, filter: &Filter) -> Result<Vec<(MemoryRow, f64)>, ReadError> {
        let Some(fts_query) = fts_query(query) else {
            return Ok(Vec::new());
        };
        let (condition, filter_params) = filter.to_sql();
        let mut params = vec![Value::Text(fts_query)];
        params.extend(filter_params);
        params.push(Value::Integer(k as i64));
        let sql = format!(
            "SELECT {COLUMNS}, f.rank FROM memory_fts f JOIN memories m ON m.id = f.rowid \
             WHERE memory_fts MATCH ? AND {condition} ORDER BY f.rank LIMIT ?"
        );
        self.scored(&sql, params)
    }

    /// The stored vector of a memory.
    pub fn vector(&self, hash: &str) -> Result<Option<Vec<f32>>, ReadError> {
        let conn = self.conn()?;
        let blob: Option<Vec<u8>> = conn
            .query_row(
                "SELECT e.content_embedding FROM memories m JOIN memory_embeddings e ON e.rowid = m.id WHERE m.content_hash = ?",
                [hash],
                |r| r.get(0),
            )
            .optional()?;
        Ok(blob.map(|b| b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()))
    }

    /// Every searchable memory's vector, by content hash, in row order: what a consolidation run reads.
    pub fn all_vectors(&self) -> Result<Vec<(String, Vec<f32>)>, ReadError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(
            "SELECT m.content_hash, e.content_embedding FROM memories m JOIN memory_embeddings e ON e.rowid = m.id \
             ORDER BY m.id",
        )?;
        let rows = stmt.query_map([], |r| {
            let blob: Vec<u8> = r.get(1)?;
            let vector = blob.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
            Ok((r.get::<_, String>(0)?, vector))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Every tag with its number of memories, most used first.
    pub fn tags(&self) -> Result<Vec<TagCount>, ReadError> {
        let conn = self.conn()?;
        let mut stmt =
            conn.prepare_cached("SELECT tag, count(*) AS n FROM memory_tags GROUP BY tag ORDER BY n DESC, tag")?;
        let rows = stmt.query_map([], |r| Ok(TagCount { tag: r.get(0)?, count: r.get::<_, i64>(1)? as u64 }))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Totals; `created_since` counts memories created at or after that time (seconds since the epoch).
    pub fn stats(&self, created_since: f64) -> Result<Stats, ReadError> {
        let conn = self.conn()?;
        let one = |sql: &str| -> Result<u64, ReadError> { Ok(conn.query_row(sql, [], |r| r.get::<_, i64>(0))? as u64) };
        let total_memories = one("SELECT count(*) FROM memories")?;
        let unique_tags = one("SELECT count(DISTINCT tag) FROM memory_tags")?;
        let memories_with_vectors = one("SELECT count(*) FROM memory_embeddings")?;
        let projection_errors = one("SELECT count(*) FROM projection_errors")?;
        let page_count = one("PRAGMA page_count")?;
        let page_size = one("PRAGMA page_size")?;
        let recent: i64 =
            conn.query_row("SELECT count(*) FROM memories WHERE created_at >= ?", [created_since], |r| r.get(0))?;
        drop(conn);
        Ok(Stats {
            total_memories,
            unique_tags,
            memories_with_vectors,
            created_since: recent as u64,
            database_size_bytes: page_count * page_size,
            projection_errors,
            checkpoint: self.checkpoint()?,
        })
    }
}

/// How many memories were created on each UTC day.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DayCount {
    /// `YYYY-MM-DD`.
    pub date: String,
    pub count: u64,
}

/// A memory type (None: untyped) and how many memories have it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TypeCount {
    pub memory_type: Option<String>,
    pub count: u64,
}

impl SqliteReader {
    /// Memories created per UTC day at or after `since` (seconds since the epoch), oldest day first; days
    /// without memories are absent. Also the number of memories created before `since`.
    pub fn created_per_day(&self, since: f64) -> Result<(Vec<DayCount>, u64), ReadError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(
            "SELECT date(created_at, 'unixepoch') AS day, count(*) FROM memories WHERE created_at >= ? \
             GROUP BY day ORDER BY day",
        )?;
        let rows = stmt.query_map([since], |r| Ok(DayCount { date: r.get(0)?, count: r.get::<_, i64>(1)? as u64 }))?;
        let days = rows.collect::<Result<_, _>>()?;
        let before: i64 =
            conn.query_row("SELECT count(*) FROM memories WHERE created_at < ?", [since], |r| r.get(0))?;
        Ok((days, before as u64))
    }

    /// Every memory type with its number of memories, most used first.
    pub fn types(&self) -> Result<Vec<TypeCount>, ReadError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(
            "SELECT memory_type, count(*) AS n FROM memories GROUP BY memory_type ORDER BY n DESC, memory_type",
        )?;
        let rows =
            stmt.query_map([], |r| Ok(TypeCount { memory_type: r.get(0)?, count: r.get::<_, i64>(1)? as u64 }))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Runs `ANALYZE` and merges the full-text index's segments; returns nothing but errors.
    pub fn optimize(&self) -> Result<(), ReadError> {
        let conn = connect(&self.path)?;
        conn.execute_batch("PRAGMA optimize; ANALYZE; INSERT INTO memory_fts(memory_fts) VALUES ('optimize');")?;
        Ok(())
    }
}

/// The query of `nearest_changed_since`.
fn changed_since_sql() -> String {
    format!(
        "SELECT {COLUMNS}, vec_distance_cosine(e.content_embedding, ?) AS distance \
         FROM memories m INDEXED BY idx_last_seq CROSS JOIN memory_embeddings e ON e.rowid = m.id \
         WHERE m.last_seq > ? ORDER BY distance LIMIT ?"
    )
}

/// Words shorter than this match whole words only: as prefixes they would match most of a store.
const MIN_PREFIX_CHARS: usize = 3;

/// English function words, left out of keyword queries: nearly every memory holds them, so BM25 weighs
/// them at about nothing (FTS5 floors the weight of a word found in more than half of the memories), yet
/// matching them made FTS5 score nearly every memory (a keyword search over HTTP at 10,000 memories took 36 ms
/// instead of 7). Lucene's English stop set, with the words of questions people ask a memory ("what did we
/// decide about...").
const STOPWORDS: &[&str] = &[
    "a", "about", "an", "and", "are", "as", "at", "be", "been", "but", "by", "did", "do", "does", "for", "from", "had",
    "has", "have", "how", "i", "if", "in", "into", "is", "it", "its", "no", "not", "of", "on", "or", "our", "such",
    "that", "the", "their", "then", "there", "these", "they", "this", "to", "was", "we", "were", "what", "when",
    "where", "which", "who", "why", "will", "with", "you",
];

/// Turns free text into an FTS5 query: every word quoted (so no user text is FTS syntax), any may match,
/// as a whole word or as the beginning of one (`postgres` finds `PostgreSQL`). A word is both phrases,
/// `"w" OR "w"*`, so a memory holding the whole word matches twice and ranks above one holding only a
/// longer word that starts with it. [`STOPWORDS`] are left out, unless the text has no other word.
fn fts_query(text: &str) -> Option<String> {
    let words: Vec<&str> = text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect();
    let stopword = |w: &&str| STOPWORDS.binary_search(&w.to_lowercase().as_str()).is_ok();
    let kept: Vec<&str> =
        if words.iter().all(stopword) { words } else { words.into_iter().filter(|w| !stopword(w)).collect() };
    let phrases: Vec<String> = kept
        .iter()
        .map(|w| if w.chars().count() < MIN_PREFIX_CHARS { format!("\"{w}\"") } else { format!("\"{w}\" OR \"{w}\"*") })
        .collect();
    (!phrases.is_empty()).then(|| phrases.join(" OR "))
}

#[cfg(test)]
mod tests {
    use super::{changed_since_sql, fts_query};

    #[test]
    fn memories_changed_since_a_point_are_found_by_index_not_by_a_vector_scan() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("read.db");
        drop(crate::SqliteProjection::open(&path).expect("create the read model"));
        let conn = crate::sqlite::connect(&path).expect("connect");
        // With statistics of a populated table sqlite would rather scan: that is the case to test.
        let zeros = vec![0u8; crate::DIMENSIONS * 4];
        for id in 1..=2000 {
            conn.execute(
                "INSERT INTO memories (id, content_hash, content, last_seq) VALUES (?, ?, ?, ?)",
                rusqlite::params![id, format!("h{id}"), format!("memory {id}"), id],
            )
            .expect("insert a memory");
            conn.execute(
                "INSERT INTO memory_embeddings (rowid, content_embedding) VALUES (?, ?)",
                rusqlite::params![id, zeros],
            )
            .expect("insert a vector");
        }
        conn.execute_batch("ANALYZE").expect("analyze");
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {}", changed_since_sql())).expect("plan");
        let plan: Vec<String> = stmt
            .query_map(rusqlite::params![Vec::<u8>::new(), 0, 10], |r| r.get::<_, String>(3))
            .expect("query the plan")
            .collect::<Result<_, _>>()
            .expect("plan rows");
        assert!(plan[0].contains("SEARCH m USING INDEX idx_last_seq"), "{plan:?}");
    }

    /// A read model holding these contents, as rows 1, 2, … (the FTS index follows by trigger).
    fn read_model_of(contents: &[&str]) -> (tempfile::TempDir, super::SqliteReader) {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("read.db");
        drop(crate::SqliteProjection::open(&path).expect("create the read model"));
        let conn = crate::sqlite::connect(&path).expect("connect");
        for (id, content) in (1..).zip(contents) {
            conn.execute(
                "INSERT INTO memories (id, content_hash, content, last_seq) VALUES (?, ?, ?, ?)",
                rusqlite::params![id, format!("h{id}"), content, id],
            )
            .expect("insert a memory");
        }
        (dir, super::SqliteReader::new(&path))
    }

    fn keyword_hits(reader: &super::SqliteReader, query: &str) -> Vec<String> {
        let hits = reader.keyword(query, 10, &crate::Filter::default());
        hits.unwrap_or_else(|e| panic!("{query:?}: {e}")).into_iter().map(|(row, _)| row.content_hash).collect()
    }

    /// The README's example: a word is found by its beginning (`postgres` finds `PostgreSQL`), and a memory
    /// holding the whole word ranks above one holding a longer word that starts with it.
    #[test]
    fn keywords_match_the_beginnings_of_words_and_whole_words_rank_first() {
        let (_dir, reader) = read_model_of(&[
            "Decided to use PostgreSQL 16 for billing",
            "Our team runs postgres on the old server in the basement of the main office building",
            "Redis caches the sessions",
            "The quarterly budget review is on Tuesday",
            "My cat sleeps in the sun by the window",
        ]);
        assert_eq!(keyword_hits(&reader, "postgres"), ["h2", "h1"]);
        assert_eq!(keyword_hits(&reader, "Postgre"), ["h2", "h1"], "any beginning of a word");
        assert_eq!(keyword_hits(&reader, "billing"), ["h1"]);
        assert_eq!(keyword_hits(&reader, "bill"), ["h1"]);
        assert_eq!(keyword_hits(&reader, "sessions redis"), ["h3"]);
        assert!(keyword_hits(&reader, "mysql").is_empty());
    }

    /// The cosine distances of the memories named, from their stored vectors; unknown hashes and memories
    /// without a vector are left out.
    #[test]
    fn distances_are_cosine_distances_to_the_stored_vectors() {
        let (dir, reader) = read_model_of(&["along the first axis", "along the second axis", "no vector"]);
        let conn = crate::sqlite::connect(&dir.path().join("read.db")).expect("connect");
        let axis = |i: usize| {
            let mut v = vec![0f32; crate::DIMENSIONS];
            v[i] = 1.0;
            super::vector_blob(&v)
        };
        for (id, i) in [(1, 0), (2, 1)] {
            conn.execute(
                "INSERT INTO memory_embeddings (rowid, content_embedding) VALUES (?, ?)",
                rusqlite::params![id, axis(i)],
            )
            .expect("insert a vector");
        }
        let mut query = vec![0f32; crate::DIMENSIONS];
        query[0] = 1.0;
        let names = ["h1", "h2", "h3", "unknown"].map(String::from);
        let mut found = reader.distances(&query, &names).expect("distances");
        found.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[0].0, "h1");
        assert!(found[0].1.abs() < 1e-6, "the same direction: distance 0, {found:?}");
        assert_eq!(found[1].0, "h2");
        assert!((found[1].1 - 1.0).abs() < 1e-6, "orthogonal: distance 1, {found:?}");
        assert!(reader.distances(&query, &[]).expect("none asked").is_empty());
    }

    /// Whatever a person types is text, never FTS5 syntax: no query is an error.
    #[test]
    fn no_keyword_query_is_an_fts5_syntax_error() {
        let (_dir, reader) = read_model_of(&["Decided to use PostgreSQL 16 for billing", "NEAR the lake - a note"]);
        for query in [
            "\"",
            "\"postgres",
            "postgres\"",
            "*",
            "postgres*",
            "(",
            "(postgres",
            ")",
            "NEAR",
            "NEAR(postgres billing)",
            "NEAR/2",
            "-",
            "-postgres",
            "postgres -billing",
            "AND",
            "OR",
            "NOT",
            "postgres AND",
            "OR billing",
            "content:postgres",
            "{content}: postgres",
            "^postgres",
            "+",
            "'",
            "16",
            "ß",
            "日本語",
            "a\u{0}b",
            "",
        ] {
            keyword_hits(&reader, query);
        }
        assert_eq!(keyword_hits(&reader, "\"postgres*\""), ["h1"]);
        let mut near = keyword_hits(&reader, "NEAR(postgres billing)");
        near.sort();
        assert_eq!(near, ["h1", "h2"], "each word, quoted");
    }

    #[test]
    fn fts_queries_quote_every_word() {
        assert_eq!(
            fts_query("rust: async NEAR \"io\"").as_deref(),
            Some("\"rust\" OR \"rust\"* OR \"async\" OR \"async\"* OR \"NEAR\" OR \"NEAR\"* OR \"io\"")
        );
        assert_eq!(fts_query("  ::  "), None);
    }

    #[test]
    fn fts_queries_leave_out_function_words_unless_nothing_else_is_left() {
        assert!(super::STOPWORDS.is_sorted(), "looked up by binary search");
        assert_eq!(
            fts_query("What did The team decide about postgres?").as_deref(),
            Some("\"team\" OR \"team\"* OR \"decide\" OR \"decide\"* OR \"postgres\" OR \"postgres\"*")
        );
        assert_eq!(
            fts_query("to be or not to be").as_deref(),
            Some("\"to\" OR \"be\" OR \"or\" OR \"not\" OR \"not\"* OR \"to\" OR \"be\"")
        );
    }
}
