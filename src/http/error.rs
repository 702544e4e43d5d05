//! Errors as the original answers them, and the extractors that produce them: `{"detail": "..."}` for
//! 4xx/5xx, and 422 `{"detail": [{type, loc, msg, input}]}` for a body or query that does not validate.

use crate::service::ServiceError;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// An error response.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    detail: Value,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, detail: impl Into<Value>) -> ApiError {
        ApiError { status, detail: detail.into() }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message.into())
    }

    pub(crate) fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message.into())
    }

    /// A 422 with one validation error at `loc` (for example `["body", "n_results"]`).
    pub(crate) fn invalid(kind: &str, loc: &[&str], msg: impl Into<String>, input: Value) -> ApiError {
        let loc: Vec<Value> = loc.iter().map(|p| Value::from(*p)).collect();
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!([{ "type": kind, "loc": loc, "msg": msg.into(), "input": input }]),
        )
    }

    /// The HTTP status.
    #[cfg(test)]
    pub(crate) fn status(&self) -> StatusCode {
        self.status
    }
}

impl From<ServiceError> for ApiError {
    fn from(error: ServiceError) -> ApiError {
        match error {
            ServiceError::Invalid(message) => ApiError::invalid("value_error", &["body"], message, Value::Null),
            ServiceError::NotFound(message) => ApiError::not_found(message),
            ServiceError::Conflict(message) => ApiError::new(StatusCode::CONFLICT, message),
            ServiceError::Unavailable(message) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, message),
            ServiceError::Internal(_) => {
                tracing::error!(error = %error.report(), "request failed");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error")
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(json!({ "detail": self.detail }))).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            // What is unavailable (the model loading, a queue full) usually is again within seconds.
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

/// Deserialises an optional integer that may be written as a float with no fraction (`20.0`), which JSON
/// Schema's "integer" allows.
pub(crate) fn integer<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    use serde::Deserialize;
    match Option::<serde_json::Number>::deserialize(deserializer)? {
        None => Ok(None),
        Some(number) => match (number.as_i64(), number.as_f64()) {
            (Some(n), _) => Ok(Some(n)),
            (None, Some(f)) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(Some(f as i64)),
            _ => Err(serde::de::Error::custom(format!("invalid type: {number} is not an integer"))),
        },
    }
}

/// Checks that `value` lies in `min..=max`, answering 422 the way the original does.
pub(crate) fn check_range(loc: &[&str], value: i64, min: i64, max: i64) -> Result<(), ApiError> {
    if value < min {
        return Err(ApiError::invalid(
            "greater_than_equal",
            loc,
            format!("Input should be greater than or equal to {min}"),
            value.into(),
        ));
    }
    if value > max {
        return Err(ApiError::invalid(
            "less_than_equal",
            loc,
            format!("Input should be less than or equal to {max}"),
            value.into(),
        ));
    }
    Ok(())
}

/// Turns a deserialisation error at `path` into a 422 with its location under `root` ("body" or "query").
fn deserialize_error(root: &str, path: &serde_path_to_error::Path, message: String, syntax: bool) -> ApiError {
    if syntax {
        return ApiError::invalid("json_invalid", &[root], format!("JSON decode error: {message}"), json!({}));
    }
    let mut loc: Vec<String> = path
        .iter()
        .filter_map(|segment| match segment {
            serde_path_to_error::Segment::Seq { index } => Some(index.to_string()),
            serde_path_to_error::Segment::Map { key } => Some(key.clone()),
            serde_path_to_error::Segment::Enum { variant } => Some(variant.clone()),
            serde_path_to_error::Segment::Unknown => None,
        })
        .collect();
    // serde names a missing field only in its message: "missing field `content`".
    let missing = message.strip_prefix("missing field `").and_then(|m| m.split('`').next()).map(str::to_string);
    let kind = if let Some(field) = &missing {
        loc.push(field.clone());
        "missing"
    } else if message.starts_with("invalid type") {
        "type_error"
    } else {
        "value_error"
    };
    let msg = if missing.is_some() { "Field required".to_string() } else { message };
    let mut full = vec![root];
    full.extend(loc.iter().map(String::as_str));
    ApiError::invalid(kind, &full, msg, Value::Null)
}

/// A JSON request body; a malformed or mistyped one is answered 422 with where and why.
pub(crate) struct Body<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = axum::body::Bytes::from_request(request, state).await.map_err(|rejection| {
            let status = rejection.status();
            if status == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(status, "Request body too large")
            } else {
                ApiError::bad_request(rejection.body_text())
            }
        })?;
        // serde would read a struct from a JSON array too; a body is an object, as in the original.
        let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
        if first.is_some_and(|b| *b != b'{') && serde_json::from_slice::<Value>(&bytes).is_ok() {
            return Err(ApiError::invalid("type_error", &["body"], "Input should be a JSON object", Value::Null));
        }
        let mut deserializer = serde_json::Deserializer::from_slice(&bytes);
        let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
            let syntax = !error.inner().is_data();
            deserialize_error("body", &error.path().clone(), error.into_inner().to_string(), syntax)
        })?;
        deserializer.end().map_err(|error| {
            ApiError::invalid("json_invalid", &["body"], format!("JSON decode error: {error}"), json!({}))
        })?;
        Ok(Body(value))
    }
}

/// Query parameters; a mistyped one is answered 422.
pub(crate) struct Params<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        let deserializer = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(deserializer)
            .map(Params)
            .map_err(|error| deserialize_error("query", &error.path().clone(), error.into_inner().to_string(), false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct Sample {
        #[allow(dead_code)]
        content: String,
        #[allow(dead_code)]
        #[serde(default)]
        tags: Vec<String>,
    }

    fn detail(error: ApiError) -> Value {
        assert_eq!(error.status, StatusCode::UNPROCESSABLE_ENTITY);
        error.detail[0].clone()
    }

    fn parse(text: &str) -> ApiError {
        let mut deserializer = serde_json::Deserializer::from_str(text);
        let error = serde_path_to_error::deserialize::<_, Sample>(&mut deserializer).expect_err("invalid");
        let syntax = !error.inner().is_data();
        deserialize_error("body", &error.path().clone(), error.into_inner().to_string(), syntax)
    }

    #[test]
    fn a_missing_field_is_located_and_named() {
        let detail = detail(parse("{}"));
        assert_eq!(detail["type"], "missing");
        assert_eq!(detail["loc"], json!(["body", "content"]));
        assert_eq!(detail["msg"], "Field required");
    }

    #[test]
    fn a_wrong_type_is_located() {
        let detail = detail(parse(r#"{"content": "x", "tags": "a,b"}"#));
        assert_eq!(detail["type"], "type_error");
        assert_eq!(detail["loc"], json!(["body", "tags"]));
    }

    #[test]
    fn broken_json_is_json_invalid() {
        assert_eq!(detail(parse(r#"{"content": "#))["type"], "json_invalid");
    }

    #[test]
    fn ranges_answer_like_the_original() {
        let low = detail(check_range(&["query", "page_size"], 0, 1, 100).expect_err("too low"));
        assert_eq!(low["type"], "greater_than_equal");
        assert_eq!(low["msg"], "Input should be greater than or equal to 1");
        let high = detail(check_range(&["query", "page_size"], 101, 1, 100).expect_err("too high"));
        assert_eq!(high["msg"], "Input should be less than or equal to 100");
        assert!(check_range(&["query", "page_size"], 100, 1, 100).is_ok());
    }
}
