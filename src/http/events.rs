//! `/api/events`: the SSE change stream, fed from the log.
//!
//! One feeder task follows the read model's progress and publishes every new log event once, as an SSE
//! event whose `id` is its sequence number. Each client task forwards them, and reads the log itself for
//! whatever it has not seen: the backlog after `Last-Event-ID` (or `?since=`) on connect, and any gap left
//! when it falls behind the broadcast buffer. A client's cursor only moves forward one sequence number at a
//! time, so it gets every change exactly once, in order, whichever interface wrote it. Notices that are not
//! changes (`search_completed`, `heartbeat`) carry no id.

use super::AppState;
use super::error::ApiError;
use crate::service::{Service, ServiceError};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use mms_log::{Event, EventKind, Seq};
use mms_projections::iso_utc;
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, mpsc, watch};

/// Events a client may fall behind the feeder before it reads the gap from the log instead.
const BROADCAST_BUFFER: usize = 4096;
/// Events read from the log per page when catching up.
const CATCH_UP_PAGE: usize = 256;
/// SSE comment pings keep proxies from closing an idle stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// A change from the log, ready to send.
struct Change {
    seq: u64,
    name: &'static str,
    data: String,
}

/// A notice that is not a change: it has no sequence number and is not replayed.
struct Notice {
    name: &'static str,
    data: String,
}

/// One connected client, for `/api/events/stats`.
struct Connection {
    client_ip: String,
    user_agent: String,
    connected: Instant,
    last_heartbeat: Instant,
}

/// The hub every SSE client subscribes to.
pub struct EventHub {
    service: Service,
    changes: broadcast::Sender<Arc<Change>>,
    notices: broadcast::Sender<Arc<Notice>>,
    /// The last sequence number published on `changes`.
    published: watch::Sender<Seq>,
    closing: watch::Sender<bool>,
    connections: Mutex<HashMap<String, Connection>>,
    heartbeat: Duration,
}

fn now_iso() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, false)
}

/// The first 100 characters of a content, with "..." when cut (the original's preview).
fn preview(content: &str) -> String {
    let mut chars = content.chars();
    let head: String = chars.by_ref().take(100).collect();
    if chars.next().is_some() { format!("{head}...") } else { head }
}

/// The SSE form of a log event: the original's event names and payloads, plus seq, version and interface.
fn change_of(event: &Event) -> Change {
    let hash = event.memory.to_hex();
    let common = json!({
        "timestamp": iso_utc(event.at.0),
        "seq": event.seq.0,
        "content_hash": hash,
        "version": event.version,
        "interface": event.actor.interface.as_str(),
        "actor": event.actor.id,
    });
    let (name, extra) = match &event.kind {
        EventKind::Stored(record) => (
            "memory_stored",
            json!({
                "content_preview": preview(&record.content),
                "tags": record.tags,
                "memory_type": record.memory_type,
                "message": "New memory stored successfully",
            }),
        ),
        EventKind::Updated { after, .. } => (
            "memory_updated",
            json!({ "tags": after.tags, "memory_type": after.memory_type, "message": "Memory updated successfully" }),
        ),
        EventKind::Deleted { .. } => {
            ("memory_deleted", json!({ "success": true, "message": "Memory deleted successfully" }))
        }
        EventKind::Undeleted(record) => (
            "memory_restored",
            json!({
                "content_preview": preview(&record.content),
                "tags": record.tags,
                "memory_type": record.memory_type,
                "message": "Memory restored successfully",
            }),
        ),
        EventKind::Redacted { .. } => {
            ("memory_redacted", json!({ "success": true, "message": "Memory redacted: its content is gone for good" }))
        }
        // An earlier event of a memory redacted since; a client replaying from before the redaction gets
        // its position and who made it, not what it held.
        EventKind::Erased { was } => ("memory_erased", json!({ "was": was, "message": "Erased by a later redaction" })),
        EventKind::DocumentIngested(upload) => (
            "document_ingested",
            json!({
                "upload_id": upload.upload_id,
                "filename": upload.file_name,
                "file_size": upload.size,
                "chunks_stored": upload.chunks.len(),
                "duplicates": upload.duplicates,
                "message": "Document ingested",
            }),
        ),
        EventKind::DocumentRemoved { chunks_deleted, .. } => {
            ("document_removed", json!({ "chunks_deleted": chunks_deleted, "message": "Document removed" }))
        }
        EventKind::Related(relation) => (
            "memory_related",
            json!({
                "target_hash": relation.target.to_hex(),
                "relationship_type": relation.relation_type,
                "similarity": relation.strength,
                "reason": relation.reason,
                "message": "Memories related",
            }),
        ),
        EventKind::Unrelated { target, relation_type } => (
            "memory_unrelated",
            json!({
                "target_hash": target.to_hex(),
                "relationship_type": relation_type,
                "message": "Relation removed",
            }),
        ),
        EventKind::Archived { reason } => (
            "memory_archived",
            json!({ "reason": reason, "message": "Memory archived: out of searches and lists until unarchived" }),
        ),
        EventKind::Unarchived(record) => (
            "memory_unarchived",
            json!({
                "content_preview": preview(&record.content),
                "tags": record.tags,
                "memory_type": record.memory_type,
                "message": "Memory unarchived",
            }),
        ),
    };
    let mut data = common;
    if let (Value::Object(data), Value::Object(extra)) = (&mut data, extra) {
        data.extend(extra);
    }
    Change { seq: event.seq.0, name, data: data.to_string() }
}

