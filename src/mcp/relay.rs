//! `mcp-memory-service mcp`: the MCP client's messages on stdin/stdout, relayed line by line to whichever
//! process owns the store (`host`). The first process to open the store becomes its owner and hosts the
//! socket (its own client's session goes through the socket too, like everyone else's); the others relay.
//! When the owner leaves, a relay takes over, and its client never notices.
//!
//! The relay answers `initialize` itself (with the same answer the owner's rmcp would give), so a client
//! gets it within milliseconds of spawning the process, before any store is open. It remembers the
//! handshake and replays it to each new owner, and it tracks the requests sent and not yet answered: on a
//! graceful handover it waits for their answers before it moves, so nothing is lost or answered twice; if
//! the owner is killed, those requests (only those) are answered with an error that says what happened.

use super::host::{Control, DRAIN_GRACE, Host, HostKind, Ownership, Successor, own, socket_path};
use crate::store::{Store, try_open};
use anyhow::Context;
use rmcp::ServerHandler;
use rmcp::model::{ErrorData, InitializeRequestParams, ServerConfig};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::task::JoinHandle;

/// Ids of the requests the relay sends for itself (the replayed `initialize`); their answers are dropped.
const RELAY_ID: &str = "mms-relay-";
/// How long a relay keeps trying to reach or become the owner before it gives up.
const CONNECT_PATIENCE: Duration = Duration::from_secs(60);
/// After a handover to a starting `serve`, how long relays leave the store to it.
const SERVE_PRIORITY: Duration = Duration::from_secs(30);

/// The store this process owns, with the socket it hosts.
struct Hosted {
    store: Store,
    host: Host,
}

impl Hosted {
    /// Lets the other relays move on, then closes the store (and with it the log's lock).
    async fn close(self) {
        self.host.finish(DRAIN_GRACE).await;
        let store = self.store;
        let _ = tokio::task::spawn_blocking(move || store.close()).await;
    }
}

/// A connection to the owner's socket.
struct Link {
    lines: Lines<BufReader<OwnedReadHalf>>,
    write: OwnedWriteHalf,
}

impl Link {
    async fn send(&mut self, line: &str) -> std::io::Result<()> {
        self.write.write_all(line.as_bytes()).await?;
        self.write.write_all(b"\n").await
    }
}

/// What a connection attempt gives: the link, and this process's own store when it became the owner.
type Connected = anyhow::Result<(Link, Option<Hosted>)>;

/// The next line from the link; never completes without one.
async fn receive(link: &mut Option<Link>) -> std::io::Result<Option<String>> {
    match link {
        Some(link) => link.lines.next_line().await,
        None => std::future::pending().await,
    }
}

/// What the relay knows of its client's session.
#[derive(Default)]
struct Session {
    /// The client's `initialize` request, replayed to every new owner.
    initialize: Option<Value>,
    /// Whether the client has sent `notifications/initialized` (replayed after it).
    initialized: bool,
    /// Requests sent to the owner and not answered yet (their ids as JSON text).
    pending: HashSet<String>,
    /// Lines waiting for a link.
    queue: Vec<String>,
    replays: u64,
}

impl Session {
    /// The handshake a new owner needs: the client's `initialize` under a relay id, then `initialized`.
    fn replay(&mut self) -> Vec<String> {
        let Some(initialize) = &self.initialize else { return Vec::new() };
        self.replays += 1;
        let mut request = initialize.clone();
        request["id"] = json!(format!("{RELAY_ID}{}", self.replays));
        let mut lines = vec![request.to_string()];
        if self.initialized {
            lines.push(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string());
        }
        lines
    }

    /// Answers for every request in flight when the owner vanished.
    fn abandon(&mut self) -> Vec<String> {
        self.pending
            .drain()
            .map(|id| {
                let id: Value = serde_json::from_str(&id).unwrap_or(Value::Null);
                json!({"jsonrpc": "2.0", "id": id, "error": {
                    "code": -32603,
                    "message": "the process that owned the memory store exited while this request was in flight, \
                                so it may or may not have been applied; check (memory_list, memory_history) \
                                before retrying",
                }})
                .to_string()
            })
            .collect()
    }
}

/// Answers `initialize` exactly as the owner's rmcp server does: same server description, same protocol
/// version negotiation.
struct Handshake;

impl ServerHandler for Handshake {
    fn get_info(&self) -> ServerConfig {
        super::server_info()
    }
}

fn answer_initialize(request: &Value) -> String {
    let id = request.get("id").cloned().unwrap_or(Value::Null);
    let params = request.get("params").cloned().unwrap_or(Value::Null);
    let result = serde_json::from_value::<InitializeRequestParams>(params)
        .map_err(|error| ErrorData::invalid_params(format!("initialize: {error}"), None))
        .and_then(|params| Handshake.negotiate_initialize(&params));
    match result {
        Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
        Err(error) => json!({"jsonrpc": "2.0", "id": id, "error": error}),
    }
    .to_string()
}

