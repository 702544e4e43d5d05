//! The settings: command line and environment (the original service's variable names and defaults), read
//! once in `main` and passed down, each subsystem its own group (`BackupConfig` to backups,
//! `CloudflareConfig` to the Cloudflare client...). Nothing else reads the environment. A leaf: this file
//! names nothing of the crate; the subcommands that use these settings are in `cli::args`.

use clap::Args;
use std::path::PathBuf;

/// The settings every command shares, grouped by subsystem; each subsystem is handed its own group.
#[derive(Clone, Debug, Args)]
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
    #[command(flatten)]
    pub documents: DocumentConfig,
    #[command(flatten)]
    pub consolidation: ConsolidationConfig,
    /// Log level for stderr: error, warn, info, debug or trace, or a tracing filter (default: info for `serve`, warn otherwise).
    #[arg(long, env = "LOG_LEVEL", global = true, help_heading = "Logging (every command)")]
    pub log_level: Option<String>,
}

/// Where the data lives.
#[derive(Clone, Debug, Args)]
#[command(next_help_heading = "Storage (every command)")]
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
    /// Refuse a new memory as a duplicate when one stored within the time window is this close in meaning
    /// (the newer original's semantic deduplication; off by default here). Not for a store that gives a
    /// conversation_id, an import or a document.
    #[arg(long, env = "MCP_SEMANTIC_DEDUP_ENABLED", default_value = "false", value_parser = parse_flag, global = true)]
    pub semantic_dedup_enabled: bool,
    /// How far back, by creation time, a semantic duplicate is looked for, in hours.
    #[arg(long, env = "MCP_SEMANTIC_DEDUP_TIME_WINDOW_HOURS", default_value_t = 24, global = true)]
    pub semantic_dedup_time_window_hours: u32,
    /// The cosine similarity (0 to 1) from which a new memory is a semantic duplicate.
    #[arg(long, env = "MCP_SEMANTIC_DEDUP_THRESHOLD", default_value_t = 0.85, value_parser = parse_unit, global = true)]
    pub semantic_dedup_threshold: f64,
}

/// Document ingestion.
#[derive(Clone, Debug, Args)]
#[command(next_help_heading = "Documents (every command)")]
pub struct DocumentConfig {
    /// Characters per chunk when a request names none (100 to 10,000, as the original).
    #[arg(long, env = "MCP_DOCUMENT_CHUNK_SIZE", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(100..=10_000), global = true)]
    pub document_chunk_size: u32,
    /// Characters repeated between neighbouring chunks when a request names none (0 to 1,000, as the original).
    #[arg(long, env = "MCP_DOCUMENT_CHUNK_OVERLAP", default_value_t = 200, value_parser = clap::value_parser!(u32).range(0..=1_000), global = true)]
    pub document_chunk_overlap: u32,
    /// Largest file one upload may send, in megabytes (an upload over it is answered 413).
    #[arg(long, env = "MCP_DOCUMENT_MAX_FILE_MB", default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=1024), global = true)]
    pub document_max_file_mb: u32,
    /// Directories that clients of MCP over HTTP (`/mcp`) may ingest files from, separated by `:` (default: none,
    /// so a remote client cannot make the server read its files). MCP over stdio reads the user's own files.
    #[arg(long, env = "MCP_DOCUMENT_ROOTS", value_delimiter = ':', global = true)]
    pub document_roots: Vec<PathBuf>,
}

impl DocumentConfig {
    /// The size limit in bytes.
    pub fn max_file_bytes(&self) -> usize {
        self.document_max_file_mb as usize * 1024 * 1024
    }
}

