//! The Cloudflare REST client (API v4): D1, Vectorize v2, Workers AI and R2, as the replica and the
//! `cloudflare` backend use them. Every call goes through [`Cloudflare::call`], which keeps within the
//! account's request budget, retries what is transient (429 with its `retry-after`, 5xx, timeouts, dropped
//! connections) with a doubling delay, and turns the v4 envelope into a result or an error that says whether
//! retrying later can help, and whether the API token itself was refused. The base URL is configurable, so tests point this exact client at a stand-in.

mod api;

pub use api::{Match, Statement, VectorLine};

use crate::config::{CloudflareConfig, Secret};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Requests the API allows per token in [`BUDGET_WINDOW`] (Cloudflare blocks every call for 5 minutes past it).
const BUDGET: usize = 1200;
const BUDGET_WINDOW: Duration = Duration::from_secs(300);
/// The longest `retry-after` honoured inline; longer ones make the call fail as transient, to be retried later.
const LONGEST_INLINE_WAIT: Duration = Duration::from_secs(60);

/// Why a call failed.
#[derive(Clone, Debug, thiserror::Error)]
pub enum CloudflareError {
    /// Unreachable, throttled or failing on Cloudflare's side: the same call may succeed later.
    #[error("Cloudflare is unreachable or failing ({0}); it will be retried")]
    Transient(String),
    /// Refused: the same call will fail again until the request or the configuration changes.
    #[error("Cloudflare refused the call: {0}")]
    Permanent(String),
    /// The API token was refused (401, 403, or an authentication code in the envelope: revoked, expired,
    /// or without the permission the call needs). Not the request's fault: every call fails alike until
    /// the token is fixed, and then the same call succeeds, so it is retried later, never given up.
    #[error("Cloudflare refused the API token ({0}); check CLOUDFLARE_API_TOKEN and its permissions")]
    Unauthorized(String),
}

/// Which Cloudflare resources the service uses, checked complete at start.
#[derive(Clone, Debug)]
pub struct Resources {
    pub account_id: String,
    pub d1_database_id: String,
    pub vectorize_index: String,
    pub r2_bucket: Option<String>,
    pub embedding_model: String,
    pub large_content_threshold: usize,
}

impl Resources {
    /// The resources named by the configuration, or an error naming every missing variable.
    pub fn from_config(config: &CloudflareConfig) -> Result<(Resources, Secret), String> {
        let named =
            |value: &Option<String>| value.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(String::from);
        let mut missing = Vec::new();
        if config.api_token.as_ref().is_none_or(|t| t.expose().trim().is_empty()) {
            missing.push("CLOUDFLARE_API_TOKEN");
        }
        let account_id = named(&config.account_id);
        let d1 = named(&config.d1_database_id);
        let index = named(&config.vectorize_index);
        for (name, value) in [
            ("CLOUDFLARE_ACCOUNT_ID", &account_id),
            ("CLOUDFLARE_VECTORIZE_INDEX", &index),
            ("CLOUDFLARE_D1_DATABASE_ID", &d1),
        ] {
            if value.is_none() {
                missing.push(name);
            }
        }
        if !missing.is_empty() {
            return Err(format!(
                "the Cloudflare backends need {} (see the README's Cloudflare section)",
                missing.join(", ")
            ));
        }
        let (Some(token), Some(account_id), Some(d1_database_id), Some(vectorize_index)) =
            (config.api_token.clone(), account_id, d1, index)
        else {
            unreachable!("every missing value was reported above");
        };
        if account_id.len() > 32 {
            return Err(format!(
                "CLOUDFLARE_ACCOUNT_ID is {} characters; account ids have at most 32",
                account_id.len()
            ));
        }
        let resources = Resources {
            account_id,
            d1_database_id,
            vectorize_index,
            r2_bucket: named(&config.r2_bucket),
            embedding_model: config.embedding_model.trim().to_string(),
            large_content_threshold: config.large_content_threshold,
        };
        Ok((resources, token))
    }
}

/// The client. Cheap to share behind an `Arc`; calls may run concurrently.
pub struct Cloudflare {
    http: reqwest::Client,
    account_url: String,
    token: Secret,
    pub resources: Resources,
    max_retries: u32,
    base_delay: Duration,
    /// Start times of the requests inside the current budget window.
    sent: Mutex<VecDeque<Instant>>,
}

impl std::fmt::Debug for Cloudflare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cloudflare").field("account_url", &self.account_url).finish_non_exhaustive()
    }
}

