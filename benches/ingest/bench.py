#!/usr/bin/env python3
"""Measures document ingestion under load over HTTP against a running mcp-memory-service.

Phases, each printed as a Markdown table with the machine's load average and the server's RSS:

- a. Seeds short memories (distinct sentences, `POST /api/memories`) so searches have something to rank,
  then runs a fixed list of searches (`POST /api/search`, n_results 5) from one client: the baseline
  p50 / p99 / max latency.
- b. Uploads a generated Markdown document of --medium-mb MiB (`POST /api/documents/upload`) while one
  client searches continuously, polling `GET /api/documents/status/{id}` every 0.5 s until it is
  completed: chunks stored, seconds from the POST to completed, chunks/s (total_chunks / seconds) and the
  search latency during the upload against the baseline.
- c. The same for a --size-mb MiB document (another seed, so no chunk and no file is a duplicate), with the
  server's peak RSS: VmRSS sampled every 0.5 s and VmHWM at the end (reset at the start of the phase where
  the kernel allows it), both from /proc/<--server-pid>/status. --skip-big leaves it out.

The documents are deterministic (fixed seeds), so runs are comparable. Latencies are the client's wall
time of each request. Standard library only, so any python3 runs it:

    python3 benches/ingest/bench.py --url http://127.0.0.1:8000 --key KEY --server-pid PID \\
        [--medium-mb 1] [--size-mb 10] [--skip-big] [--json out.json]

scripts/bench-ingest starts a server on a fresh data directory and runs this against it.
"""

import argparse
import json
import math
import os
import random
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid

MIB = 1024 * 1024
MEDIUM_SEED = 1
BIG_SEED = 2
SEED_MEMORIES_SEED = 7
POLL_S = 0.5

# The word list the documents are built from (seeded choices over it, so a seed gives one document).
WORDS = """
able account across action activity actually address affect agency agree allow almost already although
analysis answer approach area argue around article artist attention audience author available average
balance basis beautiful become before begin behaviour behind believe benefit better between beyond bridge
budget build business campaign capital career carry central century certain chance change character choice
church citizen clearly coastal collect college common community company compare concern condition conference
consider contain context continue control correct country couple course create culture current customer
daily debate decade decide defence degree deliver describe design detail develop difference difficult
direction discover discuss distance doctor document during early economy edition effect effort election
element energy engine enjoy enough entire environment evening event evidence exactly example expect
experience expert explain factor family farmer feature federal field figure final finance finger follow
foreign forest forget former forward future garden general generation glass government green ground group
growth guess habit harbour health history hospital hotel household human idea image impact improve include
increase indeed industry inside instead interest island itself journey judge kitchen knowledge language
large later leader learn letter level library light likely listen little local machine maintain manager
market material matter measure media medical memory method middle minute model modern moment money morning
mountain movement music nation natural nearly network never night notice number object office official
often opinion option order organise outside owner paper parent partner pattern people perhaps period person
picture piece place planet plant player point policy popular position possible power practice prepare
present pressure pretty prevent price private problem process produce product program project property
protect provide public purpose quality question quickly quite radio rather reach reader ready reason
receive record reduce region remain remember report represent research resource response result return
river road science season second section security select senior series service settle several shadow
share short should signal silver simple single sister skill social society soldier source south speech
spring staff stage standard station still stone story strategy street strong student study subject success
summer supply support surface system table teacher technology theory thought through today together total
toward trade traffic travel treatment trial trouble truth under unit until usually valley value various
village visit voice wall water weather western whatever window winter within without wonder worker world
writer yellow young
""".split()

# The seeded memories: subject, action, object and context, combined without repeats.
SUBJECTS = ["Alice", "Bob", "Carmen", "Dmitri", "Esther", "Farid", "Grace", "Hiro", "Ines", "Jonas",
            "The platform team", "The data team", "Our landlord", "My sister", "The new intern"]
