//! The route table: the Cloudflare API under `/client/v4` behind the gate, and the test control API beside it.

use crate::envelope::{self, ApiError};
use crate::state::Shared;
use crate::{ai, control, d1, gate, r2, vectorize};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::json;

/// Vectorize uploads may be up to 100 MB; R2 objects here are test-sized.
const MAX_BODY_BYTES: usize = 128 * 1024 * 1024;

pub(crate) fn router(state: Shared) -> Router {
    let account = "/client/v4/accounts/{account_id}";
    let indexes = format!("{account}/vectorize/v2/indexes");
    let api = Router::new()
        .route("/client/v4/user/tokens/verify", get(verify_token))
        .route(&format!("{account}/d1/database/{{database_id}}/query"), post(d1::query))
        .route(&format!("{account}/d1/database/{{database_id}}/raw"), post(d1::raw))
        .route(&indexes, get(vectorize::list).post(vectorize::create))
        .route(&format!("{indexes}/"), get(vectorize::list).post(vectorize::create))
        .route(&format!("{indexes}/{{index}}"), get(vectorize::get).delete(vectorize::delete))
        .route(&format!("{indexes}/{{index}}/info"), get(vectorize::info))
        .route(&format!("{indexes}/{{index}}/insert"), post(vectorize::insert))
        .route(&format!("{indexes}/{{index}}/upsert"), post(vectorize::upsert))
        .route(&format!("{indexes}/{{index}}/query"), post(vectorize::query))
        .route(&format!("{indexes}/{{index}}/get_by_ids"), post(vectorize::get_by_ids))
        .route(&format!("{indexes}/{{index}}/delete_by_ids"), post(vectorize::delete_by_ids))
        .route(&format!("{indexes}/{{index}}/metadata_index/create"), post(vectorize::create_metadata_index))
        .route(&format!("{indexes}/{{index}}/metadata_index/list"), get(vectorize::list_metadata_indexes))
        .route(&format!("{indexes}/{{index}}/metadata_index/delete"), post(vectorize::delete_metadata_index))
        .route(&format!("{account}/ai/run/{{*model}}"), post(ai::run))
        .route(&format!("{account}/r2/buckets/{{bucket}}/objects"), get(r2::list))
        .route(
            &format!("{account}/r2/buckets/{{bucket}}/objects/{{*key}}"),
            get(r2::get).put(r2::put).delete(r2::delete),
        )
        .fallback(no_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(state.clone(), gate::gate));
    Router::new()
        .route("/__standin/faults", post(control::set_faults).delete(control::clear_faults))
        .route("/__standin/offline", post(control::set_offline))
        .route("/__standin/requests", get(control::requests))
        .route("/__standin/requests/reset", post(control::reset_requests))
        .route("/__standin/vectorize/flush", post(control::flush_vectorize))
        .merge(api)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

async fn verify_token() -> Response {
    envelope::ok(json!({"id": "cloudflare-standin", "status": "active"}))
}

async fn no_route() -> ApiError {
    ApiError::not_found(7003, "Could not route to this path, perhaps your object identifier is invalid?")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, 7001, "Method not allowed for this route")
}
