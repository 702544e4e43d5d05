//! The Docker set-up outside Docker: `docker/entrypoint.sh` run by `sh` against the freshly built binary
//! (`MMS_BIN`), choosing the mode from `MCP_MODE` (HTTP by default, MCP over stdio, anything else refused with
//! exit code 2, arguments run as a subcommand), and the `healthcheck` subcommand the images' health check
//! runs, over HTTP and HTTPS, against a server and against nothing.

use crate::support::{BIN, DataDir, Server, free_port, signal};
use reqwest::StatusCode;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const ENTRYPOINT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docker/entrypoint.sh");
const KEY: &str = "docker-test-key";

/// The variables of the Docker set-up, removed from the entrypoint's environment like the service's own.
const DOCKER_VARIABLES: &[&str] = &["MCP_MODE", "HTTP_PORT", "MEMORY_IMAGE", "MMS_BIN", "MMS_USER"];

/// `sh docker/entrypoint.sh ARGS` over `data`, running the binary under test, with `MCP_MODE` as given.
fn entrypoint(data: &DataDir, mode: Option<&str>, args: &[&str]) -> Command {
    let mut all = vec![ENTRYPOINT];
    all.extend_from_slice(args);
    let mut command = data.command_for("sh", &all);
    for name in DOCKER_VARIABLES {
        command.env_remove(name);
    }
    command.env("MMS_BIN", BIN);
    if let Some(mode) = mode {
        command.env("MCP_MODE", mode);
    }
    command
}

fn output(mut command: Command) -> Output {
    command.stdin(Stdio::null()).output().expect("run the entrypoint")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_mcp_mode_the_entrypoint_serves_the_http_api_on_all_interfaces_behind_the_key() {
    let data = DataDir::new();
    let port = free_port();
    let mut command = entrypoint(&data, None, &[]);
    command.env("MCP_HTTP_PORT", port.to_string()).env("MCP_API_KEY", KEY);
    let mut server = Server::spawn(&data, command, port).wait_healthy().await;
    let log = server.stderr();
    assert!(log.contains(&format!("0.0.0.0:{port}")), "the container default host is 0.0.0.0:\n{log}");
    assert!(data.path().join("events.redb").exists(), "the data directory set by the caller is kept");

    let client = reqwest::Client::new();
    // The README's check: the health route, with the key (it is public, so the key changes nothing).
    let health = client.get(server.url("/api/health")).bearer_auth(KEY).send().await.expect("GET /api/health");
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(health.json::<serde_json::Value>().await.expect("JSON")["status"], "healthy");
    let anonymous = client.get(server.url("/api/memories")).send().await.expect("GET /api/memories");
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED, "the API needs the key");
    let keyed = client.get(server.url("/api/memories")).bearer_auth(KEY).send().await.expect("GET /api/memories");
    assert_eq!(keyed.status(), StatusCode::OK, "the key opens the API");

    let check = output({
        let mut command = data.command(&["healthcheck"]);
        command.env("MCP_HTTP_PORT", port.to_string()).env("MCP_HTTP_HOST", "0.0.0.0");
        command
    });
    assert!(check.status.success(), "healthcheck of a healthy server: {}", String::from_utf8_lossy(&check.stderr));

    // The shell exec'd the service: the signal reaches it, and it shuts down cleanly.
    signal(server.pid(), "TERM");
    let status = server.wait_exit(Duration::from_secs(10));
    let status = status.unwrap_or_else(|| panic!("still running 10 s after SIGTERM:\n{}", server.stderr()));
    assert!(status.success(), "exit status {status} after SIGTERM:\n{}", server.stderr());
}

#[test]
fn mcp_mode_speaks_mcp_on_stdin_and_stdout() {
    let data = DataDir::new();
    let (answer, status, stderr) =
        crate::support::mcp_initialize_then_close(&mut entrypoint(&data, Some("mcp"), &[]), "docker-test");
    assert_eq!(answer["id"], 1, "{answer}");
    assert_eq!(answer["result"]["serverInfo"]["name"], "mcp-memory-service", "{answer}");
    // The server ends when its input does, cleanly, even with the model still loading (ONNX Runtime is
    // not torn down under the loader: see `embed::shut_down`).
    let status = status.expect("the MCP server ends when its input does");
    assert!(status.success(), "exit status {status}:\n{stderr}");
}

#[test]
fn an_unknown_mcp_mode_is_refused_with_exit_code_2_and_runs_nothing() {
    let data = DataDir::new();
    let run = output(entrypoint(&data, Some("bogus"), &[]));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("MCP_MODE is 'bogus'") && stderr.contains("http") && stderr.contains("mcp"), "{stderr}");
    assert!(!data.path().join("events.redb").exists(), "nothing ran");
}

#[test]
fn arguments_run_as_a_subcommand_whatever_the_mode() {
    let data = DataDir::new();
    let run = output(entrypoint(&data, Some("bogus"), &["stats"]));
    let (stdout, stderr) = (String::from_utf8_lossy(&run.stdout), String::from_utf8_lossy(&run.stderr));
    assert!(run.status.success(), "{stdout}\n{stderr}");
    let stats: serde_json::Value = serde_json::from_str(&stdout).expect("stats prints JSON");
    assert_eq!(stats["total_memories"], 0, "{stats}");
}

#[test]
fn healthcheck_fails_when_nothing_answers() {
    let data = DataDir::new();
    let port = free_port().to_string();
    let run = output({
        let mut command = data.command(&["healthcheck", "--timeout", "2"]);
        command.env("MCP_HTTP_PORT", &port);
        command
    });
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("http://127.0.0.1:{port}/api/health")) && stderr.contains("cannot connect"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthcheck_speaks_https_to_a_server_with_a_generated_certificate() {
    let data = DataDir::new();
    let port = free_port();
    let port_text = port.to_string();
    let https = [("MCP_HTTPS_ENABLED", "true"), ("MCP_HTTPS_PORT", port_text.as_str())];
    let mut command = data.command(&["serve"]);
    command.envs(https);
    let server = Server::spawn(&data, command, port);
    let healthcheck = || {
        let mut command = data.command(&["healthcheck", "--timeout", "2"]);
        command.envs(https);
        output(command)
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let run = healthcheck();
        if run.status.success() {
            break;
        }
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(stderr.contains(&format!("https://127.0.0.1:{port}/api/health")), "{stderr}");
        assert!(Instant::now() < deadline, "no healthy HTTPS answer within 30 s: {stderr}\n{}", server.stderr());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Plain HTTP to the TLS port is not mistaken for health.
    let plain = output({
        let mut command = data.command(&["healthcheck", "--timeout", "2"]);
        command.env("MCP_HTTP_PORT", &port_text);
        command
    });
    assert_eq!(plain.status.code(), Some(1), "plain HTTP to a TLS port: {}", String::from_utf8_lossy(&plain.stderr));
}
