//! The one integration test binary: black-box tests that run the real `mcp-memory-service` binary in
//! temporary data directories (CLI, rebuild, import and export, the server, kill -9 during writes, mDNS browsed
//! inside network namespaces, OAuth with a real client library, the Docker entrypoint, the Docker guide walked
//! without Docker), and the embedding model's parity with sentence-transformers through the library API.

mod abuse;
mod asof;
mod backup;
mod cli;
mod converge;
mod crash;
mod docker;
mod docker_guide;
mod documents;
mod embedding;
mod env_file;
mod exchange;
mod http;
mod https;
mod import;
mod many_clients;
mod mcp;
mod mdns;
mod oauth;
mod rebuild;
mod redact;
mod redaction_law;
mod restore;
mod retrieval;
mod scopes;
mod serve;
mod support;
mod sync;
