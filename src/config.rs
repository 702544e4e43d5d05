//! The one `Config`: command line and environment (the original service's variable names and defaults),
//! read once in `main` and passed down. Nothing else reads the environment.

use crate::service::SearchMode;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Long-term semantic memory for AI agents: an event-sourced, drop-in replacement for the Python MCP Memory Service.
#[derive(Clone, Debug, Parser)]
#[command(name = "mcp-memory-service", version, about, long_about = None)]
pub struct Config {
    #[command(flatten)]
    pub storage: StorageConfig,
    #[command(flatten)]
    pub model: ModelConfig,
    #[command(flatten)]
    pub backup: BackupConfig,
    #[command(flatten)]
    pub cloudflare: CloudflareConfig,
    #[command(flatten)]
    pub hybrid: HybridConfig,
    /// Log level for stderr: error, warn, info, debug or trace, or a tracing filter (default: info for `serve`, warn otherwise).
    #[arg(long, env = "LOG_LEVEL", global = true)]
    pub log_level: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

/// Where the data lives.
#[derive(Clone, Debug, Args)]
pub struct StorageConfig {
    /// Base data directory; the other paths default to files inside it.
    #[arg(long, env = "MCP_MEMORY_BASE_DIR", global = true)]
    pub base_dir: Option<PathBuf>,
    /// The sqlite-vec read model (rebuilt from the log when missing). The original's `MCP_MEMORY_SQLITEVEC_PATH` is also read.
    #[arg(long, env = "MCP_MEMORY_SQLITE_PATH", global = true)]
    pub sqlite_path: Option<PathBuf>,
    /// Where backups are written.
    #[arg(long, env = "MCP_MEMORY_BACKUPS_PATH", global = true)]
    pub backups_path: Option<PathBuf>,
    /// The event log, the only source of truth (a redb file).
    #[arg(long, env = "MCP_MEMORY_LOG_PATH", global = true)]
    pub log_path: Option<PathBuf>,
    /// Storage backend: sqlite_vec (local only), hybrid (local, replicated to Cloudflare in the background) or
    /// cloudflare (a write is acknowledged once Cloudflare has it; search is served by Vectorize and D1).
    #[arg(long, env = "MCP_MEMORY_STORAGE_BACKEND", default_value = "sqlite_vec", global = true)]
    pub storage_backend: String,
    /// Largest accepted memory content, in bytes (`none` or unset: 1,000,000).
    #[arg(long, env = "MCP_SQLITEVEC_MAX_CONTENT_LENGTH", global = true)]
    pub max_content_length: Option<String>,
    /// Add the tag `source:<hostname>` and `metadata.hostname` to stored memories.
    #[arg(long, env = "MCP_MEMORY_INCLUDE_HOSTNAME", default_value = "false", value_parser = parse_flag, global = true)]
    pub include_hostname: bool,
    /// The original's older name for MCP_MEMORY_SQLITE_PATH.
    #[arg(long, env = "MCP_MEMORY_SQLITEVEC_PATH", hide = true, global = true)]
    pub sqlitevec_path: Option<PathBuf>,
    /// Use the usearch ANN index for semantic search once it holds at least this many memories (exact search below).
    #[arg(long, env = "MCP_MEMORY_ANN_THRESHOLD", default_value_t = 5000, global = true)]
    pub ann_threshold: usize,
}

/// The embedding model.
#[derive(Clone, Debug, Args)]
pub struct ModelConfig {
    /// Embedding model; only all-MiniLM-L6-v2 is supported.
    #[arg(long, env = "MCP_EMBEDDING_MODEL", default_value = "all-MiniLM-L6-v2", global = true)]
    pub embedding_model: String,
    /// Directory holding model.onnx and tokenizer.json (installed by scripts/install-assets).
    #[arg(long, env = "MCP_MEMORY_MODEL_DIR", global = true)]
    pub model_dir: Option<PathBuf>,
    /// The ONNX Runtime library, 1.32 or newer (installed by scripts/install-assets).
    #[arg(long, env = "ORT_DYLIB_PATH", global = true)]
    pub ort_dylib_path: Option<PathBuf>,
    /// Where scripts/install-assets puts the model and ONNX Runtime (default: $XDG_CACHE_HOME/mcp-memory-service or ~/.cache/mcp-memory-service).
    #[arg(long, env = "MCP_MEMORY_ASSETS_DIR", global = true)]
    pub assets_dir: Option<PathBuf>,
    /// The XDG cache directory, for the default assets directory.
    #[arg(long, env = "XDG_CACHE_HOME", hide = true, global = true)]
    pub xdg_cache_home: Option<PathBuf>,
    /// Threads for one embedding run (default: all cores).
    #[arg(long, env = "MCP_EMBEDDING_THREADS", global = true)]
    pub embedding_threads: Option<usize>,
}

/// Scheduled backups while `serve` runs (the original's MCP_BACKUP_* variables).
#[derive(Clone, Debug, Args)]
pub struct BackupConfig {
    /// Take backups on a schedule while `serve` runs (only when something changed since the last one).
    #[arg(long = "backup-enabled", env = "MCP_BACKUP_ENABLED", default_value = "true", value_parser = parse_flag, global = true)]
    pub enabled: bool,
    /// How often: hourly, daily or weekly.
    #[arg(long = "backup-interval", env = "MCP_BACKUP_INTERVAL", default_value = "daily", value_parser = crate::backup::Interval::parse, global = true)]
    pub interval: crate::backup::Interval,
    /// Delete backups older than this many days.
    #[arg(long = "backup-retention", env = "MCP_BACKUP_RETENTION", default_value_t = 7, global = true)]
    pub retention_days: u64,
    /// Keep at most this many backups.
    #[arg(long = "backup-max-count", env = "MCP_BACKUP_MAX_COUNT", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..), global = true)]
    pub max_count: u64,
    /// Seconds between schedule checks (tests shorten it).
    #[arg(
        long = "backup-check-seconds",
        env = "MMS_BACKUP_CHECK_SECONDS",
        default_value_t = 300,
        hide = true,
        global = true
    )]
    pub check_seconds: u64,
}