/// The embedding model.
#[derive(Clone, Debug, Args)]
#[command(next_help_heading = "Embedding model (every command)")]
pub struct ModelConfig {
    /// Embedding model; only all-MiniLM-L6-v2 is supported.
    #[arg(long, env = "MCP_EMBEDDING_MODEL", default_value = "all-MiniLM-L6-v2", global = true)]
    pub embedding_model: String,
    /// Directory holding model.onnx (weights in model.onnx.data beside it) and tokenizer.json (installed by
    /// scripts/install-assets).
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

impl ModelConfig {
    /// The embedding model's name, without the `sentence-transformers/` organisation the original's
    /// configurations usually write (`sentence-transformers/all-MiniLM-L6-v2` is all-MiniLM-L6-v2).
    pub fn model_name(&self) -> &str {
        let name = self.embedding_model.trim();
        name.strip_prefix("sentence-transformers/").unwrap_or(name)
    }
}

/// Scheduled backups while `serve` runs (the original's MCP_BACKUP_* variables).
#[derive(Clone, Debug, Args)]
#[command(next_help_heading = "Backups (every command)")]
pub struct BackupConfig {
    /// Take backups on a schedule while `serve` runs (only when something changed since the last one).
    #[arg(long = "backup-enabled", env = "MCP_BACKUP_ENABLED", default_value = "true", value_parser = parse_flag, global = true)]
    pub enabled: bool,
    /// How often: hourly, daily or weekly.
    #[arg(long = "backup-interval", env = "MCP_BACKUP_INTERVAL", default_value = "daily", value_parser = Interval::parse, global = true)]
    pub interval: Interval,
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

/// The schedule: the original's intervals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interval {
    Hourly,
    Daily,
    Weekly,
}

impl Interval {
    pub fn parse(value: &str) -> Result<Interval, String> {
        match value.trim().to_ascii_lowercase().as_str() {
            "hourly" => Ok(Interval::Hourly),
            "daily" => Ok(Interval::Daily),
            "weekly" => Ok(Interval::Weekly),
            other => Err(format!("'{other}' is not a backup interval (hourly, daily or weekly)")),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Interval::Hourly => "hourly",
            Interval::Daily => "daily",
            Interval::Weekly => "weekly",
        }
    }

    pub fn length(self) -> chrono::Duration {
        match self {
            Interval::Hourly => chrono::Duration::hours(1),
            Interval::Daily => chrono::Duration::days(1),
            Interval::Weekly => chrono::Duration::weeks(1),
        }
    }
}

/// Which backend the configuration names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    SqliteVec,
    Hybrid,
    Cloudflare,
}

impl Backend {
    /// The name the original's health reports.
    pub fn name(self) -> &'static str {
        match self {
            Backend::SqliteVec => "sqlite-vec",
            Backend::Hybrid => "hybrid",
            Backend::Cloudflare => "cloudflare",
        }
    }
}

impl StorageConfig {
    /// The backend named by MCP_MEMORY_STORAGE_BACKEND; unknown names fall back to sqlite_vec, as in the
    /// original, with a warning.
    pub fn backend(&self) -> Backend {
        match self.storage_backend.trim().to_ascii_lowercase().as_str() {
            "hybrid" => Backend::Hybrid,
            "cloudflare" => Backend::Cloudflare,
            "sqlite_vec" | "sqlite-vec" | "" => Backend::SqliteVec,
            other => {
                tracing::warn!(
                    backend = other,
                    "unknown MCP_MEMORY_STORAGE_BACKEND; using sqlite_vec as the original does"
                );
                Backend::SqliteVec
            }
        }
    }
}

/// The Cloudflare account the `hybrid` and `cloudflare` backends replicate to (the original's variables).
#[derive(Clone, Debug, Args)]
#[command(next_help_heading = "Cloudflare (hybrid and cloudflare backends)")]
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
#[command(next_help_heading = "Hybrid sync")]
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

/// The longest delay, timeout or interval a setting may give: a week. Larger values are refused at parse
/// time (they once panicked turning into a `Duration` when the Cloudflare client was made).
const LONGEST_SECONDS: f64 = 7.0 * 24.0 * 3600.0;

/// A non-negative, finite number of seconds, at most a week.
fn parse_seconds(value: &str) -> Result<f64, String> {
    match value.trim().parse::<f64>() {
        Ok(seconds) if seconds.is_finite() && (0.0..=LONGEST_SECONDS).contains(&seconds) => Ok(seconds),
        Ok(seconds) if seconds.is_finite() && seconds > LONGEST_SECONDS => {
            Err(format!("'{value}' seconds is longer than a week ({LONGEST_SECONDS} seconds)"))
        }
        _ => Err(format!("'{value}' is not a number of seconds")),
    }
}

