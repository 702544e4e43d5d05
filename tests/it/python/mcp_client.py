"""Drives the MCP server with the official Python MCP SDK (ClientSession), over either transport.

Usage: mcp_client.py stdio BINARY DATA_DIR (spawns `mcp-memory-service mcp`)
       mcp_client.py http URL API_KEY       (streamable HTTP at a running server's /mcp)
Both start from an empty store. Every check raises on failure; the last line is "N passed, 0 failed".
"""

import asyncio
import contextlib
import datetime
import json
import os
import sys
import time

from mcp import Client, ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError

from checks import check, sha, summary

TRANSPORT = sys.argv[1]


@contextlib.asynccontextmanager
async def connect():
    """The (read, write) streams of a fresh connection over the chosen transport."""
    if TRANSPORT == "stdio":
        binary, data_dir = sys.argv[2], sys.argv[3]
        env = dict(os.environ, MCP_MEMORY_BASE_DIR=data_dir)
        params = StdioServerParameters(command=binary, args=["mcp"], env=env, cwd=data_dir)
        async with stdio_client(params) as (read, write):
            yield read, write
    elif TRANSPORT == "http":
        url, key = sys.argv[2], sys.argv[3]
        async with create_mcp_http_client(headers={"X-API-Key": key}) as http:
            async with streamable_http_client(url, http_client=http) as (read, write):
                yield read, write
    else:
        raise SystemExit(f"unknown transport {TRANSPORT}: stdio or http")


def structured(result):
    check(not result.is_error, f"tool call succeeded: {result.content}")
    check(result.structured_content is not None, "the result has structured content")
    return result.structured_content


async def text(session, name, arguments):
    result = await session.call_tool(name, arguments)
    check(not result.is_error, f"{name} succeeded: {result.content}")
    return result.content[0].text


async def rpc_error(call):
    """The message of the JSON-RPC error the call must raise."""
    try:
        result = await call
    except MCPError as error:
        return error.error.message
    raise AssertionError(f"expected a JSON-RPC error, got {result}")


async def stateless_revision():
    """The 2026-07-28 revision: no initialize handshake, `server/discover` first (the SDK's default mode)."""
    async with contextlib.AsyncExitStack() as stack:
        if TRANSPORT == "stdio":
            binary, data_dir = sys.argv[2], sys.argv[3]
            env = dict(os.environ, MCP_MEMORY_BASE_DIR=data_dir)
            target = StdioServerParameters(command=binary, args=["mcp"], env=env, cwd=data_dir)
        else:
            http = await stack.enter_async_context(create_mcp_http_client(headers={"X-API-Key": sys.argv[3]}))
            target = streamable_http_client(sys.argv[2], http_client=http)
        client = await stack.enter_async_context(Client(target))
        check(client.protocol_version == "2026-07-28", f"the stateless revision: {client.protocol_version}")
        listed = {tool.name for tool in (await client.list_tools()).tools}
        check({"memory_store", "memory_search", "memory_log"} <= listed, f"tools over 2026-07-28: {listed}")
        stored = (await client.call_tool("memory_store", {"content": "Stored over the stateless revision"}))
        check(stored.structured_content["success"], f"a store over 2026-07-28: {stored}")
        found = await client.call_tool("memory_search", {"query": "stateless revision", "mode": "keyword"})
        check(found.structured_content["results"][0]["content_hash"] == sha("Stored over the stateless revision"),
              f"and a search: {found}")


