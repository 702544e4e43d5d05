//! Unit tests of the OAuth rules (HS256 keeps them fast; RS256 and the HTTP flow are tested in tests/it/oauth.rs).

use super::*;
use clap::Parser;
use std::path::Path;

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"; // RFC 7636, appendix B

/// The server over `dir`, signing with an HS256 secret made of `fill`.
fn open_in(dir: &Path, fill: &str, open: bool) -> OAuth {
    let secret = fill.repeat(40);
    #[derive(Parser)]
    struct Args {
        #[command(flatten)]
        oauth: crate::config::OAuthConfig,
    }
    let args = Args::parse_from(["serve", "--oauth-secret-key", &secret]);
    OAuth::open(&args.oauth, dir, "http://localhost:8000/".into(), open).expect("opened")
}

fn server(open: bool) -> (tempfile::TempDir, OAuth) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let oauth = open_in(dir.path(), "s", open);
    (dir, oauth)
}

fn metadata(value: Value) -> ClientMetadata {
    serde_json::from_value(value).expect("metadata")
}

fn public_client(oauth: &OAuth) -> String {
    let answer = oauth
        .register(
            metadata(json!({"redirect_uris": ["http://127.0.0.1:9999/cb"], "token_endpoint_auth_method": "none",
                            "grant_types": ["authorization_code", "refresh_token"]})),
            false,
        )
        .expect("registered");
    assert!(answer.get("client_secret").is_none(), "a public client has no secret");
    answer["client_id"].as_str().expect("an id").to_string()
}

fn code_of(redirect: &str) -> String {
    let url = url::Url::parse(redirect).expect("a URL");
    url.query_pairs().find(|(k, _)| k == "code").map(|(_, v)| v.into_owned()).expect("a code")
}

fn authorize(oauth: &OAuth, client_id: &str, scope: &str) -> String {
    let request = AuthorizeRequest {
        response_type: Some("code".into()),
        client_id: Some(client_id.into()),
        scope: Some(scope.into()),
        state: Some("xyz".into()),
        code_challenge: Some(CHALLENGE.into()),
        code_challenge_method: Some("S256".into()),
        ..Default::default()
    };
    let approval = oauth.check_authorization(&request).expect("a valid request");
    let redirect = oauth.approve(&approval);
    assert!(redirect.starts_with("http://127.0.0.1:9999/cb?code="), "{redirect}");
    assert!(redirect.ends_with("&state=xyz"), "{redirect}");
    code_of(&redirect)
}

fn exchange(oauth: &OAuth, client_id: &str, code: &str, verifier: &str) -> Result<Value, OAuthError> {
    let request = TokenRequest {
        grant_type: Some("authorization_code".into()),
        code: Some(code.into()),
        code_verifier: Some(verifier.into()),
        client_id: Some(client_id.into()),
        ..Default::default()
    };
    oauth.token(request, None)
}

fn refresh(oauth: &OAuth, client_id: &str, token: &str) -> Result<Value, OAuthError> {
    let request = TokenRequest {
        grant_type: Some("refresh_token".into()),
        refresh_token: Some(token.into()),
        client_id: Some(client_id.into()),
        ..Default::default()
    };
    oauth.token(request, None)
}

fn access(answer: &Value) -> &str {
    answer["access_token"].as_str().expect("an access token")
}

#[test]
fn redirect_uris_follow_the_originals_rules() {
    for good in [
        "https://app.example.com/callback",
        "http://localhost:3000/cb",
        "http://127.0.0.1:51234/cb",
        "http://[::1]/cb",
        "cursor://anysphere.cursor-retrieval/oauth/callback",
        "vscode://callback",
        "com.example.app:/oauth",
    ] {
        assert_eq!(check_redirect_uri(good), Ok(()), "{good}");
    }
    for bad in [
        "http://example.com/cb",
        "javascript:alert(1)",
        "data:text/html,hi",
        "file:///etc/passwd",
        "https://app.example.com/cb#frag",
        "myapp://cb",
        "not a uri",
    ] {
        assert_eq!(check_redirect_uri(bad).expect_err(bad).error, "invalid_redirect_uri", "{bad}");
    }
}