/// The Cloudflare account the `hybrid` and `cloudflare` backends replicate to (the original's variables).
#[derive(Clone, Debug, Args)]
pub struct CloudflareConfig {
    /// API token with D1, Vectorize, Workers AI (and R2) permissions.
    #[arg(
        id = "cloudflare-api-token",
        long = "cloudflare-api-token",
        env = "CLOUDFLARE_API_TOKEN",
        hide_env_values = true,
        global = true
    )]
    pub api_token: Option<Secret>,
    /// Account id (at most 32 characters).
    #[arg(id = "cloudflare-account-id", long = "cloudflare-account-id", env = "CLOUDFLARE_ACCOUNT_ID", global = true)]
    pub account_id: Option<String>,
    /// Vectorize index (768 dimensions, cosine, for the default embedding model).
    #[arg(
        id = "cloudflare-vectorize-index",
        long = "cloudflare-vectorize-index",
        env = "CLOUDFLARE_VECTORIZE_INDEX",
        global = true
    )]
    pub vectorize_index: Option<String>,
    /// D1 database id.
    #[arg(
        id = "cloudflare-d1-database-id",
        long = "cloudflare-d1-database-id",
        env = "CLOUDFLARE_D1_DATABASE_ID",
        global = true
    )]
    pub d1_database_id: Option<String>,
    /// R2 bucket for content above the large-content threshold (optional: without it such content stays in D1).
    #[arg(id = "cloudflare-r2-bucket", long = "cloudflare-r2-bucket", env = "CLOUDFLARE_R2_BUCKET", global = true)]
    pub r2_bucket: Option<String>,
    /// Workers AI model that embeds for Vectorize.
    #[arg(
        id = "cloudflare-embedding-model",
        long = "cloudflare-embedding-model",
        env = "CLOUDFLARE_EMBEDDING_MODEL",
        default_value = "@cf/baai/bge-base-en-v1.5",
        global = true
    )]
    pub embedding_model: String,
    /// Content larger than this many bytes goes to R2 (when a bucket is set).
    #[arg(
        id = "cloudflare-large-content-threshold",
        long = "cloudflare-large-content-threshold",
        env = "CLOUDFLARE_LARGE_CONTENT_THRESHOLD",
        default_value_t = 1_048_576,
        global = true
    )]
    pub large_content_threshold: usize,
    /// Retries of a failed call (429, 5xx, network errors) before it counts as failed.
    #[arg(
        id = "cloudflare-max-retries",
        long = "cloudflare-max-retries",
        env = "CLOUDFLARE_MAX_RETRIES",
        default_value_t = 3,
        global = true
    )]
    pub max_retries: u32,
    /// Seconds before the first retry; each retry waits twice as long as the one before.
    #[arg(id = "cloudflare-base-delay", long = "cloudflare-base-delay", env = "CLOUDFLARE_BASE_DELAY", default_value_t = 1.0, value_parser = parse_seconds, global = true)]
    pub base_delay: f64,
    /// The API's base URL (ours, not the original's): point it at another endpoint, such as a test stand-in.
    #[arg(
        id = "cloudflare-api-base-url",
        long = "cloudflare-api-base-url",
        env = "CLOUDFLARE_API_BASE_URL",
        default_value = "https://api.cloudflare.com/client/v4",
        global = true
    )]
    pub api_base_url: String,
    /// Seconds one call may take before it counts as a timeout (and is retried).
    #[arg(id = "cloudflare-timeout", long = "cloudflare-timeout", env = "MMS_CLOUDFLARE_TIMEOUT_SECONDS", default_value_t = 30.0, value_parser = parse_seconds, hide = true, global = true)]
    pub timeout: f64,
}

