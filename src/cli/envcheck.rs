//! Environment variables that look like settings but that nothing reads: the original service's that this
//! service does without (ChromaDB, `MCP_MEMORY_USE_ONNX`...) and misspelt or unknown ones. An `.env` written
//! for the original keeps working: such variables are ignored, and `serve` and `mcp` name them in one warning
//! at start, never in an error.
//!
//! What is known comes from clap's own definition of the command line (every argument's `env`, in every
//! subcommand), so a variable added to `Config` is known here without a second list; plus the variables of
//! the Docker set-up, which only `docker/entrypoint.sh` and the compose files read. Only the names of the
//! environment are looked at, never the values (some are secrets).

use clap::CommandFactory;
use std::collections::BTreeSet;

/// The prefixes of the variables checked: the original's (`MCP_`, `CLOUDFLARE_`) and ours (`MMS_`). Other
/// variables belong to the rest of the system (`HOME`, `PATH`, the shell's) and are none of our business.
const PREFIXES: &[&str] = &["MCP_", "MMS_", "CLOUDFLARE_"];

/// Read by `docker/entrypoint.sh` and the compose files, not by the service (see the Docker section of
/// `.env.example`; a test keeps the two in step).
pub const DOCKER: &[&str] = &["MCP_MODE", "HTTP_PORT", "MEMORY_IMAGE", "MMS_BIN", "MMS_USER"];

/// The original service's variables that this one does not need, by exact name or by prefix (ending in `*`),
/// and what to do instead.
const LEGACY: &[(&str, &str)] = &[
    (
        "MCP_MEMORY_CHROMA*",
        "ChromaDB is not supported: memories live in MCP_MEMORY_BASE_DIR; bring ChromaDB memories over with the \
         original's exporter and `mcp-memory-service import`",
    ),
    ("MCP_MEMORY_USE_ONNX", "not needed: embeddings always run on ONNX Runtime here"),
    ("MCP_MEMORY_SQLITE_PRAGMAS", "not needed: the read model's SQLite settings are fixed"),
    ("MCP_HTTP_ENABLED", "not needed: `serve` is the HTTP server (MCP_MODE=http in Docker)"),
    ("MCP_STANDALONE_MODE", "not needed: in Docker, MCP_MODE=http runs the server on its own"),
    ("MCP_MEMORY_HTTP_AUTO_START", "not needed: `mcp` processes share one store through a socket"),
    ("MCP_SERVER_HOST", "MCP over HTTP is served by `serve` at /mcp on MCP_HTTP_HOST"),
    ("MCP_SERVER_PORT", "MCP over HTTP is served by `serve` at /mcp on MCP_HTTP_PORT"),
    ("MCP_SSE_HOST", "MCP over HTTP is served by `serve` at /mcp on MCP_HTTP_HOST"),
    ("MCP_SSE_PORT", "MCP over HTTP is served by `serve` at /mcp on MCP_HTTP_PORT"),
    ("MCP_MDNS_DISCOVERY_TIMEOUT", "a setting of the original's client, not of the server"),
    ("MCP_OAUTH_STORAGE_BACKEND", "not needed: OAuth's clients and tokens are kept in <base>/oauth"),
    ("MCP_OAUTH_SQLITE_PATH", "not needed: OAuth's clients and tokens are kept in <base>/oauth"),
];

/// A variable nothing reads, and what the warning says about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unread {
    pub name: String,
    /// What replaces it, for the original's variables; `None` for an unknown one.
    pub note: Option<&'static str>,
}

/// Every variable name that `Config` reads (its arguments' `env`, in every subcommand) or the Docker set-up does.
pub fn known() -> BTreeSet<String> {
    let mut names = configured();
    names.extend(DOCKER.iter().map(|name| name.to_string()));
    names
}

/// Every variable name the command line reads (its arguments' `env`, in every subcommand).
pub fn configured() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    collect(&super::Cli::command(), &mut names);
    names
}

fn collect(command: &clap::Command, names: &mut BTreeSet<String>) {
    for arg in command.get_arguments() {
        if let Some(env) = arg.get_env() {
            names.insert(env.to_string_lossy().into_owned());
        }
    }
    for sub in command.get_subcommands() {
        collect(sub, names);
    }
}

/// The names among `names` that have one of our prefixes and that nothing reads, sorted, each once.
pub fn unread(names: impl IntoIterator<Item = String>, known: &BTreeSet<String>) -> Vec<Unread> {
    let names: BTreeSet<String> = names.into_iter().collect();
    names
        .into_iter()
        .filter(|name| PREFIXES.iter().any(|prefix| name.starts_with(prefix)) && !known.contains(name))
        .map(|name| {
            let note = LEGACY
                .iter()
                .find(|(legacy, _)| match legacy.strip_suffix('*') {
                    Some(prefix) => name.starts_with(prefix),
                    None => name == *legacy,
                })
                .map(|(_, note)| *note);
            Unread { name, note }
        })
        .collect()
}