#[test]
fn registration_checks_the_metadata() {
    let (_dir, oauth) = server(true);
    let error = |value: Value| oauth.register(metadata(value), false).expect_err("refused").error;
    assert_eq!(error(json!({"redirect_uris": ["http://evil.example/cb"]})), "invalid_redirect_uri");
    assert_eq!(error(json!({})), "invalid_redirect_uri", "authorization_code needs a redirect URI");
    assert_eq!(
        error(json!({"redirect_uris": ["https://a.example/cb"], "grant_types": ["password"]})),
        "invalid_client_metadata"
    );
    assert_eq!(
        error(json!({"redirect_uris": ["https://a.example/cb"], "token_endpoint_auth_method": "private_key_jwt"})),
        "invalid_client_metadata"
    );
    assert_eq!(error(json!({"redirect_uris": ["https://a.example/cb"], "scope": "read root"})), "invalid_scope");
    let answer = oauth
        .register(metadata(json!({"redirect_uris": ["https://a.example/cb"], "client_name": "A"})), false)
        .expect("ok");
    let id = answer["client_id"].as_str().expect("id");
    assert!(id.starts_with("mcp_client_"));
    assert_eq!(answer["token_endpoint_auth_method"], "client_secret_basic");
    let shown = oauth.client(id).expect("found");
    assert_eq!(shown["client_secret"], "[REDACTED]");
    assert_eq!(shown["client_name"], "A");
    assert!(oauth.client("mcp_client_nope").is_none());
}

#[test]
fn a_public_client_gets_tokens_with_pkce_and_only_with_it() {
    let (_dir, oauth) = server(true);
    let client = public_client(&oauth);
    let without_pkce =
        AuthorizeRequest { response_type: Some("code".into()), client_id: Some(client.clone()), ..Default::default() };
    match oauth.check_authorization(&without_pkce) {
        Err(AuthorizeError::Redirect(uri)) => assert!(uri.contains("error=invalid_request"), "{uri}"),
        other => panic!("PKCE is required of a public client: {other:?}"),
    }
    let code = authorize(&oauth, &client, "read write offline_access");
    let wrong = exchange(&oauth, &client, &code, &"x".repeat(43)).expect_err("a wrong verifier");
    assert_eq!(wrong.error, "invalid_grant");
    let answer = exchange(&oauth, &client, &code, VERIFIER).expect("exchanged");
    assert_eq!(answer["token_type"], "Bearer");
    assert_eq!(answer["scope"], "read write offline_access");
    let owner = oauth.verify(access(&answer)).expect("valid");
    assert_eq!(owner, TokenOwner { client_id: client, scope: "read write offline_access".into() });
    assert_eq!(oauth.algorithm(), Algorithm::HS256);
}

#[test]
fn a_code_used_twice_revokes_what_it_gave() {
    let (_dir, oauth) = server(true);
    let client = public_client(&oauth);
    let code = authorize(&oauth, &client, "read offline_access");
    let first = exchange(&oauth, &client, &code, VERIFIER).expect("exchanged");
    assert!(oauth.verify(access(&first)).is_some());
    assert_eq!(exchange(&oauth, &client, &code, VERIFIER).expect_err("reused").error, "invalid_grant");
    assert!(oauth.verify(access(&first)).is_none(), "the access token of the first exchange is revoked");
    let refresh_token = first["refresh_token"].as_str().expect("a refresh token");
    assert_eq!(refresh(&oauth, &client, refresh_token).expect_err("revoked").error, "invalid_grant");
}

#[test]
fn refresh_tokens_rotate_and_reuse_revokes_the_chain() {
    let (dir, oauth) = server(true);
    let client = public_client(&oauth);
    let code = authorize(&oauth, &client, "read offline_access");
    let first = exchange(&oauth, &client, &code, VERIFIER).expect("exchanged");
    let r1 = first["refresh_token"].as_str().expect("r1").to_string();
    let second = refresh(&oauth, &client, &r1).expect("rotated");
    let r2 = second["refresh_token"].as_str().expect("r2").to_string();
    assert_ne!(r1, r2);
    assert!(oauth.verify(access(&second)).is_some());
    // The chain survives a restart.
    drop(oauth);
    let oauth = open_in(dir.path(), "s", true);
    assert!(oauth.verify(access(&second)).is_some(), "tokens outlive a restart");
    let third = refresh(&oauth, &client, &r2).expect("rotated after the restart");
    // r1 again: a thief or a confused client; the whole chain goes.
    assert_eq!(refresh(&oauth, &client, &r1).expect_err("reused").error, "invalid_grant");
    assert!(oauth.verify(access(&third)).is_none(), "access tokens of the chain are revoked");
    let r3 = third["refresh_token"].as_str().expect("r3");
    assert_eq!(refresh(&oauth, &client, r3).expect_err("revoked").error, "invalid_grant");
}

