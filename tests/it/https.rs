//! HTTPS through rustls, checked with a real TLS client (reqwest over rustls) that verifies the chain and
//! the host name: a certificate generated once into the data directory (its CA is what clients trust) and
//! kept across restarts, given certificate files, and a clear error for half a pair.

use crate::support::{DataDir, free_port, wait_exit};
use reqwest::StatusCode;
use serde_json::json;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

const KEY: &str = "https-test-key";

/// `serve` with HTTPS on a free port; returns the child and the port.
fn serve_https(data: &DataDir, env: &[(&str, &str)]) -> (Child, u16) {
    let port = free_port();
    let stderr = std::fs::File::create(data.path().join("serve.stderr")).expect("log file");
    let child = data
        .command(&["serve"])
        .env("MCP_HTTPS_ENABLED", "true")
        .env("MCP_HTTPS_PORT", port.to_string())
        .env("MCP_API_KEY", KEY)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("start the server");
    (child, port)
}

/// A client that trusts only `ca` and reaches `localhost` at 127.0.0.1.
fn client(ca: &Path, port: u16) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(&std::fs::read(ca).expect("read the CA")).expect("a PEM certificate");
    reqwest::Client::builder()
        .tls_certs_only([ca])
        .resolve("localhost", ([127, 0, 0, 1], port).into())
        .timeout(Duration::from_secs(10))
        .build()
        .expect("a TLS client")
}

/// Waits until `GET /api/health` answers 200 over HTTPS.
async fn wait_healthy(child: &mut Child, data: &DataDir, client: &reqwest::Client, port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().expect("poll") {
            let log = std::fs::read_to_string(data.path().join("serve.stderr")).unwrap_or_default();
            panic!("the server exited ({status}):\n{log}");
        }
        if let Ok(answer) = client.get(format!("https://localhost:{port}/api/health")).send().await
            && answer.status() == StatusCode::OK
        {
            return;
        }
        assert!(Instant::now() < deadline, "no healthy HTTPS answer within 30 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_serves_with_a_generated_certificate_that_clients_can_trust_and_that_is_kept() {
    let data = DataDir::new();
    let (mut child, port) = serve_https(&data, &[]);
    let tls = data.path().join("tls");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !tls.join("ca.pem").exists() {
        assert!(Instant::now() < deadline && child.try_wait().expect("poll").is_none(), "no certificate generated");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let https = client(&tls.join("ca.pem"), port);
    wait_healthy(&mut child, &data, &https, port).await;
    let mode = std::fs::metadata(tls.join("key.pem")).expect("the key").permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the private key is readable by its owner only");

    let url = |path: &str| format!("https://localhost:{port}{path}");
    let stored = https
        .post(url("/api/memories"))
        .bearer_auth(KEY)
        .json(&json!({"content": "Served over TLS", "tags": ["tls"]}))
        .send()
        .await
        .expect("store over HTTPS");
    assert_eq!(stored.status(), StatusCode::OK);
    let unauthorised = https.get(url("/api/memories")).send().await.expect("an answer");
    assert_eq!(unauthorised.status(), StatusCode::UNAUTHORIZED, "auth is the same over HTTPS");
    // A client that does not trust the CA is refused by its own verification, and plain HTTP gets no answer.
    let stranger =
        reqwest::Client::builder().resolve("localhost", ([127, 0, 0, 1], port).into()).build().expect("client");
    assert!(stranger.get(url("/api/health")).send().await.is_err(), "an untrusted certificate is refused");
    let plain = reqwest::Client::new().get(format!("http://127.0.0.1:{port}/api/health")).send().await;
    assert!(plain.map(|r| r.status() != StatusCode::OK).unwrap_or(true), "plain HTTP is not served");
    // The certificate names localhost and 127.0.0.1, not other names.
    let wrong = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&std::fs::read(tls.join("ca.pem")).expect("ca")).expect("pem")])
        .resolve("memory.example", ([127, 0, 0, 1], port).into())
        .build()
        .expect("client");
    assert!(wrong.get(format!("https://memory.example:{port}/api/health")).send().await.is_err());

    crate::support::signal(child.id(), "TERM");
    assert!(wait_exit(&mut child, Duration::from_secs(30)).is_some_and(|s| s.success()), "a clean exit");
    let certificate = std::fs::read(tls.join("cert.pem")).expect("the certificate");
    let (mut child, port) = serve_https(&data, &[]);
    let https = client(&tls.join("ca.pem"), port);
    wait_healthy(&mut child, &data, &https, port).await;
    assert_eq!(std::fs::read(tls.join("cert.pem")).expect("the certificate"), certificate, "kept across restarts");
    let listed: serde_json::Value = https
        .get(format!("https://localhost:{port}/api/memories"))
        .bearer_auth(KEY)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("JSON");
    assert_eq!(listed["total"], 1, "{listed}");
    let _ = child.kill();
    let _ = child.wait();

    // Given files: served as they are (here, copies of the generated ones in another place).
    let elsewhere = DataDir::new();
    let (cert, key) = (elsewhere.path().join("server.pem"), elsewhere.path().join("server.key"));
    std::fs::copy(tls.join("cert.pem"), &cert).expect("copy");
    std::fs::copy(tls.join("key.pem"), &key).expect("copy");
    let given =
        [("MCP_SSL_CERT_FILE", cert.to_str().expect("utf-8")), ("MCP_SSL_KEY_FILE", key.to_str().expect("utf-8"))];
    let (mut child, port) = serve_https(&elsewhere, &given);
    wait_healthy(&mut child, &elsewhere, &client(&tls.join("ca.pem"), port), port).await;
    assert!(!elsewhere.path().join("tls").exists(), "nothing generated when files are given");
    let _ = child.kill();
    let _ = child.wait();

    // Half a pair is refused with a message that says what to do.
    let (mut child, _) = serve_https(&elsewhere, &given[..1]);
    let status = wait_exit(&mut child, Duration::from_secs(30)).expect("it exits");
    assert!(!status.success());
    let log = std::fs::read_to_string(elsewhere.path().join("serve.stderr")).expect("log");
    assert!(log.contains("MCP_SSL_CERT_FILE and MCP_SSL_KEY_FILE go together"), "{log}");
}