/// The one warning line for `unread` variables, or `None` when there are none.
pub fn warning(unread: &[Unread]) -> Option<String> {
    if unread.is_empty() {
        return None;
    }
    let listed: Vec<String> = unread
        .iter()
        .map(|u| match u.note {
            Some(note) => format!("{} ({note})", u.name),
            None => format!("{} (unknown to this service: misspelt, or from another program?)", u.name),
        })
        .collect();
    Some(format!("ignoring environment variables this service does not read: {}", listed.join("; ")))
}

/// Logs one warning naming the variables of this process's environment (`.env` included, once loaded)
/// that nothing reads. Called once at the start of `serve` and `mcp`.
pub fn warn_unread() {
    let names = std::env::vars_os().filter_map(|(name, _)| name.into_string().ok());
    if let Some(line) = warning(&unread(names, &known())) {
        tracing::warn!("{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|name| name.to_string()).collect()
    }

    #[test]
    fn known_comes_from_every_argument_and_subcommand_and_the_docker_set_up() {
        let known = known();
        // A global option, a `serve` option, a flattened OAuth option, a `healthcheck` one, Docker's own.
        for name in ["MCP_MEMORY_BASE_DIR", "MCP_API_KEY", "MCP_OAUTH_PRIVATE_KEY", "MCP_HTTPS_PORT", "MCP_MODE"] {
            assert!(known.contains(name), "{name} is known");
        }
        assert!(!known.contains("MCP_MEMORY_USE_ONNX"));
    }

    #[test]
    fn the_originals_variables_are_named_with_what_replaces_them() {
        let found = unread(
            names(&[
                "MCP_MEMORY_CHROMA_PATH",
                "MCP_MEMORY_CHROMADB_HOST",
                "MCP_MEMORY_USE_ONNX",
                "MCP_API_KEY",
                "MCP_HTTP_PORT",
                "MCP_MODE",
                "HOME",
                "PATH",
            ]),
            &known(),
        );
        let named: Vec<&str> = found.iter().map(|u| u.name.as_str()).collect();
        assert_eq!(named, ["MCP_MEMORY_CHROMADB_HOST", "MCP_MEMORY_CHROMA_PATH", "MCP_MEMORY_USE_ONNX"]);
        assert!(found.iter().all(|u| u.note.is_some()), "{found:?}");
        assert!(found[0].note.is_some_and(|note| note.contains("ChromaDB")));
    }

    #[test]
    fn unknown_variables_with_our_prefixes_are_named_others_are_not_our_business() {
        let found = unread(names(&["MCP_HTTP_PROT", "MMS_TYPO", "CLOUDFLARE_SOMETHING", "XDG_RUNTIME_DIR"]), &known());
        let named: Vec<&str> = found.iter().map(|u| u.name.as_str()).collect();
        assert_eq!(named, ["CLOUDFLARE_SOMETHING", "MCP_HTTP_PROT", "MMS_TYPO"]);
        assert!(found.iter().all(|u| u.note.is_none()));
        // A legacy entry is an exact name unless it ends in `*`: MCP_HTTP_ENABLED_X is merely unknown.
        assert_eq!(unread(names(&["MCP_HTTP_ENABLED_X"]), &known())[0].note, None);
    }

    #[test]
    fn one_line_names_every_variable_and_no_value() {
        assert_eq!(warning(&[]), None);
        let line = warning(&unread(names(&["MCP_MEMORY_USE_ONNX", "MCP_FOO"]), &known())).expect("a warning");
        assert!(!line.contains('\n'), "{line}");
        assert!(line.contains("MCP_FOO (unknown") && line.contains("MCP_MEMORY_USE_ONNX (not needed"), "{line}");
    }

    #[test]
    fn the_docker_variables_are_those_of_the_docker_section_of_env_example() {
        let text = include_str!("../../.env.example");
        let section = text.split("# --- Docker").nth(1).expect(".env.example has a Docker section");
        let listed: BTreeSet<&str> = section
            .lines()
            .filter_map(|line| line.trim_start_matches('#').trim().split_once('='))
            .map(|(name, _)| name.trim())
            .collect();
        assert_eq!(listed, DOCKER.iter().copied().collect(), "envcheck::DOCKER and .env.example disagree");
    }
}