/// How the replica follows the log (the original's MCP_HYBRID_* variables that still mean something here).
#[derive(Clone, Debug, Args)]
pub struct HybridConfig {
    /// Seconds between pulls of other devices' changes (pushes follow each write at once).
    #[arg(id = "hybrid-sync-interval", long = "hybrid-sync-interval", env = "MCP_HYBRID_SYNC_INTERVAL", default_value_t = 300.0, value_parser = parse_seconds, global = true)]
    pub sync_interval: f64,
    /// Events per push batch (at most 500).
    #[arg(id = "hybrid-batch-size", long = "hybrid-batch-size", env = "MCP_HYBRID_BATCH_SIZE", default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=500), global = true)]
    pub batch_size: u64,
    /// Pull other devices' changes as soon as the service starts.
    #[arg(id = "hybrid-sync-on-startup", long = "hybrid-sync-on-startup", env = "MCP_HYBRID_SYNC_ON_STARTUP", default_value = "true", value_parser = parse_flag, global = true)]
    pub sync_on_startup: bool,
}

/// A non-negative, finite number of seconds.
fn parse_seconds(value: &str) -> Result<f64, String> {
    match value.trim().parse::<f64>() {
        Ok(seconds) if seconds.is_finite() && seconds >= 0.0 => Ok(seconds),
        _ => Err(format!("'{value}' is not a number of seconds")),
    }
}