#[test]
fn client_credentials_need_a_trusted_client_when_an_api_key_is_set() {
    let (_dir, oauth) = server(false);
    let register = |trusted: bool| {
        let answer = oauth
            .register(
                metadata(
                    json!({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "client_secret_post"}),
                ),
                trusted,
            )
            .expect("registered");
        (
            answer["client_id"].as_str().expect("id").to_string(),
            answer["client_secret"].as_str().expect("secret").to_string(),
        )
    };
    let request = |id: &str, secret: &str, scope: Option<&str>| TokenRequest {
        grant_type: Some("client_credentials".into()),
        client_id: Some(id.into()),
        client_secret: Some(secret.into()),
        scope: scope.map(str::to_string),
        ..Default::default()
    };
    let (id, secret) = register(false);
    assert_eq!(oauth.token(request(&id, &secret, None), None).expect_err("untrusted").error, "unauthorized_client");
    let (id, secret) = register(true);
    let answer = oauth.token(request(&id, &secret, None), None).expect("trusted");
    assert_eq!(answer["scope"], "read write");
    assert!(answer.get("refresh_token").is_none());
    assert_eq!(oauth.token(request(&id, &secret, Some("admin")), None).expect_err("beyond").error, "invalid_scope");
    let wrong = oauth.token(request(&id, "wrong", None), None).expect_err("a wrong secret");
    assert_eq!((wrong.status, wrong.error), (401, "invalid_client"));
    // HTTP Basic works too; both at once does not.
    let basic = TokenRequest { grant_type: Some("client_credentials".into()), ..Default::default() };
    assert!(oauth.token(basic, Some((id.clone(), secret.clone()))).is_ok());
    let both = oauth.token(request(&id, &secret, None), Some((id.clone(), secret.clone()))).expect_err("two methods");
    assert_eq!(both.error, "invalid_request");
}

#[test]
fn tokens_from_elsewhere_are_refused() {
    let (_dir, oauth) = server(true);
    let other_dir = tempfile::tempdir().expect("a temp dir");
    let other = open_in(other_dir.path(), "t", true);
    let (id, token) = {
        let answer =
            oauth.register(metadata(json!({"grant_types": ["client_credentials"]})), true).expect("registered");
        let id = answer["client_id"].as_str().expect("id").to_string();
        let secret = answer["client_secret"].as_str().expect("secret").to_string();
        let request = TokenRequest { grant_type: Some("client_credentials".into()), ..Default::default() };
        (id.clone(), access(&oauth.token(request, Some((id, secret))).expect("a token")).to_string())
    };
    assert_eq!(oauth.verify(&token).expect("valid").client_id, id);
    assert!(other.verify(&token).is_none(), "signed with another key");
    // One character of the payload changed (in the middle, where every bit counts).
    let (start, end) = (token.find('.').expect("three parts"), token.rfind('.').expect("three parts"));
    let middle = (start + end) / 2;
    let replacement = if &token[middle..=middle] == "A" { "B" } else { "A" };
    let mut tampered = token.clone();
    tampered.replace_range(middle..=middle, replacement);
    assert!(oauth.verify(&tampered).is_none(), "a tampered payload");
    assert!(oauth.verify("not.a.token").is_none());
}

