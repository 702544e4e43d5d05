//! The MCP server driven by a real client: the official Python MCP SDK over stdio
//! (tests/it/python/mcp_client.py), against the real binary and model.

use crate::support::{DataDir, test_python as python};
use std::process::Command;

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
