//! The HTTP server. This release serves the public health check; the full API of the original follows.

use crate::service::Service;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

/// The router over a service.
pub fn router(service: Service) -> Router {
    Router::new().route("/api/health", get(health)).with_state(service)
}

/// Public and minimal: no version, path or count leaks to an unauthenticated caller.
async fn health(State(service): State<Service>) -> Json<Value> {
    let health = service.health();
    Json(json!({ "status": health.status }))
}