async def graph(session, tools):
    """memory_relate and memory_graph: relations made and removed as events, walks, and errors."""
    check(tools["memory_graph"].annotations.read_only_hint is True, "memory_graph only reads")
    check(tools["memory_relate"].annotations.read_only_hint is False, "memory_relate writes")
    notes = ["The deploy at 14:00 shipped a bad connection pool setting.",
             "Checkout latency rose to four seconds after lunch.",
             "Raising the pool size back to 50 brought latency down.",
             "Graph notes: an unrelated memory about tea."]
    a, b, c, d = [structured(await session.call_tool("memory_store", {"content": n}))["content_hash"] for n in notes]

    async def relate(args):
        return json.loads(await text(session, "memory_relate", args))

    made = await relate({"source_hash": a, "target_hash": b, "relationship_type": "causes",
                         "reason": "the outage followed the deploy"})
    check(made["created"] and made["relation"]["relationship_type"] == "causes"
          and made["relation"]["reason"] == "the outage followed the deploy"
          and made["relation"]["created_by"] == "mcp", f"relate: {made}")
    again = await relate({"source_hash": a, "target_hash": b, "relationship_type": "causes",
                          "reason": "the outage followed the deploy"})
    check(again["created"] is False, f"the same relation again writes nothing: {again}")
    check((await relate({"source_hash": c, "target_hash": b, "relationship_type": "fixes"}))["created"], "fixes")

    async def walk(args):
        return json.loads(await text(session, "memory_graph", args))

    near = await walk({"action": "connected", "hash": a, "max_hops": 2})
    check(near["connected"] == [{"hash": b, "distance": 1}, {"hash": c, "distance": 2}] and near["count"] == 2,
          f"connected: {near}")
    out = await walk({"action": "connected", "hash": a, "max_hops": 2, "direction": "outgoing"})
    check(out["connected"] == [{"hash": b, "distance": 1}], f"outgoing only: {out}")
    path = await walk({"action": "path", "hash1": a, "hash2": c, "direction": "both"})
    check(path["path"] == [a, b, c] and path["length"] == 3, f"path: {path}")
    none = await walk({"action": "path", "hash1": a, "hash2": c})
    check(none["path"] is None and none["message"] == "No path found within depth limit", f"forward only: {none}")
    sub = await walk({"action": "subgraph", "hash": b, "radius": 1})
    check(sub["nodes"][0] == b and set(sub["nodes"]) == {a, b, c} and sub["edge_count"] == 2, f"subgraph: {sub}")

    history = structured(await session.call_tool("memory_history", {"content_hash": a}))
    check([e["kind"] for e in history["events"]] == ["stored", "related"], f"a relation is an event: {history}")
    removed = await relate({"source_hash": a, "target_hash": b, "remove": True})
    check(removed["count"] == 1, f"remove: {removed}")
    check((await walk({"action": "connected", "hash": a}))["count"] == 0, "the relation is gone")

    for args, needle in [({"source_hash": a, "target_hash": a}, "itself"),
                         ({"source_hash": a, "target_hash": d, "relationship_type": "loves"}, "unknown relationship type"),
                         ({"source_hash": a, "target_hash": sha("never stored")}, "not found"),
                         ({"source_hash": a, "target_hash": d, "similarity": 1.5}, "between 0 and 1"),
                         ({"source_hash": a, "target_hash": d, "remove": True}, "no relation")]:
        check(needle in error_text(await session.call_tool("memory_relate", args)), f"{args} -> {needle}")
    for args, needle in [({"action": "connected"}, "hash is required"),
                         ({"action": "path", "hash1": a}, "hash1 and hash2 are required"),
                         ({"action": "connected", "hash": a, "max_hops": 9}, "max_hops must be between 1 and 5")]:
        check(needle in error_text(await session.call_tool("memory_graph", args)), f"{args} -> {needle}")
    structured(await session.call_tool("memory_delete", {"content_hash": c}))
    check((await walk({"action": "connected", "hash": b}))["count"] == 0, "deleting a memory removes its relations")


CONSOLIDATION_ALIASES = ["consolidate_memories", "consolidation_status", "consolidation_recommendations",
                         "scheduler_status", "trigger_consolidation", "pause_consolidation", "resume_consolidation"]


