//! OAuth 2.1 authorization server, the rules without the HTTP: dynamic client registration (RFC 7591, the
//! original's redirect-URI rules), authorization codes (single use, short-lived, PKCE S256 required of public
//! clients), the token endpoint's grants (authorization_code, client_credentials, refresh_token with
//! rotation: presenting a used refresh token or code again revokes everything issued from that
//! authorization), and access tokens as JWTs with the original's claims. `http::oauth` serves it.

mod keys;
pub mod scope;
mod store;

use crate::config::OAuthConfig;
#[cfg(test)]
use jsonwebtoken::Algorithm;
use jsonwebtoken::{Header, Validation};
use keys::SigningKey;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use store::{Client, Refresh, State, StateFile};

pub use keys::{KeyError, generate_rsa_pair};
pub use store::StateError;

/// Why the OAuth server could not start: its key or its saved state.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    State(#[from] StateError),
}

/// The audience of every access token (the original's).
pub(crate) const AUDIENCE: &str = "mcp-memory-service";
/// The scopes a token may carry.
const SCOPES: [&str; 4] = ["read", "write", "admin", "offline_access"];
/// What a client gets when it names no scope.
const DEFAULT_SCOPE: &str = "read write";
/// Custom URI schemes of MCP clients accepted as redirects (besides reverse-domain ones such as `com.example.app`).
const APP_SCHEMES: [&str; 3] = ["cursor", "vscode", "vscode-insiders"];
/// Seconds of clock skew tolerated when checking a token's expiry.
const LEEWAY: u64 = 5;

/// An OAuth error: the status and the RFC 6749 `error` code with a description.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct OAuthError {
    pub(crate) status: u16,
    pub(crate) error: &'static str,
    pub(crate) description: String,
}

impl OAuthError {
    fn bad(error: &'static str, description: impl Into<String>) -> OAuthError {
        OAuthError { status: 400, error, description: description.into() }
    }

    fn client_failed() -> OAuthError {
        OAuthError { status: 401, error: "invalid_client", description: "Client authentication failed".into() }
    }

