//! The middleware in front of every `/client/v4` call, in order: count the call, apply the offline switch and
//! the first matching fault rule, check the token and account, then the rate limits.

use crate::control::lock;
use crate::envelope::ApiError;
use crate::rate::Verdict;
use crate::server::ConnectionCut;
use crate::state::Shared;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::time::{Duration, Instant};

/// Marks a request that a `partial` fault rule applies to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Partial;

pub(crate) async fn gate(State(state): State<Shared>, mut request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let route = route_name(&method, &path);
    state.control.count(&route);

    if state.control.is_offline() {
        return sever(request.extensions().get::<ConnectionCut>().cloned()).await;
    }
    if let Some(rule) = state.control.take_fault(&method, &path) {
        if let Some(ms) = rule.delay_ms {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        if rule.drop_connection {
            return sever(request.extensions().get::<ConnectionCut>().cloned()).await;
        }
        if let Some(status) = rule.status {
            // The status was checked when the rule was posted.
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return rule.error(status).into_response();
        }
        if rule.partial {
            request.extensions_mut().insert(Partial);
        }
    }

    if let Err(e) = authorize(&state, &request, &path) {
        return e.into_response();
    }
    let now = Instant::now();
    let (verdict, limit, window) = {
        let mut window = lock(&state.limit);
        (window.check(now), window.limit(), window.window().as_secs())
    };
    let policy = HeaderValue::from_str(&format!("\"default\";q={limit};w={window}"))
        .expect("a formatted number is a valid header value");
    let mut response = match verdict {
        Verdict::Limited { retry_after_s } => {
            let mut response = ApiError::rate_limited(retry_after_s).into_response();
            let current = format!("\"default\";r=0;t={retry_after_s}");
            insert(&mut response, "ratelimit", &current);
            response
        }
        Verdict::Allowed { remaining, reset_s } => {
            let ai_verdict = (route == "ai.run").then(|| lock(&state.ai_limit).check(now));
            let mut response = match ai_verdict {
                Some(Verdict::Limited { retry_after_s }) => ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    3040,
                    "Capacity temporarily exceeded: Workers AI rate limit reached, please try again later",
                )
                .with_retry_after(retry_after_s)
                .into_response(),
                _ => next.run(request).await,
            };
            insert(&mut response, "ratelimit", &format!("\"default\";r={remaining};t={reset_s}"));
            response
        }
    };
    response.headers_mut().insert("ratelimit-policy", policy);
    response
}

fn insert(response: &mut Response, name: &'static str, value: &str) {
    let value = HeaderValue::from_str(value).expect("a formatted number is a valid header value");
    response.headers_mut().insert(name, value);
}

async fn sever(cut: Option<ConnectionCut>) -> Response {
    match cut {
        Some(cut) => cut.sever().await,
        // Every connection is served with a cut (server.rs); a missing one is a bug in the stand-in.
        None => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, 10001, "connection cannot be cut").into_response(),
    }
}

/// Checks `Authorization: Bearer <token>` and, when `--account` was given, the account id in the path.
fn authorize(state: &Shared, request: &Request, path: &str) -> Result<(), ApiError> {
    let bearer = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim);
    if bearer != Some(state.token.as_str()) {
        return Err(ApiError::authentication());
    }
    if let (Some(account), Some(rest)) = (&state.account, path.strip_prefix("/client/v4/accounts/")) {
        let id = rest.split('/').next().unwrap_or_default();
        if id != account {
            return Err(ApiError::authentication());
        }
    }
    Ok(())
}

/// The counter name of an API call, e.g. `d1.query` or `vectorize.upsert`; `unknown` for unrouted paths.
pub(crate) fn route_name(method: &Method, path: &str) -> String {
    let Some(rest) = path.strip_prefix("/client/v4/") else {
        return "unknown".to_owned();
    };
    let rest = rest.trim_end_matches('/');
    if rest == "user/tokens/verify" {
        return "user.tokens.verify".to_owned();
    }
    let segments: Vec<&str> = rest.split('/').collect();
    match segments.as_slice() {
        ["accounts", _, "d1", "database", _, op @ ("query" | "raw")] => format!("d1.{op}"),
        ["accounts", _, "vectorize", "v2", "indexes"] if method == Method::POST => "vectorize.create".to_owned(),
        ["accounts", _, "vectorize", "v2", "indexes"] => "vectorize.list".to_owned(),
        ["accounts", _, "vectorize", "v2", "indexes", _] if method == Method::DELETE => "vectorize.delete".to_owned(),
        ["accounts", _, "vectorize", "v2", "indexes", _] => "vectorize.get".to_owned(),
        ["accounts", _, "vectorize", "v2", "indexes", _, "metadata_index", op @ ("create" | "list" | "delete")] => {
            format!("vectorize.metadata_index.{op}")
        }
        [
            "accounts",
            _,
            "vectorize",
            "v2",
            "indexes",
            _,
            op @ ("info" | "insert" | "upsert" | "query" | "get_by_ids" | "delete_by_ids"),
        ] => format!("vectorize.{op}"),
        ["accounts", _, "ai", "run", _, ..] => "ai.run".to_owned(),
        ["accounts", _, "r2", "buckets", _, "objects"] => "r2.list".to_owned(),
        ["accounts", _, "r2", "buckets", _, "objects", _, ..] => match *method {
            Method::PUT => "r2.put",
            Method::GET => "r2.get",
            Method::DELETE => "r2.delete",
            Method::HEAD => "r2.head",
            _ => "unknown",
        }
        .to_owned(),
        _ => "unknown".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_named_like_the_counters() {
        let a = "/client/v4/accounts/acc";
        assert_eq!(route_name(&Method::POST, &format!("{a}/d1/database/db/query")), "d1.query");
        assert_eq!(route_name(&Method::POST, &format!("{a}/d1/database/db/raw")), "d1.raw");
        assert_eq!(route_name(&Method::POST, &format!("{a}/vectorize/v2/indexes")), "vectorize.create");
        assert_eq!(route_name(&Method::GET, &format!("{a}/vectorize/v2/indexes/")), "vectorize.list");
        assert_eq!(route_name(&Method::GET, &format!("{a}/vectorize/v2/indexes/m")), "vectorize.get");
        assert_eq!(route_name(&Method::POST, &format!("{a}/vectorize/v2/indexes/m/upsert")), "vectorize.upsert");
        assert_eq!(
            route_name(&Method::GET, &format!("{a}/vectorize/v2/indexes/m/metadata_index/list")),
            "vectorize.metadata_index.list"
        );
        assert_eq!(route_name(&Method::POST, &format!("{a}/ai/run/@cf/baai/bge-base-en-v1.5")), "ai.run");
        assert_eq!(route_name(&Method::GET, &format!("{a}/r2/buckets/b/objects")), "r2.list");
        assert_eq!(route_name(&Method::PUT, &format!("{a}/r2/buckets/b/objects/content/x.txt")), "r2.put");
        assert_eq!(route_name(&Method::GET, "/client/v4/user/tokens/verify"), "user.tokens.verify");
        assert_eq!(route_name(&Method::GET, &format!("{a}/workers/scripts")), "unknown");
    }
}
