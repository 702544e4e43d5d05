//! One store, many processes. redb lets one process open the event log; that process (the owner: `serve`,
//! or the first `mcp` process) hosts MCP sessions on a Unix socket in the data directory, and every other
//! `mcp` process relays its client's messages there (`relay`).
//!
//! The socket carries newline-delimited JSON: MCP messages, plus a few lines of our own ([`Control`],
//! which have an `mms` key where MCP messages have `jsonrpc`). A connection opens with `Control::Mcp`
//! (an MCP session follows) or `Control::Takeover` (a starting `serve` asks for the store). When the owner
//! goes away gracefully it sends `Control::Handover` on every session: the relay stops sending, waits for
//! the answers to what it already sent, disconnects, and reconnects to the next owner, so no request is
//! lost or answered twice. Only a killed owner leaves requests unanswered; the relay answers those with
//! an error that says so.
//!
//! Only processes of one user share a store: both ends of a connection check the other's uid
//! (SO_PEERCRED), and a socket whose path would be too long inside the data directory lives in a directory
//! of that user's that no one else may enter ([`socket_path`]), never in the shared temp directory.

use super::McpServer;
use super::drain::{Drained, IN_FLIGHT_LIMIT, InFlight, drain};
use crate::backup::Backups;
use crate::config::BackupConfig;
use crate::consolidator::{Consolidator, Schedule};
use crate::store::{Settings, Store, StoreError};
use rmcp::ServiceExt;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long a departing owner gives relays, once none of their requests is in flight, to take their last
/// answers and disconnect before it closes their sessions (requests in flight are waited for: `drain`).
pub(crate) const DRAIN_GRACE: Duration = Duration::from_secs(10);

/// Why this process could not share the store with the others: become its owner, or reach the one that is.
#[derive(Debug, thiserror::Error)]
pub enum ShareError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot listen on {path}")]
    Listen { path: PathBuf, source: std::io::Error },
    #[error(
        "cannot reach the memory store's owner at {socket} nor open the store: another process holds it \
         without sharing it (a CLI command?)"
    )]
    Unreachable { socket: PathBuf },
    #[error("reading stdin")]
    Stdin(#[source] std::io::Error),
    #[error("writing to stdout")]
    Stdout(#[source] std::io::Error),
    #[error("the connection task failed")]
    Task(#[from] tokio::task::JoinError),
    #[error(
        "refusing to use {dir} for the MCP socket: {why}. Another user may have made it, so it is left as it is: \
         have it removed, or use a data directory whose path is shorter than 90 bytes (the socket then lives \
         inside it)"
    )]
    UnsafeSocketDir { dir: PathBuf, why: String },
    #[error("cannot make the private directory {dir} for the MCP socket")]
    SocketDir { dir: PathBuf, source: std::io::Error },
    #[error(
        "refusing to talk to the process listening on {socket}: it runs as uid {peer}, not as this user (uid \
         {ours}), and would see every memory and request. Stop it, or run this process as the same user; if \
         none of yours started it, another user can write to that directory: make it this user's alone"
    )]
    ForeignOwner { socket: PathBuf, peer: u32, ours: u32 },
    #[error("cannot tell who listens on {socket}")]
    PeerUnknown { socket: PathBuf, source: std::io::Error },
}

/// What a process needs to become the store's owner: the store's settings and its backups' schedule.
#[derive(Clone, Debug)]
pub struct Ownership {
    pub store: Settings,
    pub backups: BackupConfig,
}

/// Makes this process the owner of an open store: replicates it when its backend says so, hosts the other
/// processes' MCP sessions on its socket and runs the backup and consolidation schedules. Returns the MCP server (with the
/// store's backups) and the host.
pub fn own(store: &mut Store, backups: BackupConfig, kind: HostKind) -> Result<(McpServer, Host), ShareError> {
    let sync = store.replicate()?;
    let backups = Arc::new(Backups::new(store.service.log().clone(), backups, store.settings.clone()));
    let consolidator = Consolidator::new(
        store.service.clone(),
        store.settings.options.consolidation.clone(),
        Schedule::of(&store.settings.consolidation),
    );
    // The schedule runs as long as this process owns the store (a task of its runtime).
    let _ = consolidator.spawn_schedule();
    let server = McpServer::new(store.service.clone(), backups, consolidator, sync);
    let path = socket_path(&store.paths().base_dir)?;
    let host = Host::start(server.clone(), &path, kind).map_err(|source| ShareError::Listen { path, source })?;
    Ok((server, host))
}

