"""OAuth 2.1 against a running server, with a real OAuth client library (authlib) and JOSE library (joserfc).

Usage: oauth_client.py BASE_URL API_KEY DATA_DIR

The server runs with MCP_OAUTH_ENABLED=true and MCP_API_KEY=API_KEY, its key kept in DATA_DIR/oauth. Walks the
original's black-box scenario (discovery -> register -> authorize -> token -> call the API) with PKCE and the
consent page, then refresh rotation and reuse, client_credentials with client_secret_basic and
client_secret_post, scopes on routes and MCP tools, and tokens that must be refused: expired, tampered, for
another audience or issuer, signed by another key, unsigned.
"""

import asyncio
import base64
import contextlib
import json
import sys
import time
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlparse

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from checks import check, summary

BASE, API_KEY, DATA_DIR = sys.argv[1], sys.argv[2], sys.argv[3]
REDIRECT = "http://127.0.0.1:9/callback"  # never fetched: the test reads the redirect's Location


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def error_of(response):
    body = response.json()
    return body.get("error") or body["detail"]["error"]


class FormFields(HTMLParser):
    """The hidden inputs of the consent page."""

    def __init__(self):
        super().__init__()
        self.fields = {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "input" and attrs.get("type") == "hidden":
            self.fields[attrs["name"]] = attrs.get("value", "")


def discovery():
    meta = requests.get(f"{BASE}/.well-known/oauth-authorization-server").json()
    check(meta["issuer"] == BASE, f"the issuer is the server's address: {meta['issuer']}")
    for key in ["authorization_endpoint", "token_endpoint", "registration_endpoint"]:
        check(meta[key].startswith(BASE + "/oauth/"), f"{key}: {meta[key]}")
    check("S256" in meta["code_challenge_methods_supported"], "PKCE S256 is advertised")
    check({"authorization_code", "client_credentials", "refresh_token"} <= set(meta["grant_types_supported"]), "grants")
    check({"read", "write", "admin", "offline_access"} <= set(meta["scopes_supported"]), "scopes")
    for variant in ["oauth-authorization-server/mcp", "openid-configuration", "openid-configuration/mcp"]:
        check(requests.get(f"{BASE}/.well-known/{variant}").json() == meta, f"{variant} is the same document")
    resource = requests.get(f"{BASE}/.well-known/oauth-protected-resource").json()
    check(resource["authorization_servers"] == [BASE], f"protected resource metadata: {resource}")
    mcp_resource = requests.get(f"{BASE}/.well-known/oauth-protected-resource/mcp").json()
    check(mcp_resource["resource"] == BASE + "/mcp", f"the /mcp resource: {mcp_resource}")
    missing = requests.get(f"{BASE}/api/memories")
    check(missing.status_code == 401, "no credentials: 401")
    check("OAuth Bearer token or API key" in missing.json()["detail"]["error_description"], missing.text)
    challenge = missing.headers["WWW-Authenticate"]
    check(f'resource_metadata="{BASE}/.well-known/oauth-protected-resource"' in challenge, challenge)
    mcp_challenge = requests.post(f"{BASE}/mcp", json={}).headers["WWW-Authenticate"]
    check(mcp_challenge.endswith('/.well-known/oauth-protected-resource/mcp"'), mcp_challenge)
    return meta


def register(body, key=None):
    headers = bearer(key) if key else {}
    return requests.post(f"{BASE}/oauth/register", json=body, headers=headers)


def registration_rules():
    bad = register({"redirect_uris": ["http://evil.example.com/cb"]})
    check(bad.status_code == 400 and error_of(bad) == "invalid_redirect_uri", f"http off loopback: {bad.text}")
    bad = register({"redirect_uris": ["javascript:alert(1)"]})
    check(bad.status_code == 400 and error_of(bad) == "invalid_redirect_uri", "javascript: refused")
    bad = register({"redirect_uris": [REDIRECT], "grant_types": ["password"]})
    check(bad.status_code == 400 and error_of(bad) == "invalid_client_metadata", "unknown grant refused")
    wrong_key = register({"redirect_uris": [REDIRECT]}, key="not-the-key")
    check(wrong_key.status_code == 401, f"a wrong registration credential: {wrong_key.status_code}")
    ok = register({"redirect_uris": [REDIRECT, "cursor://anysphere.cursor-retrieval/oauth/callback"],
                   "client_name": "Example"})
    check(ok.status_code == 201, f"registered: {ok.status_code} {ok.text}")
    client = ok.json()
    check(client["client_id"].startswith("mcp_client_") and len(client["client_secret"]) >= 40, "id and secret")
    shown = requests.get(f"{BASE}/oauth/clients/{client['client_id']}").json()
    check(shown["client_secret"] == "[REDACTED]" and shown["client_name"] == "Example", f"redacted: {shown}")
    check(requests.get(f"{BASE}/oauth/clients/mcp_client_unknown").status_code == 404, "unknown client: 404")


def authorization_code_flow(meta):
    """A public client (no secret) with PKCE: the consent page asks for the API key."""
    client = register({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none",
                       "grant_types": ["authorization_code", "refresh_token"], "client_name": "PKCE client"}).json()
    check("client_secret" not in client, "a public client has no secret")
    session = OAuth2Session(client["client_id"], redirect_uri=REDIRECT, scope="read write offline_access",
                            code_challenge_method="S256", token_endpoint_auth_method="none")
    verifier = generate_token(64)
    url, state = session.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier)
    page = requests.get(url, allow_redirects=False)
    check(page.status_code == 200 and "PKCE client" in page.text, f"the consent page: {page.status_code}")
    check(page.headers.get("X-Frame-Options") == "DENY", "the consent page cannot be framed")
    parser = FormFields()
    parser.feed(page.text)
    form = parser.fields
    check(form["state"] == state and form["code_challenge_method"] == "S256", f"the form carries the request: {form}")
    refused = requests.post(meta["authorization_endpoint"], data=dict(form, api_key="wrong", decision="approve"),
                            allow_redirects=False)
    check(refused.status_code == 403 and "not the API key" in refused.text, f"a wrong key: {refused.status_code}")
    denied = requests.post(meta["authorization_endpoint"], data=dict(form, decision="deny"), allow_redirects=False)
    check("error=access_denied" in denied.headers["Location"], f"deny: {denied.headers.get('Location')}")
    approved = requests.post(meta["authorization_endpoint"], data=dict(form, api_key=API_KEY, decision="approve"),
                             allow_redirects=False)
    check(approved.status_code == 303, f"approve redirects: {approved.status_code}")
    location = approved.headers["Location"]
    check(location.startswith(REDIRECT + "?code=") and f"state={state}" in location, location)
    code = parse_qs(urlparse(location).query)["code"][0]
    # Without the verifier the code is refused, and a refused exchange does not spend it.
    no_verifier = requests.post(meta["token_endpoint"], data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "client_id": client["client_id"]})
    check(no_verifier.status_code == 400 and error_of(no_verifier) == "invalid_request", no_verifier.text)
    token = session.fetch_token(meta["token_endpoint"], authorization_response=location, code_verifier=verifier)
    check(token["token_type"] == "Bearer" and token["expires_in"] == 3600, f"a token: {token.keys()}")
    check(set(token["scope"].split()) == {"read", "write", "offline_access"}, token["scope"])
    check("refresh_token" in token, "offline_access gives a refresh token")
    again = requests.post(meta["token_endpoint"], data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
        "client_id": client["client_id"], "code_verifier": verifier})
    check(again.status_code == 400 and error_of(again) == "invalid_grant", "a code works once")
    check(requests.get(f"{BASE}/api/memories", headers=bearer(token["access_token"])).status_code == 401,
          "reusing the code revoked the token it gave")

    # A second authorization, for the API calls and the refresh chain.
    verifier = generate_token(64)
    url, _ = session.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier)
    parser = FormFields()
    parser.feed(requests.get(url).text)
    location = requests.post(meta["authorization_endpoint"],
                             data=dict(parser.fields, api_key=API_KEY, decision="approve"),
                             allow_redirects=False).headers["Location"]
    token = session.fetch_token(meta["token_endpoint"], authorization_response=location, code_verifier=verifier)
    return client, session, token


