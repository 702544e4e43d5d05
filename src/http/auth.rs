//! Authentication and scopes: an OAuth access token (a JWT, when OAuth is on), the API key (Bearer,
//! `X-API-Key` or `?api_key=`, compared in constant time), or anonymous access when allowed. Every route but
//! the public ones needs a principal with the scope the route asks for (`required_scope`); on `/mcp` each
//! tool call, prompt and resource read is checked again, by the same rule (`mcp`'s `access`). Error bodies
//! are the original's.

use super::error::ApiError;
use crate::config::{Secret, ServeConfig};
use crate::oauth::OAuth;
use crate::oauth::scope::{Principal, Scope, scopes_of};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use serde_json::json;
use std::sync::Arc;

/// The authentication settings.
pub(crate) struct Auth {
    pub(crate) api_key: Option<Secret>,
    pub(crate) allow_anonymous: bool,
    pub(crate) oauth: Option<Arc<OAuth>>,
}

/// Whether a request without credentials is refused (what mDNS advertises as `auth_required`).
pub(crate) fn auth_required(args: &ServeConfig) -> bool {
    !args.allow_anonymous_access
}

/// Paths anyone may fetch: the minimal health check, the dashboard's and the API docs' static files, the
/// OpenAPI document the docs page renders (as the original serves it), and OAuth's own endpoints (mounted only
/// when OAuth is on).
fn is_public(path: &str) -> bool {
    matches!(
        path,
        "/" | "/api/health" | "/api/docs" | "/favicon.ico" | "/api-overview" | "/mcp/health" | "/openapi.json"
    ) || path.starts_with("/static/")
        || path.starts_with("/api/docs/")
        || path.starts_with("/oauth/")
        || path.starts_with("/.well-known/")
}

/// The credential a request carries: a Bearer token, an `X-API-Key` header or an `api_key` query parameter.
fn credential(headers: &HeaderMap, query: Option<&str>) -> Option<String> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim().to_string());
    let header_key = || headers.get("x-api-key").and_then(|v| v.to_str().ok()).map(|v| v.trim().to_string());
    let query_key = || {
        form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .find(|(name, _)| name == "api_key")
            .map(|(_, value)| value.into_owned())
    };
    bearer.or_else(header_key).or_else(query_key).filter(|c| !c.is_empty())
}

fn unauthorized(error: &str, description: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, json!({ "error": error, "error_description": description }))
}

impl Auth {
    /// The principal behind a request, or the original's 401. A credential is tried as an access token
    /// first (when OAuth is on), then as the API key.
    fn principal(&self, headers: &HeaderMap, query: Option<&str>) -> Result<Principal, ApiError> {
        let given = credential(headers, query);
        if let (Some(token), Some(oauth)) = (&given, &self.oauth)
            && let Some(owner) = oauth.verify(token)
        {
            return Ok(Principal { client_id: owner.client_id, scopes: scopes_of(&owner.scope) });
        }
        match (given, &self.api_key) {
            (Some(given), Some(key)) if key.matches(&given) => {
                Ok(Principal { client_id: "api_key".into(), scopes: vec![Scope::Read, Scope::Write, Scope::Admin] })
            }
            (Some(_), _) => Err(unauthorized(
                "invalid_token",
                "The access token provided is expired, revoked, malformed, or invalid",
            )),
            (None, _) if self.allow_anonymous => {
                Ok(Principal { client_id: "anonymous".into(), scopes: vec![Scope::Read, Scope::Write] })
            }
            (None, key) if self.oauth.is_some() => Err(unauthorized(
                "authorization_required",
                if key.is_some() {
                    "Authorization required. Provide valid OAuth Bearer token or API key."
                } else {
                    "Authorization required. Provide valid OAuth Bearer token."
                },
            )),
            (None, Some(_)) => {
                Err(unauthorized("authorization_required", "Authorization required. Provide valid API key."))
            }
            (None, None) => Err(unauthorized(
                "authorization_required",
                "Authentication is required. Set MCP_API_KEY, or MCP_ALLOW_ANONYMOUS_ACCESS=true to enable anonymous access.",
            )),
        }
    }
}

/// The scope a route needs, by its pattern: a redaction (which nothing can undo) needs admin; searches,
/// although POSTs, and `/mcp` (whose tool calls are checked one by one) need read; otherwise reading
/// methods need read and the others write.
fn required_scope(method: &Method, route: &str) -> Scope {
    match route {
        "/api/memories/{content_hash}/redact" | "/api/documents/redact/{upload_id}" => Scope::Admin,
        "/mcp" | "/mcp/" | "/api/search" | "/api/search/by-tag" | "/api/search/by-time" => Scope::Read,
        _ if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) => Scope::Read,
        _ => Scope::Write,
    }
}

/// `WWW-Authenticate` for a refused request: with OAuth on it points at the resource's metadata (RFC 9728),
/// so that a client can find the authorization server.
fn challenge(oauth: Option<&OAuth>, route: &str, insufficient: Option<Scope>) -> HeaderValue {
    let mut value = String::from("Bearer");
    if let Some(oauth) = oauth {
        let resource = if route.starts_with("/mcp") { "/mcp" } else { "" };
        value.push_str(&format!(
            " resource_metadata=\"{}/.well-known/oauth-protected-resource{resource}\"",
            oauth.issuer
        ));
    }
    if let Some(scope) = insufficient {
        value.push_str(&format!(", error=\"insufficient_scope\", scope=\"{}\"", scope.name()));
    }
    HeaderValue::from_str(&value.replacen("Bearer,", "Bearer", 1)).unwrap_or(HeaderValue::from_static("Bearer"))
}