/// Where `healthcheck` finds the server: the variables and defaults `serve` listens by.
#[derive(Clone, Debug, Args)]
pub struct HealthcheckConfig {
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
pub struct ServeConfig {
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
    pub oauth: OAuthConfig,
}

/// MCP_CORS_ORIGINS as a list: `*`, origins, or nothing (same origin only).
pub fn origin_list(origins: Option<&str>) -> Vec<&str> {
    origins.unwrap_or_default().split(',').map(str::trim).filter(|o| !o.is_empty()).collect()
}

impl ServeConfig {
    /// The API key, when one is set. An empty MCP_API_KEY (the original's guide says "remove or leave
    /// MCP_API_KEY empty") is no key.
    pub fn api_key(&self) -> Option<&Secret> {
        self.api_key.as_ref().filter(|key| !key.expose().trim().is_empty())
    }

    /// MCP_OAUTH_ISSUER, or the address the server listens on (`localhost` for a wildcard host).
    pub fn issuer(&self) -> String {
        if let Some(issuer) = self.oauth.issuer.as_deref().map(str::trim).filter(|i| !i.is_empty()) {
            return issuer.trim_end_matches('/').to_string();
        }
        let (scheme, port) = if self.https_enabled { ("https", self.https_port) } else { ("http", self.port) };
        let host = match self.host.as_str() {
            "0.0.0.0" | "::" | "[::]" | "" => "localhost".to_string(),
            host if host.contains(':') && !host.starts_with('[') => format!("[{host}]"),
            host => host.to_string(),
        };
        format!("{scheme}://{host}:{port}")
    }
}

/// OAuth 2.1 (the original's MCP_OAUTH_* variables): discovery, dynamic client registration, authorization
/// codes with PKCE, tokens as signed JWTs.
#[derive(Clone, Debug, Args)]
pub struct OAuthConfig {
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

/// Consolidation: decay, associations, clustering, compression and forgetting, run on a schedule by the
/// process that owns the store (the original's MCP_CONSOLIDATION_*, MCP_DECAY_*, MCP_RETENTION_*,
/// MCP_ASSOCIATION_*, MCP_CLUSTERING_*, MCP_COMPRESSION_*, MCP_FORGETTING_* and MCP_SCHEDULE_* variables).
#[derive(Clone, Debug, Args)]
#[command(next_help_heading = "Consolidation (every command)")]
pub struct ConsolidationConfig {
    /// Consolidate on the MCP_SCHEDULE_* times while the store's owner runs (a run on request works either way).
    #[arg(id = "consolidation-enabled", long = "consolidation-enabled", env = "MCP_CONSOLIDATION_ENABLED", default_value = "false", value_parser = parse_flag, global = true)]
    pub enabled: bool,
    /// Score relevance with exponential decay (the original reads this and decays anyway; so does this service).
    #[arg(long = "decay-enabled", env = "MCP_DECAY_ENABLED", default_value = "true", value_parser = parse_flag, global = true)]
    pub decay_enabled: bool,
    /// Retention in days of memories of type critical.
    #[arg(long = "retention-critical", env = "MCP_RETENTION_CRITICAL", default_value_t = 365, value_parser = clap::value_parser!(u32).range(1..=3650), global = true)]
    pub retention_critical: u32,
    /// Retention in days of memories of type reference.
    #[arg(long = "retention-reference", env = "MCP_RETENTION_REFERENCE", default_value_t = 180, value_parser = clap::value_parser!(u32).range(1..=3650), global = true)]
    pub retention_reference: u32,
    /// Retention in days of memories of type standard, and of every other type.
    #[arg(long = "retention-standard", env = "MCP_RETENTION_STANDARD", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=3650), global = true)]
    pub retention_standard: u32,
    /// Retention in days of memories of type temporary.
    #[arg(long = "retention-temporary", env = "MCP_RETENTION_TEMPORARY", default_value_t = 7, value_parser = clap::value_parser!(u32).range(1..=365), global = true)]
    pub retention_temporary: u32,
    /// Link pairs of memories whose similarity is in the association band.
    #[arg(long = "associations-enabled", env = "MCP_ASSOCIATIONS_ENABLED", default_value = "true", value_parser = parse_flag, global = true)]
    pub associations_enabled: bool,
    /// Lower end of the association band, on the similarity scale (0.5 unrelated).
    #[arg(long = "association-min-similarity", env = "MCP_ASSOCIATION_MIN_SIMILARITY", default_value_t = 0.3, value_parser = parse_unit, global = true)]
    pub association_min_similarity: f64,
    /// Upper end of the association band.
    #[arg(long = "association-max-similarity", env = "MCP_ASSOCIATION_MAX_SIMILARITY", default_value_t = 0.7, value_parser = parse_unit, global = true)]
    pub association_max_similarity: f64,
    /// Pairs of memories examined per run.
    #[arg(long = "association-max-pairs", env = "MCP_ASSOCIATION_MAX_PAIRS", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100_000), global = true)]
    pub association_max_pairs: u32,
    /// Group memories that mean much the same (DBSCAN) and summarise each group.
    #[arg(long = "clustering-enabled", env = "MCP_CLUSTERING_ENABLED", default_value = "true", value_parser = parse_flag, global = true)]
    pub clustering_enabled: bool,
    /// Fewest memories a cluster needs.
    #[arg(long = "clustering-min-size", env = "MCP_CLUSTERING_MIN_SIZE", default_value_t = 5, value_parser = clap::value_parser!(u32).range(2..=1000), global = true)]
    pub clustering_min_size: u32,
    /// dbscan (the only algorithm here; the original's hierarchical and simple are read as dbscan, with a warning).
    #[arg(long = "clustering-algorithm", env = "MCP_CLUSTERING_ALGORITHM", default_value = "dbscan", global = true)]
    pub clustering_algorithm: String,
    /// Write an extractive summary memory for each cluster.
    #[arg(long = "compression-enabled", env = "MCP_COMPRESSION_ENABLED", default_value = "true", value_parser = parse_flag, global = true)]
    pub compression_enabled: bool,
    /// Longest summary, in characters.
    #[arg(long = "compression-max-length", env = "MCP_COMPRESSION_MAX_LENGTH", default_value_t = 500, value_parser = clap::value_parser!(u32).range(100..=10_000), global = true)]
    pub compression_max_length: u32,
    /// Keep the memories a summary covers (always: read for compatibility, as the original does).
    #[arg(long = "compression-preserve-originals", env = "MCP_COMPRESSION_PRESERVE_ORIGINALS", default_value = "true", value_parser = parse_flag, global = true)]
    pub compression_preserve_originals: bool,
    /// Archive memories of low relevance and quality, duplicates and expired temporary ones.
    #[arg(long = "forgetting-enabled", env = "MCP_FORGETTING_ENABLED", default_value = "true", value_parser = parse_flag, global = true)]
    pub forgetting_enabled: bool,
    /// Relevance below which a memory may be archived.
    #[arg(long = "forgetting-relevance-threshold", env = "MCP_FORGETTING_RELEVANCE_THRESHOLD", default_value_t = 0.1, value_parser = parse_unit, global = true)]
    pub forgetting_relevance_threshold: f64,
    /// Days without change after which a memory counts as not accessed.
    #[arg(long = "forgetting-access-threshold", env = "MCP_FORGETTING_ACCESS_THRESHOLD", default_value_t = 90, value_parser = clap::value_parser!(u32).range(1..=3650), global = true)]
    pub forgetting_access_threshold: u32,
    /// When the daily run starts: HH:MM (local time), or disabled.
    #[arg(long = "schedule-daily", env = "MCP_SCHEDULE_DAILY", default_value = "02:00", value_parser = ScheduleSpec::daily, global = true)]
    pub schedule_daily: ScheduleSpec,
    /// When the weekly run starts: DAY HH:MM (MON..SUN), or disabled.
    #[arg(long = "schedule-weekly", env = "MCP_SCHEDULE_WEEKLY", default_value = "SUN 03:00", value_parser = ScheduleSpec::weekly, global = true)]
    pub schedule_weekly: ScheduleSpec,
    /// When the monthly run starts: DD HH:MM, or disabled.
    #[arg(long = "schedule-monthly", env = "MCP_SCHEDULE_MONTHLY", default_value = "01 04:00", value_parser = ScheduleSpec::monthly, global = true)]
    pub schedule_monthly: ScheduleSpec,
    /// When the quarterly run starts: MM-DD HH:MM (months 1, 4, 7 and 10 on day DD, as the original), or disabled.
    #[arg(long = "schedule-quarterly", env = "MCP_SCHEDULE_QUARTERLY", default_value = "disabled", value_parser = ScheduleSpec::yearly, global = true)]
    pub schedule_quarterly: ScheduleSpec,
    /// When the yearly run starts: MM-DD HH:MM, or disabled.
    #[arg(long = "schedule-yearly", env = "MCP_SCHEDULE_YEARLY", default_value = "disabled", value_parser = ScheduleSpec::yearly, global = true)]
    pub schedule_yearly: ScheduleSpec,
}

/// When a consolidation horizon runs: a day (every day, a weekday, a day of the month, or a month and day)
/// and a local time; `None` when disabled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScheduleSpec(pub Option<(ScheduleDay, u32, u32)>);

/// The day part of a schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScheduleDay {
    Every,
    /// 0 = Monday … 6 = Sunday.
    Weekday(u32),
    /// 1–31 (a day a month lacks is skipped that month, as the original's cron).
    MonthDay(u32),
    /// (month 1–12, day 1–31).
    MonthAndDay(u32, u32),
}

impl ScheduleSpec {
    fn parse(value: &str, form: &str, day: impl Fn(&str) -> Option<ScheduleDay>) -> Result<ScheduleSpec, String> {
        // The original's documentation quotes the weekly value ("SUN 03:00"); an env file may keep the quotes.
        let value = value.trim().trim_matches(|c| c == '"' || c == '\'').trim();
        if value.is_empty() || value.eq_ignore_ascii_case("disabled") {
            return Ok(ScheduleSpec(None));
        }
        let bad = || format!("'{value}' is not a schedule: use {form} or disabled");
        let (day_part, time) = match value.rsplit_once(' ') {
            Some((d, t)) => (Some(d.trim()), t),
            None => (None, value),
        };
        let (hour, minute) = time.split_once(':').ok_or_else(bad)?;
        let hour: u32 = hour.trim().parse().map_err(|_| bad())?;
        let minute: u32 = minute.trim().parse().map_err(|_| bad())?;
        if hour > 23 || minute > 59 {
            return Err(bad());
        }
        let day = match day_part {
            None if form == "HH:MM" => ScheduleDay::Every,
            Some(d) if form != "HH:MM" => day(d).ok_or_else(bad)?,
            _ => return Err(bad()),
        };
        Ok(ScheduleSpec(Some((day, hour, minute))))
    }