    fn internal(error: &(dyn std::error::Error + 'static)) -> OAuthError {
        tracing::error!(error = %crate::error::Chain(error), "OAuth state could not be saved");
        OAuthError { status: 500, error: "server_error", description: "The server could not save the change".into() }
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A random token: 32 bytes, base64url.
fn random_token(bytes: usize) -> String {
    use base64::Engine;
    let mut buffer = vec![0u8; bytes];
    getrandom::fill(&mut buffer).expect("the system's random source");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buffer)
}

fn digest(text: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Whether two digests are equal, in constant time.
fn same_digest(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Scopes as written (space-separated), checked against what exists; `None` gives the default.
fn parse_scope(scope: Option<&str>) -> Result<Vec<String>, OAuthError> {
    let scope = scope.map(str::trim).filter(|s| !s.is_empty()).unwrap_or(DEFAULT_SCOPE);
    let mut scopes: Vec<String> = Vec::new();
    for name in scope.split_whitespace() {
        if !SCOPES.contains(&name) {
            return Err(OAuthError::bad(
                "invalid_scope",
                format!("Unknown scope '{name}' (known: {})", SCOPES.join(", ")),
            ));
        }
        if !scopes.iter().any(|s| s == name) {
            scopes.push(name.to_string());
        }
    }
    Ok(scopes)
}

/// Checks a redirect URI against the original's rules: https anywhere, http only to the loopback host (any
/// port), the custom schemes of MCP clients, no fragment, never script or file schemes.
pub(crate) fn check_redirect_uri(uri: &str) -> Result<(), OAuthError> {
    let invalid = |why: &str| OAuthError::bad("invalid_redirect_uri", format!("Invalid redirect URI '{uri}': {why}"));
    let parsed = url::Url::parse(uri).map_err(|_| invalid("not an absolute URI"))?;
    if parsed.fragment().is_some() {
        return Err(invalid("it must not have a fragment"));
    }
    match parsed.scheme() {
        "https" if parsed.host().is_some() => Ok(()),
        "http" => match parsed.host() {
            Some(url::Host::Domain("localhost")) => Ok(()),
            Some(url::Host::Ipv4(ip)) if ip.is_loopback() => Ok(()),
            Some(url::Host::Ipv6(ip)) if ip.is_loopback() => Ok(()),
            _ => Err(invalid("http is only allowed to localhost, 127.0.0.1 or [::1]")),
        },
        "javascript" | "data" | "file" | "vbscript" | "about" | "blob" | "ftp" => {
            Err(invalid("this scheme is not allowed"))
        }
        scheme if APP_SCHEMES.contains(&scheme) || scheme.contains('.') => Ok(()),
        _ => Err(invalid("use https, http to localhost, or an app scheme (cursor, vscode, com.example.app)")),
    }
}

/// A client's registration request (RFC 7591).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ClientMetadata {
    redirect_uris: Option<Vec<String>>,
    token_endpoint_auth_method: Option<String>,
    grant_types: Option<Vec<String>>,
    response_types: Option<Vec<String>>,
    client_name: Option<String>,
    client_uri: Option<String>,
    scope: Option<String>,
}

/// An authorization request, as `/oauth/authorize` receives it.
#[derive(Clone, Debug, Default, Deserialize)]
pub(crate) struct AuthorizeRequest {
    pub(crate) response_type: Option<String>,
    pub(crate) client_id: Option<String>,
    pub(crate) redirect_uri: Option<String>,
    pub(crate) scope: Option<String>,
    pub(crate) state: Option<String>,
    pub(crate) code_challenge: Option<String>,
    pub(crate) code_challenge_method: Option<String>,
}

/// A checked authorization request, waiting for the user's approval.
#[derive(Clone, Debug)]
pub(crate) struct Approval {
    pub(crate) client_id: String,
    pub(crate) client_name: Option<String>,
    pub(crate) redirect_uri: String,
    redirect_given: bool,
    pub(crate) scope: String,
    pub(crate) state: Option<String>,
    challenge: Option<String>,
}

/// Why an authorization request fails: either it cannot be sent back to the client (an unknown client or
/// redirect URI: answered here) or it is sent back to the redirect URI with an error.
#[derive(Debug)]
pub(crate) enum AuthorizeError {
    Here(OAuthError),
    Redirect(String),
}

/// A redirect to `uri` with `params` added to its query.
fn redirect_with(uri: &str, params: &[(&str, &str)]) -> String {
    let mut url = url::Url::parse(uri).expect("redirect URIs are checked at registration");
    url.query_pairs_mut().extend_pairs(params);
    url.to_string()
}

/// A token request, form-encoded.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct TokenRequest {
    pub(crate) grant_type: Option<String>,
    pub(crate) code: Option<String>,
    pub(crate) redirect_uri: Option<String>,
    pub(crate) code_verifier: Option<String>,
    pub(crate) refresh_token: Option<String>,
    pub(crate) scope: Option<String>,
    pub(crate) client_id: Option<String>,
    pub(crate) client_secret: Option<String>,
}

/// An authorization code waiting for its exchange (kept until it expires, so a second use is noticed).
#[derive(Debug)]
struct Code {
    client_id: String,
    redirect_uri: String,
    redirect_given: bool,
    scope: String,
    challenge: Option<String>,
    family: String,
    expires_at: i64,
    used: bool,
}

/// An access token's claims: the original's (iss, sub, aud, exp, iat, scope) and ours (jti; sid, the
/// authorization it came from, so that revoking the authorization revokes the token).
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    aud: String,
    exp: i64,
    iat: i64,
    scope: String,
    jti: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sid: Option<String>,
}

/// Who a valid access token speaks for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct TokenOwner {
    pub(crate) client_id: String,
    pub(crate) scope: String,
}

