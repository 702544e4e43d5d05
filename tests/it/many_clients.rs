//! Many clients, kill -9 (#17): three MCP stdio clients and two HTTP clients write their own memories into one
//! store while whichever process owns it is killed with SIGKILL at random moments (`python/kill_owner.py`,
//! driven by the official MCP SDK). Every acknowledged write must be in the log exactly once, nothing may be
//! executed twice, no client may see a lock error, and the read model must equal a replay of the log.
//!
//! By default 3 kills and 30 memories per client (CI); `MMS_KILL_OWNER_FULL=1` runs the 50 kills and
//! 2,000 memories per client (tens of minutes). `MMS_KILL_OWNER_SEED` replays one run's kill moments.

use crate::support::{DataDir, free_port, test_python};
use std::process::Command;

#[test]
fn acknowledged_writes_survive_the_owner_being_killed_again_and_again_and_none_runs_twice() {
    let full = std::env::var("MMS_KILL_OWNER_FULL").is_ok_and(|v| v == "1");
    let (kills, per_client) = if full { ("50", "2000") } else { ("3", "30") };
    let seed = std::env::var("MMS_KILL_OWNER_SEED").unwrap_or_else(|_| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64 % 1_000_000)
            .to_string()
    });
    let data = DataDir::new();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/python/kill_owner.py");
    let port = free_port().to_string();
    let output = Command::new(test_python())
        .args([script, env!("CARGO_BIN_EXE_mcp-memory-service"), &data.path().to_string_lossy(), &port, "kill-key"])
        .args([kills, per_client, &seed])
        .output()
        .expect("run the kill script");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let tail: String =
        stderr.lines().rev().take(40).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
    assert!(output.status.success(), "the kill script failed (seed {seed}):\n{stdout}\n{tail}");
    assert!(stdout.trim_end().ends_with("passed, 0 failed"), "{stdout}");
    eprintln!("seed {seed}: {}", stderr.lines().last().unwrap_or_default());
}
