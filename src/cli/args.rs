//! The command line: the subcommands and their arguments, over the settings of [`Config`].

use crate::config::{Config, ExpandError, HealthcheckConfig, ServeConfig, environment};
use crate::portability::ExportFormat;
use crate::service::SearchMode;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use std::path::PathBuf;

/// The command line: the settings, then what to do.
#[derive(Clone, Debug, Parser)]
#[command(name = "mcp-memory-service", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub config: Config,
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// The command line over the environment, `.env` included (loaded first: real environment variables
    /// win). A variable set to an empty value counts as unset, so the setting takes its default
    /// (`MCP_EMBEDDING_THREADS=` as `.env.example` shows it). An invalid value read from a variable is
    /// reported by the variable's name, not by the option's. The path settings are expanded
    /// ([`Config::expand_paths`]). Exits with clap's usage status (2) on an error.
    pub fn load() -> Cli {
        super::dotenv::load();
        let command = without_empty_variables(Cli::command());
        let matches = command.clone().try_get_matches().unwrap_or_else(|error| name_variable(error, &command).exit());
        let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|error| error.exit());
        if let Err(error) = cli.expand_paths() {
            clap::Error::raw(clap::error::ErrorKind::ValueValidation, format!("{error}\n")).with_cmd(&command).exit();
        }
        cli
    }

    /// Expands the path settings of the configuration and of `serve`.
    fn expand_paths(&mut self) -> Result<(), ExpandError> {
        self.config.expand_paths()?;
        if let Command::Serve(args) = &mut self.command {
            args.expand_paths(&self.config.path_variables(&environment))?;
        }
        Ok(())
    }
}

/// `command` with the `env` of every argument whose variable is set to an empty (or blank) value removed,
/// in every subcommand: the argument then takes its default.
fn without_empty_variables(mut command: clap::Command) -> clap::Command {
    let empty: Vec<clap::Id> = command
        .get_arguments()
        .filter(|arg| {
            arg.get_env().and_then(std::env::var_os).is_some_and(|value| value.to_string_lossy().trim().is_empty())
        })
        .map(|arg| arg.get_id().clone())
        .collect();
    for id in empty {
        command = command.mut_arg(id, |arg| arg.env(clap::builder::Resettable::Reset));
    }
    let subcommands: Vec<String> = command.get_subcommands().map(|sub| sub.get_name().to_string()).collect();
    for name in subcommands {
        command = command.mut_subcommand(name, without_empty_variables);
    }
    command
}

/// A parse error about an option whose value came from its environment variable, reworded to name the
/// variable (the one the user set) instead of the option; other errors as they are.
fn name_variable(error: clap::Error, command: &clap::Command) -> clap::Error {
    use clap::error::{ContextKind, ContextValue};
    let (Some(ContextValue::String(option)), Some(ContextValue::String(value))) =
        (error.get(ContextKind::InvalidArg), error.get(ContextKind::InvalidValue))
    else {
        return error;
    };
    // Only a built command's arguments render as in errors (a bare one panics in `to_string`).
    let mut built = command.clone();
    built.build();
    let Some(arg) = find_argument(&built, option) else { return error };
    let Some(variable) = arg.get_env() else { return error };
    // The value came from the variable when the variable holds it and the command line does not name the option.
    let long = arg.get_long().map(|long| format!("--{long}"));
    let on_command_line = std::env::args()
        .any(|given| long.as_deref().is_some_and(|long| given == long || given.starts_with(&format!("{long}="))));
    if on_command_line || std::env::var_os(variable).is_none_or(|set| set.to_string_lossy() != *value) {
        return error;
    }
    let reason = std::error::Error::source(&error).map(|source| format!(": {source}")).unwrap_or_default();
    let message = format!(
        "invalid value '{value}' for {variable} (from the environment or .env; the option {option}){reason}\n",
        variable = variable.to_string_lossy()
    );
    clap::Error::raw(error.kind(), message).with_cmd(command)
}

/// The argument that clap's errors render as `rendered` (`--port <PORT>`), in `command` or a subcommand.
fn find_argument<'a>(command: &'a clap::Command, rendered: &str) -> Option<&'a clap::Arg> {
    command
        .get_arguments()
        .find(|arg| arg.to_string() == rendered)
        .or_else(|| command.get_subcommands().find_map(|sub| find_argument(sub, rendered)))
}

/// What to do: run a server, or one command and exit.
#[derive(Clone, Debug, Subcommand)]
pub enum Command {
    /// Start the HTTP server.
    Serve(Box<ServeConfig>),
    /// Run the MCP server over stdio (for Claude Desktop, Claude Code, Cursor...).
    Mcp,
    #[command(flatten)]
    Run(CliCommand),
    /// Check that the server on this machine answers GET /api/health with "healthy": exit 0 if it does, 1 if
    /// not (the container image's health check; no store is opened, no key is sent).
    Healthcheck(HealthcheckConfig),
}

