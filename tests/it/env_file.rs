//! Settings as a new user writes them: `.env.example` with every line uncommented, `~` and `$NAME` in path
//! settings (from `.env` and from the real environment, as MCP clients' JSON configurations pass them), empty
//! values, and errors that name the variable that was read rather than the option.
//!
//! Each test runs the binary with a cleared environment and a temporary HOME (holding links to the installed
//! model and ONNX Runtime where the defaults look for them), from a project directory that holds the `.env`.

use crate::support::{BIN, DataDir};
use clap::Parser;
use mcp_memory_service::cli::Cli;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A temporary HOME with the model and ONNX Runtime linked under `~/.cache/mcp-memory-service`, and an
/// empty project directory in it.
struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Home {
        let dir = tempfile::Builder::new().prefix("mms-home-").tempdir().expect("create a temp HOME");
        // Where this machine's assets are (the test's own environment may move them).
        let installed = Cli::parse_from(["mcp-memory-service", "stats"]).config.paths();
        let assets = dir.path().join(".cache/mcp-memory-service");
        let model = assets.join("models/all-MiniLM-L6-v2");
        let runtime = assets.join("onnxruntime/libonnxruntime.so.1.32.0");
        for (link, target) in [(&model, &installed.model_dir), (&runtime, &installed.runtime_library)] {
            std::fs::create_dir_all(link.parent().expect("a parent")).expect("create the assets directory");
            std::os::unix::fs::symlink(target, link).expect("link the installed assets");
        }
        std::fs::create_dir(dir.path().join("project")).expect("create the project directory");
        Home { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn project(&self) -> PathBuf {
        self.path().join("project")
    }

    fn write_env(&self, text: &str) {
        std::fs::write(self.project().join(".env"), text).expect("write .env");
    }

    /// The binary, run from the project directory with only HOME and PATH in its environment, plus `env`.
    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut command = Command::new(BIN);
        command.args(args).current_dir(self.project()).env_clear().env("HOME", self.path());
        command.env("PATH", std::env::var_os("PATH").unwrap_or_default()).envs(env.iter().copied());
        let output = command.stdin(Stdio::null()).output().expect("run the binary");
        eprintln!("$ mcp-memory-service {} -> {}", args.join(" "), output.status);
        output
    }

    /// `scripts/serve` with its dry run (it stops before building and says what it would do), run like
    /// the binary; returns what it said on standard error.
    fn serve_script(&self, args: &[&str], env: &[(&str, &str)]) -> String {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/serve");
        let mut command = Command::new(script);
        command.args(args).current_dir(self.project()).env_clear().env("HOME", self.path());
        command.env("PATH", std::env::var_os("PATH").unwrap_or_default()).env("MMS_SERVE_DRY_RUN", "1");
        let output = command.envs(env.iter().copied()).stdin(Stdio::null()).output().expect("run scripts/serve");
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(output.status.success(), "scripts/serve {args:?} failed ({}): {stderr}", output.status);
        stderr
    }

    fn ok(&self, args: &[&str], env: &[(&str, &str)]) -> String {
        let output = self.run(args, env);
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(output.status.success(), "`{}` failed ({}): {stderr}", args.join(" "), output.status);
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// The names in the project directory (where nothing but `.env` belongs).
    fn project_entries(&self) -> Vec<String> {
        let entries = std::fs::read_dir(self.project()).expect("list the project directory");
        let mut names: Vec<String> =
            entries.map(|e| e.expect("an entry").file_name().to_string_lossy().into()).collect();
        names.sort();
        names
    }
}

/// `.env.example` with the `# ` taken off every commented-out `NAME=value` line.
fn uncommented_example() -> String {
    let text = include_str!("../../.env.example");
    let uncomment = |line: &'static str| match line.strip_prefix("# ") {
        Some(setting) if is_setting(setting) => setting,
        _ => line,
    };
    text.lines().map(uncomment).map(|line| format!("{line}\n")).collect()
}

fn is_setting(line: &str) -> bool {
    line.split_once('=').is_some_and(|(name, _)| {
        !name.is_empty() && name.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
    })
}

#[test]
fn env_example_with_every_line_uncommented_is_the_default_set_up() {
    let home = Home::new();
    let env = uncommented_example();
    assert!(env.contains("\nMCP_MEMORY_LOG_PATH=") && env.contains("\nMCP_EMBEDDING_THREADS="), "{env}");
    home.write_env(&env);
    let stored = home.ok(&["store", "Uncommented line by line"], &[]);
    assert!(stored.starts_with("stored "), "{stored}");
    home.ok(&["backup"], &[]);
    // Where the comments say: every path in the default base directory, ~/.local/share/mcp-memory.
    let base = home.path().join(".local/share/mcp-memory");
    for file in ["events.redb", "sqlite_vec.db"] {
        assert!(base.join(file).is_file(), "{file} is not in {}", base.display());
    }
    let backups = std::fs::read_dir(base.join("backups")).expect("the backups directory is in the base directory");
    assert!(backups.count() > 0, "no backup in {}", base.display());
    assert_eq!(home.project_entries(), [".env"], "a setting became a relative path");
}

