//! The command-line subcommands other than `serve`: each opens the store, runs one service call and
//! writes a human-readable answer to `out` (JSON for `export`). Progress goes to stderr.

use crate::app::{self, Store};
use crate::config::{
    AsOfArg, BackupAction, Command, Config, DeleteArgs, FilterArgs, ListArgs, SearchArgs, StoreArgs, SyncAction,
    UpdateArgs,
};
use crate::portability::{self, ExportFormat};
use crate::service::time_expr::TimeRange;
use crate::service::{
    AsOf, DeleteRequest, ListRequest, Memory, Point, SearchRequest, StoreOutcome, StoreRequest, UpdateRequest,
};
use anyhow::{Context, bail};
use mms_log::{Actor, Interface};
use std::io::Write;

fn actor() -> Actor {
    Actor::new(Interface::Cli, None)
}

fn preview(content: &str) -> String {
    let line = content.lines().next().unwrap_or("");
    let short: String = line.chars().take(100).collect();
    if short.len() < content.len() { format!("{short}…") } else { short }
}

fn json_object(text: &str, flag: &str) -> anyhow::Result<serde_json::Map<String, serde_json::Value>> {
    match serde_json::from_str(text) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        _ => bail!("{flag} must be a JSON object, like '{{\"project\": \"billing\"}}'"),
    }
}

/// The creation-time range of a filter's `--time` phrase, if any.
fn created(service: &crate::service::Service, filter: &FilterArgs) -> anyhow::Result<Option<TimeRange>> {
    Ok(filter.time.as_deref().map(|phrase| service.time_range(phrase)).transpose()?)
}

fn write_memory(out: &mut dyn Write, memory: &Memory) -> std::io::Result<()> {
    writeln!(out, "{}  {}", memory.content_hash, memory.created_at_iso)?;
    if !memory.tags.is_empty() || memory.memory_type.is_some() {
        writeln!(out, "  tags: {}  type: {}", memory.tags.join(", "), memory.memory_type.as_deref().unwrap_or("-"))?;
    }
    writeln!(out, "  {}", preview(&memory.content))
}

/// Runs one subcommand (not `serve`) against the store of `config`.
pub async fn run(config: &Config, out: &mut dyn Write) -> anyhow::Result<()> {
    if let Command::Rebuild = &config.command {
        let started = std::time::Instant::now();
        let mut last_report = std::time::Instant::now();
        let rebuilt = tokio::task::block_in_place(|| {
            app::rebuild(config, |done, total| {
                if last_report.elapsed().as_millis() >= 500 || done == total {
                    eprintln!("rebuild: applied {done}/{total} events");
                    last_report = std::time::Instant::now();
                }
            })
        })?;
        writeln!(
            out,
            "rebuilt the read models from {} events in {:.1} s (sqlite read model {:.1} s, ANN index {:.1} s, in parallel)",
            rebuilt.events,
            started.elapsed().as_secs_f64(),
            rebuilt.read_model.as_secs_f64(),
            rebuilt.ann.as_secs_f64()
        )?;
        // The rebuild moved an original's database aside: import it now rather than at the next start.
        if app::migration_pending(config) {
            let store = app::open(config, false).await?;
            tokio::task::block_in_place(|| store.close());
        }
        return Ok(());
    }
    if let Command::Backup { action } = &config.command {
        return tokio::task::block_in_place(|| backup(config, action.as_ref().unwrap_or(&BackupAction::Now), out));
    }
    if let Command::Sync { action } = &config.command {
        return sync(config, *action, out).await;
    }
    let store = app::open(config, false).await?;
    let before = store.service.log().last_seq();
    let mut result = dispatch(&store, config, out).await;
    if result.is_ok() && store.service.log().last_seq() > before {
        result = acknowledge_in_cloudflare(&store, config).await;
    }
    tokio::task::block_in_place(|| store.close());
    if let (Command::Redact { .. }, Ok(())) = (&config.command, &result) {
        // Opening the log again rewrites its file, so the erased bytes leave its free pages now.
        tokio::task::block_in_place(|| mms_log::Log::open(&config.paths().log))?;
    }
    result
}

