#!/bin/sh
# The container's entrypoint: runs mcp-memory-service in the mode MCP_MODE names.
#   MCP_MODE=http (the default): `serve`, the HTTP API, the dashboard and MCP over HTTP on MCP_HTTP_PORT.
#   MCP_MODE=mcp: `mcp`, MCP over stdin/stdout (run the container with -i).
#   Anything else: an error, exit code 2.
# Arguments, when given, are run as a subcommand instead (`docker run ... IMAGE backup list`).
#
# Container defaults, each applied only when the variable is unset: listen on 0.0.0.0 (127.0.0.1 would be
# unreachable from outside the container) and keep the data in /app/data (where the ./data volume goes).
# Started as root with MMS_USER set (the image sets it), it gives the data directory to that user and runs
# as that user, never as root; started as any other user, it runs as that user.
#
# POSIX sh, for the images have no bash. Every path ends in exec, so the service is the process that
# receives the container's signals. MMS_BIN names the binary (tests point it at a fresh build).
set -eu

: "${MMS_BIN:=mcp-memory-service}"
: "${MCP_HTTP_HOST:=0.0.0.0}"
: "${MCP_MEMORY_BASE_DIR:=/app/data}"
export MCP_HTTP_HOST MCP_MEMORY_BASE_DIR

mode="${MCP_MODE:-http}"
if [ "$#" -eq 0 ]; then
    case "$mode" in
        http | mcp) ;;
        *)
            echo "entrypoint: MCP_MODE is '$mode'; it must be http (the HTTP API, the default) or mcp (MCP over stdio)" >&2
            exit 2
            ;;
    esac
fi

if [ "$(id -u)" = 0 ] && [ -n "${MMS_USER:-}" ]; then
    # A bind mount that Docker created is root's. Only what is not the user's yet is changed, so a large
    # data directory is not walked through chown at every start.
    mkdir -p "$MCP_MEMORY_BASE_DIR"
    find "$MCP_MEMORY_BASE_DIR" ! -user "$MMS_USER" -exec chown "$MMS_USER:$MMS_USER" {} +
    exec setpriv --reuid="$MMS_USER" --regid="$MMS_USER" --init-groups sh "$0" "$@"
fi

if ! mkdir -p "$MCP_MEMORY_BASE_DIR" 2>/dev/null || [ ! -w "$MCP_MEMORY_BASE_DIR" ]; then
    echo "entrypoint: cannot write to the data directory $MCP_MEMORY_BASE_DIR as uid $(id -u). Give it to that uid" >&2
    echo "entrypoint: on the host (sudo chown -R $(id -u) ./data), or start the container as root (the default)." >&2
    exit 1
fi

if [ "$#" -gt 0 ]; then
    exec "$MMS_BIN" "$@"
fi
case "$mode" in
    http) exec "$MMS_BIN" serve ;;
    mcp) exec "$MMS_BIN" mcp ;;
esac
