"""Many clients, kill -9: three `mcp` stdio processes (each driven by the official Python SDK) and two HTTP
clients write their own memories into one store while whichever process owns the store (`serve`, or an
`mcp` process when no server runs) is killed with SIGKILL at random moments, again and again.

Usage: kill_owner.py BINARY DATA_DIR PORT API_KEY KILLS MEMORIES_PER_CLIENT SEED. Every check raises on
failure; the last line is "N passed, 0 failed".

Each client stores its memories in order and retries a memory until it is acknowledged (a store of the same
content is idempotent: the content hash is the identity, a second store answers "duplicate"). A killed
`mcp` process's client starts a new one, as an editor restarts its MCP server; a killed `serve` is started
again. At the end, with every process stopped, the log (`mcp-memory-service log`) must hold exactly one
stored event for every acknowledged memory and at most one for any other (nothing executed twice), no call
may have failed with a lock error, and the read model must equal a replay of the log (`export` before and
after `rebuild`).
"""

import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time

import anyio
import httpx2
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from checks import check, sha, summary

BINARY, DATA_DIR, PORT, KEY = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
KILLS, PER_CLIENT, SEED = int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7])
LOG = os.path.realpath(os.path.join(DATA_DIR, "events.redb"))
ENV = dict({k: v for k, v in os.environ.items() if k != "MMS_TEST_PYTHON"}, MCP_MEMORY_BASE_DIR=DATA_DIR, MCP_EMBEDDING_THREADS="1", MCP_API_KEY=KEY)
URL = f"http://127.0.0.1:{PORT}"
LOCK_WORDS = ("database is locked", "open in another process", "already open", "DatabaseAlreadyOpen")

lock_errors = []
failed_calls = 0
# Every update sent carries an attempt id of its own: an attempt found in two events was executed twice.
attempts = {}
updated = set()


def new_attempt(content):
    attempts.setdefault(sha(content), []).append(f"{sha(content)[:8]}-{len(attempts.get(sha(content), []))}")
    return attempts[sha(content)][-1]


def note_failure(text):
    global failed_calls
    failed_calls += 1
    if any(word in text for word in LOCK_WORDS):
        lock_errors.append(text)


def owners():
    """Pids of the binary's processes that have the event log open."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if f.read().split(b"\0")[0] != BINARY.encode():
                    continue
            for fd in os.listdir(f"/proc/{entry}/fd"):
                with contextlib.suppress(OSError):
                    if os.readlink(f"/proc/{entry}/fd/{fd}") == LOG:
                        found.append(int(entry))
                        break
        except OSError:
            continue
    return found


class Server:
    """`serve`, restarted by the killer when it is the owner it killed."""

    def __init__(self):
        self.process = None

    def start(self):
        log = open(os.path.join(DATA_DIR, "serve.stderr"), "ab")
        self.process = subprocess.Popen([BINARY, "serve", "--port", PORT], env=ENV, cwd=DATA_DIR,
                                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)

    async def wait_healthy(self, http):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            check(self.process.poll() is None, f"serve exited with {self.process.returncode}")
            with contextlib.suppress(httpx2.HTTPError):
                if (await http.get(f"{URL}/api/health")).status_code == 200:
                    return
            await asyncio.sleep(0.05)
        raise AssertionError("serve did not become healthy")


def contents(name):
    return [f"{name} memory {i} written while owners are killed" for i in range(PER_CLIENT)]


async def mcp_incarnation(name, todo, acknowledged):
    """One `mcp` process and its session: stores from `todo` until done, or until the process or a call fails."""
    params = StdioServerParameters(command=BINARY, args=["mcp"], env=ENV, cwd=DATA_DIR)
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        while todo:
            content = todo[0]
            if sha(content) not in acknowledged:
                result = await session.call_tool("memory_store", {"content": content, "tags": ["killtest", name]})
                if result.is_error:
                    note_failure(" ".join(getattr(block, "text", "") for block in result.content))
                    await asyncio.sleep(0.05)
                    continue
                stored = result.structured_content
                check(stored["content_hash"] == sha(content), f"{name}: the hash of what was stored: {stored}")
                acknowledged.add(stored["content_hash"])
            attempt = new_attempt(content)
            result = await session.call_tool(
                "memory_update", {"content_hash": sha(content), "metadata": {"attempt": attempt}})
            if result.is_error:
                note_failure(" ".join(getattr(block, "text", "") for block in result.content))
                await asyncio.sleep(0.05)
                continue
            updated.add(sha(content))
            todo.pop(0)


async def mcp_writer(name, acknowledged):
    """Stores this client's memories through its own `mcp` process, starting a new process when it dies. Each
    process lives in a task of its own, so that the SDK's cancel scopes, torn down by a killed process, stay in it."""
    todo = contents(name)
    while todo:
        incarnation = asyncio.create_task(mcp_incarnation(name, todo, acknowledged))
        try:
            await incarnation
        except asyncio.CancelledError:
            if asyncio.current_task().cancelling():
                raise
            note_failure("the MCP session was torn down")
        except AssertionError:
            raise
        except BaseExceptionGroup as group:
            if group.subgroup(AssertionError) is not None:
                raise
            note_failure(f"{type(group).__name__}: {group}")
        except BaseException as error:  # the process was killed, or a call in flight failed: start again
            note_failure(f"{type(error).__name__}: {error}")
        await asyncio.sleep(0.05)