/// `backup`, `backup list`, `backup verify FILE`. Taking a backup opens only the log; while a server or
/// an MCP client holds the store, `POST /api/backup/now` or the `memory_backup` tool takes one instead.
fn backup(config: &Config, action: &BackupAction, out: &mut dyn Write) -> anyhow::Result<()> {
    let paths = config.paths();
    match action {
        BackupAction::Now | BackupAction::Full => {
            let log = mms_log::Log::open(&paths.log).map_err(|error| match error {
                mms_log::OpenError::InUse { .. } => anyhow::anyhow!(
                    "{error}; while it runs, take the backup through it: POST /api/backup/now or the memory_backup tool"
                ),
                other => other.into(),
            })?;
            let kind =
                if let BackupAction::Full = action { crate::backup::Kind::Full } else { crate::backup::Kind::Auto };
            let manifest = crate::backup::create(&log, &paths.backups, kind)?;
            let removed = crate::backup::prune(&paths.backups, config.backup.retention_days, config.backup.max_count);
            writeln!(
                out,
                "{}: {} backup, events {}..{} ({} events, {} memories), {} bytes, sha256 {}",
                paths.backups.join(&manifest.filename).display(),
                manifest.kind,
                manifest.first_seq,
                manifest.last_seq,
                manifest.events,
                manifest.memories,
                manifest.size_bytes,
                manifest.sha256
            )?;
            for name in removed {
                writeln!(out, "removed {name} (retention)")?;
            }
        }
        BackupAction::List => {
            for entry in crate::backup::list(&paths.backups) {
                let (events, memories, kind) =
                    entry.manifest.as_ref().map_or((0, 0, "unknown"), |m| (m.last_seq, m.memories, m.kind.as_str()));
                writeln!(
                    out,
                    "{}  {}  {} bytes  {kind}, up to event {events}, {memories} memories",
                    entry.filename, entry.created_at, entry.size_bytes
                )?;
            }
        }
        BackupAction::Verify { file } => {
            let verified = crate::backup::verify(config, &backup_path(config, file))?;
            writeln!(
                out,
                "{}: checksum ok; replayed {} events up to {} into {} memories, as its manifest says",
                verified.filename, verified.events, verified.last_seq, verified.memories
            )?;
        }
    }
    Ok(())
}

/// With the cloudflare backend a change is done only once Cloudflare has it: a command that wrote pushes
/// before it ends (with hybrid, the next server or `sync push` does).
async fn acknowledge_in_cloudflare(store: &Store, config: &Config) -> anyhow::Result<()> {
    use crate::sync::{Backend, Sync};
    if Backend::of(config) != Backend::Cloudflare {
        return Ok(());
    }
    let Some(sync) = Sync::open(&store.service, config, &store.paths.base_dir)? else {
        return Ok(());
    };
    sync.sync_now(true, false, |_, _, _| {}).await.map(|_| ()).with_context(
        || "the change is saved locally but Cloudflare has not confirmed it; `mcp-memory-service sync push` retries",
    )
}

