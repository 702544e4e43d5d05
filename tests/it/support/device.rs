//! A device of the hybrid backend, black-box: a data directory, its `serve` process on the Cloudflare
//! stand-in with API-key auth, and an HTTP client that sends the key. It can be stopped gracefully (SIGTERM)
//! and started again on the same directory, so tests can run the CLI on its data between runs.

use super::cloudflare::Standin;
use super::{DataDir, Server, content_hash, signal};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

pub(crate) const API_KEY: &str = "sync-test-key";

/// The environment of a hybrid device on `standin`, with the API key, pulls every 0.3 s, and `extra`
/// (which wins over the defaults).
pub(crate) fn env(standin: &Standin, extra: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    let mut env = standin.env();
    env.push(("MCP_MEMORY_STORAGE_BACKEND", "hybrid".into()));
    env.push(("MCP_API_KEY", API_KEY.into()));
    env.push(("MCP_HYBRID_SYNC_INTERVAL", "0.3".into()));
    env.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    env
}

/// A device: a data directory and its hybrid server.
pub(crate) struct Device {
    pub(crate) data: DataDir,
    pub(crate) server: Server,
    pub(crate) client: reqwest::Client,
    /// The server's environment, kept for restarts and for CLI commands on the same data.
    env: Vec<(&'static str, String)>,
}

impl Device {
    pub(crate) async fn start(standin: &Standin, extra: &[(&'static str, &str)]) -> Device {
        Device::start_on(DataDir::new(), standin, extra).await
    }

    pub(crate) async fn start_on(data: DataDir, standin: &Standin, extra: &[(&'static str, &str)]) -> Device {
        Device::start_with(data, env(standin, extra)).await
    }

    async fn start_with(data: DataDir, env: Vec<(&'static str, String)>) -> Device {
        let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let server = Server::start(&data, &pairs).await;
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("authorization", format!("Bearer {API_KEY}").parse().expect("a header value"));
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .default_headers(headers)
            .build()
            .expect("an HTTP client");
        Device { data, server, client, env }
    }

    /// Stops the server gracefully (SIGTERM; it must exit within 60 s) and returns the data directory
    /// with the server's environment.
    pub(crate) fn stop(self) -> (DataDir, Vec<(&'static str, String)>) {
        let Device { data, mut server, env, .. } = self;
        signal(server.pid(), "TERM");
        let status = server.wait_exit(Duration::from_secs(60));
        assert!(status.is_some(), "the server did not stop within 60 s of SIGTERM:\n{}", server.stderr());
        drop(server);
        (data, env)
    }

    /// Stops the server gracefully and starts it again on the same data directory and environment.
    pub(crate) async fn restart(self) -> Device {
        let (data, env) = self.stop();
        Device::start_with(data, env).await
    }

    /// Stops the server, runs the CLI with `args` on its data directory (with the server's environment),
    /// asserts it succeeded, and starts the server again; returns the device and the CLI's stdout.
    pub(crate) async fn with_cli(self, args: &[&str]) -> (Device, String) {
        let (data, env) = self.stop();
        let mut command = data.command(args);
        command.envs(env.iter().map(|(k, v)| (*k, v.as_str())));
        let output = command.stdin(std::process::Stdio::null()).output().expect("the CLI runs");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "`{}` failed ({}):\n{stdout}\n{}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        (Device::start_with(data, env).await, stdout)
    }

    /// One request; its status and JSON body (null when the body is not JSON). Asserts nothing.
    pub(crate) async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (reqwest::StatusCode, Value) {
        let mut request = self.client.request(method, self.server.url(path));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// One request that must succeed; its JSON body.
    pub(crate) async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let (status, value) = self.request(method.clone(), path, body).await;
        assert!(status.is_success(), "{method} {path}: {status} {value}");
        value
    }

    pub(crate) async fn store(&self, content: &str, tags: &[&str]) -> String {
        let stored =
            self.call(reqwest::Method::POST, "/api/memories", Some(json!({"content": content, "tags": tags}))).await;
        assert_eq!(stored["success"], true, "{stored}");
        content_hash(content)
    }

    pub(crate) async fn set_tags(&self, hash: &str, tags: &[&str]) {
        self.call(reqwest::Method::PUT, &format!("/api/memories/{hash}"), Some(json!({"tags": tags}))).await;
    }

    pub(crate) async fn delete(&self, hash: &str) {
        self.call(reqwest::Method::DELETE, &format!("/api/memories/{hash}"), None).await;
    }

    pub(crate) async fn status(&self) -> Value {
        self.call(reqwest::Method::GET, "/api/sync/status", None).await
    }

    /// Pushes and pulls now; fails the test when the round failed.
    pub(crate) async fn force(&self) -> Value {
        let forced = self.call(reqwest::Method::POST, "/api/sync/force", None).await;
        assert_eq!(forced["success"], true, "{forced}");
        forced
    }

    /// Waits until everything written here is in Cloudflare.
    pub(crate) async fn wait_pushed(&self) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let status = self.status().await;
            if status["operations_pending"] == 0 && status["status"] == "synced" {
                return status;
            }
            assert!(Instant::now() < deadline, "never synced: {status}\n{}", self.server.stderr());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Every live memory: hash → (tags, type, metadata, created_at, updated_at), as the API shows it.
    pub(crate) async fn memories(&self) -> BTreeMap<String, Value> {
        let page = self.call(reqwest::Method::GET, "/api/memories?page=1&page_size=100", None).await;
        page["memories"]
            .as_array()
            .expect("a page")
            .iter()
            .map(|m| {
                let key = m["content_hash"].as_str().expect("a hash").to_string();
                let value =
                    json!([m["content"], m["tags"], m["memory_type"], m["metadata"], m["created_at"], m["updated_at"]]);
                (key, value)
            })
            .collect()
    }
}