/// The socket of the store in `base_dir`: `mcp.sock` inside it, or, when that path is too long for a Unix
/// socket address (108 bytes), a name derived from the data directory's path in this user's private
/// directory of the temp directory ([`private_dir`]). Never a name in a directory others can write to (the
/// temp directory itself): another user could bind it first and receive the relays' memories and tokens,
/// or keep the store from being shared.
pub fn socket_path(base_dir: &Path) -> Result<PathBuf, ShareError> {
    let inside = base_dir.join("mcp.sock");
    if inside.as_os_str().len() < 100 {
        return Ok(inside);
    }
    use sha2::{Digest, Sha256};
    let canonical = base_dir.canonicalize().unwrap_or_else(|_| base_dir.to_path_buf());
    let digest = hex::encode(Sha256::digest(canonical.as_os_str().as_encoded_bytes()));
    let dir = private_dir(&std::env::temp_dir(), our_uid())?;
    Ok(dir.join(format!("{}.sock", &digest[..16])))
}

/// This process's effective user id: whom its files belong to, and whom its peers must be.
fn our_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// `<parent>/mcp-memory-service-<uid>`, made with mode 0700 when it does not exist. One that exists is used
/// only when it is a real directory (not a symbolic link), owned by `uid`, that no one else may enter; it is
/// never repaired (chmod, chown or removed), since it may belong to someone else.
fn private_dir(parent: &Path, uid: u32) -> Result<PathBuf, ShareError> {
    use std::os::unix::fs::DirBuilderExt;
    let dir = parent.join(format!("mcp-memory-service-{uid}"));
    match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(source) => return Err(ShareError::SocketDir { dir, source }),
    }
    // Checked after creating, on what is there now (lstat: a link is not followed). Once it is ours and
    // closed to others, no one else can replace it (the temp directory is sticky) or put anything in it.
    let metadata = match std::fs::symlink_metadata(&dir) {
        Ok(metadata) => metadata,
        Err(source) => return Err(ShareError::SocketDir { dir, source }),
    };
    match unfit(&metadata, uid) {
        Some(why) => Err(ShareError::UnsafeSocketDir { dir, why }),
        None => Ok(dir),
    }
}

/// What makes a directory unfit to hold the sockets of user `uid`, if anything.
fn unfit(metadata: &std::fs::Metadata, uid: u32) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let mode = metadata.mode() & 0o7777;
    if metadata.file_type().is_symlink() {
        Some("it is a symbolic link".into())
    } else if !metadata.is_dir() {
        Some("it is not a directory".into())
    } else if metadata.uid() != uid {
        Some(format!("it belongs to uid {}, not to this user (uid {uid})", metadata.uid()))
    } else if mode & 0o077 != 0 {
        Some(format!("its mode {mode:o} lets other users in (it must be 700)"))
    } else {
        None
    }
}

/// The uid of the process at the other end of `stream` (SO_PEERCRED), when it is not this user's.
fn foreign_peer(stream: &UnixStream) -> std::io::Result<Option<u32>> {
    Ok(foreign(stream.peer_cred()?.uid(), our_uid()))
}

/// `peer`, when it is not `ours`: only processes of the same user share a store, whatever the permissions
/// of the socket file say (some systems ignore them; a careless chmod widens them).
fn foreign(peer: u32, ours: u32) -> Option<u32> {
    (peer != ours).then_some(peer)
}

