#!/usr/bin/env python3
"""Measures retrieval quality over HTTP against a running mcp-memory-service (issue #18).

Stores every turn of a dataset (generate.py writes them) as one memory through `POST /api/import`, then asks
every question through `POST /api/search` with n_results 10, once per mode, and scores the ranked hashes
against the question's evidence turns.

- recall@k: the share of questions with evidence among the top k. Multi-hop questions count only when all
  their evidence turns are there ("all"); the others when any is ("any"). The multi-hop (any) row shows the
  lenient figure too. Overall is over every answerable question, with those rules.
- MRR@10: the mean of 1/rank of the first evidence turn in the top 10 (0 when none is).
- nDCG@10: binary relevance, ideal ranking = every evidence turn first.
- Adversarial questions (nothing said answers them) are left out of those. For them, on the top hit's
  similarity_score (whose scale differs by mode): AUC, the chance that an answerable question's top score
  beats an adversarial one's (0.5: the score cannot tell them apart, 1.0: a threshold separates them), and
  rejected@95: the share of adversarial questions whose top score is below the threshold that keeps 95 % of
  the answerable ones (their 5th percentile), i.e. how often "nothing relevant" could be said at that price.
- Latency: p50 and p99 of the search request's wall time, measured by this client.

Standard library only, so any python3 runs it:

    python3 benches/retrieval/harness.py --url http://127.0.0.1:8000 --api-key KEY \\
        --dataset benches/retrieval/dataset.json --modes default,semantic,keyword,hybrid [--json out.json]

"default" sends no mode, so it measures whatever the server does by default.
"""

import argparse
import hashlib
import json
import math
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime

CATEGORIES = ["single-fact", "temporal", "multi-hop", "open-domain", "adversarial"]
K = 10


# Metrics: pure functions of ranked hashes and relevant hashes.

def recall_at(ranked, relevant, k, need_all=False):
    """1.0 when the top k hold any (or, with need_all, every) relevant item, else 0.0."""
    top = set(ranked[:k])
    found = [r in top for r in relevant]
    return float(all(found) if need_all else any(found)) if relevant else 0.0


def reciprocal_rank(ranked, relevant, k=K):
    """1/rank of the first relevant item in the top k, 0.0 when there is none."""
    for rank, item in enumerate(ranked[:k], start=1):
        if item in relevant:
            return 1.0 / rank
    return 0.0


def ndcg_at(ranked, relevant, k=K):
    """Normalised discounted cumulative gain with binary relevance."""
    relevant = set(relevant)
    dcg = sum(1.0 / math.log2(rank + 1) for rank, item in enumerate(ranked[:k], start=1) if item in relevant)
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(len(relevant), k) + 1))
    return dcg / ideal if ideal else 0.0


