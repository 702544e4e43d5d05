"""One row of the scaling table (issue #23, item 7) on an existing store, through the release binary.

    python3 benches/scaling/row.py STORE_DIR [BINARY]

Copies STORE_DIR to a scratch directory beside it (the stores below change it; the copy is removed at the
end), spawns `serve` on the copy (MCP_MEMORY_BASE_DIR), polls /api/health every 5 ms, then times from one
keep-alive client: 150 questions in each search mode (default, semantic, keyword), 100 tag searches
alternating the tags `bench` and `notes` (every memory of the bench stores has both), 100 list pages, the
first `as_of` query (a list as of the middle event: the read model materialised there) and a second one
(kept), then 200 stores of new memories; and reads the server's RSS once the model has loaded and after
the searches, and the store's size on disk (before the stores). Scheduled backups are off and the request
timeout is 900 s. Prints one JSON object. The 100k store is what
`MMS_BENCH_REBUILD_N=100000 cargo bench --bench projection` leaves in `$CARGO_TARGET_DIR/bench-data/rebuild-100000`
(and the 1M one, `=1000000`, in `rebuild-1000000`).
"""

import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import time

HEADERS = {"Authorization": "Bearer k", "Content-Type": "application/json"}
WORDS = ["project", "meeting", "decision", "budget", "design", "customer", "deadline", "release", "incident",
         "database", "review", "travel"]


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as status:
        line = next(line for line in status if line.startswith("VmRSS"))
    return int(line.split()[1]) // 1024


def percentile(values, p):
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * p))], 2)


def wait_healthy(port):
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/api/health")
            response = conn.getresponse()
            response.read()
            if response.status == 200:
                return
        except OSError:
            pass
        time.sleep(0.005)


def main():
    store = sys.argv[1].rstrip("/")
    binary = sys.argv[2] if len(sys.argv) > 2 else "target/release/mcp-memory-service"
    base = store + ".row-copy"
    shutil.rmtree(base, ignore_errors=True)
    shutil.copytree(store, base)
    # Written back before the start is timed: the log's first sync at open would otherwise flush the whole
    # copy (seconds at 1M memories), which is the copy's cost, not the start's.
    os.sync()
    try:
        row = measure(store, base, binary)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print(json.dumps(row))


def disk_mb(base):
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(base) for f in files)
    return round(size / 1e6, 1)


def measure(store, base, binary):
    port = free_port()
    # No scheduled backup: a store that has none gets one at the first start, which would be measured too.
    # The request timeout is raised for the first `as_of` query, which replays half the log: at 1M memories that
    # takes longer than the default 60 s, and is answered 408 with it.
    env = dict(os.environ, MCP_MEMORY_BASE_DIR=base, MCP_API_KEY="k", MCP_BACKUP_ENABLED="false",
               MCP_HTTP_REQUEST_TIMEOUT="900")
    started = time.perf_counter()
    server = subprocess.Popen([binary, "serve", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_healthy(port)
        row = {"store": store, "to_healthy_s": round(time.perf_counter() - started, 3), "disk_mb": disk_mb(base)}
        conn = http.client.HTTPConnection("127.0.0.1", port)

        def timed_ms(method, path, body=None):
            begun = time.perf_counter()
            conn.request(method, path, json.dumps(body) if body is not None else None, HEADERS)
            response = conn.getresponse()
            data = response.read()
            assert response.status == 200, (path, response.status, data[:200])
            return (time.perf_counter() - begun) * 1000

        time.sleep(1.0)  # the model loads in the background
        row["idle_rss_mb"] = rss_mb(server.pid)
        questions = [f"what was decided about the {WORDS[i % 12]} and the {WORDS[(i * 5 + 3) % 12]}"
                     for i in range(150)]
        for mode in ["default", "semantic", "keyword"]:
            times = []
            for question in questions:
                body = {"query": question, "n_results": 10}
                if mode != "default":
                    body["mode"] = mode
                times.append(timed_ms("POST", "/api/search", body))
            row[mode] = {"p50": percentile(times, .5), "p99": percentile(times, .99)}
        times = [timed_ms("POST", "/api/search/by-tag", {"tags": ["bench" if i % 2 else "notes"], "n_results": 10})
                 for i in range(100)]
        row["tag"] = {"p50": percentile(times, .5)}
        times = [timed_ms("GET", f"/api/memories?page={1 + i % 20}&page_size=10") for i in range(100)]
        row["list"] = {"p50": percentile(times, .5)}
        row["rss_mb"] = rss_mb(server.pid)
        conn.request("GET", "/api/log?limit=1", None, HEADERS)
        response = conn.getresponse()
        latest = json.loads(response.read())
        assert response.status == 200, latest
        middle = max(1, latest["last_seq"] // 2)
        as_of = f"/api/memories?page=1&page_size=10&as_of=seq:{middle}"
        row["as_of_first_s"] = round(timed_ms("GET", as_of) / 1000, 2)
        row["as_of_again_ms"] = round(timed_ms("GET", as_of), 2)
        stamp = time.time_ns()
        times = [timed_ms("POST", "/api/memories", {
            "content": f"Scaling row store {stamp}-{i}: the {WORDS[i % 12]} review moved to "
                       f"{WORDS[(i * 7 + 1) % 12]} after the call.",
            "tags": ["scaling-row"]}) for i in range(200)]
        row["store_ms"] = {"p50": percentile(times, .5), "p95": percentile(times, .95)}
    finally:
        server.terminate()
        server.wait()
    return row


if __name__ == "__main__":
    main()