/// Checks that the owner listening on `socket`, reached by `stream`, runs as this user.
pub(crate) fn check_owner(stream: &UnixStream, socket: &Path) -> Result<(), ShareError> {
    match foreign_peer(stream) {
        Ok(None) => Ok(()),
        Ok(Some(peer)) => Err(ShareError::ForeignOwner { socket: socket.to_path_buf(), peer, ours: our_uid() }),
        Err(source) => Err(ShareError::PeerUnknown { socket: socket.to_path_buf(), source }),
    }
}

/// Who may own the store after a handover.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Successor {
    /// A `serve` process is about to open it: relays only reconnect, they do not try to open it.
    Serve,
    /// Whoever gets there first.
    Any,
}

/// Our own lines on the socket.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "mms", rename_all = "snake_case")]
pub(crate) enum Control {
    /// Relay → owner, first line: an MCP session follows.
    Mcp { pid: u32 },
    /// `serve` → owner, first line: hand the store over to me.
    Takeover { pid: u32 },
    /// Owner → relay: the store changes owner; finish what is in flight, then reconnect.
    Handover { to: Successor },
    /// Owner → `serve`: the store is not handed over (the owner is itself a server).
    Refused { reason: String },
}

impl Control {
    pub(crate) fn line(&self) -> String {
        let mut line = serde_json::to_string(self).expect("a control line serializes");
        line.push('\n');
        line
    }

    /// The control line in `line`, if it is one.
    pub(crate) fn parse(line: &str) -> Option<Control> {
        if !line.trim_start().starts_with("{\"mms\"") {
            return None;
        }
        serde_json::from_str(line).ok()
    }
}

/// Which process hosts: an `mcp` process gives the store to a `serve` that asks; a `serve` keeps it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostKind {
    Mcp,
    Serve,
}

/// The owner's side: the listener and its sessions.
pub struct Host {
    handover: watch::Sender<Option<Successor>>,
    /// Requests the sessions' server has not answered yet, all sessions together.
    in_flight: watch::Sender<usize>,
    sessions: TaskTracker,
    cancel: CancellationToken,
    schedule: tokio::task::JoinHandle<()>,
}

impl Host {
    /// Listens on the store's socket `path` (replacing a stale one: the caller holds the log's lock, so no
    /// live owner is using it) and serves every connection of this user's processes with a copy of `server`;
    /// runs the backup schedule while it owns the store.
    pub fn start(server: McpServer, path: &Path, kind: HostKind) -> std::io::Result<Host> {
        let path = path.to_path_buf();
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        }
        let (handover, _) = watch::channel(None);
        let schedule = tokio::spawn(server.backups().clone().schedule());
        let host = Host {
            handover,
            in_flight: watch::channel(0).0,
            sessions: TaskTracker::new(),
            cancel: CancellationToken::new(),
            schedule,
        };
        tracing::debug!(socket = %path.display(), "hosting MCP sessions for other processes");
        let accept = Acceptor {
            path,
            listener,
            server,
            kind,
            handover: host.handover.clone(),
            in_flight: host.in_flight.clone(),
            sessions: host.sessions.clone(),
            cancel: host.cancel.clone(),
        };
        host.sessions.spawn(accept.run());
        Ok(host)
    }

    /// Stops accepting and tells every session to move to the next owner.
    pub fn begin_handover(&self, to: Successor) {
        begin_handover(&self.handover, to);
    }

    /// Hands over (to anyone, unless a handover already began) and waits for the sessions to end: relays
    /// disconnect once their requests are answered. Requests in flight are waited for (a long tool, or a
    /// write waiting for Cloudflare, is not cut; up to `IN_FLIGHT_LIMIT`); once none is, relays still
    /// connected after `grace` are cut.
    pub async fn finish(self, grace: Duration) {
        self.schedule.abort();
        self.begin_handover(Successor::Any);
        self.sessions.close();
        let waiting = *self.in_flight.borrow();
        if waiting > 0 {
            tracing::info!(requests = waiting, "waiting for the MCP requests in flight before handing the store over");
        }
        match drain(self.sessions.wait(), self.in_flight.subscribe(), grace, IN_FLIGHT_LIMIT).await {
            Drained::Ended => return,
            Drained::Idle => tracing::warn!("some MCP relays did not leave within {grace:?}; closing their sessions"),
            Drained::TooLong => tracing::warn!(
                requests = *self.in_flight.borrow(),
                "MCP requests still running after {IN_FLIGHT_LIMIT:?}; closing their sessions"
            ),
        }
        self.cancel.cancel();
        self.sessions.wait().await;
    }
}

