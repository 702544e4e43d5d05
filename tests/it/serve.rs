//! `serve`: the public health check (the original's four fields), degraded health without a model, a clear error on a busy port, and a
//! clean exit on SIGTERM.

use crate::support::{DataDir, Server, signal};
use serde_json::Value;
use std::time::{Duration, Instant};

async fn health(server: &Server) -> Value {
    let response = reqwest::get(server.url("/api/health")).await.expect("GET /api/health");
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    response.json().await.expect("a JSON body")
}

#[tokio::test]
async fn health_answers_with_the_originals_four_fields_and_nothing_about_the_store() {
    let data = DataDir::new();
    data.store("A memory stored before the server starts.", &[]);
    let server = Server::start(&data, &[]).await;
    let body = health(&server).await;
    let status = body["status"].as_str().unwrap_or_else(|| panic!("no status in {body}"));
    assert!(status == "healthy" || status == "degraded", "{body}");
    // The original's `status`, `version`, `timestamp`, `uptime_seconds`: no path, count or setting.
    let mut fields: Vec<&str> = body.as_object().expect("an object").keys().map(String::as_str).collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        ["status", "timestamp", "uptime_seconds", "version"],
        "a public health check leaks nothing else"
    );
    let missing = reqwest::get(server.url("/api/no-such-route")).await.expect("GET an unknown route");
    assert_eq!(missing.status(), reqwest::StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn health_is_degraded_when_the_model_cannot_load() {
    let data = DataDir::new();
    let nowhere = data.path().join("no-model-here");
    let server = Server::start(&data, &[("MCP_MEMORY_MODEL_DIR", nowhere.to_str().expect("UTF-8"))]).await;
    // The model loads in the background; its failure shows in the health status within moments.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let body = health(&server).await;
        if body["status"] == "degraded" {
            break;
        }
        assert_eq!(body["status"], "healthy", "{body}");
        assert!(Instant::now() < deadline, "still {body} without a model:\n{}", server.stderr());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(server.stderr().contains("install-assets"), "the log says how to fix it:\n{}", server.stderr());
}

#[tokio::test]
async fn sigint_shuts_the_server_down_cleanly() {
    let data = DataDir::new();
    let mut server = Server::start(&data, &[]).await;
    signal(server.pid(), "INT");
    let status = server.wait_exit(Duration::from_secs(10));
    let status = status.unwrap_or_else(|| panic!("still running 10 s after SIGINT:\n{}", server.stderr()));
    assert!(status.success(), "exit status {status} after SIGINT:\n{}", server.stderr());
}

#[tokio::test]
async fn logs_written_to_a_file_are_plain_text() {
    let data = DataDir::new();
    let server = Server::start(&data, &[]).await;
    let log = server.stderr();
    assert!(log.contains("serving"), "the server logs its start:\n{log}");
    assert!(!log.contains('\u{1b}'), "ANSI colour codes in a log that is not a terminal:\n{log:?}");
}

#[tokio::test]
async fn sigterm_shuts_the_server_down_cleanly() {
    let data = DataDir::new();
    let mut server = Server::start(&data, &[]).await;
    assert!(health(&server).await["status"].is_string());
    // The server holds the data directory: a second process is told so, and writes nothing.
    // Exit status 5, and the error points to the ways in while the server runs.
    let error = data.fails_with(5, &["store", "written while the server runs"]);
    assert!(error.contains("open in another process"), "{error}");
    assert!(error.contains("HTTP API") && error.contains("MCP tools"), "{error}");
    signal(server.pid(), "TERM");
    let status = server.wait_exit(Duration::from_secs(10));
    let status = status.unwrap_or_else(|| panic!("still running 10 s after SIGTERM:\n{}", server.stderr()));
    assert!(status.success(), "exit status {status} after SIGTERM:\n{}", server.stderr());
    assert!(reqwest::get(server.url("/api/health")).await.is_err(), "the port is closed after the exit");
    // The store was closed properly: the CLI opens it at once.
    assert_eq!(data.stats()["total_memories"], 0);
}

#[test]
fn a_busy_port_is_a_clear_error() {
    let data = DataDir::new();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port().to_string();
    let error = data.fails(&["serve", "--port", &port]);
    assert!(error.contains("cannot listen on 127.0.0.1:") && error.contains(&port), "{error}");
    drop(listener);
}