/// The commands that run once and exit (`cli::run`).
#[derive(Clone, Debug, Subcommand)]
pub enum CliCommand {
    #[command(flatten)]
    Memory(MemoryCommand),
    /// Drop the read models and rebuild them by replaying the log.
    Rebuild,
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
        #[arg(long, value_enum, default_value_t = ExportFormat::Jsonl)]
        format: ExportFormat,
    },
}

/// `relate SOURCE TARGET [--type T] [--reason R] [--similarity S] [--remove]`.
#[derive(Clone, Debug, Args)]
pub struct RelateArgs {
    /// The memory the relation starts from.
    pub source: String,
    /// The memory it points to.
    pub target: String,
    /// causes, fixes, contradicts, supports, follows or related (symmetric: related, contradicts). With
    /// --remove and no --type, every relation from SOURCE to TARGET goes.
    #[arg(long = "type", short = 't')]
    pub relation_type: Option<String>,
    /// Why the two are linked.
    #[arg(long)]
    pub reason: Option<String>,
    /// How strong the link is, 0..1 (default 1).
    #[arg(long)]
    pub similarity: Option<f64>,
    /// Remove the relation instead.
    #[arg(long)]
    pub remove: bool,
}

/// `graph relations|connected|path|subgraph ...`.
#[derive(Clone, Debug, Args)]
pub struct GraphArgs {
    #[command(subcommand)]
    pub walk: GraphWalk,
}

/// What `graph` shows.
#[derive(Clone, Debug, Subcommand)]
pub enum GraphWalk {
    /// Every relation of one memory, either end.
    Relations {
        /// Content hash.
        hash: String,
    },
    /// The memories within some hops of one, nearest first.
    Connected {
        /// Content hash.
        hash: String,
        /// 1 to 5.
        #[arg(long, default_value_t = 2)]
        max_hops: u32,
        /// Only these types (comma-separated).
        #[arg(long = "type", short = 't')]
        types: Option<String>,
        /// both, outgoing or incoming (symmetric types are followed both ways).
        #[arg(long, default_value = "both")]
        direction: String,
    },
    /// A shortest path from one memory to another.
    Path {
        from: String,
        to: String,
        /// The most relations on the path, 1 to 10.
        #[arg(long, default_value_t = 5)]
        max_depth: u32,
        /// Only these types (comma-separated).
        #[arg(long = "type", short = 't')]
        types: Option<String>,
        /// outgoing (from source to target), both or incoming.
        #[arg(long, default_value = "outgoing")]
        direction: String,
    },
    /// The memories within a radius of one, and the relations between them, as JSON.
    Subgraph {
        /// Content hash.
        hash: String,
        /// 1 to 5.
        #[arg(long, default_value_t = 2)]
        radius: u32,
        /// Only these types (comma-separated).
        #[arg(long = "type", short = 't')]
        types: Option<String>,
    },
}