/// The authorization server.
pub struct OAuth {
    pub(crate) issuer: String,
    key: SigningKey,
    access_seconds: i64,
    code_seconds: i64,
    refresh_seconds: i64,
    /// No API key is configured: authorization is approved without asking, and any client may use
    /// client_credentials (the original's behaviour).
    pub(crate) open: bool,
    /// Saves what each change touched; the disk is written after the state lock is released, so a token
    /// check never waits for a save.
    file: StateFile,
    state: Mutex<State>,
    codes: Mutex<HashMap<String, Code>>,
    /// At most this many open registrations (not trusted) are kept; more are refused until some expire.
    max_open_clients: usize,
}

/// How many open registrations may exist at once.
const MAX_OPEN_CLIENTS: usize = 1_000;
/// The longest client name, client URI, redirect URI and scope a registration may give, in bytes, and the
/// most redirect URIs.
const MAX_NAME: usize = 256;
const MAX_URI: usize = 2_048;
const MAX_SCOPE: usize = 256;
const MAX_REDIRECT_URIS: usize = 16;

/// Refuses metadata whose fields are larger than a client needs (they are stored and shown).
fn check_sizes(metadata: &ClientMetadata) -> Result<(), OAuthError> {
    let too_long = |field: &str, most: usize| {
        OAuthError::bad("invalid_client_metadata", format!("{field} is longer than {most} bytes"))
    };
    if metadata.client_name.as_ref().is_some_and(|name| name.len() > MAX_NAME) {
        return Err(too_long("client_name", MAX_NAME));
    }
    if metadata.client_uri.as_ref().is_some_and(|uri| uri.len() > MAX_URI) {
        return Err(too_long("client_uri", MAX_URI));
    }
    if metadata.scope.as_ref().is_some_and(|scope| scope.len() > MAX_SCOPE) {
        return Err(too_long("scope", MAX_SCOPE));
    }
    let uris = metadata.redirect_uris.as_deref().unwrap_or_default();
    if uris.len() > MAX_REDIRECT_URIS {
        return Err(OAuthError::bad(
            "invalid_client_metadata",
            format!("at most {MAX_REDIRECT_URIS} redirect_uris may be registered"),
        ));
    }
    if uris.iter().any(|uri| uri.len() > MAX_URI) {
        return Err(too_long("a redirect URI", MAX_URI));
    }
    let lists = [&metadata.grant_types, &metadata.response_types];
    if lists.iter().any(|list| list.as_ref().is_some_and(|list| list.len() > 8)) {
        return Err(OAuthError::bad("invalid_client_metadata", "grant_types and response_types list at most 8 values"));
    }
    Ok(())
}

impl OAuth {
    /// The server for `issuer`, with its key and saved state from `<base>/oauth`.
    pub(crate) fn open(args: &OAuthConfig, base_dir: &Path, issuer: String, open: bool) -> Result<OAuth, SetupError> {
        let key = keys::load(args, base_dir)?;
        tracing::info!(issuer, algorithm = ?key.algorithm, key = %key.origin, "OAuth 2.1 enabled");
        let (file, mut state) = StateFile::open(&base_dir.join("oauth"))?;
        state.purge(now());
        file.queue(state.take_changes());
        file.save()?;
        Ok(OAuth {
            issuer: issuer.trim_end_matches('/').to_string(),
            key,
            access_seconds: args.access_token_minutes as i64 * 60,
            code_seconds: args.code_minutes as i64 * 60,
            refresh_seconds: args.refresh_days as i64 * 86_400,
            open,
            file,
            state: Mutex::new(state),
            codes: Mutex::new(HashMap::new()),
            max_open_clients: MAX_OPEN_CLIENTS,
        })
    }

    /// Applies `change` to the state and saves the entries it touched.
    /// The changes are queued under the state's lock (so in the order they were made) and written after it
    /// is released (the fsyncs take milliseconds, and `verify` reads the state on every request).
    fn change<T>(&self, change: impl FnOnce(&mut State) -> T) -> Result<T, OAuthError> {
        let result = {
            let mut state = self.state.lock().expect("OAuth state lock");
            let result = change(&mut state);
            state.purge(now());
            self.file.queue(state.take_changes());
            result
        };
        self.file.save().map_err(|error| OAuthError::internal(&error))?;
        Ok(result)
    }

