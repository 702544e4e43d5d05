//! Target `relay_lines`: the MCP relay's state machine (`mcp::relay::state`) fed an arbitrary sequence of
//! inputs, the way its driver (`mcp/relay.rs`) would feed them, against a simulated client and owner.
//!
//! Input: one byte per step picks what happens next, with a few bytes of detail: the client sends a request
//! (a fresh id the harness tracks), a notification, `initialize`, `initialized`, an answer, or an arbitrary
//! line; the owner answers one of the requests it received (with a result or an error), sends a
//! notification, a request of its own, a handover or an arbitrary line; the link breaks (the owner was
//! killed), its write side fails (what the relay sends comes back through `Relay::undelivered`), or a
//! connection opens; the client closes stdin. Inputs the driver cannot produce are not fed: owner lines and
//! link losses only while a link is open, `Connected` only after the relay asked to reconnect. Arbitrary lines
//! that would forge an answer to a tracked id are left out, since no real peer can answer a request it never got.
//!
//! The simulated owner is well behaved: it answers each request it received at most once, and a killed owner
//! answers nothing more. Invariants, checked after every step:
//! - a tracked request reaches an owner at most once, and never while the relay is connecting or after the
//!   owner announced a handover; a client's `initialize` never reaches an owner (only its replay, under a
//!   relay id);
//! - a tracked request gets at most one answer; the relay's own error answer comes only for a request that a
//!   killed owner had received and not answered; every `initialize` is answered at once, by the relay;
//! - no answer to the relay's replayed handshake reaches the client;
//! - the relay moves to the next owner after a handover only once nothing it sent is unanswered.
//!
//! At the end (unless the client closed), the session is settled: a broken link is reported, connections
//! open and the owner answers everything; then every tracked request has exactly one answer: nothing is lost.

use super::Bytes;
use crate::mcp::host::Control;
use crate::mcp::relay::state::{Action, Input, Relay};
use serde_json::{Value, json};
use std::collections::HashMap;

/// What the relay says when the owner died with a request in flight (`Session::abandon`).
const ABANDONED: &str = "exited while this request was in flight";
/// The id prefix of the relay's own requests (its replayed `initialize`).
const RELAY_ID: &str = "mms-relay-";
/// Tracked ids: strings with this prefix, or numbers from `FIRST_NUMBER` on.
const TRACKED_PREFIX: &str = "fz-";
const FIRST_NUMBER: u64 = 1_000_000_000;

const METHODS: &[&str] = &["tools/call", "tools/list", "resources/read", "prompts/get", "ping", "resources/list"];
const NOTIFICATIONS: &[&str] =
    &["notifications/cancelled", "notifications/roots/list_changed", "notifications/progress", "notifications/x"];

/// Where a tracked request stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tracked {
    /// A request the relay holds or queues: not received by any owner.
    Held,
    /// Received by the owner of link `n`.
    Sent(u32),
    /// Answered once.
    Answered,
    /// A client's `initialize`, not answered yet.
    Initialize,
}

/// The link to an owner, as the driver holds it.
struct Link {
    number: u32,
    /// The requests this owner received and has not answered: their ids, as sent.
    outstanding: Vec<Value>,
    /// Writes fail from now on (the peer is gone); reads go on until the loss is reported.
    write_broken: bool,
    /// The owner announced a handover: the relay sends nothing more on this link.
    handed_over: bool,
}

struct Harness {
    relay: Relay,
    link: Option<Link>,
    /// The relay asked to reconnect and no connection has opened since.
    connecting: bool,
    links_made: u32,
    /// Tracked requests by id (as JSON text).
    tracked: HashMap<String, Tracked>,
    next_id: u64,
    finished: bool,
}

/// The id of a JSON-RPC response (a message with an id and no method).
fn response_id(message: &Value) -> Option<&Value> {
    if message.get("method").is_some() { None } else { message.get("id").filter(|id| !id.is_null()) }
}

/// The id of a JSON-RPC request (a method and a non-null id).
fn request_id(message: &Value) -> Option<&Value> {
    message.get("method")?.as_str()?;
    message.get("id").filter(|id| !id.is_null())
}

/// Whether an id could be one the harness tracks (so an arbitrary line carrying it could forge its answer).
fn looks_tracked(id: &Value) -> bool {
    match id {
        Value::String(s) => s.contains(TRACKED_PREFIX),
        Value::Number(n) => n.as_f64().is_some_and(|x| x >= FIRST_NUMBER as f64),
        _ => false,
    }
}

fn line_without_newlines(text: String) -> String {
    text.replace(['\n'], "")
}

