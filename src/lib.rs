//! mcp-memory-service: long-term semantic memory for AI agents, event-sourced.
//!
//! The binary's pieces as a library, so that tests and benches drive exactly what `main` runs. From the top
//! down (each module uses only those below it; `tidy` checks the rules): [`app`] (wiring of `serve` and
//! `mcp`, named only by `main`); the adapters [`http`] (the axum server), [`mcp`] (the MCP server) and
//! [`cli`] (the command line); [`backup`] (backups, their schedule and verification) and [`consolidator`] (consolidation runs on request and on their schedule); [`store`] (the store's
//! lifecycle: open, rebuild, migration); [`sync`] (Cloudflare replication) over [`cloudflare`] (its REST
//! client); [`oauth`] (the OAuth 2.1 authorization server, and the principal and scopes both adapters check);
//! [`tls`], [`mdns`] and [`healthcheck`] (HTTPS certificates, the local-network advertisement, the
//! container's health probe); [`config`] (the settings, a leaf); [`error`] (an error shown with its causes, a
//! leaf); [`portability`] (import and export formats); [`service`] (every memory operation; the only code that
//! appends to the log); [`consolidation`] (consolidation's pure algorithms: decay, associations, clustering,
//! compression, forgetting); [`ingest`] (reading documents into chunks: formats, chunking, the files of a
//! directory); [`embed`] (MiniLM through ONNX Runtime).

pub mod app;
pub mod backup;
pub mod cli;
pub mod cloudflare;
pub mod config;
pub mod consolidation;
pub mod consolidator;
pub mod embed;
pub mod error;
// The bodies of the fuzz targets in `fuzz/`, for them (feature `fuzzing`) and for their smoke test.
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
pub mod healthcheck;
pub mod http;
pub mod ingest;
pub mod malloc;
pub mod mcp;
pub mod mdns;
pub mod oauth;
pub mod portability;
pub mod service;
pub mod store;
pub mod sync;
pub mod tls;

#[cfg(test)]
mod tidy;