impl Cloudflare {
    /// A client for the configured account; fails when a required variable is missing.
    pub fn new(config: &CloudflareConfig) -> Result<Cloudflare, String> {
        let (resources, token) = Resources::from_config(config)?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs_f64(config.timeout.max(0.1)))
            .connect_timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(10)
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        let base = config.api_base_url.trim_end_matches('/');
        Ok(Cloudflare {
            http,
            account_url: format!("{base}/accounts/{}", resources.account_id),
            token,
            resources,
            max_retries: config.max_retries,
            base_delay: Duration::from_secs_f64(config.base_delay),
            sent: Mutex::new(VecDeque::new()),
        })
    }

    /// Waits until one more request fits the account's budget, and counts it.
    async fn take_budget(&self) {
        loop {
            let wait = {
                let mut sent = self.sent.lock().unwrap_or_else(|e| e.into_inner());
                let now = Instant::now();
                while sent.front().is_some_and(|t| now.duration_since(*t) >= BUDGET_WINDOW) {
                    sent.pop_front();
                }
                if sent.len() < BUDGET {
                    sent.push_back(now);
                    None
                } else {
                    sent.front().map(|oldest| BUDGET_WINDOW.saturating_sub(now.duration_since(*oldest)))
                }
            };
            match wait {
                None => return,
                Some(wait) => {
                    tracing::info!(wait_ms = wait.as_millis() as u64, "Cloudflare request budget spent; waiting");
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// One API call under the account URL: the envelope's `result`, the bytes of a non-JSON answer (an R2
    /// object) or a 404. Retries transient failures up to CLOUDFLARE_MAX_RETRIES times.
    async fn call(&self, method: Method, path: &str, body: Body) -> Result<Reply, CloudflareError> {
        let url = format!("{}{path}", self.account_url);
        let mut attempt = 0u32;
        loop {
            self.take_budget().await;
            let mut request = self
                .http
                .request(method.clone(), &url)
                .bearer_auth(self.token.expose())
                .header("accept", "application/json");
            request = match &body {
                Body::None => request,
                Body::Json(value) => request.json(value),
                Body::Bytes { bytes, content_type } => {
                    request.header("content-type", *content_type).body(bytes.clone())
                }
            };
            let outcome = match request.send().await {
                Ok(response) => read_reply(response).await,
                Err(error) => Err(Failure::Retry(describe(&error), None)),
            };
            let (why, retry_after) = match outcome {
                Ok(reply) => return Ok(reply),
                Err(Failure::Refused(why)) => return Err(CloudflareError::Permanent(why)),
                Err(Failure::Unauthorized(why)) => return Err(CloudflareError::Unauthorized(why)),
                Err(Failure::Retry(why, retry_after)) => (why, retry_after),
            };
            if attempt >= self.max_retries {
                return Err(CloudflareError::Transient(format!("{why} (after {} attempts)", attempt + 1)));
            }
            let backoff = self.base_delay.saturating_mul(1 << attempt.min(16));
            let wait = match retry_after {
                Some(asked) if asked > LONGEST_INLINE_WAIT => {
                    return Err(CloudflareError::Transient(format!(
                        "{why}; Cloudflare asks to wait {}s",
                        asked.as_secs()
                    )));
                }
                Some(asked) => asked.max(backoff),
                None => backoff,
            };
            tracing::debug!(%why, attempt, wait_ms = wait.as_millis() as u64, path, "retrying a Cloudflare call");
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }
}

/// A request body.
enum Body {
    None,
    Json(Value),
    Bytes { bytes: Vec<u8>, content_type: &'static str },
}

/// A successful reply: the envelope's `result`, or the bytes of an R2 object.
#[derive(Debug)]
enum Reply {
    Result(Value),
    Bytes(Vec<u8>),
    /// HTTP 404, with the reason.
    Missing(String),
}

#[derive(Debug)]
enum Failure {
    Retry(String, Option<Duration>),
    Refused(String),
    /// The token was refused: not retried now (a revoked token does not heal within seconds), nor given up.
    Unauthorized(String),
}

/// The text of a client error without the URL (which holds the account id) repeated in every message.
fn describe(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "cannot connect"
    } else {
        "connection failed"
    };
    let mut source = std::error::Error::source(error);
    let mut detail = String::new();
    while let Some(cause) = source {
        detail = cause.to_string();
        source = cause.source();
    }
    if detail.is_empty() { kind.to_string() } else { format!("{kind}: {detail}") }
}

async fn read_reply(response: reqwest::Response) -> Result<Reply, Failure> {
    let status = response.status();
    let retry_after = response.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(retry_after);
    let is_json =
        response.headers().get("content-type").and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("json"));
    let bytes = response.bytes().await.map_err(|e| Failure::Retry(describe(&e), None))?;
    reply_of(status, is_json, &bytes, retry_after)
}

/// Cloudflare's error codes that mean the credentials were refused, whatever the HTTP status: 10000
/// "Authentication error", 9109 "Invalid access token" (also "Unauthorized to access requested resource"),
/// 9103 "Unknown X-Auth-Key or X-Auth-Email", 9106 "Missing X-Auth-Key, X-Auth-Email or Authorization
/// headers", 6111 "Invalid format for Authorization header" and 6103 "Invalid format for X-Auth-Key header"
/// (these two come inside a 6003 "Invalid request headers"), 1000 "Invalid API Token".
const AUTH_CODES: [i64; 7] = [10000, 9109, 9103, 9106, 6111, 6103, 1000];

/// What a reply means: its status, whether it is JSON, its body and its `retry-after`.
fn reply_of(status: StatusCode, is_json: bool, bytes: &[u8], retry_after: Option<Duration>) -> Result<Reply, Failure> {
    if status.is_success() && !is_json {
        return Ok(Reply::Bytes(bytes.to_vec()));
    }
    let envelope: Option<Value> = serde_json::from_slice(bytes).ok();
    let errors = envelope.as_ref().map(envelope_errors).unwrap_or_default();
    let why = if errors.is_empty() { format!("HTTP {status}") } else { format!("HTTP {status}: {errors}") };
    if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        return Err(Failure::Retry(why, retry_after));
    }
    let refused_token = status == StatusCode::UNAUTHORIZED
        || status == StatusCode::FORBIDDEN
        || envelope.as_ref().is_some_and(|e| error_codes(e).iter().any(|code| AUTH_CODES.contains(code)));
    if refused_token {
        return Err(Failure::Unauthorized(why));
    }
    if status == StatusCode::NOT_FOUND {
        return Ok(Reply::Missing(why));
    }
    if !status.is_success() {
        return Err(Failure::Refused(why));
    }
    match envelope {
        Some(envelope) if envelope.get("success").and_then(Value::as_bool) == Some(true) => {
            Ok(Reply::Result(envelope.get("result").cloned().unwrap_or(Value::Null)))
        }
        Some(_) => Err(Failure::Refused(why)),
        None => Err(Failure::Retry(format!("HTTP {status} with a body that is not the v4 envelope"), None)),
    }
}

/// Every error code of an envelope, those in the errors' `error_chain` too.
fn error_codes(envelope: &Value) -> Vec<i64> {
    fn collect(errors: Option<&Value>, codes: &mut Vec<i64>) {
        for error in errors.and_then(Value::as_array).into_iter().flatten() {
            codes.extend(error.get("code").and_then(Value::as_i64));
            collect(error.get("error_chain"), codes);
        }
    }
    let mut codes = Vec::new();
    collect(envelope.get("errors"), &mut codes);
    codes
}

/// The longest `retry-after` read as asked; a longer one reads as this, which is far past
/// [`LONGEST_INLINE_WAIT`] all the same.
const LONGEST_RETRY_AFTER: Duration = Duration::from_secs(7 * 86_400);

/// A `retry-after` header in seconds, clamped to [`LONGEST_RETRY_AFTER`] (a huge one would overflow a
/// `Duration`); none when it is not a finite, non-negative number (an HTTP date is not read).
fn retry_after(value: &str) -> Option<Duration> {
    let seconds = value.trim().parse::<f64>().ok().filter(|s| s.is_finite() && *s >= 0.0)?;
    Some(Duration::from_secs_f64(seconds.min(LONGEST_RETRY_AFTER.as_secs_f64())))
}

/// The envelope's errors as one line: `code: message; code: message`.
fn envelope_errors(envelope: &Value) -> String {
    envelope
        .get("errors")
        .and_then(Value::as_array)
        .map(|errors| {
            errors
                .iter()
                .map(|e| {
                    let code = e.get("code").and_then(Value::as_i64).unwrap_or_default();
                    let message = e.get("message").and_then(Value::as_str).unwrap_or("");
                    format!("{code}: {message}")
                })
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_clamped_and_refuses_what_is_not_a_duration() {
        assert_eq!(retry_after(" 2.5 "), Some(Duration::from_millis(2500)));
        assert_eq!(retry_after("0"), Some(Duration::ZERO));
        for huge in ["1e30", "1e300", "18446744073709551616"] {
            assert_eq!(retry_after(huge), Some(LONGEST_RETRY_AFTER), "{huge}");
        }
        for bad in ["NaN", "inf", "-inf", "-1", "", "Wed, 21 Oct 2015 07:28:00 GMT"] {
            assert_eq!(retry_after(bad), None, "{bad}");
        }
    }

    fn envelope(code: i64, message: &str) -> Vec<u8> {
        let body =
            serde_json::json!({"success": false, "errors": [{"code": code, "message": message}], "result": null});
        serde_json::to_vec(&body).expect("encodes")
    }

    fn classify(status: u16, body: &[u8]) -> Result<Reply, Failure> {
        reply_of(StatusCode::from_u16(status).expect("a status"), true, body, Some(Duration::from_secs(1)))
    }

    #[test]
    fn a_refused_token_is_unauthorized_not_refused_for_good() {
        // 401 and 403 are the token's fault, whatever the envelope says (or when there is none).
        for (status, body) in [
            (401, envelope(10000, "Authentication error")),
            (403, envelope(10000, "Authentication error")),
            (403, envelope(9109, "Invalid access token")),
            (403, envelope(9109, "Unauthorized to access requested resource")),
            (401, envelope(1000, "Invalid API Token")),
            (403, b"<html>Forbidden</html>".to_vec()),
            (401, Vec::new()),
        ] {
            match classify(status, &body) {
                Err(Failure::Unauthorized(why)) => assert!(why.starts_with(&format!("HTTP {status}")), "{why}"),
                other => panic!("HTTP {status} {}: {other:?}", String::from_utf8_lossy(&body)),
            }
        }
        // Cloudflare's authentication codes under another status, at the top or in an error chain.
        let chained = serde_json::json!({"success": false, "errors": [{"code": 6003, "message": "Invalid request headers",
            "error_chain": [{"code": 6111, "message": "Invalid format for Authorization header"}]}]});
        for (status, body) in [
            (400, envelope(10000, "Authentication error")),
            (400, envelope(9106, "Missing X-Auth-Key, X-Auth-Email or Authorization headers")),
            (400, envelope(9103, "Unknown X-Auth-Key or X-Auth-Email")),
            (400, serde_json::to_vec(&chained).expect("encodes")),
            (200, envelope(9109, "Invalid access token")),
        ] {
            assert!(matches!(classify(status, &body), Err(Failure::Unauthorized(_))), "{status}");
        }
        let unauthorized = CloudflareError::Unauthorized("HTTP 403 Forbidden: 10000: Authentication error".into());
        assert_eq!(
            unauthorized.to_string(),
            "Cloudflare refused the API token (HTTP 403 Forbidden: 10000: Authentication error); check \
             CLOUDFLARE_API_TOKEN and its permissions"
        );
    }

    #[test]
    fn other_failures_keep_their_kind() {
        // A bad request is refused for good; 429 and 5xx are retried, even with an authentication code (a
        // failing Cloudflare says nothing about the token); 404 is an answer.
        assert!(matches!(classify(400, &envelope(7500, "SQLITE_ERROR")), Err(Failure::Refused(_))));
        assert!(matches!(classify(400, &envelope(10001, "Injected fault")), Err(Failure::Refused(_))));
        assert!(matches!(classify(413, &envelope(40006, "too large")), Err(Failure::Refused(_))));
        assert!(matches!(classify(200, &envelope(7500, "SQLITE_ERROR")), Err(Failure::Refused(_))));
        assert!(matches!(classify(429, &envelope(971, "slow down")), Err(Failure::Retry(_, Some(_)))));
        assert!(matches!(classify(503, &envelope(10000, "Authentication error")), Err(Failure::Retry(..))));
        assert!(matches!(classify(404, &envelope(7404, "not found")), Ok(Reply::Missing(_))));
        let ok =
            serde_json::to_vec(&serde_json::json!({"success": true, "errors": [], "result": [1]})).expect("encodes");
        assert!(matches!(classify(200, &ok), Ok(Reply::Result(Value::Array(_)))));
    }
}