def use_the_api(token, meta, client):
    headers = bearer(token["access_token"])
    stored = requests.post(f"{BASE}/api/memories", headers=headers,
                           json={"content": "OAuth clients store memories too", "tags": ["oauth"]})
    check(stored.status_code == 200 and stored.json()["success"], f"store with a token: {stored.text}")
    found = requests.post(f"{BASE}/api/search", headers=headers, json={"query": "who stores memories", "n_results": 3})
    check(found.status_code == 200 and found.json()["total_found"] >= 1, f"search with a token: {found.text}")
    listed = requests.get(f"{BASE}/api/memories", headers=headers).json()
    check(listed["total"] >= 1, "list with a token")
    history = requests.get(f"{BASE}/api/memories/{stored.json()['content_hash']}/history", headers=headers).json()
    check(json.dumps(history).count(client["client_id"]) >= 1, f"the actor is the OAuth client: {history}")
    keys = KeySet.import_key_set(requests.get(f"{BASE}/.well-known/jwks.json").json())
    claims = jwt.decode(token["access_token"], keys).claims
    check(claims["iss"] == BASE and claims["aud"] == "mcp-memory-service", f"claims: {claims}")
    check(claims["sub"] == client["client_id"] and claims["exp"] - claims["iat"] == 3600, f"claims: {claims}")
    return stored.json()["content_hash"]


