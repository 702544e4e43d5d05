//! The Docker guide (docker/README.md, our version of the original's), walked step by step on this machine
//! without Docker: each test writes the `.env` a step of the guide writes, gives it to the real entrypoint
//! (`docker/entrypoint.sh`, running the binary under test) the way Compose gives it to the container, and
//! checks what the guide says happens. One test per scenario: the quick start with an API key, a pre-built
//! image, OAuth with the keys pasted into `.env` (and as files), authentication disabled for development,
//! an `.env` written for the original, MCP mode, and the Cloudflare backend against the local Cloudflare
//! (`tests/cloudflare-standin`), switched to from a local set-up.
//!
//! How Compose passes `.env` to the container, and how these tests mirror it:
//! - The compose files name `../.env` and `.env` (docker/.env) in `env_file`: Compose parses them itself
//!   and puts each variable in the container's environment. [`compose_env_file`] parses them as Compose's
//!   parser does (compose-go's dotenv) for the forms the guide writes, and the variables go into the
//!   entrypoint's environment. The service's own `.env` loading (dotenvy, from its working directory) plays
//!   no part in a container: `/app` holds no `.env`, and here the working directory (the data directory)
//!   holds none either. `oauth::keygen_prints_env_lines_that_configure_rs256` covers that other path.
//! - The compose files' `environment:` entries win over `env_file` (`MCP_MODE`, and `MCP_HTTP_PORT`, which
//!   Compose interpolates from docker/.env or the shell: here the shell's, a free port, stands in for it).
//! - Unlike a container, the entrypoint here inherits the test's own environment (less the service's
//!   variables, which `DataDir` removes), and the data directory is a temporary one, not `/app/data`.

use crate::support::{BIN, DataDir, Server, free_port};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const DOCKER_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docker");

/// The one warning line naming the variables nothing reads (`src/envcheck.rs`).
const UNREAD: &str = "ignoring environment variables this service does not read";

/// The variables an `env_file` gives a container, parsed as Compose parses it (compose-go's dotenv parser,
/// which `docker compose` uses) for the forms the guide writes: blank lines and `#` comments; `NAME=value`,
/// the value ending at the end of the line or at a `#`, trailing blanks dropped; values in single or double
/// quotes, which run to the closing quote, across lines (a PEM key), double quotes also turning `\n` into a
/// newline. Compose's `$VAR` substitution is not mirrored: no value in the guide has a `$`, and this fails
/// on one rather than mistake it.
fn compose_env_file(text: &str) -> Vec<(String, String)> {
    let mut variables = Vec::new();
    let mut rest = text;
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            return variables;
        }
        if rest.starts_with('#') {
            rest = rest.split_once('\n').map_or("", |(_, after)| after);
            continue;
        }
        let end = rest.find(['=', '\n']).unwrap_or(rest.len());
        assert!(rest[end..].starts_with('='), "not NAME=value (Compose would take the shell's value): {rest:.40}");
        let name = rest[..end].trim().to_string();
        let after = rest[end + 1..].trim_start_matches([' ', '\t']);
        let (value, next) = match after.chars().next() {
            Some(quote @ ('"' | '\'')) => {
                let bytes = after.as_bytes();
                let close = (1..bytes.len())
                    .find(|&i| bytes[i] == quote as u8 && bytes[i - 1] != b'\\')
                    .unwrap_or_else(|| panic!("unterminated quoted value for {name}"));
                let raw = &after[1..close];
                let value = if quote == '"' { raw.replace("\\n", "\n").replace("\\r", "\r") } else { raw.into() };
                (value, &after[close + 1..])
            }
            _ => {
                let line_end = after.find('\n').unwrap_or(after.len());
                let value = after[..line_end].split('#').next().unwrap_or_default().trim_end();
                (value.to_string(), &after[line_end..])
            }
        };
        assert!(!value.contains('$'), "{name}: Compose would substitute the $ in its value; the guide has none");
        variables.push((name, value));
        rest = next;
    }
}

/// One of the compose files, and what its `environment:` sets for the container.
#[derive(Clone, Copy)]
enum Compose {
    /// `docker-compose.slim.yml`, the one the guide recommends (HTTP mode).
    Slim,
    /// `docker-compose.mcp.yml` (MCP mode).
    Mcp,
}