async def consolidation(session, tools):
    """memory_consolidate, its seven v8.9 aliases (their texts), and memory_archive."""
    check(not set(tools) & set(CONSOLIDATION_ALIASES), "the v8.9 consolidation names are not listed")
    check(tools["memory_consolidate"].annotations.read_only_hint is False, "memory_consolidate writes")
    seq = structured(await session.call_tool("memory_log", {"limit": 1}))["last_seq"]
    preview = await text(session, "memory_consolidate", {"action": "run", "time_horizon": "weekly", "dry_run": True})
    check(preview.startswith("Consolidation dry run completed (nothing was changed)!\n\nTime Horizon: weekly\n")
          and "Memories Processed: " in preview, f"dry run: {preview}")
    check(structured(await session.call_tool("memory_log", {"limit": 1}))["last_seq"] == seq, "a dry run writes nothing")
    ran = await text(session, "consolidate_memories", {"time_horizon": "daily"})
    check(ran.startswith("Consolidation completed successfully!\n\nTime Horizon: daily\nDuration: "), f"alias: {ran}")
    advice = await text(session, "consolidation_recommendations", {"time_horizon": "weekly"})
    check(advice.startswith("Consolidation Recommendations for weekly horizon:\n\nRecommendation: ")
          and "\nMemory Count: " in advice and "Estimated Duration:" in advice, f"recommendations: {advice}")
    status = await text(session, "consolidation_status", {})
    check(status.startswith("Consolidation System Status: ") and "Total consolidation runs: 2" in status, status)
    check((await text(session, "scheduler_status", {})).startswith("Consolidation scheduler: DISABLED"),
          "the schedule is off unless MCP_CONSOLIDATION_ENABLED")
    check(await text(session, "pause_consolidation", {"time_horizon": "weekly"})
          == "Successfully paused weekly consolidation jobs", "pause")
    check(await text(session, "resume_consolidation", {}) == "Successfully resumed all consolidation jobs", "resume")
    check(await text(session, "trigger_consolidation", {"time_horizon": "daily"})
          == "Successfully triggered immediately daily consolidation", "trigger")
    check("time_horizon is required for 'run' action" in error_text(
        await session.call_tool("memory_consolidate", {"action": "run"})), "run needs a horizon")

    note = structured(await session.call_tool("memory_store", {"content": "An archived MCP note about kites."}))
    hash_ = note["content_hash"]
    archived = json.loads(await text(session, "memory_archive",
                                     {"action": "archive", "content_hash": hash_, "reason": "no longer needed"}))
    check(archived["archived"]["archive_reason"] == "no longer needed", f"archive: {archived}")
    listed = json.loads(await text(session, "memory_archive", {"action": "list"}))
    check([m["content_hash"] for m in listed["memories"]] == [hash_], f"list: {listed}")
    found = structured(await session.call_tool("memory_search", {"query": "kites", "mode": "keyword"}))
    check(all(r["content_hash"] != hash_ for r in found["results"]), f"archived is not found: {found}")
    check("already archived" in error_text(await session.call_tool(
        "memory_archive", {"action": "archive", "content_hash": hash_})), "archiving twice is an error")
    back = json.loads(await text(session, "memory_archive", {"action": "unarchive", "content_hash": hash_}))
    check(back["unarchived"]["content_hash"] == hash_, f"unarchive: {back}")
    history = structured(await session.call_tool("memory_history", {"content_hash": hash_}))
    check([e["kind"] for e in history["events"]] == ["stored", "archived", "unarchived"], f"history: {history}")


def error_text(result):
    check(result.is_error, f"the call is an error result: {result}")
    return " ".join(block.text for block in result.content if getattr(block, "text", None))


async def main():
    async with connect() as (read, write):
        async with ClientSession(read, write) as session:
            started = time.monotonic()
            init = await session.initialize()
            check(time.monotonic() - started < 5, "initialize is answered without waiting for the model")
            check(init.server_info.name == "mcp-memory-service", f"server name: {init.server_info}")

            tools = {tool.name: tool for tool in (await session.list_tools()).tools}
            expected = {"memory_store", "memory_search", "memory_list", "memory_update", "memory_delete",
                        "memory_history", "memory_stats", "memory_health", "memory_store_session", "memory_log", "memory_backup", "memory_restore",
                        "memory_redact", "memory_import", "memory_export"}
            check(expected <= set(tools), f"tools listed: {sorted(tools)}")
            check(tools["memory_search"].annotations.read_only_hint is True, "search is read-only")
            check(tools["memory_delete"].annotations.destructive_hint is True, "delete is destructive")
            check(tools["memory_store"].output_schema is not None, "store has an output schema")

            content = "We chose PostgreSQL 16 for the billing service because of row-level security."
            stored = structured(await session.call_tool("memory_store", {
                "content": content, "tags": ["decision", "database"], "memory_type": "decision",
                "metadata": {"project": "billing"}}))
            expected_hash = sha(content)
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
            boosted = structured(await session.call_tool("memory_search", {
                "query": "which database did we pick for billing?", "limit": 3, "quality_boost": 0.3}))
            check(all(0.0 <= h["relevance_score"] < 1.0 and "fusion_score" in h for h in boosted["results"]),
                  f"quality_boost shows each memory's relevance: {boosted}")
            check(all("relevance_score" not in h for h in found["results"]), "no relevance without quality_boost")
            out_of_range = await session.call_tool("memory_search", {"query": "billing", "quality_boost": 2})
            check(out_of_range.is_error and "between 0 and 1" in error_text(out_of_range),
                  f"quality_boost out of range: {out_of_range.content}")
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
            check("hybrid or cloudflare" in error_text(await session.call_tool("memory_sync", {})),
                  "sync on a local-only store is explained")
            # Protocol-level errors: unknown tools and arguments of the wrong shape.
            for name, arguments in [("no_such_tool", {}), ("memory_store", {"tags": ["no content"]})]:
                try:
                    result = await session.call_tool(name, arguments)
                    check(result.is_error, f"{name} with {arguments} fails: {result}")
                except MCPError:
                    check(True, "a JSON-RPC error")
            final = structured(await session.call_tool("memory_stats", {}))
            check(final["events"] == 5, "failed calls wrote nothing")
            check("Unknown tool: no_such_tool" in await rpc_error(session.call_tool("no_such_tool", {})),
                  "an unknown tool is a JSON-RPC error naming it")

            await aliases(session, set(tools))
            await resources(session)
            await prompts(session)
            await sessions_log_and_bounds(session)
            await graph(session, tools)
            await consolidation(session, tools)

    await stateless_revision()
    print(summary())


