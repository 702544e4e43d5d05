//! The test control API under `/__standin/` (no auth): fault rules, the offline switch, request counters and
//! the Vectorize flush. It owns the fault and counter state that the gate consults on every API call.

use crate::envelope::{self, ApiError};
use crate::state::Shared;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// One fault rule, as posted to `/__standin/faults`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FaultRule {
    /// Applies only to paths containing this text.
    pub(crate) path_contains: Option<String>,
    /// Applies only to this method.
    pub(crate) method: Option<String>,
    /// How many matching requests it applies to; 0 means until the rules are cleared.
    #[serde(default = "one")]
    pub(crate) times: u64,
    /// Answer with this HTTP status and an error envelope.
    pub(crate) status: Option<u16>,
    /// The error envelope's code (default: 971 for 429, else 10001).
    pub(crate) code: Option<u32>,
    /// The error envelope's message.
    pub(crate) message: Option<String>,
    /// Add `retry-after` with this many seconds.
    pub(crate) retry_after: Option<u64>,
    /// Wait this long before answering (or before handling normally).
    pub(crate) delay_ms: Option<u64>,
    /// Close the connection without any reply.
    #[serde(default)]
    pub(crate) drop_connection: bool,
    /// Vectorize insert/upsert keeps only the first half of its lines; Workers AI returns fewer embeddings.
    #[serde(default)]
    pub(crate) partial: bool,
    /// How many requests it has applied to.
    #[serde(skip)]
    used: u64,
}

fn one() -> u64 {
    1
}

impl FaultRule {
    fn applies(&self, method: &Method, path: &str) -> bool {
        (self.times == 0 || self.used < self.times)
            && self.path_contains.as_deref().is_none_or(|part| path.contains(part))
            && self.method.as_deref().is_none_or(|m| m.eq_ignore_ascii_case(method.as_str()))
    }

    /// The reply a rule with `status` gives.
    pub(crate) fn error(&self, status: axum::http::StatusCode) -> ApiError {
        let (code, message) = if status == axum::http::StatusCode::TOO_MANY_REQUESTS {
            (971, "Please wait and consider throttling your request speed".to_owned())
        } else {
            (10001, format!("Injected fault: HTTP {}", status.as_u16()))
        };
        let mut error = ApiError::new(status, self.code.unwrap_or(code), self.message.clone().unwrap_or(message));
        error.retry_after = self.retry_after;
        error
    }
}

/// Faults, the offline switch and the counters.
#[derive(Debug, Default)]
pub(crate) struct Control {
    faults: Mutex<Vec<FaultRule>>,
    offline: AtomicBool,
    counts: Mutex<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    total: u64,
    by_route: BTreeMap<String, u64>,
}

/// Locks a mutex; a panic elsewhere cannot leave these plain maps half-updated in a way that matters to tests.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Control {
    /// Counts one API call on `route`.
    pub(crate) fn count(&self, route: &str) {
        let mut counts = lock(&self.counts);
        counts.total += 1;
        *counts.by_route.entry(route.to_owned()).or_default() += 1;
    }

    pub(crate) fn is_offline(&self) -> bool {
        self.offline.load(Ordering::SeqCst)
    }

    /// The first rule that applies to this request, spending one of its uses.
    pub(crate) fn take_fault(&self, method: &Method, path: &str) -> Option<FaultRule> {
        let mut faults = lock(&self.faults);
        let rule = faults.iter_mut().find(|rule| rule.applies(method, path))?;
        rule.used += 1;
        Some(rule.clone())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FaultsBody {
    rules: Vec<FaultRule>,
}

/// `POST /__standin/faults`: replaces the fault rules.
pub(crate) async fn set_faults(State(state): State<Shared>, body: Bytes) -> Result<Response, ApiError> {
    let body: FaultsBody = envelope::parse_json(&body, 10400)?;
    for rule in &body.rules {
        if let Some(status) = rule.status {
            axum::http::StatusCode::from_u16(status)
                .map_err(|_| ApiError::bad_request(10400, format!("invalid status {status}")))?;
        }
    }
    let count = body.rules.len();
    *lock(&state.control.faults) = body.rules;
    Ok(Json(json!({"rules": count})).into_response())
}

/// `DELETE /__standin/faults`.
pub(crate) async fn clear_faults(State(state): State<Shared>) -> Json<Value> {
    lock(&state.control.faults).clear();
    Json(json!({"rules": 0}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OfflineBody {
    offline: bool,
}

/// `POST /__standin/offline`: while on, every API call loses its connection.
pub(crate) async fn set_offline(State(state): State<Shared>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let body: OfflineBody = envelope::parse_json(&body, 10400)?;
    state.control.offline.store(body.offline, Ordering::SeqCst);
    Ok(Json(json!({"offline": body.offline})))
}

/// `GET /__standin/requests`.
pub(crate) async fn requests(State(state): State<Shared>) -> Json<Value> {
    let counts = lock(&state.control.counts);
    Json(json!({"total": counts.total, "by_route": counts.by_route}))
}

/// `POST /__standin/requests/reset`.
pub(crate) async fn reset_requests(State(state): State<Shared>) -> Json<Value> {
    *lock(&state.control.counts) = Counts::default();
    Json(json!({"total": 0, "by_route": {}}))
}

/// `POST /__standin/vectorize/flush`: every pending Vectorize mutation becomes visible now.
pub(crate) async fn flush_vectorize(State(state): State<Shared>) -> Json<Value> {
    let applied = state.vectorize.flush();
    Json(json!({"applied": applied}))
}
