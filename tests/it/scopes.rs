//! The scope matrix: every HTTP route and every MCP tool, alias, prompt and resource, called with no
//! credential and with a `read`, a `write` and an `admin` token, is refused or let through exactly as the
//! README's "Scopes of every route and MCP item" tables say. The lists are not written here: the routes are
//! read from the router's source (`src/http/mod.rs`, `src/http/oauth.rs`) and the MCP items from the server's
//! own lists, and both must equal the README's tables, so a new route or tool cannot go unchecked. (The
//! original's tool names are never listed over MCP; `mcp::access`'s unit tests hold them to the same table.)

use crate::oauth::{McpSession, token_with_scope};
use crate::support::{DataDir, Server};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

const KEY: &str = "scope-matrix-key";

/// How much a caller holds, or a route needs, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Level {
    Public,
    Read,
    Write,
    Admin,
}

impl Level {
    fn parse(cell: &str) -> Option<Level> {
        match cell.trim() {
            "public" => Some(Level::Public),
            "read" => Some(Level::Read),
            "write" => Some(Level::Write),
            "admin" => Some(Level::Admin),
            _ => None,
        }
    }
}

/// The README's section on scopes.
fn readme_section() -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README.md");
    let start = readme.find("#### Scopes of every route and MCP item").expect("the README's scope section");
    let rest = &readme[start + 4..];
    let end = rest.find("\n#").unwrap_or(rest.len());
    rest[..end].to_string()
}

/// The rows of the section's tables: the scope, then each later cell's backquoted items.
fn table_rows(section: &str, header: &str) -> Vec<(Level, Vec<Vec<String>>)> {
    let table = &section[section.find(header).unwrap_or_else(|| panic!("a table headed {header}"))..];
    let quoted = regex::Regex::new("`([^`]+)`").expect("a regex");
    table
        .lines()
        .skip(2)
        .take_while(|line| line.starts_with('|'))
        .map(|line| {
            let cells: Vec<&str> = line.trim_matches('|').split('|').collect();
            let level = Level::parse(cells[0]).unwrap_or_else(|| panic!("a scope in {line}"));
            let items =
                cells[1..].iter().map(|cell| quoted.captures_iter(cell).map(|c| c[1].to_string()).collect()).collect();
            (level, items)
        })
        .collect()
}

/// `METHOD /path` → the scope the README documents.
fn documented_routes() -> BTreeMap<String, Level> {
    let mut routes = BTreeMap::new();
    for (level, cells) in table_rows(&readme_section(), "| scope | HTTP routes |") {
        for route in &cells[0] {
            assert!(routes.insert(route.clone(), level).is_none(), "{route} is listed twice");
        }
    }
    routes
}

/// Which MCP list an item is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Tool,
    Alias,
    Prompt,
    Resource,
}

/// Every MCP item of the README's table with its scope.
fn documented_mcp() -> BTreeMap<(Kind, String), Level> {
    let mut items = BTreeMap::new();
    for (level, cells) in table_rows(&readme_section(), "| scope | MCP tools |") {
        for (kind, cell) in [Kind::Tool, Kind::Alias, Kind::Prompt, Kind::Resource].into_iter().zip(&cells) {
            for name in cell {
                assert!(items.insert((kind, name.clone()), level).is_none(), "{name} is listed twice");
            }
        }
    }
    items
}

