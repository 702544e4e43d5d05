//! OAuth 2.1 over HTTP (mounted when MCP_OAUTH_ENABLED): discovery documents, dynamic client registration,
//! the authorization endpoint with its consent page, and the token endpoint. The rules live in
//! `crate::oauth`; this file turns requests and answers into HTTP. Errors carry RFC 6749's top-level
//! `error` / `error_description` (what OAuth client libraries read) and the same object under `detail`
//! (the original's FastAPI shape).

use super::AppState;
use crate::config::Secret;
use crate::oauth::{AuthorizeError, AuthorizeRequest, ClientMetadata, OAuth, OAuthError, TokenRequest};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

/// What the OAuth handlers need besides the service.
#[derive(Clone)]
pub(crate) struct OAuthState {
    pub(crate) oauth: Arc<OAuth>,
    pub(crate) api_key: Option<Secret>,
    pub(crate) registration_key: Option<Secret>,
}

/// The OAuth routes.
pub(crate) fn routes(state: OAuthState) -> axum::Router<AppState> {
    // One literal `.route(path, methods)` per route: tests/it/scopes.rs reads them from this file.
    axum::Router::new()
        .route("/.well-known/oauth-authorization-server", get(metadata))
        .route("/.well-known/oauth-authorization-server/mcp", get(metadata))
        .route("/.well-known/openid-configuration", get(metadata))
        .route("/.well-known/openid-configuration/mcp", get(metadata))
        .route("/.well-known/oauth-protected-resource", get(resource_metadata))
        .route("/.well-known/oauth-protected-resource/mcp", get(mcp_resource_metadata))
        .route("/.well-known/jwks.json", get(jwks))
        .route("/oauth/register", post(register))
        .route("/oauth/clients/{client_id}", get(client))
        .route("/oauth/authorize", get(authorize).post(consent))
        .route("/oauth/token", post(token))
        .layer(axum::Extension(state))
}

type Oauth = axum::Extension<OAuthState>;

/// An OAuth error answer.
fn error_response(error: OAuthError, basic_used: bool) -> Response {
    let status = StatusCode::from_u16(error.status).unwrap_or(StatusCode::BAD_REQUEST);
    let body = json!({ "error": error.error, "error_description": error.description });
    let mut response =
        (status, Json(json!({ "error": error.error, "error_description": error.description, "detail": body })))
            .into_response();
    if status == StatusCode::UNAUTHORIZED {
        let scheme = if basic_used { "Basic realm=\"oauth\"" } else { "Bearer" };
        response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(scheme));
    }
    no_store(response)
}

/// Token answers must not be cached (RFC 6749 section 5.1).
fn no_store(mut response: Response) -> Response {
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response.headers_mut().insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

async fn metadata(axum::Extension(state): Oauth) -> Response {
    Json(state.oauth.metadata()).into_response()
}

async fn resource_metadata(axum::Extension(state): Oauth) -> Response {
    Json(state.oauth.resource_metadata("")).into_response()
}

async fn mcp_resource_metadata(axum::Extension(state): Oauth) -> Response {
    Json(state.oauth.resource_metadata("/mcp")).into_response()
}

async fn jwks(axum::Extension(state): Oauth) -> Response {
    match state.oauth.jwks() {
        Some(set) => Json(set).into_response(),
        None => super::error::ApiError::not_found("No public keys: tokens are signed with HS256").into_response(),
    }
}

/// The Bearer credential of a request, if any.
fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_string())
}

