"""Many clients, one store: three `mcp-memory-service mcp` processes (each driven by the official Python SDK
over stdio, as Claude Desktop, Claude Code and Cursor would spawn them) and `serve` on one data directory.

Usage: shared_store.py BINARY DATA_DIR PORT API_KEY. Every check raises on failure; the last line is
"N passed, 0 failed".

It checks: the first process owns the store and the others relay to it; a starting server takes the store
over without a lock error; concurrent writes from the three clients and HTTP are all kept and visible to
everyone at once; when the owner is killed (kill -9) mid-write, calls in flight fail with an explanation,
every acknowledged write is still there, and the survivors carry on with a new owner.
"""

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time

import httpx2
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.shared.exceptions import MCPError

from checks import check, sha, summary

BINARY, DATA_DIR, PORT, KEY = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
LOG = os.path.realpath(os.path.join(DATA_DIR, "events.redb"))
ENV = dict(os.environ, MCP_MEMORY_BASE_DIR=DATA_DIR, MCP_EMBEDDING_THREADS="1", MCP_API_KEY=KEY)
URL = f"http://127.0.0.1:{PORT}"


def our_processes():
    """Pids of the binary's processes on this data directory."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            with open(f"/proc/{entry}/environ", "rb") as f:
                environ = f.read().split(b"\0")
        except OSError:
            continue
        if argv and argv[0] == BINARY.encode() and f"MCP_MEMORY_BASE_DIR={DATA_DIR}".encode() in environ:
            pids.append(int(entry))
    return pids


def owners():
    """Pids of the processes that have the event log open (the owner: there must be one)."""
    found = []
    for pid in our_processes():
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == LOG:
                    found.append(pid)
                    break
            except OSError:
                continue
    return found


async def the_owner(exclude=()):
    """Waits for exactly one owner (not in `exclude`) and returns it."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = [pid for pid in owners() if pid not in exclude]
        if len(found) == 1 and len(owners()) == 1:
            return found[0]
        await asyncio.sleep(0.05)
    raise AssertionError(f"no single owner: {owners()}")


class Client:
    """One `mcp` process and its SDK session."""

    def __init__(self, name, stack):
        self.name, self.stack, self.pid, self.acknowledged = name, stack, None, set()

    async def start(self):
        before = set(our_processes())
        params = StdioServerParameters(command=BINARY, args=["mcp"], env=ENV, cwd=DATA_DIR)
        read, write = await self.stack.enter_async_context(stdio_client(params))
        self.session = await self.stack.enter_async_context(ClientSession(read, write))
        started = time.monotonic()
        await self.session.initialize()
        check(time.monotonic() - started < 2, f"{self.name}: initialize is answered at once")
        new = set(our_processes()) - before
        check(len(new) == 1, f"{self.name}: one new process {new}")
        self.pid = new.pop()
        return self

    async def call(self, name, arguments):
        result = await self.session.call_tool(name, arguments)
        check(not result.is_error, f"{self.name} {name}: {result.content}")
        return result.structured_content

    async def store(self, content, tag):
        stored = await self.call("memory_store", {"content": content, "tags": ["shared", tag]})
        check(stored["success"] and stored["content_hash"] == sha(content), f"{self.name} stored: {stored}")
        self.acknowledged.add(stored["content_hash"])

    async def has(self, content):
        found = await self.call("memory_search", {"query": content, "mode": "exact"})
        return [hit["content_hash"] for hit in found["results"]] == [sha(content)]

    async def hashes(self):
        found, page = set(), 1
        while True:
            listed = await self.call("memory_list", {"tags": ["shared"], "page": page, "page_size": 100})
            found |= {memory["content_hash"] for memory in listed["memories"]}
            if not listed["has_more"]:
                return found
            page += 1


async def http_store(http, content, acknowledged):
    response = await http.post(f"{URL}/api/memories", json={"content": content, "tags": ["shared", "http"]})
    check(response.status_code == 200 and response.json()["success"], f"HTTP store: {response.text}")
    acknowledged.add(response.json()["content_hash"])


async def http_hashes(http):
    found, page = set(), 1
    while True:
        response = await http.get(f"{URL}/api/memories", params={"tag": "shared", "page": page, "page_size": 100})
        check(response.status_code == 200, response.text)
        found |= {memory["content_hash"] for memory in response.json()["memories"]}
        if not response.json()["has_more"]:
            return found
        page += 1


SERVERS = []


def start_server():
    log = open(os.path.join(DATA_DIR, "serve.stderr"), "ab")
    server = subprocess.Popen([BINARY, "serve", "--port", PORT], env=ENV, cwd=DATA_DIR,
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)
    SERVERS.append(server)
    return server


async def wait_healthy(http, server):
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"the server exited with {server.returncode}")
        with contextlib.suppress(httpx2.HTTPError):
            if (await http.get(f"{URL}/api/health")).status_code == 200:
                return
        await asyncio.sleep(0.05)
    raise AssertionError("the server did not become healthy")


