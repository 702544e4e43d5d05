//! The relay's decisions, without I/O: what to do with each line from the client or from the owner, and
//! when the link to the owner breaks or opens. [`Relay`] holds the client's session (its handshake, the
//! requests in flight, the lines waiting for a link) and the state of the link; the driver in `relay.rs`
//! waits for the next [`Input`] and performs the [`Action`]s it returns, in order.

use crate::mcp::host::{Control, Successor};
use rmcp::ServerHandler;
use rmcp::model::{ErrorData, InitializeRequestParams, ServerConfig};
use serde_json::{Value, json};
use std::collections::HashSet;

/// Ids of the requests the relay sends for itself (the replayed `initialize`); their answers are dropped.
const RELAY_ID: &str = "mms-relay-";

/// Something that happened to the relay.
#[derive(Debug)]
pub(crate) enum Input {
    /// A line from the client (stdin).
    Client(String),
    /// The client closed stdin.
    ClientClosed,
    /// A line from the owner: an MCP message, or a control line such as `{"mms":"handover"}`.
    Owner(String),
    /// The link to the owner broke without a handover (the owner was killed).
    LinkLost,
    /// A link to a new owner is open (this process may be that owner).
    Connected,
}

/// What the driver does next.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Action {
    /// Write the line to the client (stdout).
    ToClient(String),
    /// Send the line to the owner; a line that cannot be sent goes back through [`Relay::undelivered`].
    ToOwner(String),
    /// Drop the link (closing this process's own store, if it owns it) and connect to the next owner.
    Reconnect(Successor),
    /// The client is gone: stop.
    Finish,
}

/// Where the link to the owner stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LinkState {
    /// No link: a connection attempt is under way.
    Connecting,
    /// Lines go to the owner as they come.
    Open,
    /// The owner is handing the store over to `to`: nothing more is sent, and the relay reconnects once
    /// the requests in flight are answered.
    Draining(Successor),
}

/// The relay: its client's session and its link to the owner.
pub(crate) struct Relay {
    session: Session,
    link: LinkState,
}

impl Relay {
    /// A relay whose first connection attempt is under way.
    pub(crate) fn new() -> Relay {
        Relay { session: Session::default(), link: LinkState::Connecting }
    }

    /// What to do about `input`.
    pub(crate) fn handle(&mut self, input: Input) -> Vec<Action> {
        match input {
            Input::Client(line) => self.on_client(line),
            Input::ClientClosed => vec![Action::Finish],
            Input::Owner(line) => self.on_owner(line),
            Input::LinkLost => self.on_link_lost(),
            Input::Connected => self.on_connected(),
        }
    }

    /// Takes back a line the driver could not send: the link is broken, and the read side reports it next.
    /// A request that never left is not in flight; it waits for the next owner with the other lines. The
    /// handshake is not kept: the next owner gets it replayed anyway.
    pub(crate) fn undelivered(&mut self, line: String) {
        if let FromClient::Other = classify(&line) {
            if let Some(id) = request_id(&line) {
                self.session.pending.remove(&id);
            }
            self.session.queue.push(line);
        }
    }

