//! The command line: which token, account, databases, indexes and buckets the stand-in serves, and its limits.

use clap::Parser;
use std::net::SocketAddr;
use std::path::PathBuf;

/// A local stand-in for Cloudflare's REST API v4 (D1, Vectorize v2, Workers AI, R2), for tests.
#[derive(Debug, Clone, Parser)]
#[command(name = "cloudflare-standin", version)]
pub(crate) struct Config {
    /// Address to listen on; port 0 picks a free port, printed on start.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub(crate) listen: SocketAddr,

    /// The only API token accepted (`Authorization: Bearer TOKEN`).
    #[arg(long)]
    pub(crate) token: String,

    /// The only account id accepted in `/accounts/{id}/...`; without it any account id is accepted.
    #[arg(long)]
    pub(crate) account: Option<String>,

    /// A D1 database id to serve (repeatable).
    #[arg(long = "d1-database", value_name = "ID")]
    pub(crate) d1_databases: Vec<String>,

    /// A Vectorize index to create on start, as NAME:DIMS, with the cosine metric (repeatable).
    #[arg(long = "vectorize-index", value_name = "NAME:DIMS", value_parser = parse_index)]
    pub(crate) vectorize_indexes: Vec<(String, usize)>,

    /// An R2 bucket to serve (repeatable).
    #[arg(long = "r2-bucket", value_name = "NAME")]
    pub(crate) r2_buckets: Vec<String>,

    /// How long after it is accepted a Vectorize mutation becomes visible to reads.
    #[arg(long, default_value_t = 0)]
    pub(crate) vectorize_delay_ms: u64,

    /// Requests allowed per token in one rate-limit window (Cloudflare: 1200).
    #[arg(long, default_value_t = 1200)]
    pub(crate) rate_limit: u64,

    /// Length of the rate-limit window in seconds (Cloudflare: 300); exceeding the limit blocks until it ends.
    #[arg(long, default_value_t = 300)]
    pub(crate) rate_window_s: u64,

    /// Workers AI requests allowed per minute (Cloudflare: 3000 for text embeddings).
    #[arg(long, default_value_t = 3000)]
    pub(crate) ai_rate_limit: u64,

    /// Keep D1 databases as SQLite files `<ID>.sqlite` in this directory instead of in memory.
    #[arg(long)]
    pub(crate) state_dir: Option<PathBuf>,
}

/// Parses `NAME:DIMS`.
fn parse_index(text: &str) -> Result<(String, usize), String> {
    let (name, dims) = text.rsplit_once(':').ok_or_else(|| format!("expected NAME:DIMS, got {text:?}"))?;
    let dims: usize = dims.parse().map_err(|_| format!("DIMS must be a number in {text:?}"))?;
    if name.is_empty() || dims == 0 {
        return Err(format!("expected a non-empty NAME and DIMS > 0 in {text:?}"));
    }
    Ok((name.to_owned(), dims))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_spec_parses() {
        assert_eq!(parse_index("memories:768"), Ok(("memories".to_owned(), 768)));
        assert!(parse_index("memories").is_err());
        assert!(parse_index("memories:0").is_err());
        assert!(parse_index(":5").is_err());
    }
}