ALIASES = ["store_memory", "retrieve_memory", "recall_memory", "search_by_tag", "delete_memory", "delete_by_tag",
           "delete_by_tags", "delete_by_all_tags", "delete_by_timeframe", "delete_before_date", "cleanup_duplicates",
           "debug_retrieve", "retrieve_with_quality_boost", "exact_match_retrieve", "get_raw_embedding", "check_database_health",
           "recall_by_timeframe", "update_memory_metadata"]
BILLING = "Decided to use PostgreSQL 16 for the billing service."
TOKIO = "Rust async runtimes: tokio is multi-threaded by default."


async def aliases(session, listed):
    """The original v8.9 tool names, with its argument shapes and text formats (and the intended behaviour)."""
    check(not listed & set(ALIASES), f"no alias is listed: {sorted(listed & set(ALIASES))}")
    today = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
    billing, hello = sha(BILLING), sha("Hello World")

    stored = await text(session, "store_memory", {
        "content": BILLING, "metadata": {"tags": ["decision", "database"], "type": "decision"}})
    check(stored == f"Memory stored successfully (hash: {billing})", f"store_memory: {stored}")
    await text(session, "store_memory", {"content": TOKIO, "metadata": {"tags": "rust,async", "type": "note"}})
    await text(session, "store_memory", {"content": "Hello World"})
    duplicate = await text(session, "store_memory", {"content": "Hello World"})
    check(duplicate.startswith("Duplicate content detected"), f"store_memory duplicate: {duplicate}")
    check("content" in error_text(await session.call_tool("store_memory", {})), "store_memory without content")

    found = await text(session, "retrieve_memory", {"query": "which database for billing", "n_results": 2})
    check(found.startswith("Found the following memories:\n\nMemory 1:\nTimestamp: ") and f"Hash: {billing}" in found
          and "Relevance Score: 0." in found and found.count("Memory ") == 2, f"retrieve_memory works: {found}")
    recalled = await text(session, "recall_memory", {"query": "today", "n_results": 3})
    check(recalled.startswith(f"Found 3 memories from {today} 00:00 to {today} 23:59:\n\n"), f"recall: {recalled}")
    recalled = await text(session, "recall_memory", {"query": "tokio runtime from today", "n_results": 1})
    check(f"Hash: {sha(TOKIO)}" in recalled and "Relevance Score" in recalled, f"recall with a topic: {recalled}")
    tagged = await text(session, "search_by_tag", {"tags": ["database"]})
    check(tagged.startswith("Found the following memories:") and billing in tagged and "Type: decision" in tagged,
          f"search_by_tag works: {tagged}")
    check(await text(session, "search_by_tag", {"tags": ["nope"]}) == "No memories found with tags: nope",
          "search_by_tag without matches")
    exact = await text(session, "exact_match_retrieve", {"content": "Hello World"})
    check(exact.startswith("Found the following exact matches:") and f"Hash: {hello}" in exact, f"exact: {exact}")
    check(await text(session, "exact_match_retrieve", {"content": "hello"}) == "No exact matches found", "no exact")
    debug = await text(session, "debug_retrieve", {"query": "tokio", "n_results": 1, "similarity_threshold": 0.0})
    check("Similarity Score: 0." in debug and "Raw Distance: " in debug and "Backend: sqlite-vec" in debug,
          f"debug_retrieve: {debug}")
    quality = await text(session, "retrieve_with_quality_boost", {"query": "tokio", "n_results": 1, "quality_weight": 0.5})
    check(quality.startswith("Found the following memories:") and "Quality Score: 0." in quality
          and "Composite Score: " in quality, f"retrieve_with_quality_boost: {quality}")
    embedding = await text(session, "get_raw_embedding", {"content": "Hello World"})
    check(embedding.startswith("Embedding generated successfully:\nDimension: 384\nVector: [")
          and embedding.count(", ") == 20, f"get_raw_embedding: {embedding}")
    health = await text(session, "check_database_health", {})
    report = json.loads(health.removeprefix("Database Health Check Results:\n"))
    check(report["validation"]["status"] == "healthy" and report["statistics"]["total_memories"] == 5,
          f"check_database_health: {report}")
    by_day = await text(session, "recall_by_timeframe", {"start_date": today, "n_results": 5})
    check(by_day.startswith(f"Found 5 memories from {today} to {today}:"), f"recall_by_timeframe: {by_day}")
    check("YYYY-MM-DD" in error_text(await session.call_tool("recall_by_timeframe", {"start_date": "24/11/2026"})),
          "a bad date is explained")
    check(await text(session, "cleanup_duplicates", {}) == "No duplicate memories found", "cleanup_duplicates")

    updated = await text(session, "update_memory_metadata", {
        "content_hash": hello, "updates": {"tags": ["greeting"], "priority": "low"}})
    check(updated == "Successfully updated memory metadata. Updated fields: tags, priority, updated_at", updated)
    check(hello in await text(session, "search_by_tag", {"tags": ["greeting"]}), "the new tags are searchable")
    unknown = "0" * 64
    check("not found" in error_text(await session.call_tool("update_memory_metadata", {
        "content_hash": unknown, "updates": {"tags": ["x"]}})), "updating an unknown hash")
    check(await text(session, "delete_memory", {"content_hash": hello}) == f"Successfully deleted memory {hello}",
          "delete_memory")
    check("not found" in error_text(await session.call_tool("delete_memory", {"content_hash": unknown})),
          "deleting an unknown hash")

    check(await text(session, "delete_by_tag", {"tags": ["pets"]}) == "Successfully deleted 1 memories with tag 'pets'",
          "delete_by_tag")
    for content, tags in [("Alpha note", ["a", "b"]), ("Beta note", ["a"])]:
        await text(session, "store_memory", {"content": content, "metadata": {"tags": tags}})
    all_tags = await text(session, "delete_by_all_tags", {"tags": ["a", "b"]})
    check(all_tags == "Successfully deleted 1 memories with all tags: a, b", f"delete_by_all_tags works: {all_tags}")
    any_tags = await text(session, "delete_by_tags", {"tags": ["a"]})
    check(any_tags.startswith("Successfully deleted 1 memories with tags: a (Operation ID: delete_by_tags_"), any_tags)
    before = await text(session, "delete_before_date", {"before_date": "2000-01-01"})
    check(before == "Deleted 0 memories: created before 2000-01-01", f"nothing is that old: {before}")
    by_frame = await text(session, "delete_by_timeframe", {"start_date": today, "end_date": today, "tag": "rust"})
    check(by_frame == f"Deleted 1 memories: created from {today} to {today} with tag 'rust'",
          f"delete_by_timeframe works: {by_frame}")
    tomorrow = (datetime.datetime.now(datetime.timezone.utc).date() + datetime.timedelta(days=1)).isoformat()
    before = await text(session, "delete_before_date", {"before_date": tomorrow, "tag": "security"})
    check(before == f"Deleted 1 memories: created before {tomorrow} with tag 'security'", f"delete_before_date: {before}")
    check("before_date" in error_text(await session.call_tool("delete_before_date", {"before_date": "soon"})),
          "delete_before_date with a bad date")
    left = structured(await session.call_tool("memory_list", {}))
    check([m["content_hash"] for m in left["memories"]] == [billing], f"only the billing decision is left: {left}")


