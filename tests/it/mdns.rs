//! mDNS advertisement, browsed with a real mDNS client: python-zeroconf, the library the original advertises
//! with (`tests/it/python/mdns_browse.py`). Each test makes two network namespaces joined by a veth pair,
//! serves in one and browses from the other, so no multicast is ever sent on the machine's own interfaces.
//! Needs root and iproute2 (`ip netns`), as the test machine and CI have; without them the tests fail and
//! say why.

use crate::support::{DataDir, signal, test_python, wait_exit};
use serde_json::Value;
use std::io::{BufRead, BufReader, Lines};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const SERVICE_TYPE: &str = "_mcp-memory._tcp.local.";
/// The addresses of the veth pair's two ends: the server's and the browser's.
const SERVER_IP: &str = "10.77.0.1";
const BROWSER_IP: &str = "10.77.0.2";

/// Two network namespaces, a server's and a browser's, joined by a veth pair; removed on drop.
struct Namespaces {
    server: String,
    browser: String,
}

impl Namespaces {
    /// Creates the pair with unique names, the addresses above, loopback up and a multicast route each.
    fn new() -> Namespaces {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let id = format!("mms-mdns-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        // The guard exists before the first namespace does, so a failure half-way still removes both.
        let pair = Namespaces { server: format!("{id}-a"), browser: format!("{id}-b") };
        let added = Command::new("ip").args(["netns", "add", &pair.server]).output();
        match added {
            Ok(output) if output.status.success() => {}
            Ok(output) => panic!(
                "`ip netns add` failed ({}): {}. The mDNS tests browse inside network namespaces of their own, \
                 so that no multicast reaches the machine's networks; they need root (CAP_SYS_ADMIN) and iproute2",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ),
            Err(error) => panic!("cannot run `ip` ({error}): the mDNS tests need iproute2 and root"),
        }
        ip(&["netns", "add", &pair.browser]);
        // The veth pair is created inside the server's namespace: it never appears in the machine's own.
        ip(&[
            "-n",
            &pair.server,
            "link",
            "add",
            "mms0",
            "type",
            "veth",
            "peer",
            "name",
            "mms1",
            "netns",
            &pair.browser,
        ]);
        for (ns, dev, address) in [(&pair.server, "mms0", SERVER_IP), (&pair.browser, "mms1", BROWSER_IP)] {
            ip(&["-n", ns, "addr", "add", &format!("{address}/24"), "dev", dev]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
            ip(&["-n", ns, "link", "set", dev, "up"]);
            ip(&["-n", ns, "route", "add", "224.0.0.0/4", "dev", dev]);
        }
        pair
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        // Removing a namespace removes its end of the veth pair, and with it the other end.
        for ns in [&self.server, &self.browser] {
            let _ = Command::new("ip").args(["netns", "del", ns]).stderr(Stdio::null()).status();
        }
    }
}

/// Runs `ip` with `args`; panics with its error when it fails.
fn ip(args: &[&str]) {
    let output = Command::new("ip").args(args).output().expect("run ip");
    assert!(output.status.success(), "`ip {}` failed: {}", args.join(" "), String::from_utf8_lossy(&output.stderr));
}

/// `command` (program, arguments, environment and directory) run inside the namespace `ns`.
fn in_namespace(ns: &str, command: &Command) -> Command {
    let mut wrapped = Command::new("ip");
    wrapped.args(["netns", "exec", ns]).arg(command.get_program()).args(command.get_args());
    for (name, value) in command.get_envs() {
        match value {
            Some(value) => wrapped.env(name, value),
            None => wrapped.env_remove(name),
        };
    }
    if let Some(dir) = command.get_current_dir() {
        wrapped.current_dir(dir);
    }
    wrapped
}

/// `serve` inside a namespace, on a port the system picks. Killed on drop.
struct NsServer {
    child: Child,
    log: PathBuf,
}

impl NsServer {
    /// Starts `serve --host <host> --port 0` over `data` in `ns` with extra environment variables, and waits
    /// (at most 30 s) until its log says `ready`.
    fn start(ns: &str, data: &DataDir, host: &str, env: &[(&str, &str)], ready: &str) -> NsServer {
        let log = data.path().join("serve.stderr");
        let stderr = std::fs::File::create(&log).expect("create the server's log file");
        let mut command = data.command(&["serve", "--host", host, "--port", "0"]);
        command.envs(env.iter().copied());
        let child = in_namespace(ns, &command)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("start the server in its namespace");
        let mut server = NsServer { child, log };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !server.stderr().contains(ready) {
            if let Some(status) = server.child.try_wait().expect("poll the server") {
                panic!("the server exited ({status}) before logging {ready:?}:\n{}", server.stderr());
            }
            assert!(Instant::now() < deadline, "no {ready:?} in the log within 30 s:\n{}", server.stderr());
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The port the server listens on, from its `serving address=<ip>:<port>` log line.
    fn port(&self) -> u16 {
        let log = self.stderr();
        let line = log.lines().find(|line| line.contains("serving")).expect("a serving line");
        let address = line.split_whitespace().find_map(|field| field.strip_prefix("address=")).expect("an address");
        address.rsplit(':').next().and_then(|port| port.parse().ok()).expect("a port")
    }
}

impl Drop for NsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `mdns_browse.py` running in a namespace; its events are read as they come. Killed on drop.
struct Browser {
    child: Child,
    events: Lines<BufReader<ChildStdout>>,
}

impl Browser {
    /// Browses for `SERVICE_TYPE` from the browser's end of the veth pair for at most `seconds`.
    fn start(ns: &str, seconds: u32) -> Browser {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/python/mdns_browse.py");
        let mut command = Command::new(test_python());
        command.arg(script).args([BROWSER_IP, SERVICE_TYPE, &seconds.to_string()]);
        let mut child = in_namespace(ns, &command)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the mDNS browser");
        let events = BufReader::new(child.stdout.take().expect("stdout is piped")).lines();
        Browser { child, events }
    }

    /// The next event; the browser's own time limit bounds the wait.
    fn next(&mut self) -> Value {
        let line = self.events.next().expect("an event before the browser ends").expect("read the browser");
        serde_json::from_str(&line).unwrap_or_else(|_| panic!("not an event: {line:?}"))
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn serve_advertises_itself_with_the_originals_txt_records_and_says_goodbye_at_shutdown() {
    let namespaces = Namespaces::new();
    let data = DataDir::new();
    let env = [("MCP_MDNS_ENABLED", "true"), ("MCP_MDNS_SERVICE_NAME", "Team Memory"), ("MCP_API_KEY", "mdns-key")];
    let mut server = NsServer::start(&namespaces.server, &data, "0.0.0.0", &env, "advertising over mDNS");
    let port = server.port();
    let mut browser = Browser::start(&namespaces.browser, 10);

    let found = browser.next();
    assert_eq!(found["event"], "found", "{found}\n{}", server.stderr());
    assert_eq!(found["name"], format!("Team Memory.{SERVICE_TYPE}"), "{found}");
    assert_eq!(found["type"], SERVICE_TYPE, "{found}");
    assert_eq!(found["port"], port, "the port the server really listens on: {found}");
    assert_eq!(found["server"], "mcp-memory-service.local.", "{found}");
    assert_eq!(found["addresses"], serde_json::json!([SERVER_IP]), "the LAN address only, not loopback: {found}");
    let txt = serde_json::json!({
        "api_version": env!("CARGO_PKG_VERSION"),
        "https": "false",
        "auth_required": "true",
        "api_path": "/api",
        "sse_path": "/api/events",
        "docs_path": "/api/docs",
    });
    assert_eq!(found["properties"], txt, "{found}");
    assert_eq!(found["health"], 200, "the advertised address and port serve the API: {found}");

    signal(server.child.id(), "TERM");
    let removed = browser.next();
    assert_eq!(removed, serde_json::json!({"event": "removed", "name": found["name"]}), "{}", server.stderr());
    let status = wait_exit(&mut server.child, Duration::from_secs(10));
    let status = status.unwrap_or_else(|| panic!("still running 10 s after SIGTERM:\n{}", server.stderr()));
    assert!(status.success(), "exit status {status} after SIGTERM:\n{}", server.stderr());
    assert!(server.stderr().contains("mDNS advertisement withdrawn"), "{}", server.stderr());
}

#[test]
fn nothing_is_advertised_unless_enabled_nor_on_loopback() {
    let namespaces = Namespaces::new();
    let (quiet, on_loopback) = (DataDir::new(), DataDir::new());
    let _quiet = NsServer::start(&namespaces.server, &quiet, "0.0.0.0", &[], "serving");
    let loopback = NsServer::start(
        &namespaces.server,
        &on_loopback,
        "127.0.0.1",
        &[("MCP_MDNS_ENABLED", "true")],
        "no other machine can reach",
    );
    assert!(loopback.stderr().contains("nothing is advertised"), "{}", loopback.stderr());
    let mut browser = Browser::start(&namespaces.browser, 3);
    assert_eq!(browser.next(), serde_json::json!({"event": "done", "found": 0}));
}
