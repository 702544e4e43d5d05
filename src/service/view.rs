//! What a query reads and asks: the read model it runs on (the live one, or one materialised at an earlier
//! event) and the list and search requests with their answers. Both the live queries (`queries`) and time
//! travel (`as_of`) use these; neither needs the other's types.

use super::memory::Memory;
use super::time_expr::TimeRange;
use mms_log::Seq;
use mms_projections::{AnnIndex, SqliteReader};
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;

/// The read model a query runs on: the live one with its ANN index, or one materialised at an earlier
/// event (without an index: search there is always exact).
#[derive(Clone)]
pub(super) struct View {
    pub(super) reader: Arc<SqliteReader>,
    pub(super) ann: Option<Arc<AnnIndex>>,
    /// Keeps a materialised read model's files while a query uses them.
    pub(super) _kept: Option<Arc<Materialised>>,
}

impl View {
    /// Whether this is the store as it is now (not a materialised past).
    pub(super) fn is_live(&self) -> bool {
        self._kept.is_none()
    }
}

/// A read model materialised at one event (by `as_of`); its directory goes when the last user drops it.
pub(super) struct Materialised {
    pub(super) seq: Seq,
    pub(super) path: PathBuf,
    pub(super) reader: Arc<SqliteReader>,
    pub(super) _dir: tempfile::TempDir,
}

/// How a search matches. Also the `--mode` of the CLI and the `mode` argument of MCP.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    clap::ValueEnum,
    serde::Deserialize,
    schemars::JsonSchema,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum SearchMode {
    /// By meaning (vector similarity).
    Semantic,
    /// By words (BM25).
    Keyword,
    /// By meaning, with a bonus for matching the query's words: the best ranking the retrieval benchmark
    /// found, so the default everywhere.
    #[default]
    Hybrid,
    /// Content equal to the query.
    Exact,
}

/// The weight of relevance when a caller turns `quality_boost` on without one (the newer original's 0.3).
pub const DEFAULT_RELEVANCE_WEIGHT: f64 = 0.3;

/// A search.
#[derive(Clone, Debug, Default)]
pub struct SearchRequest {
    pub query: String,
    pub mode: SearchMode,
    pub limit: usize,
    /// Results below this similarity (original scale, 0..1) are left out; semantic mode only.
    pub min_similarity: Option<f64>,
    pub tags: Vec<String>,
    pub match_all: bool,
    pub memory_type: Option<String>,
    /// Only memories created in this range.
    pub created: Option<TimeRange>,
    /// Take a time phrase out of the query ("... last week") and filter by it (not in exact mode, and not
    /// when `created` is given). A query that is only a time phrase lists that time, newest first.
    pub extract_time: bool,
    /// How much the memories' relevance now (consolidation's decay, importance, connections) weighs in the
    /// ranking, in [0, 1]: 0 (the default) ranks by the mode alone, 1 by relevance alone among the mode's
    /// best candidates. Semantic and hybrid search only (the original's `quality_boost`).
    pub relevance_weight: f64,
}

/// A page request for `list`.
#[derive(Clone, Debug)]
pub struct ListRequest {
    /// 1-based.
    pub page: usize,
    pub page_size: usize,
    pub tags: Vec<String>,
    pub match_all: bool,
    pub memory_type: Option<String>,
    pub created: Option<TimeRange>,
}

/// One page of memories.
#[derive(Clone, Debug, Serialize)]
pub struct ListPage {
    pub memories: Vec<Memory>,
    pub total: u64,
    pub page: usize,
    pub page_size: usize,
    pub has_more: bool,
}