    /// `HH:MM`.
    pub fn daily(value: &str) -> Result<ScheduleSpec, String> {
        ScheduleSpec::parse(value, "HH:MM", |_| None)
    }

    /// `DAY HH:MM`, DAY one of MON..SUN.
    pub fn weekly(value: &str) -> Result<ScheduleSpec, String> {
        const DAYS: [&str; 7] = ["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"];
        ScheduleSpec::parse(value, "DAY HH:MM (MON..SUN)", |d| {
            DAYS.iter().position(|n| n.eq_ignore_ascii_case(d)).map(|i| ScheduleDay::Weekday(i as u32))
        })
    }

    /// `DD HH:MM`.
    pub fn monthly(value: &str) -> Result<ScheduleSpec, String> {
        ScheduleSpec::parse(value, "DD HH:MM", |d| {
            d.parse().ok().filter(|d| (1..=31).contains(d)).map(ScheduleDay::MonthDay)
        })
    }

    /// `MM-DD HH:MM`.
    pub fn yearly(value: &str) -> Result<ScheduleSpec, String> {
        ScheduleSpec::parse(value, "MM-DD HH:MM", |d| {
            let (month, day) = d.split_once('-')?;
            let (month, day): (u32, u32) = (month.parse().ok()?, day.parse().ok()?);
            ((1..=12).contains(&month) && (1..=31).contains(&day)).then_some(ScheduleDay::MonthAndDay(month, day))
        })
    }
}

/// The original's booleans: true/1/yes/on/enabled and false/0/no/off/disabled.
pub fn parse_flag(value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" | "enabled" => Ok(true),
        "false" | "0" | "no" | "off" | "disabled" | "" => Ok(false),
        other => Err(format!("'{other}' is not a boolean (use true or false)")),
    }
}

