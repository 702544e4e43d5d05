//! The v4 envelope every API reply uses, and `ApiError`, the one error type the handlers return.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// A successful reply: `{"success": true, "errors": [], "messages": [], "result": ...}`.
pub(crate) fn ok(result: impl Into<Value>) -> Response {
    axum::Json(json!({"success": true, "errors": [], "messages": [], "result": result.into()})).into_response()
}

/// A successful reply with `result_info` (paging), as list calls have.
pub(crate) fn ok_with_info(result: impl Into<Value>, info: Value) -> Response {
    axum::Json(json!({
        "success": true, "errors": [], "messages": [], "result": result.into(), "result_info": info
    }))
    .into_response()
}

/// A failed call: its HTTP status and one `{code, message}` error, optionally with `retry-after`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: u32,
    pub(crate) message: String,
    pub(crate) retry_after: Option<u64>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: u32, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into(), retry_after: None }
    }

    /// HTTP 400 with the given code.
    pub(crate) fn bad_request(code: u32, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// HTTP 404 with the given code.
    pub(crate) fn not_found(code: u32, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, code, message)
    }

    /// Cloudflare's answer to a missing or wrong token.
    pub(crate) fn authentication() -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, 10000, "Authentication error")
    }

    /// Cloudflare's answer while a token is over its rate limit.
    pub(crate) fn rate_limited(retry_after: u64) -> ApiError {
        ApiError {
            status: StatusCode::TOO_MANY_REQUESTS,
            code: 971,
            message: "Please wait and consider throttling your request speed".to_owned(),
            retry_after: Some(retry_after),
        }
    }

    pub(crate) fn with_retry_after(mut self, seconds: u64) -> ApiError {
        self.retry_after = Some(seconds);
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({
            "success": false,
            "errors": [{"code": self.code, "message": self.message}],
            "messages": [],
            "result": null,
        });
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// Parses a JSON request body; a malformed body is a 400 with `code`, as Cloudflare's validation errors are.
pub(crate) fn parse_json<T: DeserializeOwned>(body: &[u8], code: u32) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(code, format!("Malformed JSON in request body: {e}")))
}