/// The commands that open the store, run one service call and close it (`cli::memory::run`).
#[derive(Clone, Debug, Subcommand)]
pub enum MemoryCommand {
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
    /// Archive a memory (forget it reversibly): out of every search and list, still in its history and the
    /// graph; `unarchive` (or a restore) brings it back. `list --archived` shows the archived memories.
    Archive {
        /// Content hash.
        hash: String,
        /// Why (kept with the archived memory and in its history).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Bring an archived memory back into searches and lists.
    Unarchive {
        /// Content hash.
        hash: String,
    },
    /// Consolidate now: relevance with decay, associations as related edges, clusters summarised by a
    /// summary memory, forgetting as archiving; each action with why. `--dry-run` previews.
    Consolidate {
        /// daily (the last two days), weekly or monthly (everything), quarterly or yearly (older than 90
        /// or 365 days).
        #[arg(long, default_value = "weekly", value_parser = ["daily", "weekly", "monthly", "quarterly", "yearly"])]
        horizon: String,
        /// Show what the run would do; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Only say whether a run is worth it (the memories it would look at).
        #[arg(long, conflicts_with = "dry_run")]
        recommend: bool,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// Run as if it were this moment (RFC 3339): the same store, settings and moment give the same events.
        #[arg(long, hide = true)]
        now: Option<String>,
    },
    /// Delete one memory by hash, or every memory matching tags and/or a time range.
    Delete(DeleteArgs),
    /// Ingest documents (txt, md, json, csv, pdf, docx, html): each file is cut into chunks, stored together
    /// as one upload (all or nothing); a file ingested before (same sha256) is skipped unless --force.
    Ingest(IngestArgs),
    /// List the ingested documents, newest first, or remove one (`--remove UPLOAD_ID`).
    Documents(DocumentsArgs),
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
        /// Do not ask: redaction cannot be undone, so without a terminal to ask on it needs this flag.
        #[arg(long, short)]
        yes: bool,
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
    /// Relate two memories (a `related` event in SOURCE's history), or remove the relation with --remove.
    Relate(RelateArgs),
    /// Walk the memory graph: a memory's relations, its neighbours, a path, a subgraph.
    Graph(GraphArgs),
    /// Show statistics.
    Stats,
    /// Import memories: JSON lines (one memory object per line), the original service's export document, or
    /// the original service's database (its `sqlite_vec.db`). Duplicates are skipped.
    Import {
        /// File to read; `-` for standard input (JSON only).
        file: PathBuf,
    },
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
    /// Print the plan as JSON (for scripts) instead of a line per memory.
    #[arg(long)]
    pub json: bool,
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
pub struct StoreArgs {
    /// The content; `-` or absent: read from standard input (its trailing line break dropped).
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
pub struct IngestArgs {
    /// Files and directories to ingest.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Take the files of subdirectories too.
    #[arg(long, short)]
    pub recursive: bool,
    /// Tags for every chunk, comma-separated or repeated.
    #[arg(long, short, value_delimiter = ',')]
    pub tags: Vec<String>,
    /// Characters per chunk (default MCP_DOCUMENT_CHUNK_SIZE, 1000).
    #[arg(long, value_parser = clap::value_parser!(u32).range(100..=10_000))]
    pub chunk_size: Option<u32>,
    /// Characters repeated between neighbouring chunks (default MCP_DOCUMENT_CHUNK_OVERLAP, 200).
    #[arg(long, value_parser = clap::value_parser!(u32).range(0..=1_000))]
    pub chunk_overlap: Option<u32>,
    /// The chunks' memory type.
    #[arg(long = "type", default_value = "document")]
    pub memory_type: String,
    /// In directories, only files with these extensions (comma-separated or repeated).
    #[arg(long, value_delimiter = ',')]
    pub extensions: Vec<String>,
    /// Read and chunk, and say what would be stored, without storing anything.
    #[arg(long)]
    pub dry_run: bool,
    /// Ingest a file even if the same file was ingested before.
    #[arg(long)]
    pub force: bool,
}

#[derive(Clone, Debug, Args)]
pub struct DocumentsArgs {
    /// Remove this upload and delete its memories (their history is kept).
    #[arg(long)]
    pub remove: Option<String>,
    /// With --remove: keep the memories, only mark the upload removed.
    #[arg(long, requires = "remove")]
    pub keep_memories: bool,
    /// Forget this upload for real: its memories and its record are erased from the log, the read models and
    /// the backups (tombstones remain). Cannot be undone, so it needs --yes.
    #[arg(long, conflicts_with = "remove")]
    pub redact: Option<String>,
    /// With --redact: why (kept in the tombstones).
    #[arg(long, requires = "redact")]
    pub reason: Option<String>,
    /// With --redact: yes, really.
    #[arg(long, short, requires = "redact")]
    pub yes: bool,
}

#[derive(Clone, Debug, Args)]
pub struct SearchArgs {
    /// What to look for.
    pub query: String,
    /// hybrid: by meaning, with a bonus for matching words, picked for diversity (the best ranking, see README
    /// "Search modes").
    #[arg(long, value_enum, default_value_t = SearchMode::Hybrid)]
    pub mode: SearchMode,
    /// Number of results.
    #[arg(long, short = 'n', default_value_t = 5)]
    pub limit: usize,
    /// Minimum similarity (0..1, the original's scale).
    #[arg(long)]
    pub min_similarity: Option<f32>,
    /// Weight of the memories' relevance now (decay, importance, connections) in the ranking, 0..1
    /// (semantic and hybrid modes; 0.3 is a good boost).
    #[arg(long, default_value_t = 0.0)]
    pub quality_boost: f64,
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
    /// List the archived memories instead (most recently archived first, with why); no filters apply.
    #[arg(long)]
    pub archived: bool,
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
    /// Only memories of this type (note, decision...).
    #[arg(long = "type")]
    pub memory_type: Option<String>,
    /// Only show what would be deleted (each memory's hash, creation time and first line).
    #[arg(long)]
    pub dry_run: bool,
    /// Print the outcome as JSON (for scripts): the matched count and the hashes.
    #[arg(long)]
    pub json: bool,
    /// With a hash: fail if the memory is no longer at this version (see `history`).
    #[arg(long, requires = "hash")]
    pub expect_version: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;
    use std::collections::BTreeSet;

    /// The section of `.env.example` that holds the variables of the Docker set-up (read by
    /// `docker/entrypoint.sh` and the compose files, not by `Config`): from its header to the next header.
    const DOCKER_SECTION: &str = "# --- Docker";

    /// The variable names set (or shown commented out) in `.env.example`: the service's, then the Docker set-up's.
    fn env_example_variables() -> (BTreeSet<String>, BTreeSet<String>) {
        let (mut service, mut docker) = (BTreeSet::new(), BTreeSet::new());
        let mut in_docker = false;
        for line in include_str!("../../.env.example").lines() {
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
        let text = include_str!("../../docker/env.template");
        let listed: BTreeSet<&str> = text.lines().filter_map(variable_of).collect();
        let known = crate::cli::envcheck::known();
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

    /// The variables `Config` reads that `docker/env.template` leaves out on purpose, and why.
    const NOT_IN_ENV_TEMPLATE: &[(&str, &str)] = &[
        ("MCP_MEMORY_BASE_DIR", "the image sets it to /app/data, the volume"),
        ("MCP_MEMORY_ASSETS_DIR", "the image sets it: the model and ONNX Runtime are in the image"),
        ("MCP_MEMORY_MODEL_DIR", "in the image, under MCP_MEMORY_ASSETS_DIR"),
        ("ORT_DYLIB_PATH", "in the image, under MCP_MEMORY_ASSETS_DIR"),
        ("XDG_CACHE_HOME", "only locates the default assets directory, which the image sets"),
        ("MCP_MEMORY_SQLITEVEC_PATH", "the original's older name for MCP_MEMORY_SQLITE_PATH, which is listed"),
        ("MMS_BACKUP_CHECK_SECONDS", "development and tests"),
        ("MMS_CLOUDFLARE_TIMEOUT_SECONDS", "development and tests"),
        ("MMS_DASHBOARD_DIR", "development: the dashboard is built into the binary"),
    ];

    #[test]
    fn env_template_lists_every_configured_variable_but_the_images_own() {
        let listed: BTreeSet<&str> =
            include_str!("../../docker/env.template").lines().filter_map(variable_of).collect();
        let left_out: BTreeSet<&str> = NOT_IN_ENV_TEMPLATE.iter().map(|(name, _)| *name).collect();
        let configured = crate::cli::envcheck::configured();
        let missing: Vec<_> = configured
            .iter()
            .filter(|name| !listed.contains(name.as_str()) && !left_out.contains(name.as_str()))
            .collect();
        assert!(missing.is_empty(), "docker/env.template lacks variables Config reads: {missing:?}");
        let stale: Vec<_> =
            left_out.iter().filter(|name| listed.contains(**name) || !configured.contains(**name)).collect();
        assert!(stale.is_empty(), "NOT_IN_ENV_TEMPLATE names variables it should not: {stale:?}");
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
        let configured = crate::cli::envcheck::configured();
        let (listed, _) = env_example_variables();
        assert_eq!(listed, configured, ".env.example must list exactly the variables Config reads");
    }

    #[test]
    fn env_example_lists_exactly_the_variables_the_docker_files_read() {
        let configured = crate::cli::envcheck::configured();
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
        let Cli { config, command } = Cli::parse_from(["mcp-memory-service", "serve"]);
        let Command::Serve(args) = command else { panic!("serve parses as Serve: {command:?}") };
        assert!(config.backup.enabled, "backups are on by default");
        assert!(!args.oauth.oauth_enabled && !args.mdns_enabled, "OAuth and mDNS are off by default");
        let Cli { config, command } = Cli::parse_from(["mcp-memory-service", "serve", "--oauth-enabled"]);
        let Command::Serve(args) = command else { panic!("serve parses as Serve: {command:?}") };
        assert!(config.backup.enabled && args.oauth.oauth_enabled);
    }

    #[test]
    fn secrets_compare_exactly_and_never_print() {
        let key: Secret = "s3cret-key".parse().expect("any string is a secret");
        assert!(key.matches("s3cret-key"));
        for wrong in ["", "s3cret-ke", "s3cret-key ", "S3cret-key", "s3cret-key-longer"] {
            assert!(!key.matches(wrong), "{wrong:?} must not match");
        }
        assert!(!format!("{key:?}").contains("s3cret"));
        let config = Cli::parse_from(["mcp-memory-service", "serve", "--api-key", "s3cret-key"]);
        assert!(!format!("{config:?}").contains("s3cret"), "Config's Debug leaks the key");
    }

    #[test]
    fn paths_default_inside_the_base_dir() {
        let paths = Cli::parse_from(["mcp-memory-service", "--base-dir", "/data", "stats"]).config.paths();
        assert_eq!(paths.log, PathBuf::from("/data/events.redb"));
        assert_eq!(paths.sqlite, PathBuf::from("/data/sqlite_vec.db"));
        assert_eq!(paths.backups, PathBuf::from("/data/backups"));
    }
}