#[test]
fn registrations_are_bounded_in_size_and_number_and_unused_open_ones_expire() {
    let (_dir, mut oauth) = server(true);
    let error = |oauth: &OAuth, value: Value| oauth.register(metadata(value), false).expect_err("refused");
    let cb = "https://a.example/cb";
    // A 4 MB name was stored and written to the state file on every later change.
    let huge = "x".repeat(4 << 20);
    for value in [
        json!({"redirect_uris": [cb], "client_name": huge}),
        json!({"redirect_uris": [cb], "client_uri": format!("https://a.example/{huge}")}),
        json!({"redirect_uris": vec![cb; 17]}),
        json!({"redirect_uris": [format!("{cb}/{}", "y".repeat(3000))]}),
    ] {
        let refused = error(&oauth, value);
        assert_eq!((refused.status, refused.error), (400, "invalid_client_metadata"), "{}", refused.description);
    }
    assert_eq!(oauth.state.lock().expect("state").clients.values().count(), 0, "nothing refused is kept");

    // Open registrations stop at the cap (a trusted one is still taken) until unused ones expire.
    oauth.max_open_clients = 3;
    let open = json!({"redirect_uris": [cb], "grant_types": ["authorization_code"]});
    let first = oauth.register(metadata(open.clone()), false).expect("first");
    for _ in 1..3 {
        oauth.register(metadata(open.clone()), false).expect("under the cap");
    }
    let refused = error(&oauth, open.clone());
    assert_eq!((refused.status, refused.error), (429, "temporarily_unavailable"));
    oauth.register(metadata(json!({"grant_types": ["client_credentials"]})), true).expect("trusted");
    let first = first["client_id"].as_str().expect("id").to_string();
    {
        let mut state = oauth.state.lock().expect("state");
        state.clients.get_mut(&first).expect("first").used = true;
        let day_later = now() + store::UNUSED_OPEN_CLIENT_SECONDS + 1;
        state.purge(day_later);
        let kept: Vec<_> = state.clients.values().map(|c| (c.trusted, c.used)).collect();
        assert_eq!(kept.len(), 2, "the used and the trusted client stay, the unused open ones go: {kept:?}");
        assert!(state.clients.contains_key(&first));
    }
    oauth.register(metadata(open), false).expect("room again");
}

#[test]
fn a_client_saved_before_usage_was_kept_counts_as_used() {
    let saved = json!({
        "client_id": "mcp_client_old", "secret_sha256": null, "redirect_uris": ["https://a.example/cb"],
        "grant_types": ["authorization_code"], "response_types": ["code"], "token_endpoint_auth_method": "none",
        "client_name": null, "client_uri": null, "scope": "", "trusted": false, "issued_at": 0
    });
    let client: store::Client = serde_json::from_value(saved).expect("an old client reads");
    assert!(client.used, "an upgrade must not expire clients in use");
}

#[test]
fn a_token_check_does_not_wait_for_the_state_file_to_be_written() {
    let (_dir, oauth) = server(true);
    let answer = oauth.register(metadata(json!({"grant_types": ["client_credentials"]})), true).expect("registered");
    let id = answer["client_id"].as_str().expect("id").to_string();
    let secret = answer["client_secret"].as_str().expect("secret").to_string();
    let request = TokenRequest { grant_type: Some("client_credentials".into()), ..Default::default() };
    let token = access(&oauth.token(request, Some((id.clone(), secret))).expect("a token")).to_string();
    let oauth = std::sync::Arc::new(oauth);
    // A save in progress (its lock held here, as a slow disk would) must not hold up `verify`, which every
    // authenticated request runs on the async runtime; a registration meanwhile waits only for the save.
    let saving = oauth.file.writing.lock().expect("the save lock");
    let (tx, rx) = std::sync::mpsc::channel();
    let checker = oauth.clone();
    std::thread::spawn(move || {
        let _ = tx.send(checker.verify(&token).map(|owner| owner.client_id));
    });
    let verified = rx.recv_timeout(std::time::Duration::from_secs(10)).expect("verify waited for the save");
    assert_eq!(verified, Some(id));
    drop(saving);
}

#[test]
fn a_save_writes_what_changed_not_every_client() {
    let (_dir, oauth) = server(true);
    let open = json!({"redirect_uris": ["https://a.example/cb"], "client_name": "a client with a name of some length"});
    for _ in 0..500 {
        oauth.register(metadata(open.clone()), false).expect("registered");
    }
    let before = oauth.file.written();
    oauth.register(metadata(open), false).expect("one more");
    let wrote = oauth.file.written() - before;
    assert!(wrote < 2_048, "one registration wrote {wrote} bytes with 500 clients saved");
}
