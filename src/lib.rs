//! mcp-memory-service: long-term semantic memory for AI agents, event-sourced.
//!
//! The binary's pieces as a library, so that tests and benches drive exactly what `main` runs:
//! [`config`] (the one `Config`), [`envcheck`] (the variables nothing reads), [`embed`] (MiniLM through ONNX
//! Runtime), [`service`] (every memory operation; the only code that appends to the log), [`http`] (the axum
//! server), [`mcp`] (the MCP server), [`portability`] (import and export formats), [`oauth`] (the OAuth 2.1
//! authorization server), [`tls`] (HTTPS certificates), [`mdns`] (the local-network advertisement),
//! [`healthcheck`] (the container's health probe) and [`app`] (wiring).

pub mod app;
pub mod backup;
pub mod cli;
pub mod cloudflare;
pub mod config;
pub mod embed;
pub mod envcheck;
pub mod healthcheck;
pub mod http;
pub mod mcp;
pub mod mdns;
pub mod oauth;
pub mod portability;
pub mod service;
pub mod sync;
pub mod tls;