impl EventHub {
    /// A hub over the service's log; `spawn_feeder` starts publishing.
    pub fn new(service: Service, heartbeat: Duration) -> Arc<EventHub> {
        let start = *service.applied().borrow();
        Arc::new(EventHub {
            service,
            changes: broadcast::channel(BROADCAST_BUFFER).0,
            notices: broadcast::channel(256).0,
            published: watch::channel(start).0,
            closing: watch::channel(false).0,
            connections: Mutex::new(HashMap::new()),
            heartbeat,
        })
    }

    /// Publishes every event the read model applies, until the hub closes.
    pub fn spawn_feeder(self: &Arc<Self>) {
        let hub = self.clone();
        tokio::spawn(async move {
            let mut applied = hub.service.applied();
            let mut closing = hub.closing.subscribe();
            let mut last = hub.published.borrow().0;
            loop {
                let target = applied.borrow_and_update().0;
                while last < target {
                    let events = match hub.read_log(last, CATCH_UP_PAGE).await {
                        Ok(events) if !events.is_empty() => events,
                        Ok(_) => break,
                        Err(error) => {
                            tracing::error!(error = %error.report(), "the event stream cannot read the log");
                            break;
                        }
                    };
                    for change in events {
                        last = change.seq;
                        // Published before it is sent: a client subscribing in between reads it from the log
                        // (and drops the broadcast copy as already seen), so nothing falls between the two.
                        hub.published.send_replace(Seq(last));
                        // No subscriber is fine: nobody is listening.
                        let _ = hub.changes.send(Arc::new(change));
                    }
                }
                tokio::select! {
                    changed = applied.changed() => if changed.is_err() { break },
                    _ = closing.changed() => break,
                }
            }
        });
    }

    /// Up to `limit` changes after `after`, read from the log.
    async fn read_log(&self, after: u64, limit: usize) -> Result<Vec<Change>, ServiceError> {
        let log = self.service.log().clone();
        let events = tokio::task::spawn_blocking(move || log.read_from(Seq(after + 1), limit)).await??;
        Ok(events.iter().map(change_of).collect())
    }

    /// Sends a notice (not a change) to every connected client.
    pub(crate) fn notify(&self, name: &'static str, data: Value) {
        let mut data = data;
        if let Value::Object(map) = &mut data {
            map.insert("timestamp".into(), now_iso().into());
        }
        let _ = self.notices.send(Arc::new(Notice { name, data: data.to_string() }));
    }