/// What to do.
#[derive(Clone, Debug, Subcommand)]
pub enum Command {
    /// Start the HTTP server.
    Serve(Box<ServeArgs>),
    /// Run the MCP server over stdio (for Claude Desktop, Claude Code, Cursor...).
    Mcp,
    /// Store a memory.
    Store(StoreArgs),
    /// Search memories by meaning, keywords or both; the query is taken literally.
    Search(SearchArgs),
    /// Recall by a natural-language query: a time phrase inside it ("what did we decide last week")
    /// filters by creation time, and the rest ranks by meaning (the original's recall_memory).
    Recall(SearchArgs),
    /// List memories, newest first.
    List(ListArgs),
    /// Show one memory.
    Get {
        /// Content hash.
        hash: String,
        #[command(flatten)]
        as_of: AsOfArg,
    },
    /// Change a memory's tags, type or metadata (created_at is kept, updated_at moves to now).
    Update(UpdateArgs),
    /// Bring back a deleted memory as it was when deleted.
    Undelete {
        /// Content hash.
        hash: String,
    },
    /// Delete one memory by hash, or every memory matching tags and/or a time range.
    Delete(DeleteArgs),
    /// Bring the store back to how it was after an event or at a moment. Shows what would change;
    /// `--apply` does it (as new events: history is kept, and a restore can itself be undone).
    Restore(RestoreArgs),
    /// Forget a memory for real: its content, tags, type, metadata and vector are erased from the log, the
    /// read models and the backups; a tombstone records that it was redacted, when and by whom.
    Redact {
        /// Content hash.
        hash: String,
        /// Why (kept in the tombstone; do not repeat what is being forgotten).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Print the event log as JSON lines (one event per line, oldest first), for audit tools.
    Log {
        /// Start at this sequence number.
        #[arg(long, default_value_t = 1)]
        from: u64,
    },
    /// Show every event of one memory: who changed what, when and through which interface.
    History {
        /// Content hash.
        hash: String,
    },
    /// Drop the read models and rebuild them by replaying the log.
    Rebuild,
    /// Show statistics.
    Stats,
    /// Import memories: JSON lines (one memory object per line), the original service's export document, or
    /// the original service's database (its `sqlite_vec.db`). Duplicates are skipped.
    Import {
        /// File to read; `-` for standard input (JSON only).
        file: PathBuf,
    },
    /// Back up the event log to MCP_MEMORY_BACKUPS_PATH (`backup`), list the backups, or verify one.
    Backup {
        #[command(subcommand)]
        action: Option<BackupAction>,
    },
    /// Print a new RSA key pair for OAuth (MCP_OAUTH_PRIVATE_KEY / MCP_OAUTH_PUBLIC_KEY) and a random API key
    /// (MCP_API_KEY), as lines to paste into `.env`.
    Keygen,
    /// Cloudflare replication (the hybrid and cloudflare backends): its status, a push or pull now, a pause.
    Sync {
        #[command(subcommand)]
        action: SyncAction,
    },
    /// Export every memory, newest first: as JSON lines, or in the original service's exporter format.
    Export {
        /// File to write; `-` for standard output.
        #[arg(default_value = "-")]
        file: PathBuf,
        /// `jsonl`: one memory object per line; `original`: the original service's export document
        /// (`{"export_metadata": ..., "memories": [...]}`), which its importer and `import` read.
        #[arg(long, value_enum, default_value_t = crate::portability::ExportFormat::Jsonl)]
        format: crate::portability::ExportFormat,
    },
    /// Check that the server on this machine answers GET /api/health with "healthy": exit 0 if it does, 1 if
    /// not (the container image's health check; no store is opened, no key is sent).
    Healthcheck(HealthcheckArgs),
}

/// What `sync` does.
#[derive(Clone, Copy, Debug, Subcommand)]
pub enum SyncAction {
    /// Show where the replica stands: events pushed and waiting, devices pulled, failures, pause.
    Status,
    /// Push every local change Cloudflare does not have yet (failed events are retried).
    Push,
    /// Pull every change other devices pushed, and the memories an original service left in D1.
    Pull,
    /// Stop replicating (a running server notices within seconds); local writes go on.
    Pause,
    /// Replicate again after a pause.
    Resume,
}

/// Where `healthcheck` finds the server: the variables and defaults `serve` listens by.
#[derive(Clone, Debug, Args)]
pub struct HealthcheckArgs {
    /// The address the server listens on; 0.0.0.0 and :: are reached at 127.0.0.1 and ::1.
    #[arg(long, env = "MCP_HTTP_HOST", default_value = "127.0.0.1")]
    pub host: String,
    /// The server's HTTP port.
    #[arg(long, env = "MCP_HTTP_PORT", default_value_t = 8000)]
    pub port: u16,
    /// The server serves HTTPS on MCP_HTTPS_PORT (its certificate is not checked: see `healthcheck`).
    #[arg(long, env = "MCP_HTTPS_ENABLED", default_value = "false", value_parser = parse_flag)]
    pub https_enabled: bool,
    /// The server's HTTPS port.
    #[arg(long, env = "MCP_HTTPS_PORT", default_value_t = 8443)]
    pub https_port: u16,
    /// Seconds to wait for the connection and the answer.
    #[arg(long, default_value_t = 5)]
    pub timeout: u64,
}

#[derive(Clone, Debug, Args)]
pub struct RestoreArgs {
    /// Restore to right after this event (see `history` or the log's sequence numbers).
    #[arg(long, conflicts_with_all = ["to_time", "from_backup"], required_unless_present_any = ["to_time", "from_backup"])]
    pub to_seq: Option<u64>,
    /// Restore to a moment: 2026-11-20T14:00:00Z, "2026-11-20 14:00" (UTC), a phrase ("yesterday": its end) or a phrase and a time ("yesterday 18:00").
    #[arg(long, conflicts_with = "from_backup")]
    pub to_time: Option<String>,
    /// Restore to what a backup holds (a file name in MCP_MEMORY_BACKUPS_PATH, or a path); it is checked
    /// against its manifest first. Memories redacted since are not brought back.
    #[arg(long)]
    pub from_backup: Option<PathBuf>,
    /// Do it (without it, only show what would change).
    #[arg(long)]
    pub apply: bool,
}

/// What `backup` does.
#[derive(Clone, Debug, Subcommand)]
pub enum BackupAction {
    /// Take a backup now (the default): the events since the newest backup when that keeps it small, a
    /// full snapshot otherwise.
    Now,
    /// Take a full snapshot now.
    Full,
    /// List the backups, newest first.
    List,
    /// Check a backup's checksum and replay it into a scratch read model.
    Verify {
        /// The backup file (a name in the backup directory, or a path).
        file: PathBuf,
    },
}

#[derive(Clone, Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "MCP_HTTP_HOST", default_value = "127.0.0.1")]
    pub host: String,
    /// Port to listen on.
    #[arg(long, env = "MCP_HTTP_PORT", default_value_t = 8000)]
    pub port: u16,
    /// API key clients must send (Authorization: Bearer, X-API-Key or ?api_key=). Never logged.
    #[arg(long, env = "MCP_API_KEY", hide_env_values = true)]
    pub api_key: Option<Secret>,
    /// Let requests without credentials in (scopes read and write); off by default.
    #[arg(long, env = "MCP_ALLOW_ANONYMOUS_ACCESS", default_value = "false", value_parser = parse_flag)]
    pub allow_anonymous_access: bool,
    /// Origins allowed to call the API from a browser: a comma-separated list, or `*` (default: same origin only).
    #[arg(long, env = "MCP_CORS_ORIGINS")]
    pub cors_origins: Option<String>,
    /// Seconds between heartbeat events on /api/events (5 to 300).
    #[arg(long, env = "MCP_SSE_HEARTBEAT", default_value_t = 30, value_parser = clap::value_parser!(u64).range(5..=300))]
    pub sse_heartbeat: u64,
    /// Largest accepted request body, in bytes.
    #[arg(long, env = "MCP_HTTP_MAX_BODY_BYTES", default_value_t = 8 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Seconds a request may take before it is answered 408 (the event stream is exempt).
    #[arg(long, env = "MCP_HTTP_REQUEST_TIMEOUT", default_value_t = 60)]
    pub request_timeout: u64,
    /// Serve the dashboard's files from this directory instead of the copies built into the binary (development).
    #[arg(long, env = "MMS_DASHBOARD_DIR", hide = true)]
    pub dashboard_dir: Option<PathBuf>,
    /// Serve HTTPS on MCP_HTTPS_PORT instead of HTTP on MCP_HTTP_PORT.
    #[arg(long, env = "MCP_HTTPS_ENABLED", default_value = "false", value_parser = parse_flag)]
    pub https_enabled: bool,
    /// Port to listen on with HTTPS.
    #[arg(long, env = "MCP_HTTPS_PORT", default_value_t = 8443)]
    pub https_port: u16,
    /// The server's certificate chain (PEM); without it (and the key) one is generated once into <base>/tls.
    #[arg(long, env = "MCP_SSL_CERT_FILE")]
    pub ssl_cert_file: Option<PathBuf>,
    /// The certificate's private key (PEM).
    #[arg(long, env = "MCP_SSL_KEY_FILE")]
    pub ssl_key_file: Option<PathBuf>,
    /// Advertise the server on the local network over mDNS (off by default, unlike the original).
    #[arg(long, env = "MCP_MDNS_ENABLED", default_value = "false", value_parser = parse_flag)]
    pub mdns_enabled: bool,
    /// The mDNS instance name.
    #[arg(long, env = "MCP_MDNS_SERVICE_NAME", default_value = "MCP Memory Service")]
    pub mdns_service_name: String,
    /// The mDNS service type.
    #[arg(long, env = "MCP_MDNS_SERVICE_TYPE", default_value = "_mcp-memory._tcp.local.")]
    pub mdns_service_type: String,
    #[command(flatten)]
    pub oauth: OAuthArgs,
}