async def resources(session):
    listed = {r.uri: r for r in (await session.list_resources()).resources}
    for uri in ["memory://stats", "memory://tags", "memory://recent/10", "memory://tag/decision"]:
        check(uri in listed and listed[uri].mime_type == "application/json", f"{uri} is listed: {sorted(listed)}")
    templates = {t.uri_template for t in (await session.list_resource_templates()).resource_templates}
    check(templates == {"memory://recent/{n}", "memory://tag/{tag}", "memory://search/{query}"}, f"{templates}")

    async def read(uri):
        contents = (await session.read_resource(uri)).contents
        check(len(contents) == 1 and contents[0].mime_type == "application/json", f"{uri} is one JSON document")
        return json.loads(contents[0].text)

    billing = sha(BILLING)
    check((await read("memory://stats"))["total_memories"] == 1, "memory://stats")
    tags = await read("memory://tags")
    check(tags == {"count": 2, "tags": ["database", "decision"]} or set(tags["tags"]) == {"database", "decision"},
          f"memory://tags: {tags}")
    recent = await read("memory://recent/5")
    check(recent["count"] == 1 and recent["memories"][0]["content_hash"] == billing
          and recent["memories"][0]["tags_str"] == "decision,database", f"memory://recent/5: {recent}")
    tagged = await read("memory://tag/database")
    check(tagged["tag"] == "database" and tagged["count"] == 1, f"memory://tag/database: {tagged}")
    found = await read("memory://search/which%20database%3F")
    check(found["query"] == "which database?" and found["results"][0]["memory"]["content_hash"] == billing
          and 0.5 < found["results"][0]["similarity_score"] <= 1, f"memory://search: {found}")
    check("Resource not found: memory://nope" in await rpc_error(session.read_resource("memory://nope")),
          "an unknown resource is a JSON-RPC error")
    check("1 to 100" in await rpc_error(session.read_resource("memory://recent/0")), "a bad n is explained")