def percentile(values, p):
    """The nearest-rank percentile: the smallest value with at least p % of the values at or below it."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def auc(positives, negatives):
    """The chance that a random positive scores above a random negative (ties count half)."""
    if not positives or not negatives:
        return float("nan")
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in positives for n in negatives)
    return wins / (len(positives) * len(negatives))


def score_question(category, ranked, relevant):
    """The metrics of one answerable question."""
    need_all = category == "multi-hop"
    row = {f"recall@{k}": recall_at(ranked, relevant, k, need_all) for k in (1, 5, 10)}
    row.update({f"recall_any@{k}": recall_at(ranked, relevant, k) for k in (1, 5, 10)})
    row["mrr@10"] = reciprocal_rank(ranked, relevant)
    row["ndcg@10"] = ndcg_at(ranked, relevant)
    return row


def summarise(answers):
    """Per-category and overall means of answered questions: dicts with category, ranked, relevant,
    top_score and latency_ms."""
    def mean(rows, key):
        return sum(r[key] for r in rows) / len(rows) if rows else float("nan")

    keys = ["recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10"]
    # MRR and nDCG do not depend on "any" or "all", so the multi-hop (any) row repeats them.
    scored = {c: [] for c in CATEGORIES if c != "adversarial"}
    for a in answers:
        if a["category"] != "adversarial":
            scored[a["category"]].append(score_question(a["category"], a["ranked"], a["relevant"]))
    categories = {c: dict({k: mean(rows, k) for k in keys}, questions=len(rows)) for c, rows in scored.items()}
    hops = scored["multi-hop"]
    categories["multi-hop (any)"] = dict(
        {k: mean(hops, k.replace("recall@", "recall_any@")) for k in keys}, questions=len(hops))
    every = [row for rows in scored.values() for row in rows]
    overall = dict({k: mean(every, k) for k in keys}, questions=len(every))
    top = lambda a: a["top_score"] if a["top_score"] is not None else float("-inf")  # noqa: E731
    adversarial = [top(a) for a in answers if a["category"] == "adversarial"]
    answerable = [top(a) for a in answers if a["category"] != "adversarial"]
    latencies = [a["latency_ms"] for a in answers]
    threshold = percentile(answerable, 5)
    return {
        "categories": categories,
        "overall": overall,
        "adversarial": {
            "questions": len(adversarial),
            "auc": auc(answerable, adversarial),
            "threshold@95": threshold,
            "rejected@95": sum(s < threshold for s in adversarial) / len(adversarial) if adversarial else None,
        },
        "latency_ms": {"p50": percentile(latencies, 50), "p99": percentile(latencies, 99), "requests": len(latencies)},
    }


# The dataset as memories.

def content_hash(content):
    """The service's content hash: sha256 of the trimmed, lower-cased content (ASCII content here)."""
    return hashlib.sha256(content.strip().lower().encode()).hexdigest()


def memories_of(dataset):
    """One memory per turn, and the content hash of every turn id."""
    memories, hashes = [], {}
    for conversation in dataset["conversations"]:
        for session in conversation["sessions"]:
            start = datetime.fromisoformat(session["date"].replace("Z", "+00:00")).timestamp()
            for n, turn in enumerate(session["turns"]):
                content = f"{turn['speaker']}: {turn['text']}"
                at = start + 30.0 * n  # turns half a minute apart keep their order in time
                memories.append({
                    "content": content,
                    "tags": [f"speaker:{turn['speaker'].lower()}", f"session:{session['id']}",
                             f"conversation:{conversation['id']}"],
                    "memory_type": "conversation",
                    "metadata": {"speaker": turn["speaker"], "session": session["id"], "date": session["date"],
                                 "turn": turn["id"]},
                    "created_at": at,
                    "updated_at": at,
                })
                hashes[turn["id"]] = content_hash(content)
    return memories, hashes


# HTTP.

class Client:
    def __init__(self, url, api_key, timeout=120):
        self.url = url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout

    def request(self, method, path, body=None, content_type="application/json"):
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Content-Type", content_type)
        if self.api_key:
            request.add_header("X-API-Key", self.api_key)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(errors="replace")


def store(client, memories, chunk_bytes=1 << 20):
    """Imports the memories as JSON lines, in bodies of at most about chunk_bytes (well under the server's
    default MCP_HTTP_MAX_BODY_BYTES of 8 MiB)."""
    imported = duplicates = 0
    lines = [json.dumps(m) for m in memories]
    start = 0
    while start < len(lines):
        end, size = start, 0
        while end < len(lines) and (end == start or size + len(lines[end]) + 1 <= chunk_bytes):
            size += len(lines[end]) + 1
            end += 1
        status, answer = client.request("POST", "/api/import", "\n".join(lines[start:end]).encode(),
                                        "application/x-ndjson")
        if status != 200:
            sys.exit(f"import failed with {status}: {answer}")
        imported += answer["imported"]
        duplicates += answer["duplicates"]
        start = end
    return imported, duplicates


def wait_for_read_model(client, timeout=600):
    """Waits until the read model has applied every event of the log."""
    deadline = time.monotonic() + timeout
    while True:
        status, answer = client.request("GET", "/api/health/detailed")
        if status == 200 and answer["projections"]["read_model_lag"] == 0:
            return
        if time.monotonic() > deadline:
            sys.exit(f"the read model did not catch up within {timeout} s: {status} {answer}")
        time.sleep(0.2)