/// Middleware: lets public paths through, authenticates the rest and checks the route's scope.
pub(crate) async fn authenticate(State(auth): State<Arc<Auth>>, mut request: Request, next: Next) -> Response {
    use axum::response::IntoResponse;
    if is_public(request.uri().path()) {
        return next.run(request).await;
    }
    let route = request.extensions().get::<MatchedPath>().map_or_else(String::new, |m| m.as_str().to_string());
    let principal = match auth.principal(request.headers(), request.uri().query()) {
        Ok(principal) => principal,
        Err(error) => {
            let mut response = error.into_response();
            response.headers_mut().insert(header::WWW_AUTHENTICATE, challenge(auth.oauth.as_deref(), &route, None));
            return response;
        }
    };
    let needed = required_scope(request.method(), &route);
    if !principal.allows(needed) {
        let mut response = ApiError::new(
            StatusCode::FORBIDDEN,
            json!({
                "error": "insufficient_scope",
                "error_description": format!("Required scope '{}' not granted", needed.name()),
            }),
        )
        .into_response();
        response.headers_mut().insert(header::WWW_AUTHENTICATE, challenge(auth.oauth.as_deref(), &route, Some(needed)));
        return response;
    }
    request.extensions_mut().insert(principal);
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn auth(key: Option<&str>, anonymous: bool) -> Auth {
        Auth { api_key: key.map(|k| k.parse().expect("a secret")), allow_anonymous: anonymous, oauth: None }
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).expect("a header value"));
        }
        map
    }

    fn error_of(result: Result<Principal, ApiError>) -> (StatusCode, String) {
        let error = result.expect_err("refused");
        let body = format!("{error:?}");
        (error.status(), body)
    }

    #[test]
    fn the_key_is_accepted_in_each_of_its_three_places() {
        let auth = auth(Some("k3y"), false);
        assert!(auth.principal(&headers(&[("authorization", "Bearer k3y")]), None).is_ok());
        assert!(auth.principal(&headers(&[("authorization", "bearer k3y")]), None).is_ok());
        assert!(auth.principal(&headers(&[("x-api-key", "k3y")]), None).is_ok());
        assert!(auth.principal(&HeaderMap::new(), Some("page=2&api_key=k3y")).is_ok());
    }

    #[test]
    fn wrong_and_missing_keys_get_the_originals_errors() {
        let auth = auth(Some("k3y"), false);
        let (status, body) = error_of(auth.principal(&headers(&[("authorization", "Bearer nope")]), None));
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(body.contains("invalid_token"), "{body}");
        let (status, body) = error_of(auth.principal(&HeaderMap::new(), None));
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(body.contains("authorization_required"), "{body}");
        // A Basic header is no API key.
        let (_, body) = error_of(auth.principal(&headers(&[("authorization", "Basic azN5")]), None));
        assert!(body.contains("authorization_required"), "{body}");
    }

    #[test]
    fn anonymous_access_reads_and_writes_but_a_wrong_key_still_fails() {
        let open = auth(Some("k3y"), true);
        let principal = open.principal(&HeaderMap::new(), None).expect("anonymous");
        assert_eq!(principal.scopes, vec![Scope::Read, Scope::Write]);
        assert!(open.principal(&headers(&[("x-api-key", "wrong")]), None).is_err());
        let closed = auth(None, false);
        let (_, body) = error_of(closed.principal(&HeaderMap::new(), None));
        assert!(body.contains("MCP_ALLOW_ANONYMOUS_ACCESS"), "{body}");
    }

    #[test]
    fn routes_ask_for_their_scope_and_higher_scopes_cover_lower_ones() {
        assert_eq!(required_scope(&Method::POST, "/api/memories/{content_hash}/redact"), Scope::Admin);
        assert_eq!(required_scope(&Method::POST, "/api/documents/redact/{upload_id}"), Scope::Admin);
        assert_eq!(required_scope(&Method::POST, "/api/search"), Scope::Read);
        assert_eq!(required_scope(&Method::POST, "/mcp"), Scope::Read);
        assert_eq!(required_scope(&Method::GET, "/api/memories"), Scope::Read);
        assert_eq!(required_scope(&Method::POST, "/api/memories"), Scope::Write);
        assert_eq!(required_scope(&Method::DELETE, "/api/memories/{content_hash}"), Scope::Write);
        let writer = Principal { client_id: "c".into(), scopes: scopes_of("write offline_access bogus") };
        assert!(writer.allows(Scope::Read) && writer.allows(Scope::Write) && !writer.allows(Scope::Admin));
        let reader = Principal { client_id: "c".into(), scopes: scopes_of("read") };
        assert!(reader.allows(Scope::Read) && !reader.allows(Scope::Write));
    }

    #[test]
    fn only_health_and_static_files_are_public() {
        for path in ["/", "/api/health", "/static/app.js", "/api/docs", "/api/docs/swagger-ui.css", "/openapi.json"] {
            assert!(is_public(path), "{path}");
        }
        for path in ["/api/health/detailed", "/api/memories", "/api/events", "/openapi.json/x", "/api/healthz"] {
            assert!(!is_public(path), "{path}");
        }
    }
}
