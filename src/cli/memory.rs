//! The memory commands: each opens the store, runs one service call, writes a human-readable answer and
//! closes the store. A command that wrote, with the cloudflare backend, ends only once Cloudflare has it.

use super::args::{AsOfArg, DeleteArgs, FilterArgs, ListArgs, MemoryCommand, SearchArgs, StoreArgs, UpdateArgs};
use crate::backup::Backups;
use crate::config::{Backend, Config};
use crate::service::time_expr::TimeRange;
use crate::service::{
    AsOf, DeleteRequest, ListRequest, Memory, Point, SearchRequest, Service, StoreOutcome, StoreRequest, UpdateRequest,
    count,
};
use crate::store::{self, Settings, Store};
use crate::sync::Sync;
use anyhow::{Context, bail};
use mms_log::{Actor, Interface};
use std::io::Write;
use std::sync::Arc;

/// Runs one memory command against the store of `config`.
pub(super) async fn run(config: &Config, command: MemoryCommand, out: &mut dyn Write) -> anyhow::Result<()> {
    let settings = Settings::of(config)?;
    let store = store::open(&settings, false).await?;
    let redaction = matches!(command, MemoryCommand::Redact { .. })
        || matches!(&command, MemoryCommand::Documents(args) if args.redact.is_some());
    let before = store.service.log().last_seq();
    let mut result = apply(&store, config, command, out).await;
    if result.is_ok() && store.service.log().last_seq() > before {
        result = acknowledge_in_cloudflare(&store).await;
    }
    tokio::task::block_in_place(|| store.close());
    if redaction && result.is_ok() {
        // Opening the log again rewrites its file, so the erased bytes leave its free pages now.
        tokio::task::block_in_place(|| mms_log::Log::open(&settings.paths.log))?;
    }
    result
}

/// The one place a memory command is dispatched.
async fn apply(store: &Store, config: &Config, command: MemoryCommand, out: &mut dyn Write) -> anyhow::Result<()> {
    let service = &store.service;
    match command {
        MemoryCommand::Store(args) => store_one(service, &args, out).await,
        MemoryCommand::Search(args) => search(service, &args, false, out).await,
        MemoryCommand::Recall(args) => search(service, &args, true, out).await,
        MemoryCommand::List(args) => list(service, &args, out).await,
        MemoryCommand::Get { hash, as_of } => get(service, &hash, &as_of, out).await,
        MemoryCommand::Update(args) => update(service, &args, out).await,
        MemoryCommand::Undelete { hash } => {
            let memory = service.undelete(&hash, actor()).await?;
            writeln!(out, "undeleted {}", memory.content_hash)?;
            Ok(())
        }
        MemoryCommand::Archive { hash, reason } => {
            let archived = service.archive(&hash, reason, actor()).await?;
            writeln!(out, "archived {} at {}", archived.memory.content_hash, archived.archived_at_iso)?;
            Ok(())
        }
        MemoryCommand::Unarchive { hash } => {
            let memory = service.unarchive(&hash, actor()).await?;
            writeln!(out, "unarchived {}", memory.content_hash)?;
            Ok(())
        }
        MemoryCommand::Consolidate { horizon, dry_run, recommend, json, now } => {
            let run = super::graph::Consolidation { horizon, dry_run, recommend, json, now };
            super::graph::consolidate(store, run, out).await
        }
        MemoryCommand::Delete(args) => delete(service, &args, out).await,
        MemoryCommand::Ingest(args) => super::ingest::ingest(service, &args, out).await,
        MemoryCommand::Documents(args) => {
            let backups = Arc::new(Backups::new(service.log().clone(), config.backup.clone(), store.settings.clone()));
            super::ingest::documents(service, &backups, &args, out).await
        }
        MemoryCommand::Restore(args) => super::audit::restore(store, &args, out).await,
        MemoryCommand::Redact { hash, reason, yes } => {
            let backups = Arc::new(Backups::new(service.log().clone(), config.backup.clone(), store.settings.clone()));
            super::audit::redact(service, &backups, &hash, reason, yes, out).await
        }
        MemoryCommand::Log { from } => super::audit::log(service, from, out).await,
        MemoryCommand::History { hash } => super::audit::history(service, &hash, out).await,
        MemoryCommand::Relate(args) => super::graph::relate(service, args, out).await,
        MemoryCommand::Graph(args) => super::graph::walk(service, args.walk, out).await,
        MemoryCommand::Stats => {
            writeln!(out, "{}", serde_json::to_string_pretty(&service.stats().await?)?)?;
            Ok(())
        }
        MemoryCommand::Import { file } => super::portability::import(service, &file, out).await,
    }
}