/// `sync status|pause|resume` read and write the sync state file, so they work beside a running server;
/// `sync push|pull` open the store and run a round with progress on stderr.
async fn sync(config: &Config, action: SyncAction, out: &mut dyn Write) -> anyhow::Result<()> {
    use crate::sync::{Backend, Sync, SyncState, state_path};
    if Backend::of(config) == Backend::SqliteVec {
        bail!("sync needs MCP_MEMORY_STORAGE_BACKEND=hybrid or cloudflare (it is sqlite_vec: local only)");
    }
    let base_dir = config.paths().base_dir;
    std::fs::create_dir_all(&base_dir)?;
    let state = || SyncState::open(&state_path(&base_dir)).map_err(anyhow::Error::msg);
    match action {
        SyncAction::Pause | SyncAction::Resume => {
            let paused = matches!(action, SyncAction::Pause);
            state()?.set_paused(paused).map_err(anyhow::Error::msg)?;
            writeln!(out, "replication {}", if paused { "paused (local writes go on)" } else { "resumed" })?;
        }
        SyncAction::Status => {
            let state = state()?;
            let pushed = state.pushed().map_err(anyhow::Error::msg)?;
            writeln!(out, "device: {}", crate::sync::device_id(&base_dir).map_err(anyhow::Error::msg)?)?;
            writeln!(out, "pushed: every event up to {pushed}")?;
            writeln!(out, "paused: {}", state.paused().map_err(anyhow::Error::msg)?)?;
            writeln!(
                out,
                "last sync: {}",
                state.last_sync().map_err(anyhow::Error::msg)?.as_deref().unwrap_or("never")
            )?;
            for (origin, seq) in state.pulled().map_err(anyhow::Error::msg)? {
                writeln!(out, "pulled from {origin}: up to its event {seq}")?;
            }
            let failures = state.failures().map_err(anyhow::Error::msg)?;
            writeln!(out, "failed events: {} (retried by `sync push`)", failures.len())?;
            for failure in failures {
                writeln!(out, "  event {} (memory {}): {}", failure.seq, failure.content_hash, failure.message)?;
            }
        }
        SyncAction::Push | SyncAction::Pull => {
            let store = app::open(config, false).await?;
            let outcome = async {
                let sync = Sync::open(&store.service, config, &base_dir)?
                    .ok_or_else(|| anyhow::anyhow!("the backend does not replicate"))?;
                let push = matches!(action, SyncAction::Push);
                let mut last_report = std::time::Instant::now();
                let handled = sync
                    .sync_now(push, !push, |phase, done, total| {
                        if last_report.elapsed().as_millis() >= 500 {
                            match phase {
                                "push" => eprintln!("push: up to event {done} of {total}"),
                                _ => eprintln!("pull: {done} events read, {total} applied"),
                            }
                            last_report = std::time::Instant::now();
                        }
                    })
                    .await?;
                let status = sync.status();
                writeln!(
                    out,
                    "{}: {handled} events; pushed up to event {} of {}; {} failed",
                    if push { "pushed" } else { "pulled" },
                    status["pushed_seq"],
                    status["log_seq"],
                    status["operations_failed"]
                )?;
                anyhow::Ok(())
            }
            .await;
            tokio::task::block_in_place(|| store.close());
            outcome?;
        }
    }
    Ok(())
}

/// A backup named on the command line: a file name in the backup directory, or a path.
fn backup_path(config: &Config, file: &std::path::Path) -> std::path::PathBuf {
    if file.components().count() == 1 && !file.exists() {
        config.paths().backups.join(file)
    } else {
        file.to_path_buf()
    }
}