    /// Forwards notices (the replication's `sync_progress` and `sync_completed`, the documents'
    /// `document_progress`) to every client.
    pub fn relay_notices(self: &Arc<Self>, mut notices: broadcast::Receiver<(&'static str, Value)>) {
        let hub = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                match notices.recv().await {
                    Ok((name, data)) => match hub.upgrade() {
                        Some(hub) => hub.notify(name, data),
                        None => return,
                    },
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
    }

    /// Ends every stream with a `connection_closed` event (at shutdown).
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    fn active(&self) -> usize {
        self.connections.lock().map(|c| c.len()).unwrap_or(0)
    }
}

/// The SSE frame of a change.
fn frame(change: &Change) -> SseEvent {
    SseEvent::default().id(change.seq.to_string()).event(change.name).data(&change.data)
}

fn notice_frame(name: &str, data: &Value) -> SseEvent {
    SseEvent::default().event(name).data(data.to_string())
}

/// Completes when the hub closes.
async fn until_closed(closing: &mut watch::Receiver<bool>) {
    let _ = closing.wait_for(|closing| *closing).await;
}

/// One client's stream: its cursor, its channel to the response, and the hub.
struct Client {
    hub: Arc<EventHub>,
    id: String,
    cursor: u64,
    out: mpsc::Sender<Result<SseEvent, std::convert::Infallible>>,
}

impl Client {
    async fn send(&self, event: SseEvent) -> bool {
        self.out.send(Ok(event)).await.is_ok()
    }

    /// Sends every change from the cursor up to `upto` that it has not sent, read from the log.
    async fn catch_up(&mut self, upto: u64) -> bool {
        while self.cursor < upto {
            let page = match self.hub.read_log(self.cursor, CATCH_UP_PAGE.min((upto - self.cursor) as usize)).await {
                Ok(page) if !page.is_empty() => page,
                _ => return false,
            };
            for change in page {
                if !self.send(frame(&change)).await {
                    return false;
                }
                self.cursor = change.seq;
            }
        }
        true
    }

    /// Sends one broadcast change, first filling any gap before it from the log.
    async fn forward(&mut self, change: &Change) -> bool {
        if change.seq <= self.cursor {
            return true;
        }
        if change.seq > self.cursor + 1 && !self.catch_up(change.seq - 1).await {
            return false;
        }
        let sent = self.send(frame(change)).await;
        self.cursor = change.seq;
        sent
    }

    async fn run(mut self) {
        let hub = self.hub.clone();
        let mut changes = hub.changes.subscribe();
        let mut notices = hub.notices.subscribe();
        let mut closing = hub.closing.subscribe();
        let published = hub.published.borrow().0;
        // A cursor from the future (a client of another data directory) would skip events: start from now.
        self.cursor = self.cursor.min(published);
        let hello = json!({
            "timestamp": now_iso(),
            "connection_id": self.id,
            "message": "Connected to MCP Memory Service SSE stream",
            "heartbeat_interval": hub.heartbeat.as_secs(),
            "last_seq": published,
        });
        if !self.send(notice_frame("connection_established", &hello)).await || !self.catch_up(published).await {
            return;
        }
        let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + hub.heartbeat, hub.heartbeat);
        loop {
            let alive = tokio::select! {
                change = changes.recv() => match change {
                    Ok(change) => self.forward(&change).await,
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        let upto = hub.published.borrow().0;
                        self.catch_up(upto).await
                    }
                    Err(broadcast::error::RecvError::Closed) => false,
                },
                notice = notices.recv() => match notice {
                    Ok(notice) => self.send(SseEvent::default().event(notice.name).data(&notice.data)).await,
                    Err(broadcast::error::RecvError::Lagged(_)) => true,
                    Err(broadcast::error::RecvError::Closed) => false,
                },
                _ = heartbeat.tick() => {
                    if let Ok(mut connections) = hub.connections.lock()
                        && let Some(connection) = connections.get_mut(&self.id)
                    {
                        connection.last_heartbeat = Instant::now();
                    }
                    let beat = json!({
                        "timestamp": now_iso(),
                        "active_connections": hub.active(),
                        "server_status": "healthy",
                    });
                    self.send(notice_frame("heartbeat", &beat)).await
                }
                _ = until_closed(&mut closing) => {
                    let duration = hub.connections.lock().ok()
                        .and_then(|c| c.get(&self.id).map(|c| c.connected.elapsed().as_secs_f64()));
                    let bye = json!({ "timestamp": now_iso(), "connection_id": self.id, "duration_seconds": duration });
                    self.send(notice_frame("connection_closed", &bye)).await;
                    false
                }
                _ = self.out.closed() => false,
            };
            if !alive {
                break;
            }
        }
    }
}