ACTIONS = ["decided to migrate", "asked about", "finished reviewing", "complained about", "scheduled a meeting on",
           "wrote a proposal for", "fixed a bug in", "recommended", "postponed", "is researching"]
OBJECTS = ["the Postgres database", "the quarterly budget", "the garden irrigation", "the Kyoto trip itinerary",
           "the billing service", "the piano lessons", "the kitchen renovation", "the search index",
           "the marathon training plan", "the onboarding guide", "the backup schedule", "the tax return",
           "the mobile app release", "the book club list", "the solar panels"]
CONTEXTS = ["on Monday", "last week", "before the holidays", "after the outage", "for next spring",
            "during the offsite", "over lunch", "in the morning standup"]

# The searches of every phase, cycled.
QUERIES = [
    "what did the team decide about the database migration",
    "who is planning the trip to Kyoto",
    "budget discussion for the next quarter",
    "problems with the billing service",
    "when is the marathon training",
    "home renovation and the kitchen",
    "which bugs were fixed in the search index",
    "tax return deadline",
    "solar panels on the roof",
    "music lessons for the kids",
    "release plan for the mobile app",
    "backup schedule after the outage",
    "book recommendations from the club",
    "garden watering system",
    "onboarding documentation for new hires",
    "meeting notes from the offsite",
    "history of the harbour village",
    "energy policy and the economy",
    "research method and evidence",
    "weather in the mountain valley",
]


# Pure helpers.

def percentile(values, p):
    """The nearest-rank percentile: the smallest value with at least p % of the values at or below it."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def latency_summary(latencies_ms):
    """p50, p99, max and the count of request latencies in ms."""
    return {
        "requests": len(latencies_ms),
        "p50": percentile(latencies_ms, 50),
        "p99": percentile(latencies_ms, 99),
        "max": max(latencies_ms) if latencies_ms else float("nan"),
    }


def ratio(a, b):
    """a / b, or nan when either is missing or b is 0."""
    if a is None or b is None or b == 0 or math.isnan(a) or math.isnan(b):
        return float("nan")
    return a / b


def sentence(rng):
    """One sentence of 6 to 18 words from the word list, sometimes with a comma."""
    words = [rng.choice(WORDS) for _ in range(rng.randint(6, 18))]
    if len(words) > 9 and rng.random() < 0.4:
        words[rng.randint(3, len(words) - 4)] += ","
    return " ".join(words).capitalize() + rng.choice(".....?!")


def generate_document(size_bytes, seed):
    """A deterministic Markdown document of about size_bytes (UTF-8; ASCII in fact): a title, then sections
    `## Section N` of 2 to 5 paragraphs of 3 to 8 sentences. It stops at the first paragraph that reaches
    the size and is then cut back to it at a word boundary, so it is within a few bytes of the size."""
    rng = random.Random(seed)
    parts = [f"# Ingestion benchmark document (seed {seed})\n\n"]
    length = len(parts[0])
    section = 0
    while length < size_bytes:
        section += 1
        heading = f"## Section {section}\n\n"
        parts.append(heading)
        length += len(heading)
        for _ in range(rng.randint(2, 5)):
            paragraph = " ".join(sentence(rng) for _ in range(rng.randint(3, 8))) + "\n\n"
            parts.append(paragraph)
            length += len(paragraph)
            if length >= size_bytes:
                break
    text = "".join(parts)
    if len(text) > size_bytes:
        cut = text.rfind(" ", 0, size_bytes)
        text = text[:cut if cut > 0 else size_bytes].rstrip() + "\n"
    return text


def seed_sentences(n, seed=SEED_MEMORIES_SEED):
    """n distinct short sentences (subject, action, object, context), in a seeded order."""
    every = len(SUBJECTS) * len(ACTIONS) * len(OBJECTS) * len(CONTEXTS)
    if n > every:
        raise ValueError(f"at most {every} distinct seed sentences")
    picks = random.Random(seed).sample(range(every), n)
    out = []
    for i in picks:
        i, context = divmod(i, len(CONTEXTS))
        i, obj = divmod(i, len(OBJECTS))
        subject, action = divmod(i, len(ACTIONS))
        out.append(f"{SUBJECTS[subject]} {ACTIONS[action]} {OBJECTS[obj]} {CONTEXTS[context]}.")
    return out


def multipart(fields, file_field, file_name, file_bytes, boundary=None):
    """A multipart/form-data body: text fields, then one file. Returns (content type, body)."""
    boundary = boundary or f"bench-{uuid.uuid4().hex}"
    out = []
    for name, value in fields:
        out.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    out.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; filename="{file_name}"\r\n'
               "Content-Type: text/markdown\r\n\r\n".encode())
    out.append(file_bytes)
    out.append(f"\r\n--{boundary}--\r\n".encode())
    return f"multipart/form-data; boundary={boundary}", b"".join(out)


def fmt(value, digits=1):
    """A number for a table: integers as they are, floats with `digits` decimals, missing as '-'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def table(headers, rows):
    """A Markdown table; a column whose cells (after the header) all read as numbers or '-' is right-aligned."""
    cells = [[fmt(c) if not isinstance(c, str) else c for c in row] for row in rows]

    def numeric(text):
        text = text.replace(",", "").rstrip("x%")
        try:
            float(text)
            return True
        except ValueError:
            return text == "-"

    align = ["---:" if cells and all(numeric(row[i]) for row in cells) else "---" for i in range(len(headers))]
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in cells]
    return "\n".join(lines)