async fn dispatch(store: &Store, config: &Config, out: &mut dyn Write) -> anyhow::Result<()> {
    let service = &store.service;
    match &config.command {
        Command::Serve(_)
        | Command::Mcp
        | Command::Rebuild
        | Command::Backup { .. }
        | Command::Healthcheck(_)
        | Command::Sync { .. } => {
            unreachable!("handled by the caller")
        }
        Command::Store(args) => store_one(service, args, out).await,
        Command::Search(args) => search(service, args, false, out).await,
        Command::Recall(args) => search(service, args, true, out).await,
        Command::List(args) => list(service, args, out).await,
        Command::Get { hash, as_of } => {
            let memory = match as_of_target(as_of)? {
                Some(target) => {
                    let (memory, as_of) = service.get_as_of(hash, target).await?;
                    let mut value = serde_json::to_value(&memory)?;
                    value["as_of"] = serde_json::to_value(&as_of)?;
                    value
                }
                None => serde_json::to_value(service.get(hash).await?)?,
            };
            writeln!(out, "{}", serde_json::to_string_pretty(&memory)?)?;
            Ok(())
        }
        Command::Delete(args) => delete(service, args, out).await,
        Command::Update(args) => update(service, args, out).await,
        Command::Restore(args) => {
            let (target, _copy) = match &args.from_backup {
                Some(file) => {
                    let path = backup_path(config, file);
                    let (target, copy) = crate::backup::restore_target(&path, args.to_seq, args.to_time.as_deref())?;
                    (target, Some(copy))
                }
                None => (Point::parse(args.to_seq, args.to_time.as_deref())?.into(), None),
            };
            let last = std::sync::Mutex::new(std::time::Instant::now());
            let progress: crate::service::Progress = std::sync::Arc::new(move |phase: &str, done: u64, total: u64| {
                let mut last = last.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                if phase == "appending" || last.elapsed().as_millis() >= 500 || done == total {
                    match phase {
                        "appending" => eprintln!("restore: appending {total} events"),
                        _ => eprintln!("restore: {phase}: {done}/{total} events"),
                    }
                    *last = std::time::Instant::now();
                }
            });
            let plan = service.restore_reporting(target, !args.apply, actor(), progress).await?;
            writeln!(out, "{}", plan.summary())?;
            for (mark, hashes) in [("+", &plan.come_back), ("-", &plan.disappear), ("~", &plan.change)] {
                for hash in hashes {
                    writeln!(out, "{mark} {hash}")?;
                }
            }
            if plan.dry_run && plan.come_back.len() + plan.disappear.len() + plan.change.len() > 0 {
                writeln!(out, "(a preview: add --apply to restore)")?;
            }
            Ok(())
        }
        Command::Undelete { hash } => {
            let memory = service.undelete(hash, actor()).await?;
            writeln!(out, "undeleted {}", memory.content_hash)?;
            Ok(())
        }
        Command::Redact { hash, reason } => {
            let redaction = service.redact(hash, reason.clone(), actor()).await?;
            writeln!(
                out,
                "redacted {} (event {}): {} earlier events erased{}",
                redaction.content_hash,
                redaction.seq,
                redaction.events_erased,
                if redaction.was_live { "" } else { "; it was already deleted" }
            )?;
            let log = service.log().clone();
            let dir = config.paths().backups;
            for scrubbed in tokio::task::spawn_blocking(move || crate::backup::erase_redactions(&log, &dir)).await?? {
                writeln!(out, "erased from backup {} ({} events)", scrubbed.filename, scrubbed.events_erased)?;
            }
            Ok(())
        }
        Command::Log { from } => {
            let mut since = from.saturating_sub(1);
            loop {
                let (page, _) = service.log_page(since, crate::service::MAX_LOG_PAGE).await?;
                let Some(last) = page.last() else { break };
                since = last.event.seq;
                for entry in &page {
                    writeln!(out, "{}", serde_json::to_string(entry)?)?;
                }
            }
            Ok(())
        }
        Command::History { hash } => {
            for entry in service.history(hash).await? {
                let event = &entry.event;
                let who = if event.actor.is_empty() {
                    event.interface.clone()
                } else {
                    format!("{} ({})", event.interface, event.actor)
                };
                let erased = if event.erased { " (erased by a redaction)" } else { "" };
                writeln!(out, "#{} v{} {} {}{erased} by {}", event.seq, event.version, event.at, event.kind, who)?;
                if let (Some(before), Some(after)) = (&entry.before, &entry.after) {
                    if before.tags != after.tags {
                        writeln!(out, "  tags: [{}] -> [{}]", before.tags.join(", "), after.tags.join(", "))?;
                    }
                    if before.memory_type != after.memory_type {
                        writeln!(out, "  type: {:?} -> {:?}", before.memory_type, after.memory_type)?;
                    }
                    if before.metadata != after.metadata {
                        writeln!(out, "  metadata: {} -> {}", before.metadata, after.metadata)?;
                    }
                } else if let Some(after) = &entry.after {
                    writeln!(out, "  {}", preview(&after.content))?;
                }
            }
            Ok(())
        }
        Command::Stats => {
            writeln!(out, "{}", serde_json::to_string_pretty(&service.stats().await?)?)?;
            Ok(())
        }
        Command::Import { file } => import(service, file, out).await,
        Command::Export { .. } | Command::Keygen => unreachable!("dispatched in main: they open no store"),
    }
}

