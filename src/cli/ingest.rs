//! `ingest PATH...` and `documents`: document ingestion on the command line, with a progress bar on a
//! terminal and plain lines otherwise.

use super::args::{DocumentsArgs, IngestArgs};
use crate::backup::Backups;
use crate::ingest::files::{self, Walk};
use crate::service::{IngestOutcome, IngestRequest, Service, count};
use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use mms_log::{Actor, Interface};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;

fn actor() -> Actor {
    Actor::new(Interface::Cli, std::env::var("USER").ok())
}

/// The files the paths name: files as given, directories' supported files (sorted, recursive on request).
fn files_of(args: &IngestArgs) -> anyhow::Result<Vec<PathBuf>> {
    let walk = Walk { recursive: args.recursive, extensions: args.extensions.clone(), max_files: usize::MAX };
    let mut out = Vec::new();
    for path in &args.paths {
        if path.is_dir() {
            out.extend(files::list(path, &walk)?);
        } else if path.is_file() {
            out.push(path.clone());
        } else {
            anyhow::bail!("{}: no such file or directory", path.display());
        }
    }
    Ok(out)
}

/// A bar per file on a terminal; on anything else, a line every few seconds.
fn progress_bar(name: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0);
    let style = ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} chunks ({eta})")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    bar.set_style(style);
    bar.set_message(name.to_string());
    bar
}

/// `ingest`: each file one upload; a file that fails is reported and the others go on. Fails (exit 1) when
/// any file failed.
pub(super) async fn ingest(service: &Service, args: &IngestArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let files = files_of(args)?;
    if files.is_empty() {
        anyhow::bail!("no supported files (txt, md, json, csv, pdf, docx, html) under the paths given");
    }
    let (default_size, default_overlap) = service.default_chunking();
    let mut failed = 0;
    for path in &files {
        let name = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
        let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let request = IngestRequest {
            file_name: name.clone(),
            bytes,
            tags: args.tags.clone(),
            chunk_size: args.chunk_size.map_or(default_size, |n| n as usize),
            chunk_overlap: args.chunk_overlap.map_or(default_overlap, |n| n as usize),
            memory_type: Some(args.memory_type.clone()),
            force: args.force,
            dry_run: args.dry_run,
        };
        let bar = progress_bar(&name);
        let plain = bar.is_hidden();
        let last_line = std::cell::Cell::new(std::time::Instant::now());
        let progress = |done: usize, total: usize| {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
            if plain && (done == total || last_line.get().elapsed().as_secs() >= 2) {
                eprintln!("ingest: {name}: {done}/{total} chunks");
                last_line.set(std::time::Instant::now());
            }
        };
        let outcome = service.ingest(request, actor(), progress).await;
        bar.finish_and_clear();
        match outcome {
            Ok(IngestOutcome::Ingested(upload)) => writeln!(
                out,
                "{}: ingested as upload {}: {} stored, {} already stored{}",
                path.display(),
                upload.upload_id,
                count(upload.chunks_stored as u64, "chunk", "chunks"),
                upload.duplicates,
                if upload.pages > 0 { format!(", {}", count(upload.pages, "page", "pages")) } else { String::new() }
            )?,
            Ok(IngestOutcome::AlreadyIngested(upload)) => writeln!(
                out,
                "{}: skipped, the same file was ingested as upload {} ({}); --force ingests it again",
                path.display(),
                upload.upload_id,
                upload.filename
            )?,
            Ok(IngestOutcome::Planned { file_type, pages, chunks, duplicates, split }) => writeln!(
                out,
                "{}: would store {} ({file_type}{}; {duplicates} already stored; {split} split to fit the model)",
                path.display(),
                count(chunks as u64, "chunk", "chunks"),
                if pages > 0 { format!(", {}", count(pages, "page", "pages")) } else { String::new() }
            )?,
            Err(error) => {
                failed += 1;
                eprintln!("{}: {}", path.display(), error.report());
            }
        }
    }
    if failed > 0 {
        anyhow::bail!("{} of {} failed", count(failed as u64, "file", "files"), files.len());
    }
    Ok(())
}

/// `documents`: the uploads, newest first, or one removed or redacted.
pub(super) async fn documents(
    service: &Service,
    backups: &Arc<Backups>,
    args: &DocumentsArgs,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    if let Some(upload_id) = &args.redact {
        if !args.yes {
            anyhow::bail!("redacting upload {upload_id} erases its memories for good and cannot be undone: add --yes");
        }
        let (redaction, scrubbed) = backups.redact_upload(service, upload_id, args.reason.clone(), actor()).await?;
        writeln!(
            out,
            "redacted upload {}: {} erased from the log",
            redaction.upload_id,
            count(redaction.memories_redacted as u64, "memory", "memories")
        )?;
        let scrubbed =
            scrubbed.map_err(|e| anyhow::anyhow!("erasing it from the backups failed: {}", crate::error::Chain(&e)))?;
        writeln!(out, "erased from {}", count(scrubbed.len() as u64, "backup", "backups"))?;
        return Ok(());
    }
    if let Some(upload_id) = &args.remove {
        let upload = service.remove_upload(upload_id, args.keep_memories, None, actor()).await?;
        writeln!(
            out,
            "removed upload {} ({}): {} deleted",
            upload.upload_id,
            upload.filename,
            count(upload.chunks_deleted.unwrap_or(0), "memory", "memories")
        )?;
        return Ok(());
    }
    for upload in service.uploads(usize::MAX).await? {
        writeln!(
            out,
            "{}  {}  {:<9}  {:>5} chunks  {}  {}",
            upload.upload_id, upload.created_at, upload.status, upload.chunks_stored, upload.filename, upload.actor
        )?;
    }
    Ok(())
}
