#!/usr/bin/env python3
"""Unit tests of the retrieval benchmark's metrics and generator (tests/it/retrieval.rs runs them in CI).

    python3 -m unittest discover -s benches/retrieval -p 'test_*.py'
"""

import json
import math
import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import generate  # noqa: E402
import harness  # noqa: E402


class Metrics(unittest.TestCase):
    # A hand-made case: two questions over the ranked lists below, evidence by letter.
    ranked = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"]

    def test_recall_at_k_counts_any_or_all_evidence_in_the_top_k(self):
        self.assertEqual(harness.recall_at(self.ranked, ["c"], 1), 0.0)
        self.assertEqual(harness.recall_at(self.ranked, ["c"], 3), 1.0)
        self.assertEqual(harness.recall_at(self.ranked, ["k"], 10), 0.0, "the 11th result is outside the top 10")
        self.assertEqual(harness.recall_at(self.ranked, ["b", "z"], 5), 1.0)
        self.assertEqual(harness.recall_at(self.ranked, ["b", "z"], 5, need_all=True), 0.0)
        self.assertEqual(harness.recall_at(self.ranked, ["b", "e"], 5, need_all=True), 1.0)
        self.assertEqual(harness.recall_at(self.ranked, ["b", "f"], 5, need_all=True), 0.0)
        self.assertEqual(harness.recall_at(self.ranked, [], 5), 0.0, "no evidence is never recalled")

    def test_reciprocal_rank_is_one_over_the_first_hit(self):
        self.assertEqual(harness.reciprocal_rank(self.ranked, ["a"]), 1.0)
        self.assertEqual(harness.reciprocal_rank(self.ranked, ["d", "b"]), 0.5)
        self.assertEqual(harness.reciprocal_rank(self.ranked, ["j"]), 0.1)
        self.assertEqual(harness.reciprocal_rank(self.ranked, ["k"]), 0.0)

    def test_ndcg_against_hand_computed_values(self):
        self.assertAlmostEqual(harness.ndcg_at(self.ranked, ["a"]), 1.0)
        self.assertAlmostEqual(harness.ndcg_at(self.ranked, ["b"]), 1 / math.log2(3))
        # Evidence at ranks 1 and 3 of two: (1 + 1/log2(4)) / (1 + 1/log2(3)).
        self.assertAlmostEqual(harness.ndcg_at(self.ranked, ["a", "c"]), 1.5 / (1 + 1 / math.log2(3)))
        self.assertAlmostEqual(harness.ndcg_at(self.ranked, ["z"]), 0.0)
        self.assertAlmostEqual(harness.ndcg_at([], ["a"]), 0.0)

    def test_summary_of_a_tiny_run(self):
        answers = [
            {"category": "single-fact", "ranked": ["x", "a"], "relevant": ["a"], "top_score": 0.8, "latency_ms": 1},
            {"category": "single-fact", "ranked": ["b"], "relevant": ["b"], "top_score": 0.9, "latency_ms": 2},
            {"category": "multi-hop", "ranked": ["c", "y", "d"], "relevant": ["c", "d"], "top_score": 0.7,
             "latency_ms": 3},
            {"category": "multi-hop", "ranked": ["e"], "relevant": ["e", "f"], "top_score": 0.6, "latency_ms": 4},
            {"category": "adversarial", "ranked": ["q"], "relevant": [], "top_score": 0.3, "latency_ms": 5},
            {"category": "adversarial", "ranked": [], "relevant": [], "top_score": None, "latency_ms": 100},
        ]
        summary = harness.summarise(answers)
        single = summary["categories"]["single-fact"]
        self.assertEqual(single["questions"], 2)
        self.assertEqual(single["recall@1"], 0.5)
        self.assertEqual(single["recall@5"], 1.0)
        self.assertEqual(single["mrr@10"], 0.75)
        hops = summary["categories"]["multi-hop"]
        self.assertEqual(hops["recall@1"], 0.0, "all evidence is needed")
        self.assertEqual(hops["recall@5"], 0.5)
        self.assertEqual(summary["categories"]["multi-hop (any)"]["recall@1"], 1.0)
        self.assertEqual(summary["overall"]["questions"], 4)
        self.assertEqual(summary["overall"]["recall@5"], 0.75)
        adversarial = summary["adversarial"]
        self.assertEqual(adversarial["auc"], 1.0)
        self.assertEqual(adversarial["threshold@95"], 0.6, "the lowest of four answerable top scores")
        self.assertEqual(adversarial["rejected@95"], 1.0)
        self.assertEqual(summary["latency_ms"]["p50"], 3, "the third of six latencies")
        self.assertEqual(summary["latency_ms"]["p99"], 100)

    def test_percentile_and_auc(self):
        self.assertEqual(harness.percentile(list(range(1, 101)), 50), 50)
        self.assertEqual(harness.percentile(list(range(1, 101)), 99), 99)
        self.assertEqual(harness.percentile([7], 99), 7)
        self.assertEqual(harness.auc([1, 2], [0, 2]), (1 + 0 + 1 + 0.5) / 4)

    def test_content_hash_is_the_services(self):
        # The hash the service gives "  Hello World " (README, "hashing"): sha256 of "hello world".
        self.assertEqual(harness.content_hash("  Hello World "),
                         "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9")