async def prompts(session):
    listed = {p.name: p for p in (await session.list_prompts()).prompts}
    check(set(listed) == {"memory_review", "memory_analysis", "knowledge_export", "memory_cleanup",
                          "learning_session"}, f"prompts: {sorted(listed)}")
    check([(a.name, a.required) for a in listed["learning_session"].arguments]
          == [("topic", True), ("key_points", True), ("questions", False)], "learning_session's arguments")

    async def prompt(name, arguments):
        result = await session.get_prompt(name, arguments)
        check(len(result.messages) == 1 and result.messages[0].role == "user", f"{name} is one user message")
        return result.messages[0].content.text

    billing = sha(BILLING)
    check(billing in await prompt("memory_review", {"time_period": "today"}), "memory_review shows the memories")
    check(billing in await prompt("memory_review", {"time_period": "this week", "focus_area": "databases"}),
          "memory_review with a focus area")
    check("database (1)" in await prompt("memory_analysis", {"tags": "database", "time_range": "all time"}),
          "memory_analysis counts tags")
    check("# Memory export" in await prompt("knowledge_export", {"format": "markdown"}), "knowledge_export markdown")
    exported = await prompt("knowledge_export", {"format": "json", "filter": "decision"})
    check(f'"content_hash": "{billing}"' in exported, f"knowledge_export json with a filter: {exported}")
    cleanup = await prompt("memory_cleanup", {"older_than": "1 year", "similarity_threshold": "0.9"})
    check("Near-duplicate pairs" in cleanup and "Memories older than 1 year (0)" in cleanup, f"cleanup: {cleanup}")
    learned = await prompt("learning_session", {"topic": "Rust lifetimes", "key_points": "borrow checker, elision",
                                                "questions": "variance"})
    check("I stored these notes as memory" in learned and "- elision" in learned, f"learning_session: {learned}")
    notes = structured(await session.call_tool("memory_list", {"tags": ["learning_session"]}))
    check(notes["total"] == 1 and notes["memories"][0]["memory_type"] == "learning_note", "the session was stored")
    check("time_period" in await rpc_error(session.get_prompt("memory_review", {})), "a missing argument is named")
    check("time expression" in await rpc_error(session.get_prompt("memory_review", {"time_period": "next blursday"})),
          "a bad time period is explained")
    check("json, markdown or text" in await rpc_error(session.get_prompt("knowledge_export", {"format": "xml"})),
          "a bad format is explained")
    check("Unknown prompt" in await rpc_error(session.get_prompt("nope", {})), "an unknown prompt")


