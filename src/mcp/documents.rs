//! `memory_ingest` (with the original's `ingest_document` and `ingest_directory` as aliases): files on the
//! server's disk become chunk memories. Over stdio the client is the local user and may name any file it
//! can read; over HTTP (`/mcp`) only files under MCP_DOCUMENT_ROOTS (none by default).

use super::{McpServer, Tags, actor, failure};
use crate::ingest::files::{self, Walk};
use crate::service::{IngestOutcome, IngestRequest};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock};
use rmcp::service::RequestContext;
use rmcp::{RoleServer, tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// Files one directory ingest takes by default.
const DEFAULT_MAX_FILES: usize = 100;

#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct IngestArgs {
    /// A file to ingest (txt, md, json, csv, pdf, docx, html).
    pub file_path: Option<String>,
    /// A directory whose supported files are ingested (instead of file_path).
    pub directory_path: Option<String>,
    /// Tags for every chunk: a list or a comma-separated string.
    #[serde(default)]
    pub tags: Tags,
    /// Characters per chunk (default MCP_DOCUMENT_CHUNK_SIZE, 1000).
    pub chunk_size: Option<usize>,
    /// Characters repeated between neighbouring chunks (default MCP_DOCUMENT_CHUNK_OVERLAP, 200).
    pub chunk_overlap: Option<usize>,
    /// The chunks' memory type (default document).
    pub memory_type: Option<String>,
    /// With directory_path: include subdirectories (default true).
    pub recursive: Option<bool>,
    /// With directory_path: only these extensions, e.g. ["md", "pdf"] (default: every supported type).
    pub file_extensions: Option<Vec<String>>,
    /// With directory_path: at most this many files (default 100).
    pub max_files: Option<usize>,
    /// Ingest a file again even if the same file (by sha256) was ingested before.
    #[serde(default)]
    pub force: bool,
}

/// Whether the request came over HTTP (`/mcp`), where the server's files are confined to MCP_DOCUMENT_ROOTS.
fn remote(context: &RequestContext<RoleServer>) -> bool {
    context.extensions.get::<axum::http::request::Parts>().is_some()
}

/// One file's line in the answer.
fn outcome_line(path: &Path, outcome: &IngestOutcome) -> (Value, bool) {
    let name = path.display().to_string();
    match outcome {
        IngestOutcome::Ingested(upload) => (
            json!({
                "file": name, "status": "ingested", "upload_id": upload.upload_id,
                "chunks_stored": upload.chunks_stored, "duplicates": upload.duplicates, "pages": upload.pages,
            }),
            true,
        ),
        IngestOutcome::AlreadyIngested(upload) => (
            json!({
                "file": name, "status": "already_ingested", "upload_id": upload.upload_id,
                "message": "the same file (by sha256) is ingested already; pass force=true to ingest it again",
            }),
            true,
        ),
        IngestOutcome::Planned { chunks, .. } => (json!({ "file": name, "status": "planned", "chunks": chunks }), true),
    }
}