def refresh_rotation(session, token, meta, client):
    first_refresh = token["refresh_token"]
    rotated = session.refresh_token(meta["token_endpoint"], refresh_token=first_refresh)
    check(rotated["refresh_token"] != first_refresh, "the refresh token rotates")
    check(requests.get(f"{BASE}/api/memories", headers=bearer(rotated["access_token"])).status_code == 200,
          "the refreshed access token works")
    narrowed = requests.post(meta["token_endpoint"], data={
        "grant_type": "refresh_token", "refresh_token": rotated["refresh_token"], "client_id": client["client_id"],
        "scope": "read"}).json()
    check(narrowed["scope"] == "read", f"a refresh may narrow the scope: {narrowed}")
    reuse = requests.post(meta["token_endpoint"], data={
        "grant_type": "refresh_token", "refresh_token": first_refresh, "client_id": client["client_id"]})
    check(reuse.status_code == 400 and error_of(reuse) == "invalid_grant", f"reuse is refused: {reuse.text}")
    for access in [rotated["access_token"], narrowed["access_token"]]:
        check(requests.get(f"{BASE}/api/memories", headers=bearer(access)).status_code == 401,
              "reuse revoked every access token of the chain")
    latest = requests.post(meta["token_endpoint"], data={
        "grant_type": "refresh_token", "refresh_token": narrowed["refresh_token"], "client_id": client["client_id"]})
    check(latest.status_code == 400, "and every refresh token of the chain")


def client_credentials(meta, memory_hash):
    trusted = register({"grant_types": ["client_credentials"], "client_name": "service"}, key=API_KEY).json()
    basic = OAuth2Session(trusted["client_id"], trusted["client_secret"], token_endpoint_auth_method="client_secret_basic")
    token = basic.fetch_token(meta["token_endpoint"], grant_type="client_credentials")
    check(token["scope"] == "read write" and "refresh_token" not in token, f"client_credentials: {token}")
    post = OAuth2Session(trusted["client_id"], trusted["client_secret"], token_endpoint_auth_method="client_secret_post")
    reader = post.fetch_token(meta["token_endpoint"], grant_type="client_credentials", scope="read")
    check(reader["scope"] == "read", f"client_secret_post with scope read: {reader}")
    headers = bearer(reader["access_token"])
    check(requests.get(f"{BASE}/api/memories", headers=headers).status_code == 200, "read may list")
    check(requests.post(f"{BASE}/api/search", headers=headers, json={"query": "x"}).status_code == 200,
          "read may search (a POST)")
    denied = requests.post(f"{BASE}/api/memories", headers=headers, json={"content": "read-only tokens cannot store"})
    check(denied.status_code == 403 and denied.json()["detail"]["error"] == "insufficient_scope", denied.text)
    check("error=\"insufficient_scope\"" in denied.headers["WWW-Authenticate"], denied.headers["WWW-Authenticate"])
    redact = requests.post(f"{BASE}/api/memories/{memory_hash}/redact", headers=bearer(token["access_token"]),
                           json={"reason": "test"})
    check(redact.status_code == 403 and "admin" in redact.text, f"redaction needs admin: {redact.text}")
    wrong = requests.post(meta["token_endpoint"], data={"grant_type": "client_credentials"},
                          auth=(trusted["client_id"], "wrong"))
    check(wrong.status_code == 401 and error_of(wrong) == "invalid_client", f"a wrong secret: {wrong.text}")
    check(wrong.headers["WWW-Authenticate"].startswith("Basic"), "a failed Basic authentication says Basic")
    untrusted = register({"grant_types": ["client_credentials"]}).json()
    refused = requests.post(meta["token_endpoint"], data={"grant_type": "client_credentials"},
                            auth=(untrusted["client_id"], untrusted["client_secret"]))
    check(refused.status_code == 400 and error_of(refused) == "unauthorized_client",
          f"an openly registered client cannot use client_credentials: {refused.text}")
    return reader["access_token"], token["access_token"]


