//! `import FILE` and `export [FILE]`: the formats of `crate::portability` on the command line.

use crate::config::Config;
use crate::portability::{self, ExportFormat};
use crate::service::Service;
use crate::store::{self, Settings};
use anyhow::Context;
use std::io::Write;
use std::path::Path;

/// `import FILE`: the original's `sqlite_vec.db` (recognised by SQLite's header), or JSON (lines, or the
/// original's exporter document) from the file or standard input (`-`).
pub(super) async fn import(service: &Service, file: &Path, out: &mut dyn Write) -> anyhow::Result<()> {
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
pub(super) async fn export(
    config: &Config,
    file: &Path,
    format: ExportFormat,
    out: &mut dyn Write,
) -> anyhow::Result<usize> {
    let store = store::open(&Settings::of(config)?, false).await?;
    let mut writer: Box<dyn Write + '_> = if file.as_os_str() == "-" {
        Box::new(out)
    } else {
        Box::new(std::io::BufWriter::new(
            std::fs::File::create(file).with_context(|| format!("cannot create {}", file.display()))?,
        ))
    };
    let context = portability::ExportContext::here(&store.paths().sqlite);
    let mut export = portability::Export::start(&store.service, format, context).await?;
    while let Some(chunk) = export.next_chunk(&store.service).await? {
        writer.write_all(&chunk)?;
    }
    writer.flush()?;
    drop(writer);
    tokio::task::block_in_place(|| store.close());
    Ok(export.written())
}