# The machine and the server process.

def load_average():
    one, five, fifteen = os.getloadavg()
    return {"1m": one, "5m": five, "15m": fifteen}


def proc_status(pid):
    """VmRSS and VmHWM of a process in MiB, None for what cannot be read."""
    out = {"rss_mib": None, "hwm_mib": None}
    if not pid:
        return out
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    out["rss_mib" if key == "VmRSS" else "hwm_mib"] = int(value.split()[0]) / 1024
    except OSError:
        pass
    return out


def reset_hwm(pid):
    """Resets the process's VmHWM to its current RSS (Linux 4.0+: `5` to clear_refs); whether it could."""
    if not pid:
        return False
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


# HTTP.

class Client:
    def __init__(self, url, key, timeout=300):
        self.url = url.rstrip("/")
        self.key = key
        self.timeout = timeout

    def request(self, method, path, body=None, content_type="application/json"):
        """The status and the JSON answer (the text when it is not JSON); status 0 when the connection failed."""
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", content_type)
        if self.key:
            request.add_header("Authorization", f"Bearer {self.key}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                text = response.read()
                status = response.status
        except urllib.error.HTTPError as error:
            text, status = error.read(), error.code
        except (urllib.error.URLError, OSError) as error:
            return 0, f"{type(error).__name__}: {error}"
        try:
            return status, json.loads(text or b"null")
        except ValueError:
            return status, text.decode(errors="replace")

    def search(self, query, n_results=5):
        """One search; (latency in ms, status, answer)."""
        started = time.perf_counter()
        status, answer = self.request("POST", "/api/search", {"query": query, "n_results": n_results})
        return (time.perf_counter() - started) * 1000, status, answer


def fail(message):
    sys.exit(f"bench.py: {message}")


def wait_for_read_model(client, timeout=600):
    """Waits until the read model has applied every event of the log, so searches see what was stored."""
    deadline = time.monotonic() + timeout
    while True:
        status, answer = client.request("GET", "/api/health/detailed")
        if status == 200 and isinstance(answer, dict) and answer.get("projections", {}).get("read_model_lag") == 0:
            return
        if time.monotonic() > deadline:
            fail(f"the read model did not catch up within {timeout} s: {status} {answer}")
        time.sleep(0.2)


# Phases.

def seed_and_baseline(client, pid, n_memories, n_searches):
    started = time.perf_counter()
    for content in seed_sentences(n_memories):
        status, answer = client.request("POST", "/api/memories", {"content": content, "tags": ["bench-seed"]})
        if status != 200 or not (isinstance(answer, dict) and answer.get("success", True)):
            fail(f"POST /api/memories {content!r} answered {status}: {answer}")
    wait_for_read_model(client)
    seeding_s = time.perf_counter() - started
    latencies = []
    for i in range(n_searches):
        latency, status, answer = client.search(QUERIES[i % len(QUERIES)])
        if status != 200:
            fail(f"POST /api/search {QUERIES[i % len(QUERIES)]!r} answered {status}: {answer}")
        if i == 0 and not answer.get("results"):
            fail(f"the first search found nothing among {n_memories} memories: {answer}")
        latencies.append(latency)
    return {
        "memories": n_memories,
        "seeding_s": seeding_s,
        "search_ms": latency_summary(latencies),
        "load_average": load_average(),
        "server": proc_status(pid),
    }


class Searcher(threading.Thread):
    """Searches continuously with one client until stopped; records each search's start (perf_counter) and
    latency, and any failure."""

    def __init__(self, client):
        super().__init__(daemon=True)
        self.client = client
        self.stopping = threading.Event()
        self.latencies = []
        self.failures = []

    def run(self):
        i = 0
        while not self.stopping.is_set():
            query = QUERIES[i % len(QUERIES)]
            at = time.perf_counter()
            latency, status, answer = self.client.search(query)
            if status == 200:
                self.latencies.append((at, latency))
            else:
                self.failures.append({"query": query, "status": status, "answer": str(answer)[:500]})
                time.sleep(0.1)
            i += 1

    def stop(self):
        self.stopping.set()
        self.join()


def upload_phase(client, pid, name, size_mib, seed, baseline, args):
    """Uploads a generated document while searching; the figures of the phase."""
    document = generate_document(int(size_mib * MIB), seed).encode()
    file_name = f"bench-{name}-seed{seed}.md"
    fields = [("tags", f"bench-ingest,bench-{name}"), ("chunk_size", args.chunk_size),
              ("chunk_overlap", args.chunk_overlap), ("memory_type", "document"), ("force", "false")]
    content_type, body = multipart(fields, "file", file_name, document)
    hwm_reset = reset_hwm(pid)
    before = proc_status(pid)
    peak_rss = before["rss_mib"]
    peak_load = os.getloadavg()[0]
    searcher = Searcher(Client(client.url, client.key, client.timeout))
    searcher.start()
    time.sleep(1.0)  # the thread is under way when the upload starts; only searches begun after the POST count
    started = time.perf_counter()
    status, answer = client.request("POST", "/api/documents/upload", body, content_type)
    post_s = time.perf_counter() - started
    if status != 200 or not isinstance(answer, dict) or answer.get("status") != "queued":
        searcher.stop()
        fail(f"POST /api/documents/upload ({file_name}, {len(document)} bytes) answered {status}: {answer}")
    upload_id = answer["upload_id"]
    processing_at = None
    last_change, last_seen = time.perf_counter(), None
    rss_timeline = []  # (seconds since the POST, chunks processed, VmRSS MiB): where the memory grows
    while True:
        time.sleep(POLL_S)
        now = time.perf_counter()
        state_code, state = client.request("GET", f"/api/documents/status/{upload_id}")
        rss = proc_status(pid)["rss_mib"]
        if rss is not None:
            peak_rss = max(peak_rss or 0, rss)
        peak_load = max(peak_load, os.getloadavg()[0])
        if state_code != 200 or not isinstance(state, dict):
            searcher.stop()
            fail(f"GET /api/documents/status/{upload_id} answered {state_code}: {state}")
        if rss is not None:
            rss_timeline.append((round(now - started, 1), state.get("chunks_processed"), round(rss, 1)))
        if state["status"] == "processing" and processing_at is None:
            processing_at = now - started
        if state["status"] in ("completed", "failed", "removed"):
            break
        seen = (state["status"], state.get("chunks_processed"), state.get("total_chunks"))
        if seen != last_seen:
            last_seen, last_change = seen, now
        if now - started > args.timeout or now - last_change > args.stall:
            searcher.stop()
            state.pop("content_hashes", None)
            why = "no progress" if now - last_change > args.stall else "not completed"
            fail(f"upload {upload_id} ({file_name}): {why} after {now - started:.0f} s; last status: {state}")
        if args.verbose:
            print(f"  {name}: {state['status']} {state.get('chunks_processed')}/{state.get('total_chunks')} "
                  f"at {now - started:.1f} s", file=sys.stderr)
    seconds = time.perf_counter() - started
    searcher.stop()
    timeline = [(round(at - started, 3), round(ms, 2)) for at, ms in searcher.latencies
                if 0 <= at - started <= seconds]
    during = latency_summary([ms for _, ms in timeline])
    after = proc_status(pid)
    state.pop("content_hashes", None)
    if state["status"] != "completed":
        fail(f"upload {upload_id} ({file_name}) ended {state['status']}: {state}")
    base = baseline["search_ms"]
    total = state.get("total_chunks") or 0
    return {
        "file": file_name,
        "bytes": len(document),
        "upload_id": upload_id,
        "total_chunks": total,
        "chunks_stored": state.get("chunks_stored"),
        "duplicates": state.get("duplicates"),
        "errors": state.get("errors") or [],
        "post_s": post_s,
        "queued_s": processing_at,
        "seconds": seconds,
        "chunks_per_s": total / seconds if seconds else float("nan"),
        "search_ms": during,
        "search_failures": searcher.failures,
        "slowest_searches": [{"began_s": at, "ms": ms} for at, ms in sorted(timeline, key=lambda t: -t[1])[:5]],
        "search_timeline": timeline,
        "search_ratio": {"p50": ratio(during["p50"], base["p50"]), "p99": ratio(during["p99"], base["p99"]),
                         "max": ratio(during["max"], base["max"])},
        "load_average": load_average(),
        "peak_load_1m": peak_load,
        "server": {"rss_before_mib": before["rss_mib"], "rss_after_mib": after["rss_mib"], "peak_rss_mib": peak_rss,
                   "hwm_mib": after["hwm_mib"], "hwm_reset": hwm_reset, "rss_timeline": rss_timeline},
    }


# Output.

def machine_rows(figures):
    load = figures["load_average"]
    rows = [("load average 1 / 5 / 15 min", f"{load['1m']:.2f} / {load['5m']:.2f} / {load['15m']:.2f}")]
    if "peak_load_1m" in figures:
        rows.append(("peak 1-min load average", f"{figures['peak_load_1m']:.2f}"))
    server = figures["server"]
    if "rss_mib" in server:
        rows.append(("server RSS (MiB)", fmt(server["rss_mib"])))
    else:
        before_after = f"{fmt(server['rss_before_mib'])} / {fmt(server['rss_after_mib'])}"
        rows += [("server RSS before / after (MiB)", before_after),
                 ("server peak RSS, sampled every 0.5 s (MiB)", fmt(server["peak_rss_mib"])),
                 ("server VmHWM at the end (MiB)" + ("" if server["hwm_reset"] else ", since the server started"),
                  fmt(server["hwm_mib"]))]
    return rows


def baseline_markdown(b):
    s = b["search_ms"]
    rows = [("seeded memories", b["memories"]), ("seeding (s)", b["seeding_s"]), ("searches", s["requests"]),
            ("search p50 (ms)", s["p50"]), ("search p99 (ms)", s["p99"]), ("search max (ms)", s["max"])]
    rows += machine_rows(b)
    return f"### a. Baseline search\n\n{table(['Figure', 'Value'], rows)}\n"


def upload_markdown(title, u, baseline):
    rows = [("file", f"{u['file']} ({u['bytes']:,} bytes)"), ("total chunks", u["total_chunks"]),
            ("chunks stored", u["chunks_stored"]), ("duplicates", u["duplicates"]),
            ("errors", len(u["errors"])), ("POST answered in (s)", fmt(u["post_s"], 2)),
            ("first polled as processing (s)", fmt(u["queued_s"])),
            ("POST to completed (s)", u["seconds"]), ("chunks/s", u["chunks_per_s"]),
            ("search failures during the upload", len(u["search_failures"]))]
    if u["slowest_searches"]:
        slowest = u["slowest_searches"][0]
        rows.append(("slowest search (ms), began at (s after the POST)",
                     f"{slowest['ms']:,.1f} at {slowest['began_s']:.1f}"))
    rows += machine_rows(u)
    b, d, r = baseline["search_ms"], u["search_ms"], u["search_ratio"]
    searches = [(k, b[k], d[k], f"{fmt(r[k], 2)}x") for k in ("p50", "p99", "max")]
    searches.append(("requests", b["requests"], d["requests"], "-"))
    return (f"### {title}\n\n{table(['Figure', 'Value'], rows)}\n\n"
            f"{table(['Search latency (ms)', 'Baseline', 'During the upload', 'Ratio'], searches)}\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="the server, e.g. http://127.0.0.1:8000")
    parser.add_argument("--key", default="", help="the API key (sent as Authorization: Bearer)")
    parser.add_argument("--server-pid", type=int, help="the server's process id, for its RSS (/proc/PID/status)")
    parser.add_argument("--medium-mb", type=float, default=1.0, help="size of the medium document in MiB")
    parser.add_argument("--size-mb", type=float, default=10.0, help="size of the big document in MiB")
    parser.add_argument("--skip-big", action="store_true", help="leave out the big document (phase c)")
    parser.add_argument("--seed-memories", type=int, default=300, help="short memories stored first")
    parser.add_argument("--searches", type=int, default=200, help="searches of the baseline")
    parser.add_argument("--chunk-size", type=int, default=1000, help="the upload's chunk_size")
    parser.add_argument("--chunk-overlap", type=int, default=200, help="the upload's chunk_overlap")
    parser.add_argument("--timeout", type=float, default=7200, help="seconds an upload may take")
    parser.add_argument("--stall", type=float, default=600, help="seconds an upload may show no progress")
    parser.add_argument("--verbose", action="store_true", help="print each status poll to stderr")
    parser.add_argument("--json", help="also write every figure as JSON to this file")
    args = parser.parse_args()

    client = Client(args.url, args.key)
    pid = args.server_pid
    report = {
        "settings": {k: getattr(args, k) for k in ("medium_mb", "size_mb", "skip_big", "seed_memories", "searches",
                                                   "chunk_size", "chunk_overlap")},
        "machine": {"cpus": os.cpu_count()},
    }
    print(f"## Document ingestion under load ({os.cpu_count()} CPUs)\n")
    print(f"==> a. seeding {args.seed_memories} memories, then {args.searches} searches", file=sys.stderr)
    baseline = seed_and_baseline(client, pid, args.seed_memories, args.searches)
    report["baseline"] = baseline
    print(baseline_markdown(baseline), flush=True)

    phases = [("medium", args.medium_mb, MEDIUM_SEED, "b")]
    if not args.skip_big:
        phases.append(("big", args.size_mb, BIG_SEED, "c"))
    failures = 0
    for name, size, seed, letter in phases:
        print(f"==> {letter}. uploading the {name} document ({size:g} MiB) while searching", file=sys.stderr)
        figures = upload_phase(client, pid, name, size, seed, baseline, args)
        report[name] = figures
        print(upload_markdown(f"{letter}. Upload of {size:g} MiB ({name}) while searching", figures, baseline),
              flush=True)
        for f in figures["search_failures"][:5]:
            print(f"search failure during the {name} upload: {f}", file=sys.stderr)
        failures += len(figures["search_failures"]) + len(figures["errors"])
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    if failures:
        fail(f"{failures} failed searches or upload errors (see above)")


if __name__ == "__main__":
    main()