/// OAuth 2.1 (the original's MCP_OAUTH_* variables): discovery, dynamic client registration, authorization
/// codes with PKCE, tokens as signed JWTs.
#[derive(Clone, Debug, Args)]
pub struct OAuthArgs {
    /// Serve OAuth 2.1 and accept its access tokens (besides the API key).
    #[arg(long = "oauth-enabled", env = "MCP_OAUTH_ENABLED", default_value = "false", value_parser = parse_flag)]
    pub oauth_enabled: bool,
    /// The issuer: the server's public base URL (default: http(s)://<host, localhost for 0.0.0.0>:<port>).
    #[arg(long = "oauth-issuer", env = "MCP_OAUTH_ISSUER")]
    pub issuer: Option<String>,
    /// RS256 signing key, PKCS#8 or PKCS#1 PEM (with MCP_OAUTH_PUBLIC_KEY); see `keygen`.
    #[arg(long = "oauth-private-key", env = "MCP_OAUTH_PRIVATE_KEY", hide_env_values = true)]
    pub private_key: Option<Secret>,
    /// RS256 verification key, PEM.
    #[arg(long = "oauth-public-key", env = "MCP_OAUTH_PUBLIC_KEY")]
    pub public_key: Option<String>,
    /// The private key from a file instead.
    #[arg(long = "oauth-private-key-path", env = "MCP_OAUTH_PRIVATE_KEY_PATH")]
    pub private_key_path: Option<PathBuf>,
    /// The public key from a file instead.
    #[arg(long = "oauth-public-key-path", env = "MCP_OAUTH_PUBLIC_KEY_PATH")]
    pub public_key_path: Option<PathBuf>,
    /// HS256 secret, used when no RSA pair is configured. Without either, an RSA key is made once and kept
    /// in <base>/oauth.
    #[arg(long = "oauth-secret-key", env = "MCP_OAUTH_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<Secret>,
    /// Lifetime of access tokens, in minutes (1 to 1440).
    #[arg(long = "oauth-access-token-expire-minutes", env = "MCP_OAUTH_ACCESS_TOKEN_EXPIRE_MINUTES", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=1440))]
    pub access_token_minutes: u64,
    /// Lifetime of authorization codes, in minutes (1 to 60).
    #[arg(long = "oauth-authorization-code-expire-minutes", env = "MCP_OAUTH_AUTHORIZATION_CODE_EXPIRE_MINUTES", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=60))]
    pub code_minutes: u64,
    /// Lifetime of refresh tokens (issued with the offline_access scope), in days.
    #[arg(long = "oauth-refresh-token-expire-days", env = "MCP_OAUTH_REFRESH_TOKEN_EXPIRE_DAYS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=365))]
    pub refresh_days: u64,
    /// When set, POST /oauth/register needs `Authorization: Bearer <this key>` (or the API key).
    #[arg(long = "dcr-registration-key", env = "MCP_DCR_REGISTRATION_KEY", hide_env_values = true)]
    pub registration_key: Option<Secret>,
}

/// A secret from the configuration: compared in constant time, never printed.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// The secret itself, for the few places that must use it (a PEM key to parse).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `candidate` is the secret, in time independent of where they differ.
    pub fn matches(&self, candidate: &str) -> bool {
        use sha2::{Digest, Sha256};
        use subtle::ConstantTimeEq;
        // Hashing first makes the comparison's length fixed too, so the key's length does not leak either.
        Sha256::digest(self.0.as_bytes()).ct_eq(&Sha256::digest(candidate.as_bytes())).into()
    }
}

