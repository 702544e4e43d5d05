"""Another local user near the MCP socket, for the socket's safety tests in tests/it/mcp.rs.

Usage: squatter.py listen SOCKET [LOCK_FILE]
       squatter.py connect SOCKET

Run as root, it becomes uid and gid 65534 (nobody) before it creates or connects a socket, so the service
sees another user's process (SO_PEERCRED); otherwise it stays the test's own user.

listen: holds a POSIX lock on all of LOCK_FILE when given (as a CLI command holding the store does), binds
and listens on SOCKET, prints "ready", and accepts connections until its stdin closes, reading from each
until its first newline or its end. Then it prints {"uid": U, "connections": N, "received": "..."}.

connect: connects to SOCKET, sends what a relay sends first (its hello, `initialize`, a tool call), reads
until the other side closes or answers the call (at most 30 s), and prints {"uid": U, "connected": true, "received": "..."}.
"""

import fcntl
import json
import os
import socket
import sys
import threading

NOBODY = 65534


def become_another_user():
    if os.geteuid() == 0:
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)


def listen(path, lock_file):
    if lock_file:
        held = open(lock_file, "r+b")
        fcntl.lockf(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
    become_another_user()
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    os.chmod(path, 0o777)
    server.listen(16)
    connections, received, lock = [0], [], threading.Lock()

    def serve():
        while True:
            connection, _ = server.accept()
            with lock:
                connections[0] += 1
            connection.settimeout(30)
            data = b""
            try:
                while b"\n" not in data:
                    chunk = connection.recv(4096)
                    if not chunk:
                        break
                    data += chunk
            except OSError:
                pass
            with lock:
                received.append(data.decode(errors="replace"))
            connection.close()

    threading.Thread(target=serve, daemon=True).start()
    print("ready", flush=True)
    sys.stdin.read()
    with lock:
        report = {"uid": os.geteuid(), "connections": connections[0], "received": "".join(received)}
    print(json.dumps(report), flush=True)


def connect(path):
    become_another_user()
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.settimeout(30)
    client.connect(path)
    lines = [
        {"mms": "mcp", "pid": os.getpid()},
        {"jsonrpc": "2.0", "id": "mms-relay-1", "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "squatter", "version": "1"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "memory_list", "arguments": {}}},
    ]
    received = b""
    try:
        client.sendall("".join(json.dumps(line) + "\n" for line in lines).encode())
        while b'"id":2' not in received.replace(b" ", b""):
            chunk = client.recv(4096)
            if not chunk:
                break
            received += chunk
    except OSError:
        pass
    print(json.dumps({"uid": os.geteuid(), "connected": True, "received": received.decode(errors="replace")}),
          flush=True)


if sys.argv[1] == "listen":
    listen(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None)
else:
    connect(sys.argv[2])
