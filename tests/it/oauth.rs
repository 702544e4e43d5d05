//! OAuth 2.1 against the real binary: the full flow driven by a real OAuth client library (authlib, in
//! `python/oauth_client.py`), tokens and clients that outlive a restart, OAuth off by default, `keygen`'s
//! `.env` lines configuring RS256, the original's auto-approval when no API key is set, and MCP's prompts and
//! resources held to the token's scope over raw JSON-RPC (a read token cannot store through learning_session), and
//! the dashboard with an OAuth session.

use crate::support::{DataDir, Server, run_python_client};
use reqwest::StatusCode;
use serde_json::{Value, json};

const KEY: &str = "oauth-test-key";

fn oauth_env() -> [(&'static str, &'static str); 2] {
    [("MCP_OAUTH_ENABLED", "true"), ("MCP_API_KEY", KEY)]
}

/// A client registered with the API key `key` (trusted with client_credentials): its id and secret.
pub(crate) async fn trusted_client(http: &reqwest::Client, server: &Server, key: &str) -> (String, String) {
    let answer: Value = http
        .post(server.url("/oauth/register"))
        .bearer_auth(key)
        .json(&json!({"grant_types": ["client_credentials"], "client_name": "trusted"}))
        .send()
        .await
        .expect("register")
        .json()
        .await
        .expect("JSON");
    (answer["client_id"].as_str().expect("id").into(), answer["client_secret"].as_str().expect("secret").into())
}