def check_evidence(client, dataset, hashes):
    """Every evidence turn must be stored under the hash this harness computes for it."""
    wanted = sorted({hashes[e] for q in dataset["questions"] for e in q["evidence"]})
    for h in wanted:
        status, answer = client.request("GET", f"/api/memories/{h}")
        if status != 200:
            sys.exit(f"evidence memory {h} is not stored ({status}: {answer}); is the content hash rule the same?")


def ask(client, dataset, hashes, mode):
    """Asks every question in one mode; returns the answers (ranked hashes, top score, latency)."""
    answers = []
    for q in dataset["questions"]:
        body = {"query": q["question"], "n_results": K}
        if mode != "default":
            body["mode"] = mode
        started = time.perf_counter()
        status, answer = client.request("POST", "/api/search", body)
        latency_ms = (time.perf_counter() - started) * 1000
        if status != 200:
            sys.exit(f"search {body} failed with {status}: {answer}")
        results = answer["results"]
        answers.append({
            "id": q["id"],
            "category": q["category"],
            "ranked": [r["memory"]["content_hash"] for r in results],
            "relevant": [hashes[e] for e in q["evidence"]],
            "top_score": results[0]["similarity_score"] if results else None,
            "latency_ms": latency_ms,
        })
    return answers


# Output.

def markdown(mode, summary):
    latency = summary["latency_ms"]
    lines = [
        f"#### {mode}",
        "",
        f"Search latency (client-side, {latency['requests']} requests): p50 {latency['p50']:.1f} ms, "
        f"p99 {latency['p99']:.1f} ms.",
        "",
        "| Category | Questions | R@1 | R@5 | R@10 | MRR@10 | nDCG@10 |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    rows = list(summary["categories"].items()) + [("**overall**", summary["overall"])]
    for name, row in rows:
        lines.append(f"| {name} | {row['questions']} | {row['recall@1']:.3f} | {row['recall@5']:.3f} | "
                     f"{row['recall@10']:.3f} | {row['mrr@10']:.3f} | {row['ndcg@10']:.3f} |")
    adv = summary["adversarial"]
    if adv["questions"]:
        lines += ["", f"Adversarial ({adv['questions']} questions): AUC {adv['auc']:.3f}; rejected@95 "
                      f"{adv['rejected@95']:.3f} (top score below {adv['threshold@95']:.4g}, which keeps 95 % of the "
                      "answerable questions)."]
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="the server, e.g. http://127.0.0.1:8000")
    parser.add_argument("--api-key", default="", help="the API key (X-API-Key)")
    parser.add_argument("--dataset", required=True, help="a JSON file written by generate.py")
    parser.add_argument("--modes", default="default,semantic,keyword,hybrid",
                        help="comma-separated: default (no mode sent), semantic, keyword, hybrid")
    parser.add_argument("--no-import", action="store_true", help="the turns are stored already")
    parser.add_argument("--json", help="also write the figures as JSON to this file")
    args = parser.parse_args()

    with open(args.dataset) as f:
        dataset = json.load(f)
    client = Client(args.url, args.api_key)
    memories, hashes = memories_of(dataset)
    if not args.no_import:
        started = time.monotonic()
        imported, duplicates = store(client, memories)
        wait_for_read_model(client)
        print(f"stored {imported} turns ({duplicates} repeated small talk) in {time.monotonic() - started:.1f} s",
              file=sys.stderr)
    check_evidence(client, dataset, hashes)
    report = {"dataset": args.dataset, "turns": len(memories), "questions": len(dataset["questions"]), "modes": {}}
    print(f"### {args.dataset}: {len(memories)} turns, {len(dataset['questions'])} questions\n")
    for mode in args.modes.split(","):
        summary = summarise(ask(client, dataset, hashes, mode))
        report["modes"][mode] = summary
        print(markdown(mode, summary), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