    /// `initialize` is answered here and remembered; the rest goes to the owner, or waits for a link.
    fn on_client(&mut self, line: String) -> Vec<Action> {
        let open = self.link == LinkState::Open;
        match classify(&line) {
            FromClient::Initialize(request) => {
                let mut actions = vec![Action::ToClient(answer_initialize(&request))];
                self.session.initialize = Some(request);
                self.session.initialized = false;
                if open {
                    actions.extend(self.session.replay().into_iter().map(Action::ToOwner));
                }
                actions
            }
            FromClient::Initialized => {
                self.session.initialized = true;
                if open { vec![Action::ToOwner(line)] } else { Vec::new() }
            }
            FromClient::Malformed(error) => {
                // JSON-RPC 2.0: a message that cannot be parsed is answered with a parse error and a null id.
                tracing::warn!(%error, "a line from the MCP client is not JSON; answered with a parse error");
                let message = format!("Parse error: the line is not JSON ({error})");
                vec![Action::ToClient(
                    json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32700, "message": message}}).to_string(),
                )]
            }
            FromClient::Other => {
                if open {
                    vec![self.forward(line)]
                } else {
                    self.session.queue.push(line);
                    Vec::new()
                }
            }
        }
    }

    /// Answers go to the client (except those to the relay's own requests); a handover starts draining,
    /// and a draining relay reconnects once nothing it sent is left unanswered.
    fn on_owner(&mut self, line: String) -> Vec<Action> {
        let mut actions = Vec::new();
        if let Some(Control::Handover { to }) = Control::parse(&line) {
            self.link = LinkState::Draining(to);
        } else if let Some(line) = self.session.received(line) {
            actions.push(Action::ToClient(line));
        }
        if let LinkState::Draining(to) = self.link
            && self.session.pending.is_empty()
        {
            self.link = LinkState::Connecting;
            actions.push(Action::Reconnect(to));
        }
        actions
    }

    /// The requests in flight are answered with an error, and the relay reconnects to anyone.
    fn on_link_lost(&mut self) -> Vec<Action> {
        tracing::info!("the store's owner went away; reconnecting");
        let mut actions: Vec<Action> = self.session.abandon().into_iter().map(Action::ToClient).collect();
        self.link = LinkState::Connecting;
        actions.push(Action::Reconnect(Successor::Any));
        actions
    }

    /// The new owner gets the handshake, then the lines that waited.
    fn on_connected(&mut self) -> Vec<Action> {
        self.link = LinkState::Open;
        let mut actions: Vec<Action> = self.session.replay().into_iter().map(Action::ToOwner).collect();
        for line in std::mem::take(&mut self.session.queue) {
            actions.push(self.forward(line));
        }
        actions
    }

    /// Sends a client's line to the owner; a request is in flight from now until its answer.
    fn forward(&mut self, line: String) -> Action {
        if let Some(id) = request_id(&line) {
            self.session.pending.insert(id);
        }
        Action::ToOwner(line)
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

    /// The line from the owner for the client, if any: an answer to a replayed `initialize` is dropped,
    /// and an answer to a pending request clears it.
    fn received(&mut self, line: String) -> Option<String> {
        let message: Option<Value> = serde_json::from_str(&line).ok();
        let id = message.as_ref().and_then(|m| m.get("id"));
        let is_response = message.as_ref().is_some_and(|m| m.get("method").is_none());
        let ours = id.and_then(Value::as_str).is_some_and(|id| id.starts_with(RELAY_ID));
        if is_response && ours {
            if let Some(error) = message.as_ref().and_then(|m| m.get("error")) {
                tracing::warn!(%error, "the store's owner refused the replayed handshake");
            }
            return None;
        }
        if let (true, Some(id)) = (is_response, id) {
            self.pending.remove(&id.to_string());
        }
        Some(line)
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

/// The client's lines the relay treats apart.
enum FromClient {
    /// An `initialize` request.
    Initialize(Value),
    /// The `notifications/initialized` notification.
    Initialized,
    /// A line that is not JSON (a blank line is not a message, and goes on as `Other`).
    Malformed(serde_json::Error),
    /// Anything else: requests, notifications, answers.
    Other,
}

fn classify(line: &str) -> FromClient {
    let message = match serde_json::from_str::<Value>(line) {
        Ok(message) => message,
        Err(_) if line.trim().is_empty() => return FromClient::Other,
        Err(error) => return FromClient::Malformed(error),
    };
    let method = message.get("method").and_then(Value::as_str);
    let has_id = message.get("id").is_some_and(|id| !id.is_null());
    match (method, has_id) {
        (Some("initialize"), true) => FromClient::Initialize(message),
        (Some("notifications/initialized"), false) => FromClient::Initialized,
        _ => FromClient::Other,
    }
}

/// The id (as JSON text) of the request in `line`, if it is one (a method and a non-null id).
fn request_id(line: &str) -> Option<String> {
    let message: Value = serde_json::from_str(line).ok()?;
    message.get("method")?.as_str()?;
    message.get("id").filter(|id| !id.is_null()).map(Value::to_string)
}

/// Answers `initialize` exactly as the owner's rmcp server does: same server description, same protocol
/// version negotiation.
struct Handshake;

impl ServerHandler for Handshake {
    fn get_info(&self) -> ServerConfig {
        crate::mcp::server_info()
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

#[cfg(test)]
mod tests {
    use super::*;

    /// An action with its line parsed, so that tests compare messages rather than their spelling.
    #[derive(Debug, PartialEq)]
    enum Did {
        Client(Value),
        Owner(Value),
        Reconnect(Successor),
        Finish,
    }

    /// No action at all.
    const NOTHING: [Did; 0] = [];

    fn did(actions: Vec<Action>) -> Vec<Did> {
        let parse = |line: String| serde_json::from_str(&line).expect("the relay writes JSON lines");
        actions
            .into_iter()
            .map(|action| match action {
                Action::ToClient(line) => Did::Client(parse(line)),
                Action::ToOwner(line) => Did::Owner(parse(line)),
                Action::Reconnect(to) => Did::Reconnect(to),
                Action::Finish => Did::Finish,
            })
            .collect()
    }

    fn initialize(id: Value) -> Value {
        json!({"jsonrpc": "2.0", "id": id, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "test", "version": "1"},
        }})
    }

    fn initialized() -> Value {
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"})
    }

    fn call(id: u64) -> Value {
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": "memory_list"}})
    }

    fn answer(id: Value) -> Value {
        json!({"jsonrpc": "2.0", "id": id, "result": {"content": []}})
    }

    fn from_client(relay: &mut Relay, message: &Value) -> Vec<Did> {
        did(relay.handle(Input::Client(message.to_string())))
    }

    fn from_owner(relay: &mut Relay, message: &Value) -> Vec<Did> {
        did(relay.handle(Input::Owner(message.to_string())))
    }

    fn handover(relay: &mut Relay, to: &str) -> Vec<Did> {
        did(relay.handle(Input::Owner(format!(r#"{{"mms":"handover","to":"{to}"}}"#))))
    }

    /// A relay whose client has finished its handshake, linked to an owner that has answered the replay.
    fn linked() -> Relay {
        let mut relay = Relay::new();
        from_client(&mut relay, &initialize(json!(1)));
        from_client(&mut relay, &initialized());
        relay.handle(Input::Connected);
        from_owner(&mut relay, &answer(json!("mms-relay-1")));
        relay
    }

    /// A relay with `ids` sent to the owner and not answered.
    fn linked_with_pending(ids: &[u64]) -> Relay {
        let mut relay = linked();
        for &id in ids {
            from_client(&mut relay, &call(id));
        }
        relay
    }

    fn pending(relay: &Relay) -> Vec<&str> {
        let mut ids: Vec<&str> = relay.session.pending.iter().map(String::as_str).collect();
        ids.sort_unstable();
        ids
    }

    #[test]
    fn initialize_is_answered_locally_before_any_owner_is_reached() {
        // Given a relay still connecting.
        let mut relay = Relay::new();

        // When the client initializes.
        let actions = from_client(&mut relay, &initialize(json!(1)));

        // Then the relay answers it itself, and sends nothing.
        let [Did::Client(answer)] = actions.as_slice() else { panic!("one answer to the client: {actions:?}") };
        assert_eq!(answer["id"], json!(1));
        assert_eq!(answer["result"]["serverInfo"]["name"], json!("mcp-memory-service"));
        assert_eq!(answer["result"]["protocolVersion"], json!("2025-06-18"));
        assert_eq!(from_client(&mut relay, &initialized()), NOTHING);
    }

    #[test]
    fn the_first_owner_gets_the_handshake_and_the_lines_that_waited() {
        // Given a relay still connecting, whose client initialized and already sent a request.
        let mut relay = Relay::new();
        from_client(&mut relay, &initialize(json!(1)));
        from_client(&mut relay, &initialized());
        assert_eq!(from_client(&mut relay, &call(2)), NOTHING);

        // When the link opens.
        let actions = did(relay.handle(Input::Connected));

        // Then the owner gets the initialize under a relay id, initialized, then the request.
        assert_eq!(
            actions,
            [Did::Owner(initialize(json!("mms-relay-1"))), Did::Owner(initialized()), Did::Owner(call(2))]
        );
        // And the answer to the replayed initialize never reaches the client.
        assert_eq!(from_owner(&mut relay, &answer(json!("mms-relay-1"))), NOTHING);
    }

    #[test]
    fn requests_are_forwarded_and_pending_until_answered() {
        // Given a linked relay.
        let mut relay = linked();

        // When the client sends two requests and a notification.
        let sent = [from_client(&mut relay, &call(2)), from_client(&mut relay, &call(3))];
        let cancelled = json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 9}});
        let notified = from_client(&mut relay, &cancelled);

        // Then each goes to the owner as it is, and the requests are pending.
        assert_eq!(sent, [[Did::Owner(call(2))], [Did::Owner(call(3))]]);
        assert_eq!(notified, [Did::Owner(cancelled)]);
        assert_eq!(pending(&relay), ["2", "3"]);

        // When the owner answers one, and sends a notification of its own.
        let answered = from_owner(&mut relay, &answer(json!(2)));
        let progress = json!({"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progress": 1}});
        let notified = from_owner(&mut relay, &progress);

        // Then both reach the client, and only the other request is still pending.
        assert_eq!(answered, [Did::Client(answer(json!(2)))]);
        assert_eq!(notified, [Did::Client(progress)]);
        assert_eq!(pending(&relay), ["3"]);
    }

    #[test]
    fn a_handover_waits_for_the_answers_in_flight_then_moves_with_the_handshake_and_the_queue() {
        // Given a linked relay with a request in flight.
        let mut relay = linked_with_pending(&[2]);

        // When the owner hands over to a starting server, and the client goes on sending.
        let told = handover(&mut relay, "serve");
        let notification = json!({"jsonrpc": "2.0", "method": "notifications/roots/list_changed"});
        let meanwhile = [from_client(&mut relay, &notification), from_client(&mut relay, &call(3))];

        // Then the relay neither moves nor sends: the lines wait, and the request is not in flight.
        assert_eq!(told, NOTHING);
        assert_eq!(meanwhile, [NOTHING, NOTHING]);
        assert_eq!(pending(&relay), ["2"]);

        // When the answer in flight comes.
        let answered = from_owner(&mut relay, &answer(json!(2)));

        // Then the client gets it, and the relay moves to the server.
        assert_eq!(answered, [Did::Client(answer(json!(2))), Did::Reconnect(Successor::Serve)]);

        // When the link to the new owner opens.
        let actions = did(relay.handle(Input::Connected));

        // Then the new owner gets the handshake under a new relay id, then the lines that waited.
        assert_eq!(
            actions,
            [
                Did::Owner(initialize(json!("mms-relay-2"))),
                Did::Owner(initialized()),
                Did::Owner(notification),
                Did::Owner(call(3))
            ]
        );
        assert_eq!(pending(&relay), ["3"]);
        // And the answer to that replayed initialize is dropped, not given to the client.
        assert_eq!(from_owner(&mut relay, &answer(json!("mms-relay-2"))), NOTHING);
    }

    #[test]
    fn a_handover_with_nothing_in_flight_moves_at_once() {
        // Given a linked relay with nothing in flight.
        let mut relay = linked();

        // When the owner hands over to anyone.
        let actions = handover(&mut relay, "any");

        // Then the relay moves.
        assert_eq!(actions, [Did::Reconnect(Successor::Any)]);
    }

    #[test]
    fn an_abrupt_link_loss_answers_exactly_the_requests_in_flight_and_reconnects() {
        // Given a linked relay that sent three requests, one of them answered.
        let mut relay = linked_with_pending(&[2, 3, 4]);
        from_owner(&mut relay, &answer(json!(3)));

        // When the link breaks.
        let mut actions = did(relay.handle(Input::LinkLost));

        // Then the two unanswered requests, and only they, get the error; then the relay reconnects.
        assert_eq!(actions.pop(), Some(Did::Reconnect(Successor::Any)));
        let mut failed: Vec<Value> = actions
            .iter()
            .map(|action| match action {
                Did::Client(message) => {
                    assert_eq!(message["error"]["code"], json!(-32603), "{message}");
                    let reason = message["error"]["message"].as_str().unwrap_or_default();
                    assert!(reason.contains("may or may not have been applied"), "{reason}");
                    message["id"].clone()
                }
                other => panic!("only answers to the client before reconnecting: {other:?}"),
            })
            .collect();
        failed.sort_by_key(Value::to_string);
        assert_eq!(failed, [json!(2), json!(4)]);

        // And the next owner gets the handshake only: nothing is sent twice.
        let actions = did(relay.handle(Input::Connected));
        assert_eq!(actions, [Did::Owner(initialize(json!("mms-relay-2"))), Did::Owner(initialized())]);
        assert!(relay.session.pending.is_empty());
    }

    #[test]
    fn a_link_lost_while_draining_fails_only_what_was_sent() {
        // Given a draining relay with a request in flight and one that waits.
        let mut relay = linked_with_pending(&[2]);
        handover(&mut relay, "any");
        from_client(&mut relay, &call(3));

        // When the link breaks (the departing owner cut the session).
        let actions = did(relay.handle(Input::LinkLost));

        // Then only the request in flight fails.
        let [Did::Client(failed), Did::Reconnect(Successor::Any)] = actions.as_slice() else {
            panic!("one error, then a reconnection: {actions:?}")
        };
        assert_eq!((&failed["id"], &failed["error"]["code"]), (&json!(2), &json!(-32603)), "{failed}");

        // And the one that waited goes to the next owner, once.
        let actions = did(relay.handle(Input::Connected));
        assert_eq!(actions.last(), Some(&Did::Owner(call(3))));
        assert_eq!(pending(&relay), ["3"]);
    }

    #[test]
    fn a_line_that_could_not_be_sent_waits_for_the_next_owner_and_is_not_failed() {
        // Given a linked relay that forwarded a request the driver could not send, nor the handshake.
        let mut relay = linked();
        let sent = from_client(&mut relay, &call(2));
        let [Did::Owner(request)] = sent.as_slice() else { panic!("the request goes to the owner: {sent:?}") };
        relay.undelivered(request.to_string());
        relay.undelivered(initialize(json!("mms-relay-1")).to_string());
        relay.undelivered(initialized().to_string());

        // When the read side reports the loss.
        let actions = did(relay.handle(Input::LinkLost));

        // Then nothing is failed: the request never left.
        assert_eq!(actions, [Did::Reconnect(Successor::Any)]);

        // And the next owner gets the handshake once, then the request.
        let actions = did(relay.handle(Input::Connected));
        assert_eq!(
            actions,
            [Did::Owner(initialize(json!("mms-relay-2"))), Did::Owner(initialized()), Did::Owner(call(2))]
        );
    }

    #[test]
    fn a_line_that_is_not_json_is_answered_with_a_parse_error_and_not_forwarded() {
        let mut relay = linked();
        let did = did(relay.handle(Input::Client("{\"jsonrpc\": \"2.0\", \"id\": 3,".to_string())));
        let [Did::Client(answer)] = &did[..] else { panic!("one answer to the client: {did:?}") };
        assert_eq!(answer["id"], Value::Null, "{answer}");
        assert_eq!(answer["error"]["code"], -32700, "{answer}");
        assert!(pending(&relay).is_empty());
    }

    #[test]
    fn the_client_closing_stdin_finishes_the_relay() {
        // Given a linked relay with a request in flight.
        let mut relay = linked_with_pending(&[2]);

        // When the client closes stdin.
        let actions = did(relay.handle(Input::ClientClosed));

        // Then the relay finishes.
        assert_eq!(actions, [Did::Finish]);
    }
}