/// With the cloudflare backend a change is done only once Cloudflare has it: a command that wrote pushes
/// before it ends (with hybrid, the next server or `sync push` does).
async fn acknowledge_in_cloudflare(store: &Store) -> anyhow::Result<()> {
    let replication = &store.settings.replication;
    if replication.backend != Backend::Cloudflare {
        return Ok(());
    }
    let Some(sync) = Sync::open(&store.service, replication, &store.paths().base_dir)? else {
        return Ok(());
    };
    sync.sync_now(true, false, |_, _, _| {}).await.map(|_| ()).with_context(
        || "the change is saved locally but Cloudflare has not confirmed it; `mcp-memory-service sync push` retries",
    )
}

pub(super) fn actor() -> Actor {
    Actor::new(Interface::Cli, None)
}

pub(super) fn preview(content: &str) -> String {
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
fn created(service: &Service, filter: &FilterArgs) -> anyhow::Result<Option<TimeRange>> {
    Ok(filter.time.as_deref().map(|phrase| service.time_range(phrase)).transpose()?)
}

fn write_memory(out: &mut dyn Write, memory: &Memory) -> std::io::Result<()> {
    writeln!(out, "{}  {}", memory.content_hash, memory.created_at_iso)?;
    if !memory.tags.is_empty() || memory.memory_type.is_some() {
        writeln!(out, "  tags: {}  type: {}", memory.tags.join(", "), memory.memory_type.as_deref().unwrap_or("-"))?;
    }
    writeln!(out, "  {}", preview(&memory.content))
}

/// `get HASH [--as-of SEQ|TIME]`: one memory as JSON.
async fn get(service: &Service, hash: &str, as_of: &AsOfArg, out: &mut dyn Write) -> anyhow::Result<()> {
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

/// `store [CONTENT|-]`: a duplicate is answered on stdout, like a store, and exits with
/// [`EXIT_DUPLICATE`](super::EXIT_DUPLICATE).
async fn store_one(service: &Service, args: &StoreArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let content = match args.content.as_deref() {
        Some("-") | None => {
            let text =
                std::io::read_to_string(std::io::stdin()).context("cannot read the content from standard input")?;
            // `echo`, a here-string or a file ends with a line break that is not part of the memory.
            text.strip_suffix('\n').map(|t| t.strip_suffix('\r').unwrap_or(t)).unwrap_or(&text).to_string()
        }
        Some(content) => content.to_string(),
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
        StoreOutcome::Duplicate { content_hash } => {
            writeln!(out, "Duplicate content detected: {content_hash}")?;
            return Err(super::Exit(super::EXIT_DUPLICATE).into());
        }
        outcome @ StoreOutcome::SemanticDuplicate { .. } => {
            writeln!(out, "{}", outcome.stored().err().map(|(_, message)| message).unwrap_or_default())?;
            return Err(super::Exit(super::EXIT_DUPLICATE).into());
        }
    }
    Ok(())
}

/// `search` (the query literally) and `recall` (time phrases in the query filter by time).
async fn search(service: &Service, args: &SearchArgs, extract_time: bool, out: &mut dyn Write) -> anyhow::Result<()> {
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
        relevance_weight: args.quality_boost,
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
        write!(out, "{}  ", score_text(hit.similarity_score))?;
        if let Some(relevance) = hit.relevance_score {
            write!(out, "relevance {}  ", score_text(relevance))?;
        }
        write_memory(out, &hit.memory)?;
    }
    Ok(())
}

/// A hit's score: three decimals, or, for the tiny ones (BM25 on a small store), two significant
/// digits in scientific notation, so that a match never reads as 0.000.
fn score_text(score: f64) -> String {
    if score != 0.0 && score.abs() < 0.01 { format!("{score:.2e}") } else { format!("{score:.3}") }
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

async fn list(service: &Service, args: &ListArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    if args.archived {
        if !args.filter.tags.is_empty()
            || args.filter.time.is_some()
            || args.memory_type.is_some()
            || args.as_of.as_of.is_some()
        {
            anyhow::bail!(
                "--archived lists every archived memory; --tags, --time, --type and --as-of do not apply to it"
            );
        }
        let page = service.archived(args.page, args.page_size).await?;
        let total = count(page.total, "archived memory", "archived memories");
        writeln!(out, "page {} ({} per page) of {total}", page.page, page.page_size)?;
        for archived in &page.memories {
            write_memory(out, &archived.memory)?;
            let reason = archived.archive_reason.as_deref().unwrap_or("no reason given");
            writeln!(out, "  archived {} by {}: {reason}", archived.archived_at_iso, archived.archived_by)?;
        }
        return Ok(());
    }
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
    writeln!(out, "page {} ({} per page) of {}", page.page, page.page_size, count(page.total, "memory", "memories"))?;
    if let Some(as_of) = as_of {
        write_as_of(out, &as_of)?;
    }
    for memory in &page.memories {
        write_memory(out, memory)?;
    }
    Ok(())
}

async fn update(service: &Service, args: &UpdateArgs, out: &mut dyn Write) -> anyhow::Result<()> {
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

async fn delete(service: &Service, args: &DeleteArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    if let Some(hash) = &args.hash {
        if !args.filter.tags.is_empty()
            || args.filter.time.is_some()
            || args.before.is_some()
            || args.memory_type.is_some()
        {
            bail!("give either a hash or filters (--tags, --type, --time, --before), not both");
        }
        if args.dry_run {
            let memory = service.get(hash).await?;
            writeln!(out, "would delete 1 memory:")?;
            write_memory(out, &memory)?;
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
                memory_type: args.memory_type.clone(),
                created,
                dry_run: args.dry_run,
            },
            actor(),
        )
        .await?;
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&outcome)?)?;
    } else if outcome.dry_run {
        writeln!(out, "would delete {}{}", count(outcome.matched as u64, "memory", "memories"), tail(outcome.matched))?;
        for hash in &outcome.content_hashes {
            match service.get(hash).await {
                Ok(memory) => write_memory(out, &memory)?,
                Err(_) => writeln!(out, "{hash}")?,
            }
        }
    } else {
        let noun = if outcome.matched == 1 { "memory" } else { "memories" };
        writeln!(out, "deleted {} of {} matching {noun}", outcome.deleted, outcome.matched)?;
    }
    Ok(())
}

/// The end of a count's line: a colon when memories follow it.
fn tail(n: usize) -> &'static str {
    if n > 0 { ":" } else { "" }
}

#[cfg(test)]
mod tests {
    use super::score_text;

    #[test]
    fn a_tiny_score_is_not_printed_as_zero() {
        assert_eq!(score_text(0.642_1), "0.642");
        assert_eq!(score_text(0.000_012_34), "1.23e-5");
        assert_eq!(score_text(0.0), "0.000");
        assert_eq!("1.23e-5".parse::<f64>().ok(), Some(0.000_012_3), "scripts read it back as a number");
    }
}
