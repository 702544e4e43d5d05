//! Who may do what over MCP: the one rule deciding the scope each tool, alias, prompt and resource needs, and
//! the one check every handler runs before doing anything. The rule is HTTP's (`required_scope`) for the same
//! acts: reading needs read, anything that changes the store needs write, a redaction (which nothing can undo)
//! needs admin. Over HTTP the caller's principal comes with the request; over stdio there is none and nothing is
//! checked: the local user who runs the process owns the store.

use super::prompts;
use crate::oauth::scope::{Principal, Scope};
use rmcp::RoleServer;
use rmcp::service::RequestContext;

/// What an MCP request asks to do, as far as scopes go.
#[derive(Clone, Copy, Debug)]
pub(super) enum Act<'a> {
    /// A tool or an alias, with its `read_only_hint` (absent counts as writing).
    Tool { name: &'a str, read_only: bool },
    /// `prompts/get`: a prompt builds its message from memories, and some also store one.
    Prompt(&'a str),
    /// `resources/read`: every `memory://` resource only reads.
    Resource(&'a str),
}

impl Act<'_> {
    /// The scope the act needs.
    pub(super) fn scope(self) -> Scope {
        match self {
            Act::Tool { name: "memory_redact", .. } => Scope::Admin,
            Act::Tool { read_only: true, .. } => Scope::Read,
            Act::Tool { read_only: false, .. } => Scope::Write,
            Act::Prompt(name) if prompts::stores(name) => Scope::Write,
            Act::Prompt(_) | Act::Resource(_) => Scope::Read,
        }
    }

    fn name(self) -> String {
        match self {
            Act::Tool { name, .. } => name.to_string(),
            Act::Prompt(name) => format!("the prompt {name}"),
            Act::Resource(uri) => format!("the resource {uri}"),
        }
    }

    /// Why the caller may not do this, or `None` when it may (and always over stdio, where there is no caller).
    pub(super) fn refused(self, context: &RequestContext<RoleServer>) -> Option<Refusal> {
        let principal = context.extensions.get::<axum::http::request::Parts>()?.extensions.get::<Principal>()?;
        let needed = self.scope();
        (!principal.allows(needed)).then(|| Refusal {
            needed,
            message: format!(
                "insufficient_scope: {} needs the scope '{}', and this token has {}",
                self.name(),
                needed.name(),
                principal.scopes.iter().map(|s| s.name()).collect::<Vec<_>>().join(" ")
            ),
        })
    }
}

/// A refused request: the scope it needed and the message saying so.
pub(super) struct Refusal {
    pub(super) needed: Scope,
    pub(super) message: String,
}

impl Refusal {
    /// The JSON-RPC error for a prompt or a resource (a tool answers `isError` with the message instead).
    pub(super) fn error(self) -> rmcp::ErrorData {
        let data = serde_json::json!({ "error": "insufficient_scope", "scope": self.needed.name() });
        rmcp::ErrorData::invalid_request(self.message, Some(data))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mcp::McpServer;

    fn tool_scope(name: &str) -> Scope {
        let tool = McpServer::advertised_router()
            .get(name)
            .cloned()
            .or_else(|| McpServer::every_alias_router().get(name).cloned());
        let tool = tool.unwrap_or_else(|| panic!("a tool named {name}"));
        let read_only = tool.annotations.and_then(|a| a.read_only_hint) == Some(true);
        Act::Tool { name, read_only }.scope()
    }

    #[test]
    fn tools_and_their_aliases_need_what_http_needs_for_the_same_act() {
        for reading in
            ["memory_search", "memory_list", "memory_get", "memory_export", "retrieve_memory", "recall_memory"]
        {
            assert_eq!(tool_scope(reading), Scope::Read, "{reading}");
        }
        for writing in ["memory_store", "memory_delete", "memory_import", "store_memory", "delete_by_tag"] {
            assert_eq!(tool_scope(writing), Scope::Write, "{writing}");
        }
        assert_eq!(tool_scope("memory_redact"), Scope::Admin);
    }

    /// The README's MCP scope table: (column, name) → scope, where column 0 is the tools, 1 the original's
    /// names, 2 the prompts, 3 the resources.
    fn readme_table() -> std::collections::BTreeMap<(usize, String), Scope> {
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README");
        let table = &readme[readme.find("| scope | MCP tools |").expect("the README's MCP scope table")..];
        let quoted = regex::Regex::new("`([^`]+)`").expect("a regex");
        let mut items = std::collections::BTreeMap::new();
        for line in table.lines().skip(2).take_while(|line| line.starts_with('|')) {
            let cells: Vec<&str> = line.trim_matches('|').split('|').collect();
            let scope = match cells[0].trim() {
                "read" => Scope::Read,
                "write" => Scope::Write,
                "admin" => Scope::Admin,
                other => panic!("a scope: {other}"),
            };
            for (column, cell) in cells[1..].iter().enumerate() {
                for name in quoted.captures_iter(cell) {
                    items.insert((column, name[1].to_string()), scope);
                }
            }
        }
        items
    }

    #[test]
    fn the_readme_gives_every_tool_alias_and_prompt_the_scope_it_needs() {
        let documented = readme_table();
        let mut actual = std::collections::BTreeMap::new();
        for (column, router) in [(0, McpServer::advertised_router()), (1, McpServer::every_alias_router())] {
            for tool in router.list_all() {
                let read_only = tool.annotations.as_ref().and_then(|a| a.read_only_hint) == Some(true);
                actual.insert((column, tool.name.to_string()), Act::Tool { name: &tool.name, read_only }.scope());
            }
        }
        for prompt in prompts::list() {
            actual.insert((2, prompt.name.clone()), Act::Prompt(&prompt.name).scope());
        }
        let documented_tools: std::collections::BTreeMap<_, _> =
            documented.into_iter().filter(|((column, _), _)| *column < 3).collect();
        assert_eq!(documented_tools, actual, "the README's scope table (left) and the code (right)");
    }

    #[test]
    fn prompts_that_store_need_write_and_the_others_and_resources_read() {
        assert_eq!(Act::Prompt("learning_session").scope(), Scope::Write);
        for reading in ["memory_review", "memory_analysis", "knowledge_export", "memory_cleanup"] {
            assert_eq!(Act::Prompt(reading).scope(), Scope::Read, "{reading}");
        }
        assert_eq!(Act::Resource("memory://recent/5").scope(), Scope::Read);
    }
}
