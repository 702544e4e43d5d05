//! The local Cloudflare (`tests/cloudflare-standin`) as a test fixture: started on a free port with one D1
//! database, one 768-dimension Vectorize index and one R2 bucket; the environment that points the service's
//! production client at it; and its control API (faults, outage, request counts, Vectorize flush).

use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub(crate) const TOKEN: &str = "test-token-not-secret";
const ACCOUNT: &str = "0123456789abcdef0123456789abcdef";
const D1: &str = "d1-memories";
const INDEX: &str = "memories-768";
const BUCKET: &str = "memories-content";

/// The stand-in's binary, beside the service's in the target directory; built first when missing (a
/// `cargo test --test it` run builds only this package's binaries).
fn binary() -> PathBuf {
    let dir = std::path::Path::new(super::BIN).parent().expect("the binary has a directory");
    let path = dir.join("cloudflare-standin");
    if !path.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "-p", "mms-cloudflare-standin", "--bin", "cloudflare-standin"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("run cargo to build the Cloudflare stand-in");
        assert!(status.success(), "building the Cloudflare stand-in failed");
    }
    path
}

/// A running stand-in; killed on drop.
pub(crate) struct Standin {
    child: Child,
    pub(crate) url: String,
    client: reqwest::Client,
}

impl Standin {
    pub(crate) fn start() -> Standin {
        Standin::start_with(&[])
    }

    /// Starts with extra flags (`--vectorize-delay-ms`, `--rate-limit`...).
    pub(crate) fn start_with(extra: &[&str]) -> Standin {
        let mut child = Command::new(binary())
            .args(["--listen", "127.0.0.1:0", "--token", TOKEN, "--account", ACCOUNT, "--d1-database", D1])
            .args(["--vectorize-index", &format!("{INDEX}:768"), "--r2-bucket", BUCKET])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the Cloudflare stand-in");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("read the stand-in's first line");
        let url = line.trim().rsplit(' ').next().expect("a URL").to_string();
        assert!(url.starts_with("http://"), "unexpected start-up line: {line}");
        let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("an HTTP client");
        Standin { child, url, client }
    }