    /// RFC 8414 metadata (also served as the OpenID configuration, as the original does).
    pub(crate) fn metadata(&self) -> Value {
        let issuer = &self.issuer;
        let mut document = json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/oauth/authorize"),
            "token_endpoint": format!("{issuer}/oauth/token"),
            "registration_endpoint": format!("{issuer}/oauth/register"),
            "grant_types_supported": ["authorization_code", "client_credentials", "refresh_token"],
            "response_types_supported": ["code"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "scopes_supported": SCOPES,
            "code_challenge_methods_supported": ["S256"],
            "id_token_signing_alg_values_supported": [format!("{:?}", self.key.algorithm)],
        });
        if self.key.jwks.is_some() {
            document["jwks_uri"] = json!(format!("{issuer}/.well-known/jwks.json"));
        }
        document
    }

    /// RFC 9728 metadata of a protected resource (`/api` when `path` is empty, or `/mcp`).
    pub(crate) fn resource_metadata(&self, path: &str) -> Value {
        let issuer = &self.issuer;
        json!({
            "resource": format!("{issuer}{path}"),
            "authorization_servers": [issuer],
            "scopes_supported": ["read", "write", "admin"],
            "bearer_methods_supported": ["header"],
            "resource_documentation": format!("{issuer}/api/docs"),
        })
    }

    /// The public keys (RS256 only).
    pub(crate) fn jwks(&self) -> Option<Value> {
        self.key.jwks.as_ref().map(|set| serde_json::to_value(set).unwrap_or_default())
    }

    /// Registers a client. `trusted` says the request carried the registration key or the API key.
    pub(crate) fn register(&self, metadata: ClientMetadata, trusted: bool) -> Result<Value, OAuthError> {
        let invalid = |why: String| OAuthError::bad("invalid_client_metadata", why);
        check_sizes(&metadata)?;
        let method = metadata.token_endpoint_auth_method.unwrap_or_else(|| "client_secret_basic".into());
        if !["client_secret_basic", "client_secret_post", "none"].contains(&method.as_str()) {
            return Err(invalid(format!("Unsupported token_endpoint_auth_method '{method}'")));
        }
        let grant_types = metadata.grant_types.unwrap_or_else(|| vec!["authorization_code".into()]);
        for grant in &grant_types {
            if !["authorization_code", "client_credentials", "refresh_token"].contains(&grant.as_str()) {
                return Err(invalid(format!("Unsupported grant type '{grant}'")));
            }
        }
        if method == "none" && grant_types.iter().any(|g| g == "client_credentials") {
            return Err(invalid(
                "A public client (token_endpoint_auth_method none) cannot use client_credentials".into(),
            ));
        }
        let response_types = metadata.response_types.unwrap_or_else(|| vec!["code".into()]);
        if response_types.iter().any(|r| r != "code") {
            return Err(invalid("Only the response type 'code' is supported".into()));
        }
        let redirect_uris = metadata.redirect_uris.unwrap_or_default();
        if grant_types.iter().any(|g| g == "authorization_code") && redirect_uris.is_empty() {
            return Err(OAuthError::bad(
                "invalid_redirect_uri",
                "redirect_uris is required for the authorization_code grant",
            ));
        }
        for uri in &redirect_uris {
            check_redirect_uri(uri)?;
        }
        let scope = match metadata.scope.as_deref() {
            Some(scope) => parse_scope(Some(scope))?.join(" "),
            None => String::new(),
        };
        let secret = (method != "none").then(|| random_token(32));
        let client = Client {
            client_id: format!("mcp_client_{}", random_token(16)),
            secret_sha256: secret.as_deref().map(digest),
            redirect_uris,
            grant_types,
            response_types,
            token_endpoint_auth_method: method,
            client_name: metadata.client_name,
            client_uri: metadata.client_uri,
            scope,
            trusted,
            issued_at: now(),
            used: false,
        };
        let mut answer = describe(&client);
        if let Some(secret) = secret {
            answer["client_secret"] = json!(secret);
            answer["client_secret_expires_at"] = json!(0);
        }
        let most = self.max_open_clients;
        let full = self.change(|state| {
            state.purge(now());
            let full = !trusted && state.open_clients() >= most;
            if !full {
                state.clients.insert(client.client_id.clone(), client);
            }
            full
        })?;
        if full {
            return Err(OAuthError {
                status: 429,
                error: "temporarily_unavailable",
                description: format!(
                    "{most} open client registrations are waiting for their first token; unused ones expire after a \
                     day (register with the registration key or the API key meanwhile)"
                ),
            });
        }
        Ok(answer)
    }

    /// A registered client as `GET /oauth/clients/{id}` shows it (the secret redacted).
    pub(crate) fn client(&self, client_id: &str) -> Option<Value> {
        let state = self.state.lock().expect("OAuth state lock");
        state.clients.get(client_id).map(|client| {
            let mut answer = describe(client);
            if client.secret_sha256.is_some() {
                answer["client_secret"] = json!("[REDACTED]");
            }
            answer
        })
    }

    /// Checks an authorization request: the client, its redirect URI, the response type, the scope and PKCE.
    pub(crate) fn check_authorization(&self, request: &AuthorizeRequest) -> Result<Approval, AuthorizeError> {
        let here = |error: &'static str, description: &str| AuthorizeError::Here(OAuthError::bad(error, description));
        let client_id = request.client_id.as_deref().ok_or_else(|| here("invalid_request", "client_id is required"))?;
        let client = {
            let state = self.state.lock().expect("OAuth state lock");
            state.clients.get(client_id).cloned()
        };
        let client = client.ok_or_else(|| here("invalid_client", "Unknown client_id"))?;
        let redirect_uri = match request.redirect_uri.as_deref() {
            Some(uri) if client.redirect_uris.iter().any(|r| r == uri) => uri.to_string(),
            Some(_) => return Err(here("invalid_redirect_uri", "redirect_uri is not registered for this client")),
            None => client
                .redirect_uris
                .first()
                .cloned()
                .ok_or_else(|| here("invalid_request", "This client has no redirect URI"))?,
        };
        let back = |error: &str, description: &str| {
            let mut params = vec![("error", error), ("error_description", description)];
            if let Some(state) = request.state.as_deref() {
                params.push(("state", state));
            }
            AuthorizeError::Redirect(redirect_with(&redirect_uri, &params))
        };
        if request.response_type.as_deref() != Some("code") {
            return Err(back("unsupported_response_type", "Only response_type=code is supported"));
        }
        if !client.grant_types.iter().any(|g| g == "authorization_code") {
            return Err(back("unauthorized_client", "This client is not registered for authorization_code"));
        }
        let scope = parse_scope(request.scope.as_deref()).map_err(|e| back(e.error, &e.description))?;
        if !client.scope.is_empty() {
            let allowed: Vec<&str> = client.scope.split(' ').collect();
            if let Some(extra) = scope.iter().find(|s| !allowed.contains(&s.as_str())) {
                return Err(back("invalid_scope", &format!("This client was not registered for the scope '{extra}'")));
            }
        }
        let challenge = match (request.code_challenge.as_deref(), request.code_challenge_method.as_deref()) {
            (Some(challenge), Some("S256")) if challenge.len() == 43 => Some(challenge.to_string()),
            (Some(_), Some("S256")) => return Err(back("invalid_request", "code_challenge must be 43 characters")),
            (Some(_), _) => return Err(back("invalid_request", "code_challenge_method must be S256")),
            (None, _) if client.secret_sha256.is_none() => {
                return Err(back(
                    "invalid_request",
                    "PKCE is required: send code_challenge with code_challenge_method=S256",
                ));
            }
            (None, _) => None,
        };
        Ok(Approval {
            client_id: client.client_id,
            client_name: client.client_name,
            redirect_uri,
            redirect_given: request.redirect_uri.is_some(),
            scope: scope.join(" "),
            state: request.state.clone(),
            challenge,
        })
    }

    /// The redirect after approval: a new single-use code (and the state).
    pub(crate) fn approve(&self, approval: &Approval) -> String {
        let code = random_token(32);
        let record = Code {
            client_id: approval.client_id.clone(),
            redirect_uri: approval.redirect_uri.clone(),
            redirect_given: approval.redirect_given,
            scope: approval.scope.clone(),
            challenge: approval.challenge.clone(),
            family: random_token(12),
            expires_at: now() + self.code_seconds,
            used: false,
        };
        let mut codes = self.codes.lock().expect("OAuth codes lock");
        let current = now();
        codes.retain(|_, code| code.expires_at > current);
        codes.insert(digest(&code), record);
        let mut params = vec![("code", code.as_str())];
        if let Some(state) = approval.state.as_deref() {
            params.push(("state", state));
        }
        redirect_with(&approval.redirect_uri, &params)
    }

    /// The redirect after the user declined.
    pub(crate) fn deny(&self, approval: &Approval) -> String {
        let mut params = vec![("error", "access_denied"), ("error_description", "The request was declined")];
        if let Some(state) = approval.state.as_deref() {
            params.push(("state", state));
        }
        redirect_with(&approval.redirect_uri, &params)
    }

    /// The client a token request authenticates as: HTTP Basic (`basic`) or the form's client_id and
    /// client_secret; a public client sends only its client_id.
    fn authenticate(&self, request: &TokenRequest, basic: Option<(String, String)>) -> Result<Client, OAuthError> {
        let (client_id, secret) = match basic {
            Some(_) if request.client_secret.is_some() => {
                return Err(OAuthError::bad("invalid_request", "Use one client authentication method, not two"));
            }
            Some((id, _)) if request.client_id.as_deref().is_some_and(|form| form != id) => {
                return Err(OAuthError::client_failed());
            }
            Some((id, secret)) => (id, Some(secret)),
            None => match request.client_id.clone() {
                Some(id) => (id, request.client_secret.clone()),
                None => return Err(OAuthError::client_failed()),
            },
        };
        let client = {
            let state = self.state.lock().expect("OAuth state lock");
            state.clients.get(&client_id).cloned()
        };
        let client = client.ok_or_else(OAuthError::client_failed)?;
        match (&client.secret_sha256, secret) {
            (Some(expected), Some(given)) if same_digest(expected, &digest(&given)) => Ok(client),
            (None, None) => Ok(client),
            _ => Err(OAuthError::client_failed()),
        }
    }

    /// The token endpoint.
    pub(crate) fn token(&self, request: TokenRequest, basic: Option<(String, String)>) -> Result<Value, OAuthError> {
        let grant =
            request.grant_type.clone().ok_or_else(|| OAuthError::bad("invalid_request", "grant_type is required"))?;
        if !["authorization_code", "client_credentials", "refresh_token"].contains(&grant.as_str()) {
            return Err(OAuthError::bad("unsupported_grant_type", format!("Unsupported grant type '{grant}'")));
        }
        let client = self.authenticate(&request, basic)?;
        // A refresh token comes from an authorization code: such a client may refresh without naming the grant.
        let registered = client.grant_types.contains(&grant)
            || (grant == "refresh_token" && client.grant_types.iter().any(|g| g == "authorization_code"));
        if !registered {
            return Err(OAuthError::bad("unauthorized_client", format!("This client is not registered for {grant}")));
        }
        let issued = match grant.as_str() {
            "authorization_code" => self.exchange_code(&client, &request),
            "client_credentials" => self.client_credentials(&client, &request),
            _ => self.refresh(&client, &request),
        }?;
        if !client.used {
            // Saved once per client: a used registration never expires. The token is issued either way (a
            // failed save is logged by `internal`, and the mark is tried again at the next token).
            let _ = self.change(|state| state.clients.get_mut(&client.client_id).map(|stored| stored.used = true));
        }
        Ok(issued)
    }

    fn exchange_code(&self, client: &Client, request: &TokenRequest) -> Result<Value, OAuthError> {
        let invalid = |why: &str| OAuthError::bad("invalid_grant", why);
        let code = request.code.as_deref().ok_or_else(|| OAuthError::bad("invalid_request", "code is required"))?;
        let (scope, family) = {
            let mut codes = self.codes.lock().expect("OAuth codes lock");
            let record =
                codes.get_mut(&digest(code)).ok_or_else(|| invalid("Invalid or expired authorization code"))?;
            if record.expires_at <= now() {
                return Err(invalid("Invalid or expired authorization code"));
            }
            if record.client_id != client.client_id {
                return Err(invalid("The code was issued to another client"));
            }
            if record.used {
                // A code presented twice may have been stolen: what the first exchange issued is revoked.
                let family = record.family.clone();
                drop(codes);
                self.change(|state| state.revoke(&family, now() + self.refresh_seconds))?;
                return Err(invalid("The authorization code was already used; the tokens issued for it are revoked"));
            }
            match request.redirect_uri.as_deref() {
                Some(uri) if uri != record.redirect_uri => return Err(invalid("redirect_uri does not match")),
                None if record.redirect_given => return Err(invalid("redirect_uri is required")),
                _ => {}
            }
            match (&record.challenge, request.code_verifier.as_deref()) {
                (Some(challenge), Some(verifier)) if pkce_matches(challenge, verifier) => {}
                (Some(_), Some(_)) => return Err(invalid("code_verifier does not match the code_challenge")),
                (Some(_), None) => return Err(OAuthError::bad("invalid_request", "code_verifier is required")),
                (None, Some(_)) => return Err(invalid("No code_challenge was sent for this code")),
                (None, None) => {}
            }
            record.used = true;
            (record.scope.clone(), record.family.clone())
        };
        let mut answer = self.access_token(&client.client_id, &scope, Some(&family))?;
        if scope.split(' ').any(|s| s == "offline_access") {
            answer["refresh_token"] = json!(self.new_refresh(&client.client_id, &scope, &family)?);
        }
        Ok(answer)
    }

    fn client_credentials(&self, client: &Client, request: &TokenRequest) -> Result<Value, OAuthError> {
        if !client.trusted && !self.open {
            return Err(OAuthError::bad(
                "unauthorized_client",
                "client_credentials needs a client registered with MCP_DCR_REGISTRATION_KEY or the API key",
            ));
        }
        let allowed = if client.scope.is_empty() { DEFAULT_SCOPE.to_string() } else { client.scope.clone() };
        let requested = match request.scope.as_deref() {
            Some(scope) => parse_scope(Some(scope))?,
            None => allowed.split(' ').map(str::to_string).collect(),
        };
        if let Some(extra) = requested.iter().find(|s| !allowed.split(' ').any(|a| a == s.as_str())) {
            return Err(OAuthError::bad("invalid_scope", format!("This client may not ask for '{extra}'")));
        }
        let scope: Vec<String> = requested.into_iter().filter(|s| s != "offline_access").collect();
        self.access_token(&client.client_id, &scope.join(" "), None)
    }

    fn refresh(&self, client: &Client, request: &TokenRequest) -> Result<Value, OAuthError> {
        let invalid = |why: &str| OAuthError::bad("invalid_grant", why);
        let token = request
            .refresh_token
            .as_deref()
            .ok_or_else(|| OAuthError::bad("invalid_request", "refresh_token is required"))?;
        let key = digest(token);
        let current = now();
        let until = current + self.refresh_seconds;
        // Checked and rotated under one lock: two concurrent uses of a token cannot both succeed.
        let outcome = self.change(|state| {
            let Some(record) = state.refresh.get(&key).cloned() else {
                return Err(invalid("Invalid, expired or revoked refresh token"));
            };
            if record.client_id != client.client_id {
                return Err(invalid("The refresh token was issued to another client"));
            }
            if record.used {
                state.revoke(&record.family, until);
                return Err(invalid("The refresh token was already used; every token of its chain is revoked"));
            }
            if record.expires_at <= current {
                return Err(invalid("Invalid, expired or revoked refresh token"));
            }
            state.refresh.get_mut(&key).expect("present").used = true;
            let next = random_token(32);
            let rotated = Refresh { expires_at: until, used: false, ..record.clone() };
            state.refresh.insert(digest(&next), rotated);
            Ok((record, next))
        })?;
        let (record, next) = outcome?;
        let scope = match request.scope.as_deref() {
            Some(asked) => {
                let asked = parse_scope(Some(asked))?;
                if let Some(extra) = asked.iter().find(|s| !record.scope.split(' ').any(|g| g == s.as_str())) {
                    return Err(OAuthError::bad("invalid_scope", format!("'{extra}' was not granted")));
                }
                asked.join(" ")
            }
            None => record.scope.clone(),
        };
        let mut answer = self.access_token(&client.client_id, &scope, Some(&record.family))?;
        answer["refresh_token"] = json!(next);
        Ok(answer)
    }

    fn new_refresh(&self, client_id: &str, scope: &str, family: &str) -> Result<String, OAuthError> {
        let token = random_token(32);
        let record = Refresh {
            client_id: client_id.to_string(),
            scope: scope.to_string(),
            family: family.to_string(),
            expires_at: now() + self.refresh_seconds,
            used: false,
        };
        self.change(|state| state.refresh.insert(digest(&token), record))?;
        Ok(token)
    }

    /// A signed access token and the token response around it.
    fn access_token(&self, client_id: &str, scope: &str, family: Option<&str>) -> Result<Value, OAuthError> {
        let issued = now();
        let claims = Claims {
            iss: self.issuer.clone(),
            sub: client_id.to_string(),
            aud: AUDIENCE.to_string(),
            exp: issued + self.access_seconds,
            iat: issued,
            scope: scope.to_string(),
            jti: random_token(12),
            sid: family.map(str::to_string),
        };
        let mut header = Header::new(self.key.algorithm);
        header.kid = self.key.jwks.as_ref().and_then(|set| set.keys[0].common.key_id.clone());
        let token = jsonwebtoken::encode(&header, &claims, &self.key.encoding)
            .map_err(|error| OAuthError::internal(&KeyError::Sign(error)))?;
        Ok(json!({
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": self.access_seconds,
            "scope": scope,
        }))
    }

    /// The owner of a valid access token: signed by our key, from our issuer, for our audience, not expired
    /// and not revoked.
    pub(crate) fn verify(&self, token: &str) -> Option<TokenOwner> {
        let mut validation = Validation::new(self.key.algorithm);
        validation.set_audience(&[AUDIENCE]);
        validation.set_issuer(&[&self.issuer]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        validation.leeway = LEEWAY;
        validation.algorithms = vec![self.key.algorithm];
        let claims = jsonwebtoken::decode::<Claims>(token, &self.key.decoding, &validation).ok()?.claims;
        if let Some(family) = &claims.sid {
            let state = self.state.lock().expect("OAuth state lock");
            if state.revoked.contains_key(family) {
                return None;
            }
        }
        Some(TokenOwner { client_id: claims.sub, scope: claims.scope })
    }

    /// The signing algorithm (for tests and the start-up log).
    #[cfg(test)]
    fn algorithm(&self) -> Algorithm {
        self.key.algorithm
    }
}

/// A client's public description.
fn describe(client: &Client) -> Value {
    let mut answer = json!({
        "client_id": client.client_id,
        "client_id_issued_at": client.issued_at,
        "redirect_uris": client.redirect_uris,
        "grant_types": client.grant_types,
        "response_types": client.response_types,
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
        "client_name": client.client_name,
    });
    if let Some(uri) = &client.client_uri {
        answer["client_uri"] = json!(uri);
    }
    if !client.scope.is_empty() {
        answer["scope"] = json!(client.scope);
    }
    answer
}

/// PKCE S256: BASE64URL(SHA256(verifier)) equals the challenge; the verifier is 43 to 128 unreserved characters.
fn pkce_matches(challenge: &str, verifier: &str) -> bool {
    use base64::Engine;
    use sha2::{Digest, Sha256};
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    well_formed && same_digest(&computed, challenge)
}

#[cfg(test)]
mod tests;
