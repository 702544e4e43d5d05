"""Time travel over MCP with the official Python MCP SDK (ClientSession over stdio).

Usage: as_of_client.py BINARY DATA_DIR (spawns `mcp-memory-service mcp` on an empty store)
Every check raises on failure; the last line is "N passed, 0 failed".
"""

import asyncio
import os
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from checks import check, sha, summary


def structured(result):
    check(not result.is_error, f"tool call succeeded: {result.content}")
    check(result.structured_content is not None, "the result has structured content")
    return result.structured_content


def error_text(result):
    check(result.is_error, f"the call is an error result: {result}")
    return " ".join(block.text for block in result.content if getattr(block, "text", None))


async def main():
    binary, data_dir = sys.argv[1], sys.argv[2]
    env = dict(os.environ, MCP_MEMORY_BASE_DIR=data_dir)
    params = StdioServerParameters(command=binary, args=["mcp"], env=env, cwd=data_dir)
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            tools = {tool.name: tool for tool in (await session.list_tools()).tools}
            for name in ("memory_search", "memory_list", "memory_get"):
                schema = tools[name].input_schema["properties"]
                check("as_of" in schema and "seq:1234" in schema["as_of"].get("description", ""),
                      f"{name} takes as_of: {schema.get('as_of')}")
            check(tools["memory_get"].annotations.read_only_hint is True, "get is read-only")

            alpha, bravo = "Alpha chose PostgreSQL for billing", "Bravo prefers SQLite on the phone"
            for content in (alpha, bravo):
                structured(await session.call_tool("memory_store", {"content": content, "tags": ["x"]}))
            structured(await session.call_tool("memory_update", {"content_hash": sha(alpha), "tags": ["x", "y"]}))
            structured(await session.call_tool("memory_delete", {"content_hash": sha(bravo)}))

            listed = structured(await session.call_tool("memory_list", {"as_of": "2"}))
            check(listed["total"] == 2 and listed["as_of"]["seq"] == 2, f"two memories as of event 2: {listed}")
            check([m["content_hash"] for m in listed["memories"]] == [sha(bravo), sha(alpha)], f"newest first: {listed}")
            live = structured(await session.call_tool("memory_list", {}))
            check(live["total"] == 1 and "as_of" not in live, f"the live list is unchanged: {live}")
            empty = structured(await session.call_tool("memory_list", {"as_of": "2001-01-01T00:00:00Z"}))
            check(empty["total"] == 0 and empty["as_of"] == {"seq": 0, "at": None}, f"empty before the first: {empty}")

            found = structured(await session.call_tool(
                "memory_search", {"query": "SQLite phone", "mode": "keyword", "as_of": "seq:3"}))
            check([r["content_hash"] for r in found["results"]] == [sha(bravo)] and found["as_of"]["seq"] == 3,
                  f"the deleted memory is found as of event 3: {found}")
            now = structured(await session.call_tool("memory_search", {"query": "SQLite phone", "mode": "keyword"}))
            check(now["count"] == 0, f"but not now: {now}")

            then = structured(await session.call_tool("memory_get", {"content_hash": sha(alpha), "as_of": "1"}))
            check(then["memory"]["tags"] == ["x"] and then["as_of"]["seq"] == 1, f"alpha as of event 1: {then}")
            current = structured(await session.call_tool("memory_get", {"content_hash": sha(alpha)}))
            check(current["memory"]["tags"] == ["x", "y"] and "as_of" not in current, f"alpha now: {current}")
            gone = error_text(await session.call_tool("memory_get", {"content_hash": sha(bravo), "as_of": "4"}))
            check("not found" in gone, f"bravo as of event 4: {gone}")
            for bad in ("next blursday", "seq:x", ""):
                for name, args in (("memory_list", {}), ("memory_search", {"query": "x"}),
                                   ("memory_get", {"content_hash": sha(alpha)})):
                    message = error_text(await session.call_tool(name, dict(args, as_of=bad)))
                    check("as_of" in message, f"{name} with as_of {bad!r}: {message}")
    print(summary())


asyncio.run(main())