/// Starts a handover to `to` unless one has begun: the acceptor stops (removing the socket) and every
/// session tells its relay.
fn begin_handover(handover: &watch::Sender<Option<Successor>>, to: Successor) {
    handover.send_if_modified(|current| {
        let begin = current.is_none();
        if begin {
            *current = Some(to);
        }
        begin
    });
}

struct Acceptor {
    path: PathBuf,
    listener: UnixListener,
    server: McpServer,
    kind: HostKind,
    handover: watch::Sender<Option<Successor>>,
    in_flight: watch::Sender<usize>,
    sessions: TaskTracker,
    cancel: CancellationToken,
}

impl Acceptor {
    async fn run(self) {
        let mut handover = self.handover.subscribe();
        loop {
            let stream = tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, _)) => match foreign_peer(&stream) {
                        Ok(None) => stream,
                        Ok(Some(uid)) => {
                            tracing::warn!(uid, "refused a connection to the MCP socket from another user's process");
                            continue;
                        }
                        Err(error) => {
                            tracing::warn!(%error, "refused a connection to the MCP socket: its peer is unknown");
                            continue;
                        }
                    },
                    Err(error) => {
                        tracing::warn!(%error, "accepting an MCP relay failed");
                        continue;
                    }
                },
                _ = handover.wait_for(Option::is_some) => {
                    // No new sessions: relays that try now find no socket and wait for the next owner.
                    let _ = std::fs::remove_file(&self.path);
                    return;
                }
                () = self.cancel.cancelled() => return,
            };
            let connection = Connection {
                server: self.server.clone(),
                kind: self.kind,
                handover: self.handover.clone(),
                in_flight: self.in_flight.clone(),
                cancel: self.cancel.clone(),
            };
            self.sessions.spawn(connection.run(stream));
        }
    }
}

struct Connection {
    server: McpServer,
    kind: HostKind,
    handover: watch::Sender<Option<Successor>>,
    in_flight: watch::Sender<usize>,
    cancel: CancellationToken,
}