impl Compose {
    fn file(self) -> PathBuf {
        Path::new(DOCKER_DIR).join(match self {
            Compose::Slim => "docker-compose.slim.yml",
            Compose::Mcp => "docker-compose.mcp.yml",
        })
    }

    /// The `MCP_MODE` the file's `environment:` sets (read from the file, so the test follows it).
    fn mode(self) -> String {
        let text = std::fs::read_to_string(self.file()).expect("read the compose file");
        let line = text.lines().find(|line| line.trim_start().starts_with("MCP_MODE:")).expect("MCP_MODE is set");
        line.split(':').nth(1).expect("a value").trim().to_string()
    }
}

/// A walk through the guide: the folder the guide's `.env` is written in (the repository's `docker/`) and the
/// data directory (`./data`, the container's `/app/data`).
struct Guide {
    docker: tempfile::TempDir,
    data: DataDir,
}

impl Guide {
    fn new() -> Guide {
        Guide {
            docker: tempfile::Builder::new().prefix("mms-guide-").tempdir().expect("a temp dir"),
            data: DataDir::new(),
        }
    }

    fn env_path(&self) -> PathBuf {
        self.docker.path().join(".env")
    }

    /// `cp env.template .env`.
    fn copy_template(&self) {
        std::fs::copy(Path::new(DOCKER_DIR).join("env.template"), self.env_path()).expect("cp env.template .env");
    }

    /// Writes `.env` as the guide shows it.
    fn write_env(&self, text: &str) {
        std::fs::write(self.env_path(), text).expect("write .env");
    }

    /// `echo "LINE" >> .env`.
    fn append_env(&self, line: &str) {
        let mut file = std::fs::OpenOptions::new().append(true).create(true).open(self.env_path()).expect("open .env");
        writeln!(file, "{line}").expect("append to .env");
    }

    /// The value `.env` gives a variable, as Compose reads it.
    fn env_value(&self, name: &str) -> Option<String> {
        let text = std::fs::read_to_string(self.env_path()).expect("read .env");
        compose_env_file(&text).into_iter().rev().find(|(n, _)| n == name).map(|(_, value)| value)
    }

    /// The container's entrypoint as `docker compose -f <file> up` starts it: `.env` as `env_file`, then the
    /// file's `environment:` (`MCP_MODE`; in HTTP mode `MCP_HTTP_PORT`, which `port` stands in for).
    fn container(&self, compose: Compose, port: Option<u16>) -> Command {
        let mut command = self.data.command_for("sh", &[concat!(env!("CARGO_MANIFEST_DIR"), "/docker/entrypoint.sh")]);
        for name in ["MCP_MODE", "HTTP_PORT", "MEMORY_IMAGE", "MMS_USER"] {
            command.env_remove(name);
        }
        command.env("MMS_BIN", BIN);
        if let Ok(text) = std::fs::read_to_string(self.env_path()) {
            command.envs(compose_env_file(&text));
        }
        command.env("MCP_MODE", compose.mode());
        if let Some(port) = port {
            command.env("MCP_HTTP_PORT", port.to_string());
        }
        command
    }

    /// `docker compose -f docker-compose.slim.yml up -d`, then waiting for the container to be healthy.
    async fn up(&self) -> Server {
        let port = free_port();
        Server::spawn(&self.data, self.container(Compose::Slim, Some(port)), port).wait_healthy().await
    }
}

/// `mcp-memory-service keygen`: the API key line and the whole output (`docker run --rm IMAGE keygen`).
fn keygen(data: &DataDir) -> (String, String) {
    let printed = data.ok(&["keygen"]);
    let key = printed.lines().find_map(|line| line.strip_prefix("MCP_API_KEY=")).expect("an API key line").to_string();
    (key, printed)
}