async def writes_until(client, prefix, stop, failures):
    """Stores memories one after another until `stop` is set; calls that fail must say why."""
    n = 0
    while not stop.is_set():
        n += 1
        try:
            await client.store(f"{prefix} memory number {n} written through the crash", client.name)
        except MCPError as error:
            failures.append(error.error.message)
            check("may or may not have been applied" in error.error.message, f"an explained failure: {error}")


async def main():
    async with contextlib.AsyncExitStack() as stack:
        http = await stack.enter_async_context(httpx2.AsyncClient(headers={"X-API-Key": KEY}, timeout=60))

        # The first process owns the store; the next two relay to it.
        a = await Client("desktop", stack).start()
        check(await the_owner() == a.pid, "the first process owns the store")
        b = await Client("code", stack).start()
        c = await Client("cursor", stack).start()
        check(await the_owner() == a.pid, "the later ones relay")
        await b.store("Relayed write from the second client", "code")
        check(await a.has("Relayed write from the second client") and await c.has(
            "Relayed write from the second client"), "a relayed write is visible to every client at once")

        # A starting server takes the store over; the clients do not notice.
        server = start_server()
        await wait_healthy(http, server)
        owner = await the_owner()
        check(owner == server.pid, f"the server owns the store after the takeover: {owner} is not {server.pid}, "
                                   f"clients {a.pid} {b.pid} {c.pid}")
        check(await c.has("Relayed write from the second client"), "the clients reach the server's store")

        # Everyone writes at once.
        writes = []
        for client in (a, b, c):
            writes += [client.store(f"{client.name} concurrent note {i}", client.name) for i in range(10)]
        http_acknowledged = set()
        writes += [http_store(http, f"http concurrent note {i}", http_acknowledged) for i in range(10)]
        await asyncio.gather(*writes)
        everyone = a.acknowledged | b.acknowledged | c.acknowledged | http_acknowledged
        check(len(everyone) == 41, f"41 distinct writes acknowledged: {len(everyone)}")
        for client in (a, b, c):
            check(await client.hashes() == everyone, f"{client.name} sees every write")
        check(await http_hashes(http) == everyone, "HTTP sees every write")
        stream_check = await http.get(f"{URL}/api/log", params={"since": 0, "limit": 100})
        interfaces = {event["interface"] for event in stream_check.json()["events"]}
        check(interfaces == {"mcp", "http"}, f"the log records both interfaces: {interfaces}")

        # kill -9 the server while the clients write: calls in flight fail with an explanation, every
        # acknowledged write is kept, and an `mcp` process becomes the owner.
        stop, failures = asyncio.Event(), []
        loops = [asyncio.create_task(writes_until(client, f"{client.name} crash-1", stop, failures))
                 for client in (a, b, c)]
        await asyncio.sleep(1.0)
        server.send_signal(signal.SIGKILL)
        server.wait()
        await asyncio.sleep(1.0)
        stop.set()
        await asyncio.gather(*loops)
        new_owner = await the_owner(exclude=(server.pid,))
        check(new_owner in (a.pid, b.pid, c.pid), "a client's process owns the store now")
        everyone |= a.acknowledged | b.acknowledged | c.acknowledged
        for client in (a, b, c):
            check(await client.hashes() >= everyone, f"{client.name}: no acknowledged write was lost")

        # kill -9 that process too: its own client loses its server (as with any stdio server); the
        # other two carry on, again without losing an acknowledged write.
        victim = next(client for client in (a, b, c) if client.pid == new_owner)
        survivors = [client for client in (a, b, c) if client is not victim]
        stop = asyncio.Event()
        loops = [asyncio.create_task(writes_until(client, f"{client.name} crash-2", stop, failures))
                 for client in survivors]
        await asyncio.sleep(1.0)
        os.kill(victim.pid, signal.SIGKILL)
        await asyncio.sleep(1.0)
        stop.set()
        await asyncio.gather(*loops)
        third_owner = await the_owner(exclude=(new_owner,))
        check(third_owner in [client.pid for client in survivors], "a surviving client's process owns it")
        for client in survivors:
            everyone |= client.acknowledged
        for client in survivors:
            check(await client.hashes() >= everyone, f"{client.name}: nothing lost after the second kill")

        # A server started now takes over again and sees everything.
        server = start_server()
        await wait_healthy(http, server)
        check(await the_owner() == server.pid, "the server owns the store again")
        check(await http_hashes(http) >= everyone, "the server sees every acknowledged write")
        await survivors[0].store("After the second takeover", "final")
        check(sha("After the second takeover") in await http_hashes(http), "and the relays write to it")
        print(f"{len(everyone)} acknowledged writes kept; {len(failures)} calls in flight failed with an explanation",
              file=sys.stderr)
        # The victim's session is dead; leave its context without waiting on it.
        server.send_signal(signal.SIGTERM)
        check(server.wait(timeout=30) == 0, "the server stops cleanly")

    print(summary())


try:
    asyncio.run(main())
finally:
    for leftover in SERVERS:
        if leftover.poll() is None:
            leftover.kill()
            leftover.wait()