impl Connection {
    async fn run(self, stream: UnixStream) {
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read).lines();
        let hello = match tokio::time::timeout(Duration::from_secs(5), lines.next_line()).await {
            Ok(Ok(Some(line))) => Control::parse(&line),
            _ => None,
        };
        match hello {
            Some(Control::Mcp { pid }) => {
                tracing::debug!(pid, "an MCP relay connected");
                self.session(lines, write).await;
            }
            Some(Control::Takeover { pid }) => {
                let answer = if self.kind == HostKind::Mcp {
                    tracing::info!(pid, "handing the store over to a starting server");
                    begin_handover(&self.handover, Successor::Serve);
                    Control::Handover { to: Successor::Serve }
                } else {
                    Control::Refused {
                        reason: format!(
                            "the store is already served by another `mcp-memory-service serve` (pid {})",
                            std::process::id()
                        ),
                    }
                };
                let _ = write.write_all(answer.line().as_bytes()).await;
            }
            _ => tracing::debug!("a connection to the MCP socket did not introduce itself; closed"),
        }
    }

    /// Runs one MCP session for a relay: rmcp serves it over an in-memory pipe, and this loop copies
    /// whole lines both ways, so a handover line never lands inside an MCP message.
    async fn session(
        self,
        mut from_relay: tokio::io::Lines<BufReader<tokio::net::unix::OwnedReadHalf>>,
        mut to_relay: tokio::net::unix::OwnedWriteHalf,
    ) {
        let (ours, theirs) = tokio::io::duplex(1 << 16);
        let server = self.server.clone();
        let rmcp = tokio::spawn(async move {
            if let Ok(running) = server.serve(theirs).await {
                let _ = running.waiting().await;
            }
        });
        let (our_read, mut to_server) = tokio::io::split(ours);
        let mut from_server = BufReader::new(our_read).lines();
        let mut handover = self.handover.subscribe();
        let mut told = false;
        let mut requests = InFlight::default();
        loop {
            tokio::select! {
                line = from_relay.next_line() => match line {
                    Ok(Some(line)) => {
                        let before = requests.len();
                        requests.relay_sent(&line);
                        self.count(before, requests.len());
                        if to_server.write_all(format!("{line}\n").as_bytes()).await.is_err() {
                            break;
                        }
                    }
                    _ => break,
                },
                line = from_server.next_line() => match line {
                    Ok(Some(line)) => {
                        let before = requests.len();
                        requests.server_sent(&line);
                        self.count(before, requests.len());
                        if to_relay.write_all(format!("{line}\n").as_bytes()).await.is_err() {
                            break;
                        }
                    }
                    _ => break,
                },
                to = async { handover.wait_for(Option::is_some).await.ok().and_then(|to| *to) }, if !told => {
                    told = true;
                    let to = to.unwrap_or(Successor::Any);
                    if to_relay.write_all(Control::Handover { to }.line().as_bytes()).await.is_err() {
                        break;
                    }
                }
                () = self.cancel.cancelled() => break,
            }
        }
        // What is left unanswered is no longer waited for: the relay is gone or its session was cut.
        self.count(requests.len(), 0);
        drop(to_server);
        drop(from_server);
        let _ = tokio::time::timeout(Duration::from_secs(5), rmcp).await;
    }

    /// Updates the host's count of requests in flight after this session's went from `before` to `after`.
    fn count(&self, before: usize, after: usize) {
        if before != after {
            self.in_flight.send_modify(|n| *n = (*n + after).saturating_sub(before));
        }
    }
}

/// What the owner said to a takeover request.
#[derive(Debug)]
pub enum Takeover {
    /// It is handing the store over.
    Agreed,
    /// It keeps the store (it is a server itself).
    Refused(String),
    /// Nobody answered on the socket (no owner that shares the store, or one in the middle of leaving).
    NoAnswer(String),
}

