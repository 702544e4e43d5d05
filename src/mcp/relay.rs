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
//!
//! Those decisions are a state machine without I/O ([`state::Relay`]); this file is its driver: it owns
//! stdin, stdout, the link to the owner and this process's own store, waits for the next input and
//! performs the actions the state machine returns.

// `pub(crate)` for the fuzz harness (`crate::fuzzing`), which drives the state machine with arbitrary inputs.
pub(crate) mod state;

use super::host::{
    Control, DRAIN_GRACE, Host, HostKind, Ownership, ShareError, Successor, check_owner, own, socket_path,
};
use crate::store::{Store, try_open};
use state::{Action, Input, Relay};
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines, Stdin, Stdout};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::task::JoinHandle;

/// How long a relay keeps trying to reach or become the owner before it gives up.
const CONNECT_PATIENCE: Duration = Duration::from_secs(60);
/// After a handover to a starting `serve`, how long relays leave the store to it.
const SERVE_PRIORITY: Duration = Duration::from_secs(30);

/// Runs the relay until the client closes stdin.
pub async fn run(owner: Ownership) -> Result<(), ShareError> {
    let mut driver = Driver::start(owner)?;
    loop {
        let input = driver.next_input().await?;
        let actions = driver.relay.handle(input);
        if driver.perform(actions).await?.is_break() {
            break;
        }
    }
    driver.close().await;
    Ok(())
}

/// The relay's I/O: its client's stdin and stdout, the link to the owner, the connection attempt under
/// way, and the store when this process owns it. It waits for inputs and performs the actions that
/// [`Relay`] decides.
struct Driver {
    relay: Relay,
    owner: Ownership,
    socket: PathBuf,
    stdin: Lines<BufReader<Stdin>>,
    stdout: Stdout,
    link: Option<Link>,
    hosted: Option<Hosted>,
    connecting: Option<JoinHandle<Connected>>,
}

impl Driver {
    /// Starts the first connection attempt (to anyone, possibly this process).
    fn start(owner: Ownership) -> Result<Driver, ShareError> {
        let mut driver = Driver {
            relay: Relay::new(),
            socket: socket_path(&owner.store.paths.base_dir)?,
            owner,
            stdin: BufReader::new(tokio::io::stdin()).lines(),
            stdout: tokio::io::stdout(),
            link: None,
            hosted: None,
            connecting: None,
        };
        driver.reconnect(Successor::Any);
        Ok(driver)
    }

    /// Waits for the next line from the client or the owner, or for the connection attempt to end.
    async fn next_input(&mut self) -> Result<Input, ShareError> {
        tokio::select! {
            line = self.stdin.next_line() => Ok(match line.map_err(ShareError::Stdin)? {
                Some(line) => Input::Client(line),
                None => Input::ClientClosed,
            }),
            line = receive(&mut self.link) => Ok(match line {
                Ok(Some(line)) => Input::Owner(line),
                Ok(None) | Err(_) => Input::LinkLost,
            }),
            connected = async { self.connecting.as_mut().expect("guarded").await }, if self.connecting.is_some() => {
                self.connecting = None;
                let (link, hosted) = connected??;
                if hosted.is_some() {
                    tracing::debug!("this process owns the store");
                }
                self.hosted = hosted;
                self.link = Some(link);
                Ok(Input::Connected)
            }
        }
    }

    /// Performs `actions` in order; breaks once the relay is finished.
    async fn perform(&mut self, actions: Vec<Action>) -> Result<ControlFlow<()>, ShareError> {
        let mut flow = ControlFlow::Continue(());
        for action in actions {
            match action {
                Action::ToClient(line) => {
                    self.stdout.write_all(line.as_bytes()).await.map_err(ShareError::Stdout)?;
                    self.stdout.write_all(b"\n").await.map_err(ShareError::Stdout)?;
                }
                Action::ToOwner(line) => self.send(line).await,
                Action::Reconnect(to) => self.reconnect(to),
                Action::Finish => flow = ControlFlow::Break(()),
            }
        }
        self.stdout.flush().await.map_err(ShareError::Stdout)?;
        Ok(flow)
    }

    async fn send(&mut self, line: String) {
        let sent = match self.link.as_mut() {
            Some(link) => link.send(&line).await.is_ok(),
            None => false,
        };
        if !sent {
            // The read side reports the loss on the next turn; the line waits for the next owner.
            self.relay.undelivered(line);
        }
    }

    /// Drops the link and connects to the next owner, handing this process's own store over first.
    fn reconnect(&mut self, to: Successor) {
        self.link = None;
        let previous = self.hosted.take();
        let task = connect(self.owner.clone(), self.socket.clone(), previous, to);
        self.connecting = Some(tokio::spawn(task));
    }

    /// The client is gone. If this process owns the store, the other relays move to a new owner first.
    async fn close(self) {
        drop(self.link);
        let mut hosted = self.hosted;
        if let Some(task) = self.connecting
            && let Ok(Ok((_, Some(own)))) = task.await
        {
            hosted = Some(own);
        }
        if let Some(own) = hosted {
            own.close().await;
        }
    }
}

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
type Connected = Result<(Link, Option<Hosted>), ShareError>;

/// The next line from the link; never completes without one.
async fn receive(link: &mut Option<Link>) -> std::io::Result<Option<String>> {
    match link {
        Some(link) => link.lines.next_line().await,
        None => std::future::pending().await,
    }
}

/// Reaches the store's owner: closes `previous` (this process's own store, when it is handing over),
/// then becomes the owner if the store is free (unless a `serve` has priority) or connects to the one that
/// is, retrying while owners change. An owner running as another user gets nothing, not even the hello.
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
            check_owner(&stream, &socket)?;
            let (read, write) = stream.into_split();
            let mut link = Link { lines: BufReader::new(read).lines(), write };
            let hello = Control::Mcp { pid: std::process::id() }.line();
            if link.write.write_all(hello.as_bytes()).await.is_ok() {
                return Ok((link, hosted));
            }
        }
        if started.elapsed() > CONNECT_PATIENCE {
            return Err(ShareError::Unreachable { socket });
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