/// The status of `curl [-H "Authorization: Bearer KEY"] URL`.
async fn curl(server: &Server, path: &str, key: Option<&str>) -> (StatusCode, Value) {
    let mut request = reqwest::Client::new().get(server.url(path));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let response = request.send().await.expect("the server answers");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The guide's "Testing" section: health public, the API 401 without the key and 200 with it.
async fn authentication_works(server: &Server, key: &str) {
    let (status, health) = curl(server, "/api/health", None).await;
    assert_eq!((status, &health["status"]), (StatusCode::OK, &json!("healthy")), "health is public");
    let (status, body) = curl(server, "/api/memories", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "without the key: {body}");
    assert_eq!(body["detail"]["error"], "authorization_required", "{body}");
    let (status, body) = curl(server, "/api/memories", Some(key)).await;
    assert_eq!(status, StatusCode::OK, "with the key: {body}");
}

/// How many lines of `log` contain `text`.
fn lines_with(log: &str, text: &str) -> usize {
    log.lines().filter(|line| line.contains(text)).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quick_start_the_template_and_an_api_key_guard_the_api_and_data_lands_in_the_volume() {
    // Scenario 1, local build: cp env.template .env, set MCP_API_KEY, docker compose -f docker-compose.slim.yml up -d.
    let guide = Guide::new();
    guide.copy_template();
    let (key, _) = keygen(&guide.data);
    guide.append_env(&format!("MCP_API_KEY={key}"));
    let server = guide.up().await;
    // The TL;DR's check: the health route, with the key (public, so the key changes nothing).
    let (status, health) = curl(&server, "/api/health", Some(&key)).await;
    assert_eq!((status, &health["status"]), (StatusCode::OK, &json!("healthy")));
    authentication_works(&server, &key).await;
    let log = server.stderr();
    assert_eq!(lines_with(&log, UNREAD), 0, "the template sets nothing the service does not read:\n{log}");
    assert_eq!(lines_with(&log, "every route is open"), 0, "{log}");

    // Volume mounts: the database and the backups are in the data directory (the container's /app/data).
    let backup = reqwest::Client::new().post(server.url("/api/backup/now")).bearer_auth(&key).send().await;
    assert_eq!(backup.expect("POST /api/backup/now").status(), StatusCode::OK);
    for path in ["events.redb", "sqlite_vec.db", "backups"] {
        assert!(guide.data.path().join(path).exists(), "{path} is in the data volume");
    }
    let backups = std::fs::read_dir(guide.data.path().join("backups")).expect("the backups folder").count();
    assert!(backups > 0, "the backup is in data/backups");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pre_built_image_is_named_by_memory_image_in_env() {
    // Scenario 2: cp env.template .env; echo "MEMORY_IMAGE=..." >> .env; echo "MCP_API_KEY=$(openssl rand -hex 32)" >> .env.
    let guide = Guide::new();
    guide.copy_template();
    guide.append_env("MEMORY_IMAGE=registry.example.org/mcp-memory:v1");
    let (key, _) = keygen(&guide.data); // the same form as `openssl rand -hex 32` (see oauth.rs)
    guide.append_env(&format!("MCP_API_KEY={key}"));
    // Compose reads MEMORY_IMAGE from this .env for `image:` in every compose file.
    assert_eq!(guide.env_value("MEMORY_IMAGE").as_deref(), Some("registry.example.org/mcp-memory:v1"));
    for file in ["docker-compose.yml", "docker-compose.slim.yml", "docker-compose.mcp.yml"] {
        let text = std::fs::read_to_string(Path::new(DOCKER_DIR).join(file)).expect("read a compose file");
        assert!(text.contains("image: ${MEMORY_IMAGE:-mcp-memory-service:latest}"), "{file} honours MEMORY_IMAGE");
        assert!(text.contains("      - path: .env\n"), "{file} passes docker/.env to the container");
    }
    // The container gets MEMORY_IMAGE too (env_file passes every line): a Docker variable, so no warning.
    let server = guide.up().await;
    authentication_works(&server, &key).await;
    assert_eq!(lines_with(&server.stderr(), UNREAD), 0, "{}", server.stderr());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth_with_the_keygen_keys_pasted_into_env_issues_tokens_signed_with_them() {
    // Option 2 and scenario 3: keygen's lines pasted into .env (the PEM keys in double quotes over several
    // lines, as the guide shows them), plus the guide's other OAuth lines.
    let guide = Guide::new();
    let (key, printed) = keygen(&guide.data);
    assert!(printed.contains("MCP_OAUTH_PRIVATE_KEY=\"-----BEGIN PRIVATE KEY-----\n"), "{printed}");
    guide.write_env(&format!(
        "MCP_OAUTH_ENABLED=true\n{printed}\nMCP_OAUTH_ISSUER=http://localhost:8000\nMCP_OAUTH_ACCESS_TOKEN_EXPIRE_MINUTES=60\n"
    ));
    let private = guide.env_value("MCP_OAUTH_PRIVATE_KEY").expect("the private key");
    assert!(private.starts_with("-----BEGIN PRIVATE KEY-----\n") && private.ends_with("-----END PRIVATE KEY-----"));
    assert!(private.lines().count() > 20, "the whole multi-line key reaches the container");
    let public = guide.env_value("MCP_OAUTH_PUBLIC_KEY").expect("the public key");
    let server = guide.up().await;
    authentication_works(&server, &key).await;
    let tokens = oauth_works(&server, &key).await;
    // Signed with the pasted key, and no key of its own made.
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&["mcp-memory-service"]);
    validation.set_issuer(&["http://localhost:8000"]);
    let decoding = jsonwebtoken::DecodingKey::from_rsa_pem(public.as_bytes()).expect("the pasted public key");
    jsonwebtoken::decode::<Value>(&tokens, &decoding, &validation).expect("a token signed with the pasted key");
    assert!(!guide.data.path().join("oauth/jwt-private.pem").exists(), "no key is made when one is configured");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth_keys_can_be_files_in_the_data_volume() {
    // The *_PATH form: the PEM files in ./data, named by their path inside the container.
    let guide = Guide::new();
    let (key, printed) = keygen(&guide.data);
    let pem = |name: &str| {
        let start = printed.find(&format!("{name}=\"")).expect("a key line") + name.len() + 2;
        printed[start..].split('"').next().expect("a quoted key").to_string()
    };
    for (name, file) in [("MCP_OAUTH_PRIVATE_KEY", "oauth-private.pem"), ("MCP_OAUTH_PUBLIC_KEY", "oauth-public.pem")] {
        std::fs::write(guide.data.path().join(file), pem(name)).expect("write a PEM file");
    }
    let data = guide.data.path().display();
    guide.write_env(&format!(
        "MCP_API_KEY={key}\nMCP_OAUTH_ENABLED=true\nMCP_OAUTH_PRIVATE_KEY_PATH={data}/oauth-private.pem\n\
         MCP_OAUTH_PUBLIC_KEY_PATH={data}/oauth-public.pem\nMCP_OAUTH_ISSUER=http://localhost:8000\n"
    ));
    let server = guide.up().await;
    oauth_works(&server, &key).await;
    assert!(!guide.data.path().join("oauth/jwt-private.pem").exists(), "the files' key is used");
}

/// OAuth discovery answers, a client registered with the API key gets a token by client credentials, and
/// the token opens the API. Returns the access token.
async fn oauth_works(server: &Server, key: &str) -> String {
    let http = reqwest::Client::new();
    let (status, metadata) = curl(server, "/.well-known/oauth-authorization-server", None).await;
    assert_eq!(status, StatusCode::OK, "OAuth discovery: {metadata}");
    assert_eq!(metadata["issuer"], "http://localhost:8000", "{metadata}");
    assert_eq!(metadata["token_endpoint"], "http://localhost:8000/oauth/token", "{metadata}");
    let (id, secret) = crate::oauth::trusted_client(&http, server, key).await;
    let token = crate::oauth::client_credentials(&http, server, &id, &secret).await;
    let access = token["access_token"].as_str().unwrap_or_else(|| panic!("a token: {token}")).to_string();
    assert_eq!(curl(server, "/api/memories", Some(&access)).await.0, StatusCode::OK, "the token opens the API");
    access
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabling_authentication_takes_anonymous_access_and_the_start_says_everything_is_open() {
    // The original's "disable authentication": OAuth off and MCP_API_KEY empty. Here every route but the
    // health check then answers 401, and the start says so and how to open it.
    let guide = Guide::new();
    guide.write_env("MCP_OAUTH_ENABLED=false\nMCP_API_KEY=\n");
    {
        let server = guide.up().await;
        let (status, body) = curl(&server, "/api/memories", None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        let log = server.stderr();
        assert_eq!(lines_with(&log, "answers 401"), 1, "an empty key is no key, and the start says so:\n{log}");
    }
    // Development only: anonymous access. One loud line says the port is open to anyone.
    guide.append_env("MCP_ALLOW_ANONYMOUS_ACCESS=true");
    let server = guide.up().await;
    let (status, body) = curl(&server, "/api/memories", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let log = server.stderr();
    let open: Vec<&str> = log.lines().filter(|line| line.contains("every route is open")).collect();
    assert_eq!(open.len(), 1, "{log}");
    assert!(open[0].contains("WARN") && open[0].contains(&format!("0.0.0.0:{}", server.port)), "{}", open[0]);
}

/// An `.env` written for the original's Docker set-up (v5 to v8.9), with the variables it read that this
/// service does without (ChromaDB, ONNX, the standalone mode, consolidation) and the Python ones.
fn original_env(data: &Path) -> String {
    let data = data.display();
    format!(
        "# .env of the original service\n\
         MCP_MEMORY_STORAGE_BACKEND=sqlite_vec\n\
         MCP_MEMORY_SQLITE_PATH={data}/sqlite_vec.db\n\
         MCP_MEMORY_BACKUPS_PATH={data}/backups\n\
         MCP_MEMORY_USE_ONNX=1\n\
         MCP_MEMORY_CHROMA_PATH=/app/chroma_db\n\
         MCP_MEMORY_CHROMADB_HOST=chroma.internal\n\
         MCP_STANDALONE_MODE=1\n\
         MCP_CONSOLIDATION_ENABLED=false\n\
         MCP_HTTP_HOST=0.0.0.0\n\
         MCP_OAUTH_ENABLED=false\n\
         MCP_MDNS_ENABLED=false\n\
         LOG_LEVEL=INFO\n\
         PYTHONPATH=/app/src\n\
         HF_HOME=/root/.cache/huggingface\n"
    )
}

const LEGACY: &[&str] =
    &["MCP_MEMORY_USE_ONNX", "MCP_MEMORY_CHROMA_PATH", "MCP_MEMORY_CHROMADB_HOST", "MCP_STANDALONE_MODE"];

/// The one warning naming the legacy variables: each named, with no value and nothing else.
fn assert_one_legacy_warning(log: &str) {
    let warnings: Vec<&str> = log.lines().filter(|line| line.contains(UNREAD)).collect();
    assert_eq!(warnings.len(), 1, "one warning:\n{log}");
    for name in LEGACY {
        assert!(warnings[0].contains(name), "{name} is named: {}", warnings[0]);
    }
    assert!(warnings[0].contains("ChromaDB") && warnings[0].contains("not needed"), "{}", warnings[0]);
    for other in ["PYTHONPATH", "HF_HOME", "chroma.internal", "/app/chroma_db", "MCP_API_KEY"] {
        assert!(!warnings[0].contains(other), "{other} is none of its business: {}", warnings[0]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_env_from_the_original_keeps_working_and_adopting_a_key_is_one_line() {
    // Migration, step 1: the original's .env as it is. The service starts; the variables it does not need
    // are named once; without a key the API is closed (the original left it open).
    let guide = Guide::new();
    guide.write_env(&original_env(guide.data.path()));
    {
        let server = guide.up().await;
        let log = server.stderr();
        assert_one_legacy_warning(&log);
        assert_eq!(curl(&server, "/api/memories", None).await.0, StatusCode::UNAUTHORIZED);
        assert_eq!(lines_with(&log, "answers 401"), 1, "{log}");
    }
    // Step 2: add the API key, one line.
    let (key, _) = keygen(&guide.data);
    guide.append_env(&format!("MCP_API_KEY={key}"));
    let server = guide.up().await;
    authentication_works(&server, &key).await;
    assert_one_legacy_warning(&server.stderr());
}

#[test]
fn mcp_mode_answers_initialize_with_the_original_env_and_exits_cleanly() {
    // docker compose -f docker-compose.mcp.yml (or docker run -i -e MCP_MODE=mcp) with the original's .env.
    let guide = Guide::new();
    guide.write_env(&original_env(guide.data.path()));
    let (answer, status, log) =
        crate::support::mcp_initialize_then_close(&mut guide.container(Compose::Mcp, None), "docker-guide");
    assert_eq!(answer["result"]["serverInfo"]["name"], "mcp-memory-service", "{answer}");
    assert!(status.expect("it ends when its input does").success(), "exit status: {status:?}\n{log}");
    assert_one_legacy_warning(&log);
}

/// The guide's Cloudflare lines, filled in for the local Cloudflare (plus our `CLOUDFLARE_API_BASE_URL`,
/// which a real set-up leaves at Cloudflare's address).
fn append_cloudflare(guide: &Guide, standin: &crate::support::cloudflare::Standin, backend: &str) {
    guide.append_env(&format!("MCP_MEMORY_STORAGE_BACKEND={backend}"));
    for (name, value) in standin.env() {
        guide.append_env(&format!("{name}={value}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cloudflare_backend_runs_against_cloudflare_and_switching_backend_keeps_the_data() {
    // Migration step 4 starts from a running local set-up with memories in ./data.
    let standin = crate::support::cloudflare::Standin::start();
    let guide = Guide::new();
    guide.copy_template();
    let (key, _) = keygen(&guide.data);
    guide.append_env(&format!("MCP_API_KEY={key}"));
    let server = guide.up().await;
    let stored = reqwest::Client::new()
        .post(server.url("/api/memories"))
        .bearer_auth(&key)
        .json(&json!({"content": "stored before the switch to Cloudflare", "tags": ["local"]}))
        .send()
        .await
        .expect("the server answers");
    assert_eq!(stored.status(), StatusCode::OK);
    drop(server);

    // Scenario 4: MCP_MEMORY_STORAGE_BACKEND=cloudflare and the CLOUDFLARE_* lines in .env, then up -d.
    append_cloudflare(&guide, &standin, "cloudflare");
    let server = guide.up().await;
    authentication_works(&server, &key).await;
    let (status, sync) = curl(&server, "/api/sync/status", Some(&key)).await;
    assert_eq!((status, &sync["backend"]), (StatusCode::OK, &json!("cloudflare")), "{sync}");
    let stored = reqwest::Client::new()
        .post(server.url("/api/memories"))
        .bearer_auth(&key)
        .json(&json!({"content": "stored through the cloudflare backend", "tags": ["cloud"]}))
        .send()
        .await
        .expect("the server answers");
    assert_eq!(stored.status(), StatusCode::OK);
    // Acknowledged once Cloudflare has it; the memory from before the switch went out too.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while standin.d1_count("SELECT COUNT(*) AS n FROM memories").await < 2 {
        assert!(std::time::Instant::now() < deadline, "the earlier memory never reached D1:\n{}", server.stderr());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let found: Value = reqwest::Client::new()
        .post(server.url("/api/search"))
        .bearer_auth(&key)
        .json(&json!({"query": "stored through the cloudflare backend", "n_results": 1}))
        .send()
        .await
        .expect("the server answers")
        .json()
        .await
        .expect("JSON");
    assert_eq!(found["results"][0]["memory"]["content"], "stored through the cloudflare backend", "{found}");
    let log = server.stderr();
    assert_eq!(lines_with(&log, UNREAD), 0, "every Cloudflare variable of the guide is read:\n{log}");
}

#[test]
fn the_env_file_parser_reads_what_compose_reads() {
    let text = "# comment\n\nA=plain # comment\nB=\"two\nlines\"\n  C='single kept'\nD=\nE=\"esc\\naped\"\n";
    let parsed = compose_env_file(text);
    let expected = [("A", "plain"), ("B", "two\nlines"), ("C", "single kept"), ("D", ""), ("E", "esc\naped")];
    let expected: Vec<(String, String)> = expected.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
    assert_eq!(parsed, expected);
}