    /// The variables that point the service at this stand-in, with short retry delays.
    pub(crate) fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("CLOUDFLARE_API_TOKEN", TOKEN.into()),
            ("CLOUDFLARE_ACCOUNT_ID", ACCOUNT.into()),
            ("CLOUDFLARE_D1_DATABASE_ID", D1.into()),
            ("CLOUDFLARE_VECTORIZE_INDEX", INDEX.into()),
            ("CLOUDFLARE_R2_BUCKET", BUCKET.into()),
            ("CLOUDFLARE_API_BASE_URL", format!("{}/client/v4", self.url)),
            ("CLOUDFLARE_BASE_DELAY", "0.05".into()),
            ("CLOUDFLARE_MAX_RETRIES", "2".into()),
            ("MMS_CLOUDFLARE_TIMEOUT_SECONDS", "5".into()),
        ]
    }

    fn api(&self, path: &str) -> String {
        format!("{}/client/v4/accounts/{ACCOUNT}{path}", self.url)
    }

    /// Runs SQL in the D1 database and returns the rows.
    pub(crate) async fn d1(&self, sql: &str, params: Value) -> Vec<Value> {
        let reply: Value = self
            .client
            .post(self.api(&format!("/d1/database/{D1}/query")))
            .bearer_auth(TOKEN)
            .json(&json!({"sql": sql, "params": params}))
            .send()
            .await
            .expect("D1 answers")
            .json()
            .await
            .expect("D1 answers JSON");
        assert_eq!(reply["success"], true, "D1 failed: {reply}");
        reply["result"][0]["results"].as_array().cloned().unwrap_or_default()
    }

    /// One number from a D1 query (`SELECT COUNT(*) AS n ...`).
    pub(crate) async fn d1_count(&self, sql: &str) -> i64 {
        self.d1(sql, json!([])).await.first().and_then(|row| row["n"].as_i64()).expect("a count")
    }

    /// A Vectorize call on the index, after making every pending write visible; its `result`.
    async fn vectorize(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        self.control_post("/__standin/vectorize/flush", json!({})).await;
        let mut request =
            self.client.request(method, self.api(&format!("/vectorize/v2/indexes/{INDEX}{path}"))).bearer_auth(TOKEN);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let reply: Value = request.send().await.expect("Vectorize answers").json().await.expect("JSON");
        reply["result"].clone()
    }

    /// The index's vector count, every write visible.
    pub(crate) async fn vector_count(&self) -> u64 {
        self.vectorize(reqwest::Method::GET, "/info", None).await["vectorCount"].as_u64().expect("a vector count")
    }

    /// Vectors by id, every write visible.
    pub(crate) async fn vectors(&self, ids: &[String]) -> Vec<Value> {
        let found = self.vectorize(reqwest::Method::POST, "/get_by_ids", Some(json!({"ids": ids}))).await;
        found.as_array().cloned().unwrap_or_default()
    }

    /// The Workers AI vector of `text` under the service's default model (`@cf/baai/bge-base-en-v1.5`),
    /// read as the service reads it (JSON numbers as f64, then f32).
    pub(crate) async fn workers_ai_vector(&self, text: &str) -> Vec<f32> {
        let reply: Value = self
            .client
            .post(self.api("/ai/run/@cf/baai/bge-base-en-v1.5"))
            .bearer_auth(TOKEN)
            .json(&json!({"text": [text]}))
            .send()
            .await
            .expect("Workers AI answers")
            .json()
            .await
            .expect("JSON");
        let values = reply["result"]["data"][0].as_array().unwrap_or_else(|| panic!("no vector in {reply}"));
        values.iter().filter_map(Value::as_f64).map(|x| x as f32).collect()
    }

    /// The keys of the R2 bucket's objects.
    pub(crate) async fn r2_keys(&self) -> Vec<String> {
        let reply: Value = self
            .client
            .get(self.api(&format!("/r2/buckets/{BUCKET}/objects")))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("R2 answers")
            .json()
            .await
            .expect("JSON");
        let objects = reply["result"].as_array().cloned().unwrap_or_default();
        objects.iter().filter_map(|o| o["key"].as_str().map(String::from)).collect()
    }

    async fn control_post(&self, path: &str, body: Value) -> Value {
        let response =
            self.client.post(format!("{}{path}", self.url)).json(&body).send().await.expect("control API answers");
        assert!(response.status().is_success(), "control call {path} failed: {}", response.status());
        response.json().await.unwrap_or(Value::Null)
    }

    /// Replaces the fault rules (see the stand-in's README).
    pub(crate) async fn faults(&self, rules: Value) {
        self.control_post("/__standin/faults", json!({"rules": rules})).await;
    }

    /// Answers every API call as Cloudflare answers a revoked API token (`status`, 401 or 403, with the v4
    /// envelope's code 10000 "Authentication error"), the test's own D1 and Vectorize calls too, until
    /// `faults(json!([]))`.
    pub(crate) async fn refuse_token(&self, status: u16) {
        self.faults(json!([{"status": status, "code": 10000, "message": "Authentication error", "times": 0}])).await;
    }

    /// Takes the whole API off the network (every call's connection drops) or brings it back.
    pub(crate) async fn offline(&self, offline: bool) {
        self.control_post("/__standin/offline", json!({"offline": offline})).await;
    }

    /// API calls by route since the last reset.
    pub(crate) async fn requests(&self) -> Value {
        self.client
            .get(format!("{}/__standin/requests", self.url))
            .send()
            .await
            .expect("control API answers")
            .json()
            .await
            .expect("JSON")
    }

    pub(crate) async fn reset_requests(&self) {
        self.control_post("/__standin/requests/reset", json!({})).await;
    }
}

impl Drop for Standin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