impl std::str::FromStr for Secret {
    type Err = String;
    fn from_str(value: &str) -> Result<Secret, String> {
        Ok(Secret(value.to_string()))
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

#[derive(Clone, Debug, Args)]
pub struct StoreArgs {
    /// The content; read from standard input when absent.
    pub content: Option<String>,
    /// Tags, comma-separated or repeated.
    #[arg(long, short, value_delimiter = ',')]
    pub tags: Vec<String>,
    /// Memory type (note, decision, reminder...).
    #[arg(long = "type")]
    pub memory_type: Option<String>,
    /// Metadata as a JSON object.
    #[arg(long)]
    pub metadata: Option<String>,
}

#[derive(Clone, Debug, Args)]
pub struct SearchArgs {
    /// What to look for.
    pub query: String,
    #[arg(long, value_enum, default_value_t = SearchMode::Semantic)]
    pub mode: SearchMode,
    /// Number of results.
    #[arg(long, short = 'n', default_value_t = 5)]
    pub limit: usize,
    /// Minimum similarity (0..1, the original's scale).
    #[arg(long)]
    pub min_similarity: Option<f32>,
    #[command(flatten)]
    pub filter: FilterArgs,
    #[command(flatten)]
    pub as_of: AsOfArg,
}

/// Time travel: answer as the store was at an earlier point, without restoring anything.
#[derive(Clone, Debug, Default, Args)]
pub struct AsOfArg {
    /// Answer as the store was right after this event (`1234` or `seq:1234`) or at this moment
    /// (`2026-01-31T12:00:00Z`, `2026-01-31 12:00` UTC, a phrase: `yesterday` is its end). Before the first
    /// event the store is empty; past the last it is now.
    #[arg(long = "as-of", value_name = "SEQ|TIME")]
    pub as_of: Option<String>,
}

/// Which memories: by tags and creation time. Shared by search, list and delete.
#[derive(Clone, Debug, Args)]
pub struct FilterArgs {
    /// Only memories with these tags (exact match; comma-separated or repeated).
    #[arg(long, value_delimiter = ',')]
    pub tags: Vec<String>,
    /// Require every tag instead of any.
    #[arg(long)]
    pub all_tags: bool,
    /// Only memories created in this time (a phrase: "last week", "between 2026-01-01 and 2026-02-01").
    #[arg(long)]
    pub time: Option<String>,
}

#[derive(Clone, Debug, Args)]
pub struct ListArgs {
    #[arg(long, default_value_t = 1)]
    pub page: usize,
    #[arg(long, default_value_t = 10)]
    pub page_size: usize,
    #[arg(long = "type")]
    pub memory_type: Option<String>,
    #[command(flatten)]
    pub filter: FilterArgs,
    #[command(flatten)]
    pub as_of: AsOfArg,
}

#[derive(Clone, Debug, Args)]
pub struct UpdateArgs {
    /// Content hash.
    pub hash: String,
    /// Replace the tags (comma-separated; an empty string clears them).
    #[arg(long, value_delimiter = ',')]
    pub tags: Option<Vec<String>>,
    /// Set the memory type (an empty string clears it).
    #[arg(long = "type")]
    pub memory_type: Option<String>,
    /// Merge these keys into the metadata (a JSON object; a null value removes a key).
    #[arg(long)]
    pub metadata: Option<String>,
    /// Fail if the memory is no longer at this version (see `history`).
    #[arg(long)]
    pub expect_version: Option<u32>,
}

#[derive(Clone, Debug, Args)]
pub struct DeleteArgs {
    /// Content hash of one memory.
    pub hash: Option<String>,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Delete memories created before this date or phrase.
    #[arg(long)]
    pub before: Option<String>,
    /// Only count what would be deleted.
    #[arg(long)]
    pub dry_run: bool,
    /// With a hash: fail if the memory is no longer at this version (see `history`).
    #[arg(long, requires = "hash")]
    pub expect_version: Option<u32>,
}

/// The original's booleans: true/1/yes/on/enabled and false/0/no/off/disabled.
pub fn parse_flag(value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" | "enabled" => Ok(true),
        "false" | "0" | "no" | "off" | "disabled" | "" => Ok(false),
        other => Err(format!("'{other}' is not a boolean (use true or false)")),
    }
}

/// The resolved file layout.
#[derive(Clone, Debug)]
pub struct Paths {
    pub base_dir: PathBuf,
    pub log: PathBuf,
    pub sqlite: PathBuf,
    pub ann_dir: PathBuf,
    pub backups: PathBuf,
    pub model_dir: PathBuf,
    pub runtime_library: PathBuf,
}

fn home() -> PathBuf {
    std::env::home_dir().unwrap_or_else(|| PathBuf::from("."))
}

impl Config {
    /// Resolves every path from the options and their defaults.
    pub fn paths(&self) -> Paths {
        let base_dir = self.storage.base_dir.clone().unwrap_or_else(|| home().join(".local/share/mcp-memory"));
        let assets = self.model.assets_dir.clone().unwrap_or_else(|| {
            self.model.xdg_cache_home.clone().unwrap_or_else(|| home().join(".cache")).join("mcp-memory-service")
        });
        Paths {
            log: self.storage.log_path.clone().unwrap_or_else(|| base_dir.join("events.redb")),
            sqlite: self
                .storage
                .sqlite_path
                .clone()
                .or_else(|| self.storage.sqlitevec_path.clone())
                .unwrap_or_else(|| base_dir.join("sqlite_vec.db")),
            ann_dir: base_dir.join("ann"),
            backups: self.storage.backups_path.clone().unwrap_or_else(|| base_dir.join("backups")),
            model_dir: self.model.model_dir.clone().unwrap_or_else(|| assets.join("models").join("all-MiniLM-L6-v2")),
            runtime_library: self
                .model
                .ort_dylib_path
                .clone()
                .unwrap_or_else(|| assets.join("onnxruntime").join("libonnxruntime.so.1.32.0")),
            base_dir,
        }
    }