async def sessions_log_and_bounds(session):
    """memory_store_session, memory_log, after/before filters and max_response_chars."""
    today = datetime.datetime.now(datetime.timezone.utc).date()
    turns = [{"role": "user", "content": "How do I configure Redis?"},
             {"role": "assistant", "content": "Set REDIS_URL in the .env file."}]
    stored = structured(await session.call_tool("memory_store_session", {
        "turns": turns, "session_id": "s-42", "tags": "redis"}))
    expected = sha("user: How do I configure Redis?\n\nassistant: Set REDIS_URL in the .env file.")
    check(stored["success"] and stored["session_id"] == "s-42" and stored["content_hash"] == expected, f"{stored}")
    listed = structured(await session.call_tool("memory_list", {"tags": ["session:s-42"]}))
    check(listed["total"] == 1 and listed["memories"][0]["memory_type"] == "session"
          and "redis" in listed["memories"][0]["tags"], f"the session is one memory: {listed}")
    generated = structured(await session.call_tool("memory_store_session", {
        "turns": [{"role": "user", "content": "A second, anonymous session"}]}))
    check(len(generated["session_id"]) == 36, f"a session id is generated: {generated}")
    check("turns" in error_text(await session.call_tool("memory_store_session", {"turns": []})), "no turns")

    recent = structured(await session.call_tool("memory_log", {"limit": 2}))
    check(len(recent["events"]) == 2 and recent["events"][-1]["seq"] == recent["last_seq"]
          and recent["events"][-1]["content_hash"] == generated["content_hash"]
          and recent["events"][-1]["kind"] == "stored" and recent["events"][-1]["interface"] == "mcp",
          f"memory_log shows the latest events: {recent}")
    first = structured(await session.call_tool("memory_log", {"since": 0, "limit": 3}))
    check([e["seq"] for e in first["events"]] == [1, 2, 3] and first["events"][0]["content"], f"paging: {first}")
    check("limit" in error_text(await session.call_tool("memory_log", {"limit": 101})), "memory_log's limit")

    found = structured(await session.call_tool("memory_search", {"query": "Redis", "after": today.isoformat()}))
    check(expected in [r["content_hash"] for r in found["results"]], f"after today: {found}")
    found = structured(await session.call_tool("memory_search", {"query": "Redis", "before": today.isoformat()}))
    check(found["count"] == 0, f"nothing was created before today: {found}")
    dry = structured(await session.call_tool("memory_delete", {
        "tags": ["redis"], "after": f"{today.isoformat()}T00:00:00Z", "dry_run": True}))
    check(dry["content_hashes"] == [expected], f"delete by tag and after: {dry}")
    check("after must be a date" in error_text(await session.call_tool("memory_search", {
        "query": "x", "after": "soon"})), "a bad after is explained")
    tomorrow = (today + datetime.timedelta(days=1)).isoformat()
    check("no time is both" in error_text(await session.call_tool("memory_search", {
        "query": "x", "after": tomorrow, "before": today.isoformat()})), "an empty span is explained")

    long = "Observability notes: " + "traces, metrics and logs tell different stories. " * 60
    structured(await session.call_tool("memory_store", {"content": long, "tags": ["long"]}))
    bounded = structured(await session.call_tool("memory_search", {
        "query": "observability traces metrics", "tags": ["long"], "max_response_chars": 600}))
    check(bounded["truncated"] and bounded["count"] == 1 and bounded["results"][0]["content"].endswith("…")
          and len(json.dumps(bounded)) < 1200, f"max_response_chars bounds the answer: {len(json.dumps(bounded))}")
    whole = structured(await session.call_tool("memory_search", {"query": "observability", "tags": ["long"]}))
    check(not whole["truncated"] and whole["results"][0]["content_hash"] == sha(long)
          and len(whole["results"][0]["content"]) >= len(long.strip()), f"the default keeps it whole: {whole}")
    check("at least 500" in error_text(await session.call_tool("memory_search", {
        "query": "x", "max_response_chars": 10})), "a tiny bound is refused")

    created = structured(await session.call_tool("memory_backup", {}))["result"]
    check(created["success"] and created["manifest"]["memories"] >= 4, f"memory_backup takes a backup: {created}")
    listed = structured(await session.call_tool("memory_backup", {"action": "list"}))["result"]
    check(listed["total_count"] == 1 and listed["backups"][0]["filename"] == created["filename"], f"list: {listed}")
    verified = structured(await session.call_tool("memory_backup", {"action": "verify",
                                                                    "filename": created["filename"]}))["result"]
    check(verified["memories"] == created["manifest"]["memories"], f"verify: {verified}")
    check("filename" in error_text(await session.call_tool("memory_backup", {"action": "verify"})),
          "verify without a file name")
    check("not a backup" in error_text(await session.call_tool("memory_backup", {
        "action": "verify", "filename": "../events.redb"})), "only backups of the directory are verified")

    point = structured(await session.call_tool("memory_log", {"limit": 1}))["last_seq"]
    undone = structured(await session.call_tool("memory_store", {"content": "A memory the restore takes away"}))
    preview = structured(await session.call_tool("memory_restore", {"to_seq": point}))
    check(preview["plan"]["disappear"] == [undone["content_hash"]] and preview["plan"]["dry_run"]
          and "would disappear" in preview["summary"], f"memory_restore previews: {preview}")
    check(structured(await session.call_tool("memory_search", {"query": "A memory the restore takes away",
                                                               "mode": "exact"}))["count"] == 1, "nothing moved yet")
    applied = structured(await session.call_tool("memory_restore", {"to_seq": point, "apply": True}))
    check(len(applied["plan"]["appended_seqs"]) == 1, f"memory_restore applies: {applied}")
    check(structured(await session.call_tool("memory_search", {"query": "A memory the restore takes away",
                                                               "mode": "exact"}))["count"] == 0, "it is gone")
    check("either" in error_text(await session.call_tool("memory_restore", {})), "a restore needs a target")

    exported = structured(await session.call_tool("memory_export", {"format": "original"}))
    document = json.loads(exported["data"])
    check(exported["memories"] == len(document["memories"]) > 0 and "export_metadata" in document,
          f"memory_export writes the original's document: {exported['memories']}")
    lines = structured(await session.call_tool("memory_export", {}))
    check(len(lines["data"].splitlines()) == lines["memories"], "memory_export writes JSON lines by default")
    check("max_chars" in error_text(await session.call_tool("memory_export", {"max_chars": 10})),
          "a too large export is refused with a way out")
    again = structured(await session.call_tool("memory_import", {"data": exported["data"]}))
    check(again["imported"] == 0 and again["duplicates"] == again["total"] == exported["memories"],
          f"memory_import of the same memories skips them all: {again}")
    fresh = structured(await session.call_tool("memory_import", {
        "data": json.dumps({"content": "Imported through MCP", "tags": ["imported"], "created_at": 1700000000.5})}))
    check(fresh["imported"] == 1, f"memory_import stores new memories: {fresh}")
    check("neither" in error_text(await session.call_tool("memory_import", {"data": "not json"})),
          "memory_import refuses what it cannot read")

    secret = "The staging database password is hunter2-redact-me"
    stored = structured(await session.call_tool("memory_store", {"content": secret, "tags": ["credentials"]}))
    before = structured(await session.call_tool("memory_backup", {}))["result"]
    check("confirm" in error_text(await session.call_tool("memory_redact", {"content_hash": stored["content_hash"]})),
          "a redaction needs confirm: true")
    redacted = structured(await session.call_tool("memory_redact", {
        "content_hash": stored["content_hash"], "reason": "a password", "confirm": True}))
    check(redacted["success"] and redacted["events_erased"] == 1 and before["filename"] in redacted["backups_scrubbed"],
          f"memory_redact erases the memory from the log and the backups: {redacted}")
    history = structured(await session.call_tool("memory_history", {"content_hash": stored["content_hash"]}))
    check([(e["kind"], e["erased"]) for e in history["events"]] == [("stored", True), ("redacted", False)],
          f"the history keeps a tombstone: {history}")
    check(structured(await session.call_tool("memory_search", {"query": "hunter2-redact-me",
                                                               "mode": "exact"}))["count"] == 0, "it is gone")
    back = structured(await session.call_tool("memory_restore", {"backup": before["filename"]}))
    check(back["plan"]["backup"] == before["filename"] and back["plan"]["dry_run"]
          and back["plan"]["memories_after"] == before["manifest"]["memories"] - 1,
          f"memory_restore previews a backup (without the memory redacted since): {back}")
    check("only one" in error_text(await session.call_tool("memory_restore", {
        "backup": before["filename"], "to_seq": 1})), "a restore has one target")
    check("redacted" in error_text(await session.call_tool("memory_redact", {
        "content_hash": stored["content_hash"], "confirm": True})), "a second redaction is refused")


asyncio.run(main())
