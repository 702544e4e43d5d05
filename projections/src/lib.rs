//! mms-projections: read models derived from the event log, each with its own durable checkpoint.
//!
//! A [`Projection`] consumes events in log order and records the last sequence number it applied, in the
//! same atomic step as the data. The [`Projector`] feeds every projection from one pass over the log,
//! fetching each stored memory's vector once from a [`VectorSource`]. Dropping a projection's files and
//! replaying the log gives the same read model: that is the law the tests check.
//!
//! - [`SqliteProjection`] / [`SqliteReader`]: the original service's sqlite-vec schema, plus exact tags and
//!   FTS5, serving every read.
//! - the memory graph: typed edges between memories in the same database, and the queries over it.
//! - [`read_original`]: reading the original Python service's database, for migration.
//! - [`AnnIndex`]: a usearch HNSW index over the same vectors for fast semantic search at scale.

mod ann;
mod archive;
mod filter;
mod graph;
mod original;
mod projector;
mod read;
mod row;
mod sqlite;
mod sqlite_ext;
mod uploads;

pub use ann::{AnnIndex, AnnOptions};
pub use archive::ArchivedRow;
pub use filter::{Filter, TagMatch};
pub use graph::{Direction, EdgeRow, LinkedPairs, NodeDegree, RELATION_TYPES, RelationType, relation_type};
pub use original::{
    OriginalDatabase, OriginalError, OriginalRow, SQLITE_HEADER, is_original_database, is_sqlite_file, read_original,
};
pub use projector::{Applied, Projection, ProjectionError, Projector, VectorSource};
pub use read::{DayCount, ReadError, SqliteReader, Stats, TagCount, TypeCount};
pub use row::{MemoryRow, iso_utc};
pub use sqlite::{OpenError, SqliteProjection};
pub use sqlite_ext::register_sqlite_vec;
pub use uploads::UploadRow;

/// Dimensions of the vectors every projection stores (all-MiniLM-L6-v2).
pub const DIMENSIONS: usize = 384;