async def http_writer(name, acknowledged):
    """Stores this client's memories over HTTP, retrying while `serve` is down or restarting."""
    async with httpx2.AsyncClient(headers={"X-API-Key": KEY}, timeout=60) as http:
        for content in contents(name):
            while True:
                try:
                    response = await http.post(f"{URL}/api/memories", json={"content": content, "tags": ["killtest", name]})
                except httpx2.HTTPError as error:
                    note_failure(f"{type(error).__name__}: {error}")
                    await asyncio.sleep(0.1)
                    continue
                if response.status_code == 200:
                    check(response.json()["content_hash"] == sha(content), f"{name}: {response.text}")
                    acknowledged.add(sha(content))
                    break
                note_failure(f"HTTP {response.status_code}: {response.text}")
                await asyncio.sleep(0.1)
            while True:
                attempt = new_attempt(content)
                try:
                    response = await http.put(f"{URL}/api/memories/{sha(content)}", json={"metadata": {"attempt": attempt}})
                except httpx2.HTTPError as error:
                    note_failure(f"{type(error).__name__}: {error}")
                    await asyncio.sleep(0.1)
                    continue
                if response.status_code == 200:
                    updated.add(sha(content))
                    break
                note_failure(f"HTTP {response.status_code}: {response.text}")
                await asyncio.sleep(0.1)


async def killer(server, http, done, rng):
    """Kills the owner at random moments; restarts `serve` when it was the one killed."""
    kills = 0
    while kills < KILLS and not done.is_set():
        await asyncio.sleep(rng.uniform(0.2, 1.5))
        found = owners()
        if len(found) != 1:
            continue
        victim = found[0]
        os.kill(victim, signal.SIGKILL)
        kills += 1
        if server.process is not None and victim == server.process.pid:
            server.process.wait()
            await asyncio.sleep(rng.uniform(0, 0.5))
            server.start()
            await server.wait_healthy(http)
    return kills


def cli(*args):
    result = subprocess.run([BINARY, *args], env=ENV, cwd=DATA_DIR, capture_output=True, text=True, timeout=600)
    check(result.returncode == 0, f"{' '.join(args)} failed: {result.stderr}")
    return result.stdout


async def main():
    rng = random.Random(SEED)
    server = Server()
    async with httpx2.AsyncClient(headers={"X-API-Key": KEY}, timeout=60) as http:
        server.start()
        await server.wait_healthy(http)
        acknowledged = {name: set() for name in ("desktop", "code", "cursor", "http-a", "http-b")}
        writers = [asyncio.create_task(mcp_writer(name, acknowledged[name])) for name in ("desktop", "code", "cursor")]
        writers += [asyncio.create_task(http_writer(name, acknowledged[name])) for name in ("http-a", "http-b")]
        done = asyncio.Event()
        kill_task = asyncio.create_task(killer(server, http, done, rng))
        await asyncio.gather(*writers)
        done.set()
        kills = await kill_task
        server.process.send_signal(signal.SIGTERM)
        server.process.wait(timeout=60)
    deadline = time.monotonic() + 30
    while owners() and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    check(not owners(), f"every process let go of the store: {owners()}")

    everyone = set().union(*acknowledged.values())
    check(len(everyone) == 5 * PER_CLIENT, f"every memory was acknowledged: {len(everyone)}")
    stored = {}
    for line in cli("log").splitlines():
        event = json.loads(line)
        if event.get("kind") == "stored":
            stored[event["content_hash"]] = stored.get(event["content_hash"], 0) + 1
    update_attempts = {}
    for line in cli("log").splitlines():
        event = json.loads(line)
        if event.get("kind") == "updated":
            attempt = ((event.get("after") or {}).get("metadata") or {}).get("attempt")
            update_attempts[attempt] = update_attempts.get(attempt, 0) + 1
    repeated = {a: n for a, n in update_attempts.items() if n > 1}
    check(not repeated, f"no update was executed twice: {repeated}")
    sent = {a for tries in attempts.values() for a in tries}
    check(set(update_attempts) <= sent, "every update in the log was sent")
    check(updated == everyone, f"every memory's update was acknowledged: {len(updated)}")
    unapplied = [h for h in everyone if not any(a in update_attempts for a in attempts[h])]
    check(not unapplied, f"every acknowledged update is in the log: {len(unapplied)} missing")
    twice = {h: n for h, n in stored.items() if n > 1}
    check(not twice, f"no store was executed twice: {twice}")
    missing = everyone - set(stored)
    check(not missing, f"every acknowledged write is in the log: {len(missing)} missing")
    check(not lock_errors, f"no client saw a lock error: {lock_errors[:3]}")
    serve_log = open(os.path.join(DATA_DIR, "serve.stderr"), encoding="utf-8", errors="replace").read()
    check(not any(word in serve_log for word in LOCK_WORDS), "serve never hit a lock error")

    def exported(name):
        path = os.path.join(DATA_DIR, name)
        cli("export", path)
        with open(path, encoding="utf-8") as f:
            return sorted(f.read().splitlines())

    before = exported("before.jsonl")
    cli("rebuild")
    after = exported("after.jsonl")
    check(len(before) == len(everyone), f"the read model holds every memory: {len(before)}")
    check(before == after, "the read model equals a replay of the log")
    print(f"{kills} owners killed; {len(everyone)} acknowledged writes, each stored once; "
          f"{failed_calls} calls failed and were retried", file=sys.stderr)
    print(summary())


asyncio.run(main())