#[test]
fn path_settings_expand_the_home_and_variable_names_from_env_files_and_the_environment() {
    let home = Home::new();
    home.write_env("MCP_MEMORY_BASE_DIR=~/base\nMCP_MEMORY_LOG_PATH=$MCP_MEMORY_BASE_DIR/log/events.redb\n");
    // A `~` in a real environment variable, as an MCP client's JSON configuration passes it.
    let env = [("MCP_MEMORY_BACKUPS_PATH", "~/saved")];
    home.ok(&["store", "Where do the files go?"], &env);
    home.ok(&["backup"], &env);
    assert!(home.path().join("base/log/events.redb").is_file(), "the log is not in ~/base/log");
    assert!(home.path().join("base/sqlite_vec.db").is_file(), "the read model is not in ~/base");
    assert!(std::fs::read_dir(home.path().join("saved")).expect("~/saved exists").count() > 0);
    assert_eq!(home.project_entries(), [".env"], "a setting became a relative path");

    // A name that is set nowhere is an error naming the setting, not an empty string.
    home.write_env("MCP_MEMORY_SQLITE_PATH=$NOT_SET_ANYWHERE/sqlite_vec.db\n");
    let output = home.run(&["stats"], &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("MCP_MEMORY_SQLITE_PATH") && stderr.contains("$NOT_SET_ANYWHERE is not set"), "{stderr}");
}

#[test]
fn an_invalid_value_from_a_variable_is_reported_by_the_variables_name() {
    let data = DataDir::new();
    for (variable, value, args) in [
        ("MCP_HTTP_PORT", "eighty", &["serve"][..]),
        ("MCP_SSE_HEARTBEAT", "1", &["serve"][..]),
        ("MCP_BACKUP_MAX_COUNT", "0", &["stats"][..]),
        ("MCP_EMBEDDING_THREADS", "all", &["stats"][..]),
    ] {
        let output = data.command(args).env(variable, value).stdin(Stdio::null()).output().expect("run the binary");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{variable}={value}: {stderr}");
        assert!(stderr.contains(&format!("invalid value '{value}' for {variable}")), "{variable}={value}: {stderr}");
    }
    // Given on the command line, the option is named as before.
    let output = data.command(&["serve", "--port", "eighty"]).stdin(Stdio::null()).output().expect("run the binary");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("invalid value 'eighty' for '--port <PORT>'"), "{stderr}");
}

#[test]
fn an_empty_variable_is_its_default() {
    let data = DataDir::new();
    let empty = ["MCP_HTTP_PORT", "MCP_EMBEDDING_THREADS", "MCP_MEMORY_SQLITEVEC_PATH", "MCP_BACKUP_MAX_COUNT"];
    let mut command = data.command(&["stats"]);
    for variable in empty {
        command.env(variable, "");
    }
    let output = command.stdin(Stdio::null()).output().expect("run the binary");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
}

#[test]
fn scripts_serve_uses_the_key_data_directory_and_port_the_binary_reads() {
    let home = Home::new();
    // A key in .env (as `keygen >> .env` puts it) is the one used: no key file is made, none exported.
    home.write_env("MCP_API_KEY=0123456789abcdef  # from keygen\nMCP_HTTP_PORT=8123\n");
    let said = home.serve_script(&[], &[]);
    assert!(said.contains("API key: MCP_API_KEY from .env"), "{said}");
    assert!(said.contains("http://127.0.0.1:8123/"), "the port from .env: {said}");
    assert!(!said.contains("0123456789abcdef"), "the key is never printed: {said}");
    assert!(!home.path().join(".local/share/mcp-memory/api-key").exists(), "a key file was made");
    // --port on the command line wins, as it does for the binary.
    let said = home.serve_script(&["--port", "9001"], &[]);
    assert!(said.contains("http://127.0.0.1:9001/"), "{said}");
    let said = home.serve_script(&["--port=9002"], &[]);
    assert!(said.contains("http://127.0.0.1:9002/"), "{said}");

    // Without a key, one is made in the data directory .env names (with ~ expanded), where the README's
    // quick start reads it.
    home.write_env("MCP_MEMORY_BASE_DIR=~/memories\n");
    let said = home.serve_script(&[], &[]);
    let key_file = home.path().join("memories/api-key");
    assert!(said.contains(&format!("API key: the one in {}", key_file.display())), "{said}");
    assert!(said.contains("http://127.0.0.1:8000/"), "{said}");
    let key = std::fs::read_to_string(&key_file).expect("the key file");
    assert!(key.trim().len() >= 32 && !said.contains(key.trim()), "{said}");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&key_file).expect("the key file").permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the key file is for its owner only");
    // Made once: a second start uses the same key.
    home.serve_script(&[], &[]);
    assert_eq!(std::fs::read_to_string(&key_file).expect("the key file"), key);
    // The real environment wins over .env; anonymous access needs no key at all.
    let said = home.serve_script(&[], &[("MCP_API_KEY", "from-the-environment")]);
    assert!(said.contains("API key: MCP_API_KEY from"), "{said}");
    let said = home.serve_script(&[], &[("MCP_ALLOW_ANONYMOUS_ACCESS", "true")]);
    assert!(!said.contains("API key"), "{said}");
}