def forged_tokens():
    with open(f"{DATA_DIR}/oauth/jwt-private.pem") as f:
        key = RSAKey.import_key(f.read())
    kid = requests.get(f"{BASE}/.well-known/jwks.json").json()["keys"][0]["kid"]
    now = int(time.time())
    good = {"iss": BASE, "sub": "forger", "aud": "mcp-memory-service", "iat": now, "exp": now + 600,
            "scope": "read", "jti": "x"}

    def sign(claims, signing_key=key, header=None):
        return jwt.encode(header or {"alg": "RS256", "kid": kid}, claims, signing_key)

    def status(token):
        return requests.get(f"{BASE}/api/memories", headers=bearer(token)).status_code

    # The control: the harness signs tokens the server accepts, so the refusals below are the claims' doing.
    check(status(sign(good)) == 200, "a token signed with the server's key is accepted")
    expired = requests.get(f"{BASE}/api/memories", headers=bearer(sign(dict(good, iat=now - 700, exp=now - 60))))
    check(expired.status_code == 401 and expired.json()["detail"]["error"] == "invalid_token", expired.text)
    check(status(sign(dict(good, aud="another-service"))) == 401, "another audience is refused")
    check(status(sign(dict(good, iss="https://evil.example"))) == 401, "another issuer is refused")
    check(status(sign({k: v for k, v in good.items() if k != "exp"})) == 401, "a token without exp is refused")
    other = RSAKey.generate_key(2048)
    check(status(sign(good, other)) == 401, "a token signed by another key is refused")
    header, payload, signature = sign(good).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["scope"] = "read write admin"
    raised = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    check(status(f"{header}.{raised}.{signature}") == 401, "a token whose scope was raised is refused")
    none_header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    check(status(f"{none_header}.{payload}.") == 401, "an unsigned token is refused")


@contextlib.asynccontextmanager
async def mcp_session(token):
    """An MCP session over streamable HTTP with `token` as the Bearer credential."""
    async with create_mcp_http_client(headers=bearer(token)) as http:
        async with streamable_http_client(f"{BASE}/mcp", http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                yield session


async def mcp_scopes(read_token, write_token):
    async with mcp_session(read_token) as session:
        found = await session.call_tool("memory_search", {"query": "OAuth clients"})
        check(not found.is_error, f"a read token may search over MCP: {found.content}")
        stored = await session.call_tool("memory_store", {"content": "read tokens cannot store over MCP"})
        check(stored.is_error and "insufficient_scope" in stored.content[0].text,
              f"a read token may not store over MCP: {stored.content}")
        alias = await session.call_tool("retrieve_memory", {"query": "OAuth"})
        check(not alias.is_error, f"a read-only alias is allowed: {alias.content}")
    async with mcp_session(write_token) as session:
        stored = await session.call_tool("memory_store", {"content": "write tokens store over MCP"})
        check(not stored.is_error, f"a write token may store over MCP: {stored.content}")
        redact = await session.call_tool("memory_redact", {"content_hash": "0" * 64, "confirm": True})
        check(redact.is_error and "'admin'" in redact.content[0].text,
              f"redaction over MCP needs admin: {redact.content}")


def main():
    meta = discovery()
    registration_rules()
    client, session, token = authorization_code_flow(meta)
    memory_hash = use_the_api(token, meta, client)
    read_token, write_token = client_credentials(meta, memory_hash)
    asyncio.run(mcp_scopes(read_token, write_token))
    refresh_rotation(session, token, meta, client)
    forged_tokens()
    print(summary())


if __name__ == "__main__":
    main()