/// `POST /oauth/register`. With MCP_DCR_REGISTRATION_KEY set, only a request carrying it (or the API key)
/// registers. A client registered with either is trusted with client_credentials.
async fn register(axum::Extension(state): Oauth, headers: HeaderMap, body: Bytes) -> Response {
    let given = bearer(&headers);
    let matches = |key: &Option<Secret>| matches!((key, &given), (Some(key), Some(given)) if key.matches(given));
    let trusted = matches(&state.registration_key) || matches(&state.api_key);
    if !trusted && (given.is_some() || state.registration_key.is_some()) {
        let description = "Registration needs Authorization: Bearer <MCP_DCR_REGISTRATION_KEY>";
        return error_response(
            OAuthError { status: 401, error: "invalid_token", description: description.into() },
            false,
        );
    }
    let metadata: ClientMetadata = match serde_json::from_slice(&body) {
        Ok(metadata) => metadata,
        Err(error) => {
            let error = OAuthError { status: 400, error: "invalid_client_metadata", description: error.to_string() };
            return error_response(error, false);
        }
    };
    let oauth = state.oauth.clone();
    match tokio::task::spawn_blocking(move || oauth.register(metadata, trusted)).await {
        Ok(Ok(client)) => no_store((StatusCode::CREATED, Json(client)).into_response()),
        Ok(Err(error)) => error_response(error, false),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// `GET /oauth/clients/{id}`: the client, its secret redacted.
async fn client(axum::Extension(state): Oauth, Path(client_id): Path<String>) -> Response {
    match state.oauth.client(&client_id) {
        Some(client) => Json(client).into_response(),
        None => {
            let error = OAuthError { status: 404, error: "invalid_client", description: "Client not found".into() };
            error_response(error, false)
        }
    }
}

/// A redirect (302 after a GET, 303 after the consent form's POST).
fn redirect(status: StatusCode, location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(location) => (status, [(header::LOCATION, location)]).into_response(),
        Err(_) => StatusCode::BAD_REQUEST.into_response(),
    }
}

/// `GET /oauth/authorize`: checks the request, then approves at once when no API key is configured (the
/// original's behaviour), or shows the consent page that asks for the key.
async fn authorize(axum::Extension(state): Oauth, RawQuery(query): RawQuery) -> Response {
    let request: AuthorizeRequest = match serde_urlencoded::from_str(query.as_deref().unwrap_or_default()) {
        Ok(request) => request,
        Err(error) => {
            let error = OAuthError { status: 400, error: "invalid_request", description: error.to_string() };
            return error_response(error, false);
        }
    };
    match state.oauth.check_authorization(&request) {
        Err(AuthorizeError::Here(error)) => error_response(error, false),
        Err(AuthorizeError::Redirect(location)) => redirect(StatusCode::FOUND, &location),
        Ok(approval) if state.api_key.is_none() => redirect(StatusCode::FOUND, &state.oauth.approve(&approval)),
        Ok(approval) => consent_page(StatusCode::OK, &request, &approval, None),
    }
}

/// The consent form's fields: the authorization request again, the API key and the decision.
#[derive(Deserialize)]
struct ConsentForm {
    #[serde(flatten)]
    request: AuthorizeRequest,
    api_key: Option<String>,
    decision: Option<String>,
}

/// `POST /oauth/authorize`: the consent page's answer. Approving needs the API key.
async fn consent(axum::Extension(state): Oauth, body: Bytes) -> Response {
    let form: ConsentForm = match serde_urlencoded::from_bytes(&body) {
        Ok(form) => form,
        Err(error) => {
            let error = OAuthError { status: 400, error: "invalid_request", description: error.to_string() };
            return error_response(error, false);
        }
    };
    let approval = match state.oauth.check_authorization(&form.request) {
        Ok(approval) => approval,
        Err(AuthorizeError::Here(error)) => return error_response(error, false),
        Err(AuthorizeError::Redirect(location)) => return redirect(StatusCode::SEE_OTHER, &location),
    };
    if form.decision.as_deref() == Some("deny") {
        return redirect(StatusCode::SEE_OTHER, &state.oauth.deny(&approval));
    }
    let key_ok = match (&state.api_key, form.api_key.as_deref()) {
        (None, _) => true,
        (Some(key), Some(given)) => key.matches(given.trim()),
        (Some(_), None) => false,
    };
    if !key_ok {
        tracing::warn!(client_id = %approval.client_id, "OAuth consent refused: wrong API key");
        return consent_page(StatusCode::FORBIDDEN, &form.request, &approval, Some("That is not the API key."));
    }
    redirect(StatusCode::SEE_OTHER, &state.oauth.approve(&approval))
}

/// The consent page: which client asks for what, and a field for the API key.
fn consent_page(
    status: StatusCode,
    request: &AuthorizeRequest,
    approval: &crate::oauth::Approval,
    problem: Option<&str>,
) -> Response {
    use html_escape::{encode_double_quoted_attribute as attr, encode_text as text};
    let hidden = [
        ("response_type", request.response_type.as_deref()),
        ("client_id", request.client_id.as_deref()),
        ("redirect_uri", request.redirect_uri.as_deref()),
        ("scope", request.scope.as_deref()),
        ("state", request.state.as_deref()),
        ("code_challenge", request.code_challenge.as_deref()),
        ("code_challenge_method", request.code_challenge_method.as_deref()),
    ]
    .iter()
    .filter_map(|(name, value)| value.map(|v| format!(r#"<input type="hidden" name="{name}" value="{}">"#, attr(v))))
    .collect::<Vec<_>>()
    .join("\n      ");
    let client = approval.client_name.as_deref().unwrap_or(&approval.client_id);
    let scopes =
        approval.scope.split(' ').map(|s| format!("<li><code>{}</code></li>", text(s))).collect::<Vec<_>>().join("");
    let problem = problem.map(|p| format!(r#"<p class="problem">{}</p>"#, text(p))).unwrap_or_default();
    let page = format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Authorize {client} · MCP Memory Service</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;color:#222}}
input[type=password]{{width:100%;padding:.5rem;margin:.5rem 0 1rem;box-sizing:border-box}}
button{{padding:.5rem 1.2rem;margin-right:.5rem}} .problem{{color:#b00020;font-weight:600}} code{{background:#eee;padding:0 .2rem}}</style>
</head><body>
  <h1>Authorize access</h1>
  <p><strong>{client}</strong> asks to use this memory service with these scopes:</p>
  <ul>{scopes}</ul>
  <p>It will be sent back to <code>{redirect}</code>.</p>
  {problem}
  <form method="post" action="/oauth/authorize">
      {hidden}
      <label for="api_key">The service's API key (MCP_API_KEY)</label>
      <input id="api_key" name="api_key" type="password" autocomplete="current-password" autofocus>
      <button type="submit" name="decision" value="approve">Approve</button>
      <button type="submit" name="decision" value="deny">Deny</button>
  </form>
</body></html>"#,
        client = text(client),
        redirect = text(&approval.redirect_uri),
    );
    let mut response = (status, Html(page)).into_response();
    let headers = response.headers_mut();
    // The page asks for a secret: it is never framed, cached or given outside resources.
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    no_store(response)
}

/// The client credentials of an `Authorization: Basic` header (each part form-urlencoded, RFC 6749 2.3.1).
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    use base64::Engine;
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unescape = |part: &str| -> String {
        form_urlencoded::parse(format!("v={part}").as_bytes()).next().map(|(_, v)| v.into_owned()).unwrap_or_default()
    };
    Some((unescape(id), unescape(secret)))
}

/// `POST /oauth/token`.
async fn token(axum::Extension(state): Oauth, headers: HeaderMap, body: Bytes) -> Response {
    let request: TokenRequest = match serde_urlencoded::from_bytes(&body) {
        Ok(request) => request,
        Err(error) => {
            let error = OAuthError { status: 400, error: "invalid_request", description: error.to_string() };
            return error_response(error, false);
        }
    };
    let basic = basic_credentials(&headers);
    let basic_used = basic.is_some();
    let oauth = state.oauth.clone();
    match tokio::task::spawn_blocking(move || oauth.token(request, basic)).await {
        Ok(Ok(answer)) => no_store(Json(answer).into_response()),
        Ok(Err(error)) => error_response(error, basic_used),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_decoded_and_unescaped() {
        use base64::Engine;
        let mut headers = HeaderMap::new();
        let encoded = base64::engine::general_purpose::STANDARD.encode("my%20client:s%3Acret+x");
        headers.insert(header::AUTHORIZATION, HeaderValue::from_str(&format!("Basic {encoded}")).expect("a value"));
        assert_eq!(basic_credentials(&headers), Some(("my client".into(), "s:cret x".into())));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer abc"));
        assert_eq!(basic_credentials(&headers), None);
    }
}