/// A client_credentials token answer (checked not cacheable).
pub(crate) async fn client_credentials(http: &reqwest::Client, server: &Server, id: &str, secret: &str) -> Value {
    let response = http
        .post(server.url("/oauth/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token");
    assert_eq!(response.headers()["cache-control"], "no-store");
    response.json().await.expect("JSON")
}

async fn status_with(http: &reqwest::Client, server: &Server, token: &str) -> StatusCode {
    http.get(server.url("/api/memories")).bearer_auth(token).send().await.expect("list").status()
}

#[tokio::test]
async fn the_full_flow_with_a_real_oauth_client() {
    let data = DataDir::new();
    let server = Server::start(&data, &oauth_env()).await;
    let base = format!("http://127.0.0.1:{}", server.port);
    run_python_client("oauth_client.py", &[&base, KEY, &data.path().to_string_lossy()]);
}

#[tokio::test]
async fn tokens_and_clients_outlive_a_restart_and_oauth_is_off_by_default() {
    let data = DataDir::new();
    let http = reqwest::Client::new();
    {
        let plain = Server::start(&data, &[("MCP_API_KEY", KEY)]).await;
        let discovery = http.get(plain.url("/.well-known/oauth-authorization-server")).send().await.expect("get");
        assert_eq!(discovery.status(), StatusCode::NOT_FOUND, "no OAuth unless MCP_OAUTH_ENABLED");
        let missing = http.get(plain.url("/api/memories")).send().await.expect("get");
        assert_eq!(missing.headers()["www-authenticate"], "Bearer", "no resource metadata without OAuth");
    }
    // Each start takes a free port: a fixed issuer (as behind a proxy) keeps the tokens' `iss` valid.
    let env = [oauth_env()[0], oauth_env()[1], ("MCP_OAUTH_ISSUER", "https://memory.example.org/")];
    let server = Server::start(&data, &env).await;
    let metadata: Value = http
        .get(server.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("JSON");
    assert_eq!(metadata["token_endpoint"], "https://memory.example.org/oauth/token");
    let (id, secret) = trusted_client(&http, &server, KEY).await;
    let token = client_credentials(&http, &server, &id, &secret).await;
    let access = token["access_token"].as_str().expect("a token").to_string();
    assert_eq!(status_with(&http, &server, &access).await, StatusCode::OK);
    drop(server);
    let server = Server::start(&data, &env).await;
    assert_eq!(status_with(&http, &server, &access).await, StatusCode::OK, "the signing key was kept");
    let shown: Value =
        http.get(server.url(&format!("/oauth/clients/{id}"))).send().await.expect("get").json().await.expect("JSON");
    assert_eq!(shown["client_secret"], "[REDACTED]");
    let again = client_credentials(&http, &server, &id, &secret).await;
    assert!(again["access_token"].is_string(), "the client and its secret were kept: {again}");
    let state = std::fs::read(data.path().join("oauth/state.redb")).expect("the state file");
    assert!(!state.windows(secret.len()).any(|w| w == secret.as_bytes()), "client secrets are kept as digests only");
    assert!(state.windows(id.len()).any(|w| w == id.as_bytes()), "the client is in the state file");
}

#[tokio::test]
async fn keygen_prints_env_lines_that_configure_rs256() {
    let data = DataDir::new();
    let printed = data.ok(&["keygen"]);
    let api_key =
        printed.lines().find_map(|line| line.strip_prefix("MCP_API_KEY=")).expect("an API key line").to_string();
    assert_eq!(api_key.len(), 64, "32 random bytes in hex, like `openssl rand -hex 32`");
    assert!(api_key.bytes().all(|b| b.is_ascii_hexdigit()));
    let public = printed
        .split("MCP_OAUTH_PUBLIC_KEY=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a quoted public key")
        .to_string();
    assert!(printed.contains("MCP_OAUTH_PRIVATE_KEY=\"-----BEGIN PRIVATE KEY-----\n"), "{printed}");
    // As a user would: paste the lines into .env (the server reads .env from its working directory).
    std::fs::write(data.path().join(".env"), format!("MCP_OAUTH_ENABLED=true\n{printed}")).expect("write .env");
    let server = Server::start(&data, &[]).await;
    let http = reqwest::Client::new();
    let answer = http
        .post(server.url("/oauth/register"))
        .bearer_auth(&api_key)
        .json(&json!({"grant_types": ["client_credentials"]}));
    let client: Value = answer.send().await.expect("register").json().await.expect("JSON");
    let (id, secret) = (client["client_id"].as_str().expect("id"), client["client_secret"].as_str().expect("secret"));
    let token = client_credentials(&http, &server, id, secret).await;
    let access = token["access_token"].as_str().expect("a token");
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&["mcp-memory-service"]);
    let key = jsonwebtoken::DecodingKey::from_rsa_pem(public.as_bytes()).expect("the printed public key");
    let claims = jsonwebtoken::decode::<Value>(access, &key, &validation).expect("signed with the printed key").claims;
    assert_eq!(claims["sub"], id);
    assert!(!data.path().join("oauth/jwt-private.pem").exists(), "no key is made when one is configured");
    assert_eq!(status_with(&http, &server, access).await, StatusCode::OK);
}

#[tokio::test]
async fn without_an_api_key_authorization_is_approved_at_once_as_in_the_original() {
    let data = DataDir::new();
    let server = Server::start(&data, &[("MCP_OAUTH_ENABLED", "true")]).await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("a client");
    let redirect = "http://localhost:9/cb";
    let client: Value = http
        .post(server.url("/oauth/register"))
        .json(&json!({"redirect_uris": [redirect]}))
        .send()
        .await
        .expect("register")
        .json()
        .await
        .expect("JSON");
    let id = client["client_id"].as_str().expect("id");
    let url = server.url(&format!("/oauth/authorize?response_type=code&client_id={id}&state=s1"));
    let answer = http.get(url).send().await.expect("authorize");
    assert_eq!(answer.status(), StatusCode::FOUND);
    let location = answer.headers()["location"].to_str().expect("a location").to_string();
    assert!(location.starts_with(&format!("{redirect}?code=")) && location.ends_with("&state=s1"), "{location}");
    let code = location.split("code=").nth(1).and_then(|rest| rest.split('&').next()).expect("a code");
    let token: Value = http
        .post(server.url("/oauth/token"))
        .basic_auth(id, client["client_secret"].as_str())
        .form(&[("grant_type", "authorization_code"), ("code", code), ("redirect_uri", redirect)])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("JSON");
    let access = token["access_token"].as_str().unwrap_or_else(|| panic!("a token: {token}"));
    assert_eq!(token["scope"], "read write");
    assert_eq!(status_with(&http, &server, access).await, StatusCode::OK);
    let missing = http.get(server.url("/api/memories")).send().await.expect("list");
    let body: Value = missing.json().await.expect("JSON");
    assert_eq!(body["detail"]["error_description"], "Authorization required. Provide valid OAuth Bearer token.");
    assert!(server.stderr().contains("approves every request"), "the start-up warns:\n{}", server.stderr());
}

/// A client_credentials access token limited to `scope`.
pub(crate) async fn token_with_scope(
    http: &reqwest::Client,
    server: &Server,
    id: &str,
    secret: &str,
    scope: &str,
) -> String {
    let answer: Value = http
        .post(server.url("/oauth/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials"), ("scope", scope)])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("JSON");
    assert_eq!(answer["scope"], scope, "{answer}");
    answer["access_token"].as_str().expect("a token").to_string()
}