/// Asks the owner of the store in `base_dir` to hand it over (for a starting `serve`). An owner of another
/// user is refused, as is a socket in an unsafe directory.
pub async fn request_takeover(base_dir: &Path) -> Takeover {
    let path = match socket_path(base_dir) {
        Ok(path) => path,
        Err(error) => return Takeover::Refused(crate::error::Chain(&error).to_string()),
    };
    let stream = match UnixStream::connect(&path).await {
        Ok(stream) => stream,
        Err(error) => return Takeover::NoAnswer(format!("{error} at {}", path.display())),
    };
    if let Err(error) = check_owner(&stream, &path) {
        return Takeover::Refused(crate::error::Chain(&error).to_string());
    }
    let (read, mut write) = stream.into_split();
    let hello = Control::Takeover { pid: std::process::id() }.line();
    if let Err(error) = write.write_all(hello.as_bytes()).await {
        return Takeover::NoAnswer(error.to_string());
    }
    let mut lines = BufReader::new(read).lines();
    match tokio::time::timeout(Duration::from_secs(5), lines.next_line()).await {
        Ok(Ok(Some(line))) => match Control::parse(&line) {
            Some(Control::Handover { .. }) => Takeover::Agreed,
            Some(Control::Refused { reason }) => Takeover::Refused(reason),
            _ => Takeover::NoAnswer(format!("the owner answered {line:?}")),
        },
        _ => Takeover::NoAnswer(format!("no answer on {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    /// The reason `private_dir` gives for refusing, or a panic when it accepts.
    fn refusal(parent: &Path) -> String {
        match private_dir(parent, our_uid()) {
            Err(ShareError::UnsafeSocketDir { why, .. }) => why,
            other => panic!("the directory is refused: {other:?}"),
        }
    }

    fn mode(path: &Path) -> u32 {
        std::fs::symlink_metadata(path).expect("lstat").mode() & 0o7777
    }

    #[test]
    fn the_private_directory_is_made_closed_to_others_and_then_reused() {
        let parent = tempfile::tempdir().expect("a temp dir");
        let dir = private_dir(parent.path(), our_uid()).expect("made");
        assert_eq!(dir, parent.path().join(format!("mcp-memory-service-{}", our_uid())));
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(private_dir(parent.path(), our_uid()).expect("reused"), dir);
    }

    #[test]
    fn a_private_directory_open_to_others_is_refused_and_left_as_it_is() {
        let parent = tempfile::tempdir().expect("a temp dir");
        let dir = parent.path().join(format!("mcp-memory-service-{}", our_uid()));
        std::fs::create_dir(&dir).expect("create");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        assert_eq!(refusal(parent.path()), "its mode 755 lets other users in (it must be 700)");
        assert_eq!(mode(&dir), 0o755, "never chmod a directory that may be someone else's");
    }

    #[test]
    fn a_symbolic_link_or_a_file_in_place_of_the_private_directory_is_refused() {
        let parent = tempfile::tempdir().expect("a temp dir");
        let dir = parent.path().join(format!("mcp-memory-service-{}", our_uid()));
        // Even a link to a directory that would pass: whoever made the link can point it elsewhere later.
        let target = parent.path().join("elsewhere");
        std::fs::create_dir(&target).expect("create");
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        std::os::unix::fs::symlink(&target, &dir).expect("link");
        assert_eq!(refusal(parent.path()), "it is a symbolic link");
        std::fs::remove_file(&dir).expect("unlink");
        std::fs::write(&dir, "").expect("a file");
        assert_eq!(refusal(parent.path()), "it is not a directory");
    }

    #[test]
    fn a_private_directory_of_another_user_is_refused() {
        let parent = tempfile::tempdir().expect("a temp dir");
        let dir = parent.path().join(format!("mcp-memory-service-{}", our_uid()));
        std::fs::create_dir(&dir).expect("create");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        if our_uid() == 0 {
            // A real squatter's directory: closed to others, but not ours.
            std::os::unix::fs::chown(&dir, Some(65534), Some(65534)).expect("give it to nobody");
            assert_eq!(refusal(parent.path()), "it belongs to uid 65534, not to this user (uid 0)");
            assert_eq!(std::fs::metadata(&dir).expect("stat").uid(), 65534, "left to its owner");
        } else {
            // Without root no directory can be given away: ask as if this process were another user.
            let other = our_uid() + 1;
            let refused = private_dir(parent.path(), other);
            let Err(ShareError::UnsafeSocketDir { why, .. }) = refused else { panic!("refused: {refused:?}") };
            assert_eq!(why, format!("it belongs to uid {}, not to this user (uid {other})", our_uid()));
        }
    }

    #[test]
    fn a_peer_of_another_user_is_foreign() {
        assert_eq!(foreign(1000, 1000), None);
        assert_eq!(foreign(0, 1000), Some(0));
        assert_eq!(foreign(65534, 0), Some(65534));
    }

    #[tokio::test]
    async fn a_peer_of_this_process_is_not_foreign() {
        let (ours, theirs) = UnixStream::pair().expect("a socket pair");
        assert_eq!(foreign_peer(&ours).expect("SO_PEERCRED"), None);
        check_owner(&theirs, Path::new("pair")).expect("the same user");
    }

    #[test]
    fn a_long_data_directory_gets_a_socket_in_the_private_directory() {
        let short = Path::new("/srv/memory");
        assert_eq!(socket_path(short).expect("inside"), short.join("mcp.sock"));
        let long = PathBuf::from(format!("/srv/{}", "a".repeat(100)));
        let socket = socket_path(&long).expect("a private socket");
        let dir = socket.parent().expect("a directory");
        assert_eq!(dir, std::env::temp_dir().join(format!("mcp-memory-service-{}", our_uid())));
        assert!(socket.as_os_str().len() < 100, "{}", socket.display());
    }
}
