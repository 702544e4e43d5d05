"""Drives the memory_sync tool with the official Python MCP SDK over stdio, on a hybrid store.

Usage: sync_client.py BINARY DATA_DIR CONTENT NAME=VALUE... (the variables that point the server at Cloudflare)
Stores CONTENT, syncs it, pauses and resumes; the last line is "N passed, 0 failed".
"""

import asyncio
import os
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from checks import check, sha, summary


def structured(result):
    check(not result.is_error, f"tool call succeeded: {result.content}")
    return result.structured_content


async def main():
    binary, data_dir, content = sys.argv[1], sys.argv[2], sys.argv[3]
    env = dict(os.environ, MCP_MEMORY_BASE_DIR=data_dir)
    env.update(pair.split("=", 1) for pair in sys.argv[4:])
    params = StdioServerParameters(command=binary, args=["mcp"], env=env, cwd=data_dir)
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            tools = {tool.name: tool for tool in (await session.list_tools()).tools}
            check("memory_sync" in tools, f"memory_sync is listed: {sorted(tools)}")
            status = structured(await session.call_tool("memory_sync", {}))
            check(status["backend"] == "hybrid" and status["is_hybrid"], f"status of a hybrid store: {status}")
            check(len(status["device_id"]) == 36, f"a device id: {status}")
            stored = structured(await session.call_tool("memory_store", {"content": content, "tags": ["mcp"]}))
            check(stored["success"], f"stored: {stored}")
            synced = structured(await session.call_tool("memory_sync", {"action": "sync"}))
            check(synced["operations_pending"] == 0 and synced["status"] == "synced", f"after a sync: {synced}")
            check(synced["pushed_seq"] >= 1, f"pushed: {synced}")
            paused = structured(await session.call_tool("memory_sync", {"action": "pause"}))
            check(paused["paused"] is True, f"paused: {paused}")
            resumed = structured(await session.call_tool("memory_sync", {"action": "resume"}))
            check(resumed["paused"] is False, f"resumed: {resumed}")
            wrong = await session.call_tool("memory_sync", {"action": "explode"})
            text = " ".join(block.text for block in wrong.content if getattr(block, "text", None))
            check(wrong.is_error and "unknown action" in text, f"a wrong action is explained: {wrong}")
            check(sha(content) == stored["content_hash"] if "content_hash" in stored else True, "the hash")
    print(summary())


asyncio.run(main())