impl Harness {
    fn new() -> Harness {
        Harness {
            relay: Relay::new(),
            link: None,
            connecting: true,
            links_made: 0,
            tracked: HashMap::new(),
            next_id: 0,
            finished: false,
        }
    }

    fn fresh_id(&mut self, form: u8) -> Value {
        self.next_id += 1;
        match form % 3 {
            0 => json!(format!("{TRACKED_PREFIX}{}", self.next_id)),
            1 => json!(FIRST_NUMBER + self.next_id),
            _ => json!(format!("{TRACKED_PREFIX}{}-{}", self.next_id, "é x")),
        }
    }

    /// Feeds one input and performs its actions as the driver does, checking each.
    fn feed(&mut self, input: Input) {
        let from_owner = matches!(input, Input::Owner(_));
        let lost = matches!(input, Input::LinkLost);
        let closed = matches!(input, Input::ClientClosed);
        // A killed owner's link is gone before the relay hears of it.
        let lost_link = if lost { self.link.take().map(|l| l.number) } else { None };
        let actions = self.relay.handle(input);
        for action in actions {
            match action {
                Action::ToOwner(line) => self.send_to_owner(line),
                Action::ToClient(line) => self.send_to_client(&line, lost_link),
                Action::Reconnect(_) => {
                    assert!(from_owner || lost, "the relay reconnects only after a handover or a lost link");
                    if let Some(link) = &self.link {
                        let number = link.number;
                        let unanswered: Vec<&String> = self
                            .tracked
                            .iter()
                            .filter(|(_, t)| **t == Tracked::Sent(number))
                            .map(|(id, _)| id)
                            .collect();
                        assert!(unanswered.is_empty(), "the relay left an owner with {unanswered:?} unanswered");
                    }
                    self.link = None;
                    self.connecting = true;
                }
                Action::Finish => {
                    assert!(closed, "the relay finished before its client closed stdin");
                    self.finished = true;
                }
            }
        }
        let waiting: Vec<&String> =
            self.tracked.iter().filter(|(_, t)| **t == Tracked::Initialize).map(|(id, _)| id).collect();
        assert!(waiting.is_empty(), "initialize {waiting:?} was not answered at once");
    }

    fn send_to_owner(&mut self, line: String) {
        let Some(link) = self.link.as_mut() else { panic!("the relay sent {line} with no link open") };
        assert!(!link.handed_over, "the relay sent {line} after the owner announced a handover");
        if link.write_broken {
            self.relay.undelivered(line);
            return;
        }
        let Ok(message) = serde_json::from_str::<Value>(&line) else { return };
        let Some(id) = request_id(&message) else { return };
        link.outstanding.push(id.clone());
        if let Some(state) = self.tracked.get_mut(&id.to_string()) {
            assert_eq!(*state, Tracked::Held, "request {id} reached an owner again (it was {state:?}): {line}");
            *state = Tracked::Sent(link.number);
        }
    }

    fn send_to_client(&mut self, line: &str, lost_link: Option<u32>) {
        let Ok(message) = serde_json::from_str::<Value>(line) else { return };
        let Some(id) = response_id(&message) else { return };
        assert!(
            !id.as_str().is_some_and(|id| id.starts_with(RELAY_ID)),
            "the answer to the relay's own handshake reached the client: {line}"
        );
        let Some(state) = self.tracked.get_mut(&id.to_string()) else { return };
        let abandoned = message["error"]["message"].as_str().is_some_and(|m| m.contains(ABANDONED));
        match *state {
            Tracked::Initialize => {}
            Tracked::Sent(number) if abandoned => {
                assert_eq!(Some(number), lost_link, "request {id} was failed though its owner was not the one lost");
            }
            Tracked::Sent(number) => {
                let current = self.link.as_ref().map(|l| l.number);
                assert_eq!(Some(number), current, "request {id} was answered by an owner that never received it");
            }
            other => panic!("request {id} was answered while {other:?}: {line}"),
        }
        *state = Tracked::Answered;
    }

