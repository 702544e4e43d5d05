//! The MCP server driven by a real client: the official Python MCP SDK over stdio
//! (tests/it/python/mcp_client.py), against the real binary and model.

use crate::support::DataDir;
use std::process::Command;

/// The Python with the MCP SDK: `MMS_TEST_PYTHON` (set by scripts/test), else the venv that
/// scripts/install-test-tools makes in the default assets directory.
fn python() -> String {
    if let Some(python) = std::env::var_os("MMS_TEST_PYTHON") {
        return python.to_string_lossy().into_owned();
    }
    let home = std::env::var("HOME").unwrap_or_default();
    let assets = std::env::var("MCP_MEMORY_ASSETS_DIR").unwrap_or_else(|_| format!("{home}/.cache/mcp-memory-service"));
    let python = format!("{assets}/venv-test/bin/python");
    assert!(
        std::path::Path::new(&python).exists(),
        "the Python MCP SDK is not installed at {python}: run scripts/install-test-tools (scripts/test does)"
    );
    python
}

#[test]
fn the_python_sdk_drives_every_tool_over_stdio() {
    let data = DataDir::new();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/python/mcp_client.py");
    let output = Command::new(python())
        .args([script, env!("CARGO_BIN_EXE_mcp-memory-service"), &data.path().to_string_lossy()])
        .env("MCP_EMBEDDING_THREADS", "1")
        .output()
        .expect("run the Python MCP client");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the MCP client failed:\n{stdout}\n{stderr}");
    assert!(stdout.trim_end().ends_with("passed, 0 failed"), "{stdout}");
}