/// An MCP session over streamable HTTP, driven by raw JSON-RPC POSTs to `/mcp` with a Bearer token.
pub(crate) struct McpSession<'a> {
    http: &'a reqwest::Client,
    url: String,
    token: String,
    session: String,
}

impl<'a> McpSession<'a> {
    pub(crate) async fn open(http: &'a reqwest::Client, server: &Server, token: &str) -> McpSession<'a> {
        let mut session =
            McpSession { http, url: server.url("/mcp"), token: token.to_string(), session: String::new() };
        let response = session
            .post(json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
                "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}}))
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        session.session = response.headers()["mcp-session-id"].to_str().expect("a session id").to_string();
        let initialized = session.post(json!({"jsonrpc": "2.0", "method": "notifications/initialized"})).await;
        assert!(initialized.status().is_success(), "{}", initialized.status());
        session
    }

    async fn post(&self, body: Value) -> reqwest::Response {
        let mut request = self
            .http
            .post(&self.url)
            .bearer_auth(&self.token)
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-06-18")
            .json(&body);
        if !self.session.is_empty() {
            request = request.header("mcp-session-id", &self.session);
        }
        request.send().await.expect("an answer")
    }

    /// The JSON-RPC answer to one request: its `result` or its `error`.
    pub(crate) async fn request(&self, method: &str, params: Value) -> Result<Value, Value> {
        let response = self.post(json!({"jsonrpc": "2.0", "id": 7, "method": method, "params": params})).await;
        assert_eq!(response.status(), StatusCode::OK, "{method}");
        let text = response.text().await.expect("a body");
        let answer: Value = text
            .lines()
            .filter_map(|line| line.strip_prefix("data:"))
            .filter_map(|data| serde_json::from_str::<Value>(data.trim()).ok())
            .find(|message| message["id"] == 7)
            .unwrap_or_else(|| panic!("no answer to {method} in {text}"));
        match answer.get("error") {
            Some(error) => Err(error.clone()),
            None => Ok(answer["result"].clone()),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_prompts_and_resources_need_the_scope_of_what_they_do() {
    let data = DataDir::new();
    let server = Server::start(&data, &oauth_env()).await;
    let http = reqwest::Client::new();
    let (id, secret) = trusted_client(&http, &server, KEY).await;
    let reader = McpSession::open(&http, &server, &token_with_scope(&http, &server, &id, &secret, "read").await).await;
    let writer =
        McpSession::open(&http, &server, &token_with_scope(&http, &server, &id, &secret, "read write").await).await;
    let session = |topic: &str| json!({"name": "learning_session", "arguments": {"topic": topic, "key_points": "scopes, prompts"}});

    let refused = reader.request("prompts/get", session("read tokens")).await.expect_err("a read token cannot store");
    assert!(refused["message"].as_str().is_some_and(|m| m.contains("insufficient_scope")), "{refused}");
    let stored = writer.request("prompts/get", session("write tokens")).await.expect("a write token may store");
    assert!(stored["messages"][0]["content"]["text"].as_str().is_some_and(|t| t.contains("I stored")), "{stored}");

    // A prompt that only reads, and the resources, need read only.
    let review = reader.request("prompts/get", json!({"name": "memory_review", "arguments": {"time_period": "today"}}));
    let review = review.await.expect("a read token may review");
    assert!(review["messages"][0]["content"]["text"].as_str().is_some_and(|t| t.contains("write tokens")), "{review}");
    let recent = reader.request("resources/read", json!({"uri": "memory://recent/10"})).await.expect("read");
    let text = recent["contents"][0]["text"].as_str().expect("a JSON text");
    let recent: Value = serde_json::from_str(text).expect("JSON");
    let topics: Vec<&str> =
        recent["memories"].as_array().expect("memories").iter().filter_map(|m| m["topic"].as_str()).collect();
    assert_eq!(topics, ["write tokens"], "only the write token's session was stored: {recent}");
}

/// The dashboard with an OAuth session (`python/oauth_dashboard_check.py`, headless Chromium): a token with
/// read and write works where the key does, live stream included, and "Forget…" without the admin scope is
/// refused in the dialog, the memory untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_works_with_an_oauth_token_and_refuses_a_redaction_without_admin() {
    let data = DataDir::new();
    let server = Server::start(&data, &oauth_env()).await;
    let http = reqwest::Client::new();
    let (id, secret) = trusted_client(&http, &server, KEY).await;
    let token = token_with_scope(&http, &server, &id, &secret, "read write").await;
    let shots = crate::support::panel_shots();
    crate::support::browser_check(
        "oauth_dashboard_check.py",
        &[&server.url(""), &token, &shots.to_string_lossy()],
        &server,
    );
}