    /// The content length limit in bytes.
    pub fn max_content_length(&self) -> Result<usize, String> {
        match self.storage.max_content_length.as_deref().map(str::trim) {
            None | Some("") | Some("none") | Some("unlimited") => Ok(1_000_000),
            Some(n) => n.parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(|| {
                format!("MCP_SQLITEVEC_MAX_CONTENT_LENGTH must be a positive number or 'none', not '{n}'")
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;
    use std::collections::BTreeSet;

    fn env_vars(command: &clap::Command, out: &mut BTreeSet<String>) {
        for arg in command.get_arguments() {
            if let Some(env) = arg.get_env() {
                out.insert(env.to_string_lossy().into_owned());
            }
        }
        for sub in command.get_subcommands() {
            env_vars(sub, out);
        }
    }

    /// The section of `.env.example` that holds the variables of the Docker set-up (read by
    /// `docker/entrypoint.sh` and the compose files, not by `Config`): from its header to the next header.
    const DOCKER_SECTION: &str = "# --- Docker";

    /// The variable names set (or shown commented out) in `.env.example`: the service's, then the Docker set-up's.
    fn env_example_variables() -> (BTreeSet<String>, BTreeSet<String>) {
        let (mut service, mut docker) = (BTreeSet::new(), BTreeSet::new());
        let mut in_docker = false;
        for line in include_str!("../.env.example").lines() {
            if line.starts_with("# ---") {
                in_docker = line.starts_with(DOCKER_SECTION);
                continue;
            }
            if let Some(name) = variable_of(line) {
                if in_docker { &mut docker } else { &mut service }.insert(name.to_string());
            }
        }
        (service, docker)
    }

    /// The variable a line of an env file sets, or shows commented out: `NAME=value` or `# NAME=value`.
    fn variable_of(line: &str) -> Option<&str> {
        let (name, _) = line.trim_start_matches('#').trim().split_once('=')?;
        let name = name.trim();
        let is_name = name.starts_with(|c: char| c.is_ascii_uppercase())
            && name.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
        is_name.then_some(name)
    }

    #[test]
    fn env_template_sets_only_variables_the_service_or_the_docker_set_up_reads() {
        let text = include_str!("../docker/env.template");
        let listed: BTreeSet<&str> = text.lines().filter_map(variable_of).collect();
        let known = crate::envcheck::known();
        let unknown: Vec<_> = listed.iter().filter(|name| !known.contains(**name)).collect();
        assert!(unknown.is_empty(), "docker/env.template lists variables nothing reads: {unknown:?}");
        // Every variable the original's Docker guide names is there, but the one this service does not need,
        // which is only mentioned.
        let guide = [
            "MCP_MODE",
            "LOG_LEVEL",
            "HTTP_PORT",
            "MCP_HTTP_PORT",
            "MCP_HTTP_HOST",
            "MCP_MEMORY_STORAGE_BACKEND",
            "MCP_MEMORY_SQLITE_PATH",
            "MCP_MEMORY_BACKUPS_PATH",
            "MCP_OAUTH_ENABLED",
            "MCP_OAUTH_PRIVATE_KEY",
            "MCP_OAUTH_PUBLIC_KEY",
            "MCP_OAUTH_ISSUER",
            "MCP_OAUTH_ACCESS_TOKEN_EXPIRE_MINUTES",
            "MCP_OAUTH_SECRET_KEY",
            "MCP_API_KEY",
            "MCP_MDNS_ENABLED",
            "MCP_MDNS_SERVICE_NAME",
            "MCP_HTTPS_ENABLED",
            "MCP_HTTPS_PORT",
            "MCP_SSL_CERT_FILE",
            "MCP_SSL_KEY_FILE",
            "MEMORY_IMAGE",
            "CLOUDFLARE_API_TOKEN",
            "CLOUDFLARE_ACCOUNT_ID",
            "CLOUDFLARE_VECTORIZE_INDEX",
            "CLOUDFLARE_D1_DATABASE_ID",
            "CLOUDFLARE_R2_BUCKET",
        ];
        let missing: Vec<_> = guide.iter().filter(|name| !listed.contains(**name)).collect();
        assert!(missing.is_empty(), "docker/env.template lacks variables the guide names: {missing:?}");
        assert!(text.contains("MCP_MEMORY_USE_ONNX") && !listed.contains("MCP_MEMORY_USE_ONNX"));
    }

    /// Every `$NAME` and `${NAME...}` in the files of `docker/` that the set-up runs: the entrypoint and the
    /// compose files (not `test-docker-modes.sh`, which tests a built image from the host).
    fn docker_file_variables() -> BTreeSet<String> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docker");
        let mut names = BTreeSet::new();
        let reference = regex::Regex::new(r"\$\{?([A-Z_][A-Z0-9_]*)").expect("a valid pattern");
        for entry in std::fs::read_dir(&dir).expect("docker/ exists") {
            let path = entry.expect("a directory entry").path();
            let test = path.file_name().is_some_and(|name| name.to_string_lossy().starts_with("test-"));
            if !test && path.extension().is_some_and(|e| e == "sh" || e == "yml" || e == "yaml") {
                let text = std::fs::read_to_string(&path).expect("read a docker/ file");
                let code = text.lines().filter(|line| !line.trim_start().starts_with('#'));
                names.extend(code.flat_map(|line| reference.captures_iter(line).map(|c| c[1].to_string())));
            }
        }
        names
    }

    #[test]
    fn env_example_lists_exactly_the_configured_variables() {
        let mut configured = BTreeSet::new();
        env_vars(&Config::command(), &mut configured);
        let (listed, _) = env_example_variables();
        assert_eq!(listed, configured, ".env.example must list exactly the variables Config reads");
    }

    #[test]
    fn env_example_lists_exactly_the_variables_the_docker_files_read() {
        let mut configured = BTreeSet::new();
        env_vars(&Config::command(), &mut configured);
        let (_, docker) = env_example_variables();
        assert!(!docker.is_empty(), ".env.example has a section starting {DOCKER_SECTION:?}");
        let both: Vec<_> = docker.intersection(&configured).collect();
        assert!(both.is_empty(), "the Docker section lists variables that Config reads (list them above it): {both:?}");
        let read = docker_file_variables();
        let unused: Vec<_> = docker.difference(&read).collect();
        assert!(unused.is_empty(), "the Docker section lists variables no file in docker/ reads: {unused:?}");
        let unlisted: Vec<_> = read.iter().filter(|v| !docker.contains(*v) && !configured.contains(*v)).collect();
        assert!(unlisted.is_empty(), "docker/ reads variables that .env.example does not list: {unlisted:?}");
    }

    #[test]
    fn flattened_options_keep_their_own_defaults() {
        // clap names an argument after its field: two `enabled` fields in flattened groups were one argument,
        // and OAuth's default switched scheduled backups off.
        let config = Config::parse_from(["mcp-memory-service", "serve"]);
        let Command::Serve(args) = &config.command else { unreachable!("serve") };
        assert!(config.backup.enabled, "backups are on by default");
        assert!(!args.oauth.oauth_enabled && !args.mdns_enabled, "OAuth and mDNS are off by default");
        let config = Config::parse_from(["mcp-memory-service", "serve", "--oauth-enabled"]);
        let Command::Serve(args) = &config.command else { unreachable!("serve") };
        assert!(config.backup.enabled && args.oauth.oauth_enabled);
    }

    #[test]
    fn the_original_booleans_parse() {
        for yes in ["true", "1", "YES", "on", "enabled"] {
            assert_eq!(parse_flag(yes), Ok(true));
        }
        for no in ["false", "0", "no", "off", "disabled", ""] {
            assert_eq!(parse_flag(no), Ok(false));
        }
        assert!(parse_flag("maybe").is_err());
    }

    #[test]
    fn secrets_compare_exactly_and_never_print() {
        let key: Secret = "s3cret-key".parse().expect("any string is a secret");
        assert!(key.matches("s3cret-key"));
        for wrong in ["", "s3cret-ke", "s3cret-key ", "S3cret-key", "s3cret-key-longer"] {
            assert!(!key.matches(wrong), "{wrong:?} must not match");
        }
        assert!(!format!("{key:?}").contains("s3cret"));
        let config = Config::parse_from(["mcp-memory-service", "serve", "--api-key", "s3cret-key"]);
        assert!(!format!("{config:?}").contains("s3cret"), "Config's Debug leaks the key");
    }

    #[test]
    fn paths_default_inside_the_base_dir() {
        let config = Config::parse_from(["mcp-memory-service", "--base-dir", "/data", "stats"]);
        let paths = config.paths();
        assert_eq!(paths.log, PathBuf::from("/data/events.redb"));
        assert_eq!(paths.sqlite, PathBuf::from("/data/sqlite_vec.db"));
        assert_eq!(paths.backups, PathBuf::from("/data/backups"));
    }

    #[test]
    fn every_source_file_says_what_it_owns() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut missing = Vec::new();
        let mut stack: Vec<PathBuf> =
            ["src", "log/src", "projections/src", "tests", "log/tests", "projections/tests", "benches"]
                .iter()
                .map(|d| root.join(d))
                .collect();
        while let Some(path) = stack.pop() {
            if path.is_dir() {
                if let Ok(entries) = std::fs::read_dir(&path) {
                    stack.extend(entries.flatten().map(|e| e.path()));
                }
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                if !text.trim_start().starts_with("//!") {
                    missing.push(path.display().to_string());
                }
            }
        }
        assert!(missing.is_empty(), "files without a //! module doc: {missing:?}");
    }
}