/// Runs the relay until the client closes stdin.
pub async fn run(owner: Ownership) -> anyhow::Result<()> {
    let socket = socket_path(&owner.store.paths.base_dir);
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    let mut stdout = tokio::io::stdout();
    let mut session = Session::default();
    let mut link: Option<Link> = None;
    let mut hosted: Option<Hosted> = None;
    let mut draining: Option<Successor> = None;
    let mut connecting: Option<JoinHandle<Connected>> =
        Some(tokio::spawn(connect(owner.clone(), socket.clone(), None, Successor::Any)));

    loop {
        // Lines for the client, lines for the owner, and whether the link must be dropped (and why).
        let mut out = Vec::new();
        let mut send = Vec::new();
        let mut moving: Option<Successor> = None;
        tokio::select! {
            line = stdin.next_line() => {
                let Some(line) = line.context("reading stdin")? else { break };
                let message: Option<Value> = serde_json::from_str(&line).ok();
                let method = message.as_ref().and_then(|m| m.get("method")).and_then(Value::as_str);
                let id = message.as_ref().and_then(|m| m.get("id")).filter(|id| !id.is_null());
                match (method, id) {
                    (Some("initialize"), Some(_)) => {
                        let message = message.clone().expect("a method implies a message");
                        out.push(answer_initialize(&message));
                        session.initialize = Some(message);
                        session.initialized = false;
                        if link.is_some() && draining.is_none() {
                            send.extend(session.replay());
                        }
                    }
                    (Some("notifications/initialized"), None) => {
                        session.initialized = true;
                        if link.is_some() && draining.is_none() {
                            send.push(line);
                        }
                    }
                    _ => {
                        if let (Some(_), Some(id)) = (method, id) {
                            session.pending.insert(id.to_string());
                        }
                        if link.is_some() && draining.is_none() {
                            send.push(line);
                        } else {
                            session.queue.push(line);
                        }
                    }
                }
            }
            line = receive(&mut link) => match line {
                Ok(Some(line)) => {
                    if let Some(Control::Handover { to }) = Control::parse(&line) {
                        draining = Some(to);
                    } else {
                        let message: Option<Value> = serde_json::from_str(&line).ok();
                        let id = message.as_ref().and_then(|m| m.get("id"));
                        let is_response = message.as_ref().is_some_and(|m| m.get("method").is_none());
                        let ours = id.and_then(Value::as_str).is_some_and(|id| id.starts_with(RELAY_ID));
                        if is_response && ours {
                            if let Some(error) = message.as_ref().and_then(|m| m.get("error")) {
                                tracing::warn!(%error, "the store's owner refused the replayed handshake");
                            }
                        } else {
                            if let (true, Some(id)) = (is_response, id) {
                                session.pending.remove(&id.to_string());
                            }
                            out.push(line);
                        }
                    }
                    if let Some(to) = draining && session.pending.is_empty() {
                        moving = Some(to);
                    }
                }
                Ok(None) | Err(_) => {
                    tracing::info!("the store's owner went away; reconnecting");
                    out.extend(session.abandon());
                    moving = Some(Successor::Any);
                }
            },
            connected = async { connecting.as_mut().expect("guarded").await }, if connecting.is_some() => {
                connecting = None;
                let (new_link, new_hosted) = connected.context("the connection task failed")??;
                if new_hosted.is_some() {
                    tracing::debug!("this process owns the store");
                }
                hosted = new_hosted;
                link = Some(new_link);
                draining = None;
                send.extend(session.replay());
                send.append(&mut session.queue);
            }
        }
        for line in out {
            stdout.write_all(line.as_bytes()).await?;
            stdout.write_all(b"\n").await?;
        }
        stdout.flush().await?;
        if let Some(active) = link.as_mut() {
            for line in send {
                if active.send(&line).await.is_err() {
                    // The read side reports the loss on the next turn; keep the line for the next owner.
                    session.queue.push(line);
                }
            }
        }
        if let Some(to) = moving {
            link = None;
            draining = None;
            connecting = Some(tokio::spawn(connect(owner.clone(), socket.clone(), hosted.take(), to)));
        }
    }

    // The client is gone. If this process owns the store, the other relays move to a new owner first.
    drop(link);
    if let Some(task) = connecting
        && let Ok(Ok((_, Some(own)))) = task.await
    {
        hosted = Some(own);
    }
    if let Some(own) = hosted {
        own.close().await;
    }
    Ok(())
}

/// Reaches the store's owner: closes `previous` (this process's own store, when it is handing over),
/// then becomes the owner if the store is free (unless a `serve` has priority) or connects to the one that
/// is, retrying while owners change.
async fn connect(owner: Ownership, socket: PathBuf, previous: Option<Hosted>, to: Successor) -> Connected {
    if let Some(previous) = previous {
        previous.close().await;
    }
    let started = Instant::now();
    let may_own_from = if to == Successor::Serve { started + SERVE_PRIORITY } else { started };
    let mut hosted: Option<Hosted> = None;
    loop {
        if hosted.is_none()
            && Instant::now() >= may_own_from
            && let Some(mut store) = try_open(&owner.store).await?
        {
            let (_, host) = own(&mut store, owner.backups.clone(), HostKind::Mcp)?;
            hosted = Some(Hosted { store, host });
        }
        if let Ok(stream) = UnixStream::connect(&socket).await {
            let (read, write) = stream.into_split();
            let mut link = Link { lines: BufReader::new(read).lines(), write };
            let hello = Control::Mcp { pid: std::process::id() }.line();
            if link.write.write_all(hello.as_bytes()).await.is_ok() {
                return Ok((link, hosted));
            }
        }
        if started.elapsed() > CONNECT_PATIENCE {
            anyhow::bail!(
                "cannot reach the memory store's owner at {} nor open the store: another process holds it \
                 without sharing it (a CLI command?)",
                socket.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
