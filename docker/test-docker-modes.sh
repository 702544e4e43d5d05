#!/usr/bin/env bash
# Checks both modes of a built image with a real Docker engine (the Docker guide's "Run the test script"):
#
#   docker/test-docker-modes.sh [IMAGE]        (IMAGE: default $MEMORY_IMAGE, else mcp-memory-service:latest)
#
# HTTP mode: a container with a fresh API key and an anonymous volume becomes healthy (the image's own health
# check), /api/health answers without the key, /api/memories answers 401 without the key and 200 with it.
# MCP mode: `initialize` sent on stdin to `docker run -i` is answered on stdout, and the container exits 0
# when stdin closes. Everything it starts is removed at the end, whatever happens.
# Needs docker and curl on the host; no Docker engine runs in CI, where scripts/lint-docker shellchecks this.
set -euo pipefail

image="${1:-${MEMORY_IMAGE:-mcp-memory-service:latest}}"
name="mms-test-$$"
passed=0
failed=0

pass() { passed=$((passed + 1)); echo "ok: $*"; }
fail() { failed=$((failed + 1)); echo "FAILED: $*" >&2; }
cleanup() { docker rm -f -v "$name-http" >/dev/null 2>&1 || true; }
trap cleanup EXIT

command -v docker >/dev/null || { echo "docker is not installed" >&2; exit 2; }
command -v curl >/dev/null || { echo "curl is not installed" >&2; exit 2; }
docker image inspect "$image" >/dev/null 2>&1 \
  || { echo "no image $image: build it first (docker build -f docker/Dockerfile.slim -t $image .)" >&2; exit 2; }

key="$(openssl rand -hex 32 2>/dev/null || od -An -N32 -tx1 /dev/urandom | tr -d ' \n')"

echo "==> HTTP mode ($image)"
# The health check runs every 2 s here instead of every 30 s, so the test waits seconds, not minutes.
docker run -d --name "$name-http" --init -e MCP_MODE=http -e MCP_API_KEY="$key" -p 127.0.0.1::8000 \
  --health-interval 2s "$image" >/dev/null
status=starting
for _ in $(seq 1 90); do
  status="$(docker inspect --format '{{.State.Health.Status}}' "$name-http" 2>/dev/null || echo gone)"
  case "$status" in healthy | unhealthy | gone) break ;; esac
  sleep 1
done
if [ "$status" = healthy ]; then pass "the container is healthy"; else
  fail "the container is $status"
  docker logs --tail 50 "$name-http" >&2 || true
fi
address="$(docker port "$name-http" 8000/tcp | head -n 1)"
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }

health="$(curl -s "http://$address/api/health" || true)"
if [[ "$health" == *'"healthy"'* ]]; then pass "/api/health answers without a key: $health"; else
  fail "/api/health answered '$health'"
fi
got="$(code "http://$address/api/memories" || true)"
if [ "$got" = 401 ]; then pass "/api/memories without the key: 401"; else fail "/api/memories without the key: $got"; fi
got="$(code -H "Authorization: Bearer $key" "http://$address/api/memories" || true)"
if [ "$got" = 200 ]; then pass "/api/memories with the key: 200"; else fail "/api/memories with the key: $got"; fi
cleanup

echo "==> MCP mode ($image)"
initialize='{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"test-docker-modes","version":"1"}}}'
set +e
answer="$(printf '%s\n' "$initialize" | timeout 120 docker run -i --rm --init -e MCP_MODE=mcp "$image" 2>/dev/null)"
exit_code=$?
set -e
if [[ "$answer" == *'"serverInfo"'*'"mcp-memory-service"'* ]]; then pass "initialize is answered on stdout"; else
  fail "initialize answered '$answer'"
fi
if [ "$exit_code" = 0 ]; then pass "the container exits 0 when stdin closes"; else fail "exit code $exit_code"; fi

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