async fn store_one(service: &crate::service::Service, args: &StoreArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let content = match &args.content {
        Some(content) => content.clone(),
        None => std::io::read_to_string(std::io::stdin()).context("cannot read the content from standard input")?,
    };
    let metadata = args.metadata.as_deref().map(|m| json_object(m, "--metadata")).transpose()?.unwrap_or_default();
    let request = StoreRequest {
        content,
        tags: args.tags.clone(),
        memory_type: args.memory_type.clone(),
        metadata,
        ..StoreRequest::default()
    };
    match service.store(request, actor()).await? {
        StoreOutcome::Stored(memory) => writeln!(out, "stored {}", memory.content_hash)?,
        StoreOutcome::Duplicate { content_hash } => writeln!(out, "Duplicate content detected: {content_hash}")?,
    }
    Ok(())
}

/// `search` (the query literally) and `recall` (time phrases in the query filter by time).
async fn search(
    service: &crate::service::Service,
    args: &SearchArgs,
    extract_time: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let created = created(service, &args.filter)?;
    let request = SearchRequest {
        query: args.query.clone(),
        mode: args.mode,
        limit: args.limit,
        min_similarity: args.min_similarity.map(f64::from),
        tags: args.filter.tags.clone(),
        match_all: args.filter.all_tags,
        memory_type: None,
        created,
        extract_time,
    };
    let hits = match as_of_target(&args.as_of)? {
        Some(target) => {
            let (hits, as_of) = service.search_as_of(request, target).await?;
            write_as_of(out, &as_of)?;
            hits
        }
        None => service.search(request).await?,
    };
    if hits.is_empty() {
        writeln!(out, "no memories found")?;
    }
    for hit in hits {
        write!(out, "{:.3}  ", hit.similarity_score)?;
        write_memory(out, &hit.memory)?;
    }
    Ok(())
}

/// The `--as-of` target, when one is given.
fn as_of_target(arg: &AsOfArg) -> anyhow::Result<Option<Point>> {
    Ok(Point::parse_as_of(arg.as_of.as_deref())?)
}

/// The first line of an answer as of an earlier point.
fn write_as_of(out: &mut dyn Write, as_of: &AsOf) -> std::io::Result<()> {
    match &as_of.at {
        Some(at) => writeln!(out, "as of event {} ({at})", as_of.seq),
        None => writeln!(out, "as of event 0 (before the first event: an empty store)"),
    }
}

async fn list(service: &crate::service::Service, args: &ListArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let created = created(service, &args.filter)?;
    let request = ListRequest {
        page: args.page,
        page_size: args.page_size,
        tags: args.filter.tags.clone(),
        match_all: args.filter.all_tags,
        memory_type: args.memory_type.clone(),
        created,
    };
    let (page, as_of) = match as_of_target(&args.as_of)? {
        Some(target) => service.list_as_of(request, target).await.map(|(page, as_of)| (page, Some(as_of)))?,
        None => (service.list(request).await?, None),
    };
    writeln!(out, "page {} ({} per page) of {} memories", page.page, page.page_size, page.total)?;
    if let Some(as_of) = as_of {
        write_as_of(out, &as_of)?;
    }
    for memory in &page.memories {
        write_memory(out, memory)?;
    }
    Ok(())
}

async fn update(service: &crate::service::Service, args: &UpdateArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let request = UpdateRequest {
        tags: args.tags.clone(),
        memory_type: args.memory_type.clone().map(|t| Some(t).filter(|t| !t.trim().is_empty())),
        metadata: args.metadata.as_deref().map(|m| json_object(m, "--metadata")).transpose()?,
        expected_version: args.expect_version,
    };
    let memory = service.update(&args.hash, request, actor()).await?;
    writeln!(out, "updated {}", memory.content_hash)?;
    write_memory(out, &memory)?;
    Ok(())
}

