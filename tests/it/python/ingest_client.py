"""Drives document ingestion over MCP with the official Python MCP SDK: memory_ingest and the original's
ingest_document / ingest_directory, and the confinement of server-side paths.

Usage: ingest_client.py stdio BINARY DATA_DIR DOCS_DIR OUTSIDE_FILE
       ingest_client.py http URL API_KEY DOCS_DIR OUTSIDE_FILE ROOTS   (ROOTS: "confined" when the server's
       MCP_DOCUMENT_ROOTS is DOCS_DIR, "none" when it is unset)
DOCS_DIR holds notes.md, guide.html and sub/table.csv, written by the Rust test; OUTSIDE_FILE lies outside it.
The last line is "N passed, 0 failed".
"""

import asyncio
import contextlib
import json
import os
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from checks import check, summary

TRANSPORT = sys.argv[1]
DOCS, OUTSIDE = sys.argv[4], sys.argv[5]


@contextlib.asynccontextmanager
async def connect():
    if TRANSPORT == "stdio":
        binary, data_dir = sys.argv[2], sys.argv[3]
        env = dict(os.environ, MCP_MEMORY_BASE_DIR=data_dir)
        params = StdioServerParameters(command=binary, args=["mcp"], env=env, cwd=data_dir)
        async with stdio_client(params) as (read, write):
            yield read, write
    else:
        url, key = sys.argv[2], sys.argv[3]
        async with create_mcp_http_client(headers={"X-API-Key": key}) as http:
            async with streamable_http_client(url, http_client=http) as (read, write):
                yield read, write


def answer(result):
    return json.loads(result.content[0].text)


def error_text(result):
    check(result.is_error, f"the call is an error result: {result}")
    return " ".join(block.text for block in result.content if getattr(block, "text", None))


async def local(session):
    """Over stdio the client is the local user: any file it names is read."""
    notes = os.path.join(DOCS, "notes.md")
    first = await session.call_tool("memory_ingest", {"file_path": notes, "tags": "handbook,team"})
    check(not first.is_error, f"memory_ingest succeeded: {first.content}")
    body = answer(first)
    check(body["success"] and body["chunks_stored"] >= 1, f"notes.md stored: {body}")
    upload_id = body["results"][0]["upload_id"]
    found = await session.call_tool("memory_search", {"query": "which database did the billing team choose", "limit": 3})
    hits = found.structured_content["results"]
    check(any("PostgreSQL" in h["content"] for h in hits), f"a chunk is found by meaning: {hits}")
    tags = next(h["tags"] for h in hits if "PostgreSQL" in h["content"])
    check("handbook" in tags and f"upload_id:{upload_id}" in tags and "source_file:notes.md" in tags, f"tags: {tags}")

    again = answer(await session.call_tool("ingest_document", {"file_path": notes}))
    check(again["results"][0]["status"] == "already_ingested", f"the same file is recognised: {again}")

    walked = await session.call_tool("ingest_directory", {"directory_path": DOCS, "recursive": True})
    body = answer(walked)
    statuses = {os.path.basename(r["file"]): r["status"] for r in body["results"]}
    check(statuses == {"notes.md": "already_ingested", "guide.html": "ingested", "table.csv": "ingested"},
          f"the directory's files, recursively: {body}")
    flat = answer(await session.call_tool("ingest_directory", {"directory_path": DOCS, "recursive": False,
                                                               "file_extensions": ["html"], "force": True}))
    check([os.path.basename(r["file"]) for r in flat["results"]] == ["guide.html"], f"filtered, flat: {flat}")

    outside = await session.call_tool("memory_ingest", {"file_path": OUTSIDE})
    check(not outside.is_error, f"a local client reads its own files anywhere: {outside.content}")
    missing = error_text(await session.call_tool("memory_ingest", {}))
    check("file_path" in missing and "directory_path" in missing, f"no path: {missing}")
    junk = os.path.join(DOCS, "..", "junk.pdf")
    bad = error_text(await session.call_tool("memory_ingest", {"file_path": junk}))
    check("junk.pdf" in bad, f"an unreadable file is named: {bad}")


async def remote(session, roots):
    """Over HTTP only files under MCP_DOCUMENT_ROOTS are read."""
    notes = os.path.join(DOCS, "notes.md")
    if roots == "none":
        refused = error_text(await session.call_tool("memory_ingest", {"file_path": notes}))
        check("MCP_DOCUMENT_ROOTS" in refused and "none are configured" in refused, f"no roots, no files: {refused}")
        return
    inside = await session.call_tool("memory_ingest", {"file_path": notes})
    check(not inside.is_error and answer(inside)["success"], f"a file under the roots: {inside.content}")
    for path in (OUTSIDE, os.path.join(DOCS, "..", os.path.basename(OUTSIDE)), os.path.join(DOCS, "escape.md")):
        refused = error_text(await session.call_tool("memory_ingest", {"file_path": path}))
        check("outside the directories" in refused, f"{path} is refused: {refused}")
    dir_refused = error_text(await session.call_tool("ingest_directory", {"directory_path": os.path.dirname(DOCS)}))
    check("outside the directories" in dir_refused, f"a directory above the roots: {dir_refused}")


async def main():
    async with connect() as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            tools = {tool.name: tool for tool in (await session.list_tools()).tools}
            check("memory_ingest" in tools, f"memory_ingest is listed: {sorted(tools)}")
            check("ingest_document" not in tools, "the original's names are callable, not listed")
            schema = tools["memory_ingest"].input_schema["properties"]
            check({"file_path", "directory_path", "tags", "chunk_size", "chunk_overlap", "memory_type", "recursive",
                   "file_extensions", "max_files"} <= set(schema), f"memory_ingest's arguments: {sorted(schema)}")
            if TRANSPORT == "stdio":
                await local(session)
            else:
                await remote(session, sys.argv[6])
    print(summary())


asyncio.run(main())