impl McpServer {
    /// Reads and ingests one file; a failure is the file's line, not the whole call's.
    async fn ingest_file(&self, path: &Path, args: &IngestArgs) -> (Value, bool) {
        let fail = |message: String| {
            (json!({ "file": path.display().to_string(), "status": "failed", "error": message }), false)
        };
        let max = self.service.max_file_bytes();
        let size = match std::fs::metadata(path) {
            Ok(meta) => meta.len(),
            Err(error) => return fail(format!("cannot read {}: {error}", path.display())),
        };
        if size > max as u64 {
            return fail(format!(
                "{} is {size} bytes, more than the limit of {max} (MCP_DOCUMENT_MAX_FILE_MB)",
                path.display()
            ));
        }
        let bytes = match tokio::fs::read(path).await {
            Ok(bytes) => bytes,
            Err(error) => return fail(format!("cannot read {}: {error}", path.display())),
        };
        let (size, overlap) = self.service.default_chunking();
        let request = IngestRequest {
            file_name: path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into()),
            bytes,
            tags: args.tags.clone().into_vec(),
            chunk_size: args.chunk_size.unwrap_or(size),
            chunk_overlap: args.chunk_overlap.unwrap_or(overlap),
            memory_type: args.memory_type.clone(),
            force: args.force,
            dry_run: false,
        };
        match self.service.ingest(request, actor(), |_, _| {}).await {
            Ok(outcome) => outcome_line(path, &outcome),
            Err(error) => fail(failure(error)),
        }
    }

    /// The files an ingest names, confined for a remote client.
    fn files_of(&self, args: &IngestArgs, remote: bool) -> Result<Vec<PathBuf>, String> {
        let roots = self.service.document_roots();
        let roots = remote.then_some(roots.as_slice());
        match (&args.file_path, &args.directory_path) {
            (Some(file), None) => Ok(vec![files::confine(Path::new(file), roots).map_err(|e| e.to_string())?]),
            (None, Some(dir)) => {
                let dir = files::confine(Path::new(dir), roots).map_err(|e| e.to_string())?;
                let walk = Walk {
                    recursive: args.recursive.unwrap_or(true),
                    extensions: args.file_extensions.clone().unwrap_or_default(),
                    max_files: args.max_files.unwrap_or(DEFAULT_MAX_FILES).max(1),
                };
                files::list(&dir, &walk).map_err(|e| e.to_string())
            }
            (Some(_), Some(_)) => Err("give file_path or directory_path, not both".into()),
            (None, None) => Err("give file_path (one file) or directory_path (a directory's files)".into()),
        }
    }

    async fn ingest(&self, args: IngestArgs, context: &RequestContext<RoleServer>) -> Result<CallToolResult, String> {
        let paths = self.files_of(&args, remote(context))?;
        let mut lines = Vec::with_capacity(paths.len());
        let mut failed = 0;
        for path in &paths {
            let (line, ok) = self.ingest_file(path, &args).await;
            failed += usize::from(!ok);
            lines.push(line);
        }
        let stored: u64 = lines.iter().filter_map(|l| l["chunks_stored"].as_u64()).sum();
        let answer = json!({
            "success": failed == 0,
            "files": paths.len(),
            "files_failed": failed,
            "chunks_stored": stored,
            "message": format!("{} of {} files ingested, {stored} chunks stored", paths.len() - failed, paths.len()),
            "results": lines,
        });
        let text = ContentBlock::text(answer.to_string());
        // Every file failing is the call failing; a directory with some bad files is a result that says so.
        Ok(if failed > 0 && failed == paths.len() {
            CallToolResult::error(vec![text])
        } else {
            CallToolResult::success(vec![text])
        })
    }
}

#[tool_router(router = document_router, vis = "pub(super)")]
impl McpServer {
    /// Ingest documents (txt, md, json, csv, pdf, docx, html) into memory: each file is cut into chunks
    /// (tagged source_file:, file_type:, upload_id:) stored together, or not at all. Give file_path or
    /// directory_path. The same file is not ingested twice unless force is set.
    #[tool(annotations(title = "Ingest documents", read_only_hint = false, destructive_hint = false))]
    async fn memory_ingest(
        &self,
        Parameters(args): Parameters<IngestArgs>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, String> {
        self.ingest(args, &context).await
    }
}

#[tool_router(router = document_alias_router, vis = "pub(super)")]
impl McpServer {
    /// The original's name for memory_ingest with file_path.
    #[tool(annotations(read_only_hint = false))]
    async fn ingest_document(
        &self,
        Parameters(args): Parameters<IngestArgs>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, String> {
        self.ingest(args, &context).await
    }

    /// The original's name for memory_ingest with directory_path.
    #[tool(annotations(read_only_hint = false))]
    async fn ingest_directory(
        &self,
        Parameters(args): Parameters<IngestArgs>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, String> {
        self.ingest(args, &context).await
    }
}