class Dataset(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.small = generate.generate(**generate.SMALL)
        cls.full = generate.generate(**generate.FULL)

    def test_the_generator_is_deterministic_and_the_committed_files_are_current(self):
        self.assertEqual(generate.dump(generate.generate(**generate.SMALL)), generate.dump(self.small))
        for name, dataset in (("dataset-small.json", self.small), ("dataset.json", self.full)):
            committed = (generate.HERE / name).read_text()
            self.assertEqual(committed, generate.dump(dataset), f"{name} is stale: run generate.py")

    def test_sizes_and_categories(self):
        for dataset, least, most_turns in ((self.full, 1000, None), (self.small, 90, 600)):
            questions = dataset["questions"]
            self.assertGreaterEqual(len(questions), least)
            for category in generate.CATEGORIES:
                share = sum(q["category"] == category for q in questions) / len(questions)
                self.assertGreater(share, 0.08, f"{category} is under-represented")
            turns = sum(len(s["turns"]) for c in dataset["conversations"] for s in c["sessions"])
            if most_turns:
                self.assertLessEqual(turns, most_turns)
            dates = [s["date"] for c in dataset["conversations"] for s in c["sessions"]]
            self.assertTrue(all(d.startswith(("2025", "2026")) for d in dates))

    def test_evidence_exists_and_only_adversarial_questions_lack_it(self):
        for dataset in (self.small, self.full):
            turns = {t["id"] for c in dataset["conversations"] for s in c["sessions"] for t in s["turns"]}
            for q in dataset["questions"]:
                self.assertEqual(not q["evidence"], q["category"] == "adversarial", q)
                self.assertTrue(set(q["evidence"]) <= turns, q)
                if q["category"] == "multi-hop":
                    self.assertGreaterEqual(len(q["evidence"]), 2, q)

    def test_no_question_copies_its_evidence(self):
        texts = {t["id"]: t["text"] for c in self.full["conversations"] for s in c["sessions"] for t in s["turns"]}
        shares = [generate.copied_share(q["question"], [texts[e] for e in q["evidence"]])
                  for q in self.full["questions"] if q["evidence"]]
        self.assertLessEqual(max(shares), 0.5)
        self.assertLess(sum(shares) / len(shares), 0.15)
        self.assertEqual(generate.copied_share("What breed is the dog?", ["The dog is a beagle breed."]), 1.0)
        self.assertEqual(generate.copied_share("Which temple in Kyoto was lovely?", ["Kyoto was lovely."]), 0.5)

    def test_memories_carry_speaker_session_and_date(self):
        memories, hashes = harness.memories_of(self.small)
        first = self.small["conversations"][0]["sessions"][0]
        memory = memories[0]
        self.assertEqual(memory["content"], f"{first['turns'][0]['speaker']}: {first['turns'][0]['text']}")
        self.assertIn(f"session:{first['id']}", memory["tags"])
        self.assertEqual(memory["metadata"]["date"], first["date"])
        self.assertEqual(json.loads(json.dumps(memory))["created_at"], memory["created_at"])
        self.assertEqual(hashes[first["turns"][0]["id"]], harness.content_hash(memory["content"]))


if __name__ == "__main__":
    unittest.main()