/// A number from 0 to 1 (a similarity threshold).
pub fn parse_unit(value: &str) -> Result<f64, String> {
    match value.trim().parse::<f64>() {
        Ok(number) if (0.0..=1.0).contains(&number) => Ok(number),
        _ => Err(format!("'{}' is not a number from 0 to 1", value.trim())),
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
        let assets = self.assets_dir();
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

    /// Expands the path settings wherever they came from (`.env`, the environment, the command line): a
    /// leading `~` is the home directory, and `$NAME`, `${NAME}` and `${NAME:-fallback}` are replaced by
    /// MCP_MEMORY_BASE_DIR, MCP_MEMORY_ASSETS_DIR or XDG_CACHE_HOME as this configuration resolves them
    /// (their defaults when unset), or by any other environment variable. A name that is not set is an
    /// error naming the setting, never an empty string (which once turned `$NAME/events.redb` into a new,
    /// empty log at the root).
    pub fn expand_paths(&mut self) -> Result<(), ExpandError> {
        self.expand_paths_with(&environment)
    }

    /// [`Config::expand_paths`] over the environment `env` gives.
    pub fn expand_paths_with(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), ExpandError> {
        // The directories the others name, each expanded before the ones that may name it.
        expand_setting("XDG_CACHE_HOME", &mut self.model.xdg_cache_home, env)?;
        let cache = self.model.xdg_cache_home.clone().unwrap_or_else(|| home().join(".cache"));
        let with_cache = |name: &str| match name {
            "XDG_CACHE_HOME" => Some(cache.to_string_lossy().into_owned()),
            _ => env(name),
        };
        expand_setting("MCP_MEMORY_ASSETS_DIR", &mut self.model.assets_dir, &with_cache)?;
        expand_setting("MCP_MEMORY_BASE_DIR", &mut self.storage.base_dir, &with_cache)?;
        let vars = self.path_variables(env);
        let storage = &mut self.storage;
        expand_setting("MCP_MEMORY_SQLITE_PATH", &mut storage.sqlite_path, &vars)?;
        expand_setting("MCP_MEMORY_SQLITEVEC_PATH", &mut storage.sqlitevec_path, &vars)?;
        expand_setting("MCP_MEMORY_BACKUPS_PATH", &mut storage.backups_path, &vars)?;
        expand_setting("MCP_MEMORY_LOG_PATH", &mut storage.log_path, &vars)?;
        expand_setting("MCP_MEMORY_MODEL_DIR", &mut self.model.model_dir, &vars)?;
        expand_setting("ORT_DYLIB_PATH", &mut self.model.ort_dylib_path, &vars)
    }

    /// Looks up a name in a path setting: the directory settings as resolved, then the environment.
    pub fn path_variables<'a>(
        &self,
        env: &'a dyn Fn(&str) -> Option<String>,
    ) -> impl Fn(&str) -> Option<String> + use<'a> {
        let paths = self.paths();
        let assets = self.assets_dir();
        let cache = self.model.xdg_cache_home.clone().unwrap_or_else(|| home().join(".cache"));
        move |name: &str| match name {
            "MCP_MEMORY_BASE_DIR" => Some(paths.base_dir.to_string_lossy().into_owned()),
            "MCP_MEMORY_ASSETS_DIR" => Some(assets.to_string_lossy().into_owned()),
            "XDG_CACHE_HOME" => Some(cache.to_string_lossy().into_owned()),
            _ => env(name),
        }
    }

    fn assets_dir(&self) -> PathBuf {
        self.model.assets_dir.clone().unwrap_or_else(|| {
            self.model.xdg_cache_home.clone().unwrap_or_else(|| home().join(".cache")).join("mcp-memory-service")
        })
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

impl ServeConfig {
    /// Expands the server's path settings as [`Config::expand_paths`] does; `vars` is
    /// [`Config::path_variables`].
    pub fn expand_paths(&mut self, vars: &dyn Fn(&str) -> Option<String>) -> Result<(), ExpandError> {
        expand_setting("MMS_DASHBOARD_DIR", &mut self.dashboard_dir, vars)?;
        expand_setting("MCP_SSL_CERT_FILE", &mut self.ssl_cert_file, vars)?;
        expand_setting("MCP_SSL_KEY_FILE", &mut self.ssl_key_file, vars)?;
        expand_setting("MCP_OAUTH_PRIVATE_KEY_PATH", &mut self.oauth.private_key_path, vars)?;
        expand_setting("MCP_OAUTH_PUBLIC_KEY_PATH", &mut self.oauth.public_key_path, vars)
    }
}

/// An environment variable's value, for the path settings that name it; empty is unset.
pub fn environment(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

/// A path setting that names a variable that is not set, or writes `${` without its `}`.
#[derive(Debug, thiserror::Error)]
#[error("{setting}={value:?}: {problem}")]
pub struct ExpandError {
    /// The setting's environment variable.
    pub setting: &'static str,
    pub value: String,
    pub problem: String,
}

/// Expands one optional path setting in place.
fn expand_setting(
    setting: &'static str,
    path: &mut Option<PathBuf>,
    vars: &dyn Fn(&str) -> Option<String>,
) -> Result<(), ExpandError> {
    // A path that is not UTF-8 cannot name a variable: it is kept as it is.
    let Some(value) = path.as_deref().and_then(|p| p.to_str()) else { return Ok(()) };
    let expanded = expand(value, vars).map_err(|problem| ExpandError { setting, value: value.to_string(), problem })?;
    *path = Some(PathBuf::from(expanded));
    Ok(())
}

/// `~` at the start (alone or before `/`) is the home directory; `$NAME`, `${NAME}` and `${NAME:-fallback}`
/// are the variable's value (the fallback when it is unset or empty); `$$` is one `$`. Expanded text is
/// not expanded again.
fn expand(value: &str, vars: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        rest = &rest[at + 1..];
        if let Some(after) = rest.strip_prefix('$') {
            out.push('$');
            rest = after;
        } else if let Some(braced) = rest.strip_prefix('{') {
            let end = braced.find('}').ok_or_else(|| format!("'${{' without its '}}' in {value:?}"))?;
            let (name, fallback) = match braced[..end].split_once(":-") {
                Some((name, fallback)) => (name, Some(fallback)),
                None => (&braced[..end], None),
            };
            match (vars(name), fallback) {
                (Some(found), _) => out.push_str(&found),
                (None, Some(fallback)) => out.push_str(&expand_home(fallback)),
                (None, None) => return Err(unset(name)),
            }
            rest = &braced[end + 1..];
        } else {
            let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
            if end == 0 {
                out.push('$');
                continue;
            }
            out.push_str(&vars(&rest[..end]).ok_or_else(|| unset(&rest[..end]))?);
            rest = &rest[end..];
        }
    }
    out.push_str(rest);
    Ok(expand_home(&out))
}

fn unset(name: &str) -> String {
    format!("${name} is not set (set it, or write the path out)")
}

/// `~` or `~/...` with the home directory in place of the `~`.
fn expand_home(path: &str) -> String {
    match path.strip_prefix('~') {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => format!("{}{rest}", home().display()),
        _ => path.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn schedules_read_the_originals_forms_and_refuse_anything_else() {
        use super::{ScheduleDay, ScheduleSpec};
        assert_eq!(ScheduleSpec::daily("02:00"), Ok(ScheduleSpec(Some((ScheduleDay::Every, 2, 0)))));
        assert_eq!(ScheduleSpec::daily("2:5"), Ok(ScheduleSpec(Some((ScheduleDay::Every, 2, 5)))));
        assert_eq!(ScheduleSpec::weekly("sun 03:00"), Ok(ScheduleSpec(Some((ScheduleDay::Weekday(6), 3, 0)))));
        assert_eq!(ScheduleSpec::monthly("01 04:00"), Ok(ScheduleSpec(Some((ScheduleDay::MonthDay(1), 4, 0)))));
        assert_eq!(
            ScheduleSpec::yearly("02-29 05:30"),
            Ok(ScheduleSpec(Some((ScheduleDay::MonthAndDay(2, 29), 5, 30))))
        );
        assert_eq!(ScheduleSpec::weekly("disabled"), Ok(ScheduleSpec(None)));
        for (parse, bad) in [
            (ScheduleSpec::daily as fn(&str) -> Result<ScheduleSpec, String>, "25:00"),
            (ScheduleSpec::daily, "MON 02:00"),
            (ScheduleSpec::weekly, "SUNDAY 03:00"),
            (ScheduleSpec::weekly, "03:00"),
            (ScheduleSpec::monthly, "32 04:00"),
            (ScheduleSpec::yearly, "13-01 04:00"),
            (ScheduleSpec::yearly, "sometime"),
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    use super::*;

    #[test]
    fn seconds_are_finite_non_negative_and_at_most_a_week() {
        assert_eq!(parse_seconds(" 1.5 "), Ok(1.5));
        assert_eq!(parse_seconds("604800"), Ok(LONGEST_SECONDS));
        for bad in ["-1", "NaN", "inf", "1e300", "604801", "soon"] {
            assert!(parse_seconds(bad).is_err(), "{bad} must be refused");
        }
        // What every accepted value becomes: a Duration, which panics on values too large for it.
        for good in ["0", "0.05", "300", "604800"] {
            let seconds = parse_seconds(good).expect("accepted");
            assert!(std::time::Duration::try_from_secs_f64(seconds).is_ok());
        }
    }

    #[test]
    fn path_settings_expand_the_home_and_variables() {
        let vars = |name: &str| match name {
            "MCP_MEMORY_BASE_DIR" => Some("/data/mem".to_string()),
            "EMPTY_IS_UNSET" => None,
            _ => None,
        };
        let home = home().display().to_string();
        assert_eq!(expand("~", &vars).as_deref(), Ok(home.as_str()));
        assert_eq!(expand("~/x", &vars), Ok(format!("{home}/x")));
        assert_eq!(expand("~user/x", &vars).as_deref(), Ok("~user/x"));
        assert_eq!(expand("a/~/b", &vars).as_deref(), Ok("a/~/b"));
        assert_eq!(expand("$MCP_MEMORY_BASE_DIR/events.redb", &vars).as_deref(), Ok("/data/mem/events.redb"));
        assert_eq!(expand("${MCP_MEMORY_BASE_DIR}.d/x", &vars).as_deref(), Ok("/data/mem.d/x"));
        assert_eq!(expand("${EMPTY_IS_UNSET:-~/.cache}/m", &vars), Ok(format!("{home}/.cache/m")));
        assert_eq!(expand("${MCP_MEMORY_BASE_DIR:-/other}", &vars).as_deref(), Ok("/data/mem"));
        assert_eq!(expand("cost$$5 and $ alone", &vars).as_deref(), Ok("cost$5 and $ alone"));
        let unset = expand("$MCP_MEMORY_BASE/x", &vars).expect_err("an unset name is an error");
        assert!(unset.contains("$MCP_MEMORY_BASE is not set"), "{unset}");
        assert!(expand("${MCP_MEMORY_BASE_DIR/x", &vars).is_err());
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
}