async fn delete(service: &crate::service::Service, args: &DeleteArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    if let Some(hash) = &args.hash {
        if !args.filter.tags.is_empty() || args.filter.time.is_some() || args.before.is_some() {
            bail!("give either a hash or filters (--tags, --time, --before), not both");
        }
        if args.dry_run {
            let memory = service.get(hash).await?;
            writeln!(out, "would delete 1 memory: {}", memory.content_hash)?;
        } else {
            service.delete(hash, args.expect_version, actor()).await?;
            writeln!(out, "deleted {hash}")?;
        }
        return Ok(());
    }
    let created = created(service, &args.filter)?;
    let before = args.before.as_deref().map(|before| service.time_range(before)).transpose()?;
    let created = TimeRange::narrowed(created, None, before.map(|until| until.start))?;
    let outcome = service
        .delete_where(
            DeleteRequest {
                tags: args.filter.tags.clone(),
                match_all: args.filter.all_tags,
                memory_type: None,
                created,
                dry_run: args.dry_run,
            },
            actor(),
        )
        .await?;
    if outcome.dry_run {
        writeln!(out, "would delete {} memories", outcome.matched)?;
    } else {
        writeln!(out, "deleted {} of {} matching memories", outcome.deleted, outcome.matched)?;
    }
    Ok(())
}

/// `import FILE`: the original's `sqlite_vec.db` (recognised by SQLite's header), or JSON (lines, or the
/// original's exporter document) from the file or standard input (`-`).
async fn import(service: &crate::service::Service, file: &std::path::Path, out: &mut dyn Write) -> anyhow::Result<()> {
    let progress = portability::progress_on_stderr();
    let report = if file.as_os_str() != "-" && mms_projections::is_sqlite_file(file) {
        portability::import_original_database(service, file, progress).await?
    } else {
        let bytes = if file.as_os_str() == "-" {
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes)?;
            bytes
        } else {
            std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?
        };
        let text = String::from_utf8(bytes).map_err(|_| {
            anyhow::anyhow!(
                "{} is neither JSON (JSON lines, or the original service's export document) nor an SQLite \
                 database of the original service",
                file.display()
            )
        })?;
        let requests = portability::parse_json(&text)?;
        portability::import_requests(service, requests, progress).await?
    };
    writeln!(out, "{}", report.summary())?;
    Ok(())
}

/// Writes every memory, newest first: JSON lines, or the original's exporter document.
pub async fn export(config: &Config, file: &std::path::Path, format: ExportFormat) -> anyhow::Result<usize> {
    let store = app::open(config, false).await?;
    let mut writer: Box<dyn Write> = if file.as_os_str() == "-" {
        Box::new(std::io::stdout().lock())
    } else {
        Box::new(std::io::BufWriter::new(
            std::fs::File::create(file).with_context(|| format!("cannot create {}", file.display()))?,
        ))
    };
    let context = portability::ExportContext::here(&store.paths.sqlite);
    let mut export = portability::Export::start(&store.service, format, context).await?;
    while let Some(chunk) = export.next_chunk(&store.service).await? {
        writer.write_all(&chunk)?;
    }
    writer.flush()?;
    drop(writer);
    tokio::task::block_in_place(|| store.close());
    Ok(export.written())
}

/// `keygen`: a new RSA pair for OAuth and a random API key, as `.env` lines (the PEM keys multi-line in
/// double quotes, which the `.env` reader accepts).
pub fn keygen(out: &mut dyn Write) -> anyhow::Result<()> {
    let (private, public) = crate::oauth::generate_rsa_pair()?;
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| anyhow::anyhow!("cannot read the system's random source: {e}"))?;
    writeln!(out, "# Made by `mcp-memory-service keygen`: paste into .env and keep it secret.")?;
    writeln!(out, "MCP_API_KEY={}", hex::encode(key))?;
    writeln!(out, "MCP_OAUTH_PRIVATE_KEY=\"{}\"", private.trim_end())?;
    writeln!(out, "MCP_OAUTH_PUBLIC_KEY=\"{}\"", public.trim_end())?;
    Ok(())
}