/// Removes a connection from the stats when its task ends, however it ends.
struct Registered {
    hub: Arc<EventHub>,
    id: String,
}

impl Drop for Registered {
    fn drop(&mut self) {
        if let Ok(mut connections) = self.hub.connections.lock() {
            connections.remove(&self.id);
        }
    }
}

/// Where a client resumes: `Last-Event-ID` (what EventSource sends on reconnect) or `?since=`.
fn resume_point(headers: &HeaderMap, since: Option<&str>) -> Result<Option<u64>, ApiError> {
    let header = headers.get("last-event-id").and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty());
    match header.or(since) {
        None => Ok(None),
        Some(text) => text.parse::<u64>().map(Some).map_err(|_| {
            ApiError::invalid(
                "int_parsing",
                &["query", "since"],
                "Last-Event-ID and since must be a log sequence number",
                text.into(),
            )
        }),
    }
}

#[derive(serde::Deserialize)]
pub(crate) struct StreamQuery {
    since: Option<String>,
}

/// GET /api/events
pub(crate) async fn stream(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    super::error::Params(query): super::error::Params<StreamQuery>,
) -> Result<Response, ApiError> {
    let hub = state.events.clone();
    let start = resume_point(&headers, query.since.as_deref())?;
    let id = uuid::Uuid::new_v4().to_string();
    let user_agent = headers.get("user-agent").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    if let Ok(mut connections) = hub.connections.lock() {
        let now = Instant::now();
        connections.insert(
            id.clone(),
            Connection { client_ip: peer.ip().to_string(), user_agent, connected: now, last_heartbeat: now },
        );
    }
    let (out, receiver) = mpsc::channel(64);
    let registered = Registered { hub: hub.clone(), id: id.clone() };
    let cursor = start.unwrap_or(u64::MAX);
    tokio::spawn(async move {
        let _registered = registered;
        Client { hub, id, cursor, out }.run().await;
    });
    let stream = tokio_stream::wrappers::ReceiverStream::new(receiver);
    let mut response = Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("ping")).into_response();
    response.headers_mut().insert("x-accel-buffering", HeaderValue::from_static("no"));
    response.headers_mut().insert("cache-control", HeaderValue::from_static("no-store"));
    Ok(response)
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ConnectionStats {
    connection_id: String,
    client_ip: String,
    user_agent: String,
    connected_duration_seconds: f64,
    last_heartbeat_seconds_ago: f64,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct EventStats {
    total_connections: usize,
    heartbeat_interval: u64,
    connections: Vec<ConnectionStats>,
}

/// Connected SSE clients.
#[utoipa::path(get, path = "/api/events/stats", tag = "events",
    responses((status = 200, description = "Connected clients", body = EventStats)))]
pub(crate) async fn stats(State(state): State<AppState>) -> axum::Json<EventStats> {
    let hub = &state.events;
    let connections = hub
        .connections
        .lock()
        .map(|c| {
            c.iter()
                .map(|(id, c)| ConnectionStats {
                    connection_id: id.clone(),
                    client_ip: c.client_ip.clone(),
                    user_agent: c.user_agent.clone(),
                    connected_duration_seconds: c.connected.elapsed().as_secs_f64(),
                    last_heartbeat_seconds_ago: c.last_heartbeat.elapsed().as_secs_f64(),
                })
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    axum::Json(EventStats {
        total_connections: connections.len(),
        heartbeat_interval: hub.heartbeat.as_secs(),
        connections,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previews_cut_at_100_characters() {
        assert_eq!(preview("short"), "short");
        let long = "é".repeat(150);
        assert_eq!(preview(&long), format!("{}...", "é".repeat(100)));
        assert_eq!(preview(&"x".repeat(100)), "x".repeat(100));
    }

    #[test]
    fn resume_points_come_from_the_header_first() {
        let mut headers = HeaderMap::new();
        assert_eq!(resume_point(&headers, None).expect("none"), None);
        assert_eq!(resume_point(&headers, Some("7")).expect("since"), Some(7));
        headers.insert("last-event-id", HeaderValue::from_static("12"));
        assert_eq!(resume_point(&headers, Some("7")).expect("header"), Some(12));
        assert!(resume_point(&HeaderMap::new(), Some("abc")).is_err());
    }
}