    /// The owner answers the `index`-th request it has not answered yet.
    fn owner_answers(&mut self, index: usize, error: bool) {
        let Some(link) = self.link.as_mut() else { return };
        if link.outstanding.is_empty() {
            return;
        }
        let id = link.outstanding.remove(index % link.outstanding.len());
        let answer = if error {
            json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32602, "message": "the owner refused it"}})
        } else {
            json!({"jsonrpc": "2.0", "id": id, "result": {"content": []}})
        };
        self.feed(Input::Owner(answer.to_string()));
    }

    fn step(&mut self, bytes: &mut Bytes<'_>) {
        let linked = self.link.is_some();
        match bytes.byte() % 16 {
            0 => {
                let id = self.fresh_id(bytes.byte());
                self.tracked.insert(id.to_string(), Tracked::Held);
                let method = METHODS[usize::from(bytes.byte()) % METHODS.len()];
                let request = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": {"name": "memory_list"}});
                self.feed(Input::Client(request.to_string()));
            }
            1 => {
                let method = NOTIFICATIONS[usize::from(bytes.byte()) % NOTIFICATIONS.len()];
                self.feed(Input::Client(json!({"jsonrpc": "2.0", "method": method, "params": {}}).to_string()));
            }
            2 => {
                let id = self.fresh_id(bytes.byte());
                self.tracked.insert(id.to_string(), Tracked::Initialize);
                let params = match bytes.byte() % 3 {
                    0 => {
                        json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "c", "version": "1"}})
                    }
                    1 => {
                        json!({"protocolVersion": "2024-11-05", "capabilities": {"roots": {}}, "clientInfo": {"name": "c", "version": "1"}})
                    }
                    _ => json!({"protocolVersion": 7}),
                };
                let request = json!({"jsonrpc": "2.0", "id": id, "method": "initialize", "params": params});
                self.feed(Input::Client(request.to_string()));
            }
            3 => self.feed(Input::Client(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string())),
            4 => {
                let line = line_without_newlines(bytes.text());
                let forged =
                    serde_json::from_str::<Value>(&line).ok().is_some_and(|m| m.get("id").is_some_and(looks_tracked));
                if !forged {
                    self.feed(Input::Client(line));
                }
            }
            5 => {
                let index = usize::from(bytes.byte());
                self.owner_answers(index, false);
            }
            6 => {
                let index = usize::from(bytes.byte());
                self.owner_answers(index, true);
            }
            7 if linked => {
                let progress = json!({"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progress": 1}});
                self.feed(Input::Owner(progress.to_string()));
            }
            8 if linked => {
                let to = if bytes.byte().is_multiple_of(2) { "any" } else { "serve" };
                if let Some(link) = self.link.as_mut() {
                    link.handed_over = true;
                }
                self.feed(Input::Owner(format!(r#"{{"mms":"handover","to":"{to}"}}"#)));
            }
            9 if linked => {
                let line = line_without_newlines(bytes.text());
                let message = serde_json::from_str::<Value>(&line).ok();
                let forged = message.as_ref().and_then(response_id).is_some_and(looks_tracked);
                if !forged {
                    if let (Some(Control::Handover { .. }), Some(link)) = (Control::parse(&line), self.link.as_mut()) {
                        link.handed_over = true;
                    }
                    self.feed(Input::Owner(line));
                }
            }
            10 if linked => self.feed(Input::LinkLost),
            11 if self.connecting => self.connect(),
            12 => {
                if let Some(link) = self.link.as_mut() {
                    link.write_broken = true;
                }
            }
            13 => {
                let answer = json!({"jsonrpc": "2.0", "id": format!("srv-{}", bytes.byte()), "result": {"roots": []}});
                self.feed(Input::Client(answer.to_string()));
            }
            14 if linked => {
                let request = json!({"jsonrpc": "2.0", "id": format!("srv-{}", bytes.byte()), "method": "roots/list"});
                self.feed(Input::Owner(request.to_string()));
            }
            15 => self.feed(Input::ClientClosed),
            _ => {}
        }
    }

    fn connect(&mut self) {
        self.connecting = false;
        self.links_made += 1;
        self.link =
            Some(Link { number: self.links_made, outstanding: Vec::new(), write_broken: false, handed_over: false });
        self.feed(Input::Connected);
    }

    /// Lets the session come to rest: a broken link is reported, connections open, and the owner answers
    /// everything it has.
    fn settle(&mut self) {
        for _ in 0..16 {
            if self.link.as_ref().is_some_and(|l| l.write_broken) {
                self.feed(Input::LinkLost);
            }
            if self.connecting {
                self.connect();
            }
            while self.link.as_ref().is_some_and(|l| !l.outstanding.is_empty() && !l.write_broken) {
                self.owner_answers(0, false);
            }
            if self.link.is_some() && !self.connecting && self.tracked.values().all(|t| *t == Tracked::Answered) {
                return;
            }
        }
    }
}

pub fn relay_lines(data: &[u8]) {
    let mut bytes = Bytes::new(data);
    let mut harness = Harness::new();
    while !bytes.is_empty() && !harness.finished {
        harness.step(&mut bytes);
    }
    if harness.finished {
        return;
    }
    harness.settle();
    let unanswered: Vec<(&String, &Tracked)> =
        harness.tracked.iter().filter(|(_, t)| **t != Tracked::Answered).collect();
    assert!(unanswered.is_empty(), "requests never answered: {unanswered:?}");
}