/// Every `METHOD /path` the router serves, read from its source: each `.route("path", get(..).post(..))` and
/// `.route_service("/mcp", ..)` (which takes MCP's three methods).
fn router_routes() -> BTreeSet<String> {
    let route = regex::Regex::new(r#"\.route\(\s*"([^"]+)",\s*((?:[a-z]+\([^()]*\)\.?\s*)+)\)"#).expect("a regex");
    let method = regex::Regex::new(r"([a-z]+)\(").expect("a regex");
    let service = regex::Regex::new(r#"\.route_service\(\s*"([^"]+)""#).expect("a regex");
    let mut routes = BTreeSet::new();
    for file in ["src/http/mod.rs", "src/http/oauth.rs"] {
        let source = std::fs::read_to_string(format!("{}/{file}", env!("CARGO_MANIFEST_DIR"))).expect("the source");
        for found in route.captures_iter(&source) {
            for name in method.captures_iter(&found[2]) {
                routes.insert(format!("{} {}", name[1].to_uppercase(), &found[1]));
            }
        }
        for found in service.captures_iter(&source) {
            for verb in ["GET", "POST", "DELETE"] {
                routes.insert(format!("{verb} {}", &found[1]));
            }
        }
    }
    routes
}

/// What the server did with a request, as far as scopes go.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// 401 from authentication: no credential, or one it does not know.
    Unauthenticated,
    /// 403 `insufficient_scope`.
    Forbidden,
    /// Anything else: the handler ran (and may have refused the input for its own reasons).
    Passed,
}

fn expected(needed: Level, held: Level) -> Outcome {
    match (needed, held) {
        (Level::Public, _) => Outcome::Passed,
        (_, Level::Public) => Outcome::Unauthenticated,
        (needed, held) if held < needed => Outcome::Forbidden,
        _ => Outcome::Passed,
    }
}

/// A concrete path for a route pattern.
fn concrete(pattern: &str, hash: &str) -> String {
    pattern
        .replace("{content_hash}", hash)
        .replace("{target_hash}", hash)
        .replace("{operation}", "optimize_db")
        .replace("{old_tag}", "no-such-tag")
        .replace("{filename}", "no-such-backup.redb")
        .replace("{client_id}", "mcp_client_none")
        .replace("{file}", "no-such-file.js")
}

async fn call_route(http: &reqwest::Client, server: &Server, route: &str, hash: &str, token: Option<&str>) -> Outcome {
    let (verb, pattern) = route.split_once(' ').expect("METHOD /path");
    let method = Method::from_bytes(verb.as_bytes()).expect("a method");
    let mut request = http.request(method.clone(), server.url(&concrete(pattern, hash)));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if matches!(method, Method::POST | Method::PUT) {
        request = request.json(&json!({}));
    }
    // Only the status and the head of the body are read: `/api/events` is a stream that never ends.
    let mut response = request.send().await.unwrap_or_else(|e| panic!("{route}: {e}"));
    let status = response.status();
    if status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN {
        return Outcome::Passed;
    }
    let body = response.chunk().await.ok().flatten().unwrap_or_default();
    let error =
        serde_json::from_slice::<Value>(&body).ok().and_then(|b| b["detail"]["error"].as_str().map(str::to_string));
    match (status, error.as_deref()) {
        (StatusCode::UNAUTHORIZED, Some("authorization_required" | "invalid_token")) => Outcome::Unauthenticated,
        (StatusCode::FORBIDDEN, Some("insufficient_scope")) => Outcome::Forbidden,
        _ => Outcome::Passed,
    }
}

/// A URI for a resource or a resource template of the table.
fn resource_uri(pattern: &str) -> String {
    pattern.replace("{n}", "5").replace("{tag}", "matrix").replace("{query}", "matrix")
}

async fn call_mcp(session: &McpSession<'_>, kind: Kind, name: &str) -> Outcome {
    let answer = match kind {
        Kind::Tool | Kind::Alias => session.request("tools/call", json!({"name": name, "arguments": {}})).await,
        Kind::Prompt => session.request("prompts/get", json!({"name": name, "arguments": {}})).await,
        Kind::Resource => session.request("resources/read", json!({"uri": resource_uri(name)})).await,
    };
    let refused = match &answer {
        Ok(result) => {
            result["isError"] == true
                && result["content"][0]["text"].as_str().is_some_and(|t| t.starts_with("insufficient_scope"))
        }
        Err(error) => error["message"].as_str().is_some_and(|m| m.contains("insufficient_scope")),
    };
    if refused { Outcome::Forbidden } else { Outcome::Passed }
}

/// The names an MCP list gives (`tools/list`, `prompts/list`, ...).
async fn listed(session: &McpSession<'_>, method: &str, field: &str, key: &str) -> BTreeSet<String> {
    let list = session.request(method, json!({})).await.unwrap_or_else(|e| panic!("{method}: {e}"));
    list[field].as_array().expect("a list").iter().map(|item| item[key].as_str().expect("a name").to_string()).collect()
}

#[test]
fn the_readme_names_every_route_of_the_router() {
    let documented: BTreeSet<String> = documented_routes().into_keys().collect();
    let served = router_routes();
    assert!(served.len() > 40, "the router's routes were read: {served:?}");
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let gone: Vec<_> = documented.difference(&served).collect();
    assert!(
        undocumented.is_empty() && gone.is_empty(),
        "served, not in the README: {undocumented:?}; in the README, not served: {gone:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_and_mcp_item_is_refused_below_its_scope_and_passes_at_it() {
    let data = DataDir::new();
    let server = Server::start(&data, &[("MCP_OAUTH_ENABLED", "true"), ("MCP_API_KEY", KEY)]).await;
    let http = reqwest::Client::builder().timeout(std::time::Duration::from_secs(60)).build().expect("a client");
    let registered: Value = http
        .post(server.url("/oauth/register"))
        .bearer_auth(KEY)
        .json(&json!({"grant_types": ["client_credentials"], "scope": "read write admin"}))
        .send()
        .await
        .expect("register")
        .json()
        .await
        .expect("JSON");
    let (id, secret) =
        (registered["client_id"].as_str().expect("id"), registered["client_secret"].as_str().expect("secret"));
    let mut tokens = vec![(Level::Public, None)];
    for (level, scope) in [(Level::Read, "read"), (Level::Write, "write"), (Level::Admin, "admin")] {
        tokens.push((level, Some(token_with_scope(&http, &server, id, secret, scope).await)));
    }
    let stored: Value = http
        .post(server.url("/api/memories"))
        .bearer_auth(KEY)
        .json(&json!({"content": "the scope matrix's memory", "tags": ["matrix"]}))
        .send()
        .await
        .expect("store")
        .json()
        .await
        .expect("JSON");
    let hash = stored["content_hash"].as_str().expect("a hash").to_string();

    let mut wrong = Vec::new();
    for (route, needed) in documented_routes() {
        for (held, token) in &tokens {
            let outcome = call_route(&http, &server, &route, &hash, token.as_deref()).await;
            // Registration reads a Bearer as the registration key (or the API key): any other is refused.
            let expected = if route == "POST /oauth/register" && token.is_some() {
                Outcome::Unauthenticated
            } else {
                expected(needed, *held)
            };
            if outcome != expected {
                wrong.push(format!("{route} (needs {needed:?}) with {held:?}: {outcome:?}"));
            }
        }
    }

    let documented = documented_mcp();
    for (held, token) in &tokens[1..] {
        let session = McpSession::open(&http, &server, token.as_deref().expect("a token")).await;
        if *held == Level::Read {
            let names = |kind: Kind| -> BTreeSet<String> {
                documented.keys().filter(|(k, _)| *k == kind).map(|(_, name)| name.clone()).collect()
            };
            assert_eq!(listed(&session, "tools/list", "tools", "name").await, names(Kind::Tool), "tools/list");
            assert_eq!(listed(&session, "prompts/list", "prompts", "name").await, names(Kind::Prompt), "prompts/list");
            let templates = listed(&session, "resources/templates/list", "resourceTemplates", "uriTemplate").await;
            let resources = names(Kind::Resource);
            let fixed: BTreeSet<String> = resources.iter().filter(|r| !r.contains('{')).cloned().collect();
            let templated: BTreeSet<String> = resources.iter().filter(|r| r.contains('{')).cloned().collect();
            assert_eq!(templates, templated, "resources/templates/list");
            for uri in listed(&session, "resources/list", "resources", "uri").await {
                let of_a_template = templated.iter().any(|t| uri.starts_with(&t[..t.find('{').expect("a parameter")]));
                assert!(fixed.contains(&uri) || of_a_template, "{uri} is listed but not in the README's table");
            }
        }
        for ((kind, name), needed) in &documented {
            let outcome = call_mcp(&session, *kind, name).await;
            if outcome != expected(*needed, *held) {
                wrong.push(format!("MCP {kind:?} {name} (needs {needed:?}) with {held:?}: {outcome:?}"));
            }
        }
    }
    assert!(wrong.is_empty(), "not as the README says:\n{}", wrong.join("\n"));
}
