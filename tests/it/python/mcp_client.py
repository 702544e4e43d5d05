"""Drives `mcp-memory-service mcp` with the official Python MCP SDK (ClientSession over stdio).

Usage: mcp_client.py BINARY DATA_DIR. Every check raises on failure; the last line is "N passed, 0 failed".
"""

import asyncio
import hashlib
import os
import sys
import time

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.shared.exceptions import MCPError

BINARY, DATA_DIR = sys.argv[1], sys.argv[2]
passed = 0


def check(condition, what):
    global passed
    if not condition:
        raise AssertionError(what)
    passed += 1


def structured(result):
    check(not result.is_error, f"tool call succeeded: {result.content}")
    check(result.structured_content is not None, "the result has structured content")
    return result.structured_content


def error_text(result):
    check(result.is_error, f"the call is an error result: {result}")
    return " ".join(block.text for block in result.content if getattr(block, "text", None))


async def main():
    env = dict(os.environ, MCP_MEMORY_BASE_DIR=DATA_DIR)
    params = StdioServerParameters(command=BINARY, args=["mcp"], env=env, cwd=DATA_DIR)
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            started = time.monotonic()
            init = await session.initialize()
            check(time.monotonic() - started < 5, "initialize is answered without waiting for the model")
            check(init.server_info.name == "mcp-memory-service", f"server name: {init.server_info}")

            tools = {tool.name: tool for tool in (await session.list_tools()).tools}
            expected = {"memory_store", "memory_search", "memory_list", "memory_update", "memory_delete",
                        "memory_history", "memory_stats", "memory_health"}
            check(expected <= set(tools), f"tools listed: {sorted(tools)}")
            check(tools["memory_search"].annotations.read_only_hint is True, "search is read-only")
            check(tools["memory_delete"].annotations.destructive_hint is True, "delete is destructive")
            check(tools["memory_store"].output_schema is not None, "store has an output schema")

            content = "We chose PostgreSQL 16 for the billing service because of row-level security."
            stored = structured(await session.call_tool("memory_store", {
                "content": content, "tags": ["decision", "database"], "memory_type": "decision",
                "metadata": {"project": "billing"}}))
            expected_hash = hashlib.sha256(content.strip().lower().encode()).hexdigest()
            check(stored == {"success": True, "message": "Memory stored successfully",
                             "content_hash": expected_hash}, f"store result: {stored}")
            for other, tags in [("The cat sleeps on the warm windowsill every afternoon.", "pets"),
                                ("Rotate the staging API keys every ninety days.", "security,ops")]:
                structured(await session.call_tool("memory_store", {"content": other, "tags": tags}))

            duplicate = structured(await session.call_tool("memory_store", {"content": "  " + content.upper()}))
            check(duplicate["success"] is False and duplicate["message"] == "Duplicate content detected",
                  f"duplicate: {duplicate}")

            found = structured(await session.call_tool("memory_search", {
                "query": "which database did we pick for billing?", "limit": 2}))
            check(found["count"] == 2 and found["results"][0]["content_hash"] == expected_hash,
                  f"semantic search ranks the decision first: {found}")
            check(0.5 < found["results"][0]["similarity_score"] <= 1.0, "score on the original's scale")
            text = (await session.call_tool("memory_search", {"query": "billing database"})).content[0].text
            check(expected_hash in text, "the text content carries the hashes too")

            for mode in ["keyword", "hybrid"]:
                hits = structured(await session.call_tool("memory_search", {"query": "PostgreSQL billing", "mode": mode}))
                check(hits["results"] and hits["results"][0]["content_hash"] == expected_hash, f"{mode}: {hits}")
            exact = structured(await session.call_tool("memory_search", {"query": content, "mode": "exact"}))
            check([h["content_hash"] for h in exact["results"]] == [expected_hash], f"exact: {exact}")
            tagged = structured(await session.call_tool("memory_search", {
                "query": "anything", "tags": ["security", "ops"], "tag_match": "all"}))
            check(len(tagged["results"]) == 1 and "staging" in tagged["results"][0]["content"], f"tags: {tagged}")
            recent = structured(await session.call_tool("memory_search", {"query": "cat", "time_expr": "today"}))
            check(recent["count"] >= 1, f"time_expr today finds today's memories: {recent}")

            listed = structured(await session.call_tool("memory_list", {"page_size": 2}))
            check(listed["total"] == 3 and len(listed["memories"]) == 2 and listed["has_more"], f"list: {listed}")
            by_tag = structured(await session.call_tool("memory_list", {"tags": "data"}))
            check(by_tag["total"] == 0, "tag matching is exact: 'data' is not 'database'")

            updated = structured(await session.call_tool("memory_update", {
                "content_hash": expected_hash, "tags": ["decision", "postgres"]}))
            check(updated["success"], f"update: {updated}")
            history = structured(await session.call_tool("memory_history", {"content_hash": expected_hash}))
            kinds = [e["kind"] for e in history["events"]]
            check(kinds == ["stored", "updated"], f"history kinds: {kinds}")
            check(all(e["interface"] == "mcp" for e in history["events"]), "history records the MCP interface")
            check(history["events"][-1]["tags_after"] == ["decision", "postgres"], "history shows the new tags")

            dry = structured(await session.call_tool("memory_delete", {"tags": ["pets"], "dry_run": True}))
            check(len(dry["content_hashes"]) == 1 and dry["message"].startswith("Would delete 1"), f"dry run: {dry}")
            gone = structured(await session.call_tool("memory_delete", {"content_hash": expected_hash}))
            check(gone["success"], f"delete: {gone}")
            after = structured(await session.call_tool("memory_search", {"query": content, "mode": "exact"}))
            check(after["count"] == 0, "a deleted memory is not found")
            stats = structured(await session.call_tool("memory_stats", {}))
            check(stats["total_memories"] == 2 and stats["events"] == 5, f"stats: {stats}")
            health = structured(await session.call_tool("memory_health", {}))
            check(health["status"] == "healthy" and health["model"] == "ready", f"health: {health}")

            # Errors a model can act on: isError results with a message saying what to fix.
            check("empty" in error_text(await session.call_tool("memory_store", {"content": "   "})), "empty content")
            check("not found" in error_text(await session.call_tool("memory_delete", {"content_hash": expected_hash})),
                  "deleting again: not found")
            check("content hash" in error_text(await session.call_tool("memory_history", {"content_hash": "xyz"})),
                  "a malformed hash is explained")
            check("time expression" in error_text(await session.call_tool("memory_search", {
                "query": "x", "time_expr": "next blursday"})), "a bad time expression is explained")
            check("condition" in error_text(await session.call_tool("memory_delete", {})),
                  "a delete without any filter is refused")
            # Protocol-level errors: unknown tools and arguments of the wrong shape.
            for name, arguments in [("no_such_tool", {}), ("memory_store", {"tags": ["no content"]})]:
                try:
                    result = await session.call_tool(name, arguments)
                    check(result.is_error, f"{name} with {arguments} fails: {result}")
                except MCPError:
                    check(True, "a JSON-RPC error")
            final = structured(await session.call_tool("memory_stats", {}))
            check(final["events"] == 5, "failed calls wrote nothing")

    print(f"{passed} passed, 0 failed")


asyncio.run(main())
