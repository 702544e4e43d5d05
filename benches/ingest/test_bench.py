#!/usr/bin/env python3
"""Unit tests of the ingestion benchmark's pure parts: the document generator, the percentiles, the tables.

    python3 -m unittest benches/ingest/test_bench.py
"""

import math
import re
import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench  # noqa: E402


class Generator(unittest.TestCase):
    def test_the_document_is_deterministic_per_seed(self):
        a = bench.generate_document(200_000, bench.MEDIUM_SEED)
        self.assertEqual(a, bench.generate_document(200_000, bench.MEDIUM_SEED))
        self.assertNotEqual(a, bench.generate_document(200_000, bench.BIG_SEED))
        # A prefix of the same seed's longer document, up to where the shorter one is cut.
        longer = bench.generate_document(400_000, bench.MEDIUM_SEED)
        self.assertEqual(longer[:len(a) - 200], a[:len(a) - 200])

    def test_the_document_has_the_asked_size(self):
        for mib in (0.05, 0.3, 1, 2.5):
            size = int(mib * bench.MIB)
            document = bench.generate_document(size, bench.MEDIUM_SEED).encode()
            self.assertLessEqual(abs(len(document) - size), 0.02 * size, f"{mib} MiB: {len(document)} bytes")

    def test_the_document_is_markdown_with_numbered_sections_and_varied_prose(self):
        document = bench.generate_document(300_000, bench.MEDIUM_SEED)
        self.assertTrue(document.startswith("# "))
        headings = re.findall(r"^## Section (\d+)$", document, re.M)
        self.assertEqual([int(n) for n in headings], list(range(1, len(headings) + 1)))
        paragraphs = [p for p in document.split("\n\n") if p and not p.startswith("#")]
        self.assertGreater(len(headings), 20)
        self.assertLessEqual(len(paragraphs) / len(headings), 5)
        sentences = re.findall(r"[A-Z][^.?!]*[.?!]", document)
        self.assertGreater(len(set(sentences)), 0.99 * len(sentences), "sentences repeat")
        self.assertTrue(document.isascii())

    def test_the_two_documents_share_no_paragraph(self):
        medium = set(bench.generate_document(200_000, bench.MEDIUM_SEED).split("\n\n")[1:])
        big = set(bench.generate_document(200_000, bench.BIG_SEED).split("\n\n")[1:])
        shared = {p for p in medium & big if not p.startswith("## ")}
        self.assertEqual(shared, set())

    def test_seed_sentences_are_distinct_and_deterministic(self):
        sentences = bench.seed_sentences(300)
        self.assertEqual(len(set(sentences)), 300)
        self.assertEqual(sentences, bench.seed_sentences(300))
        self.assertTrue(all(s.endswith(".") and len(s) < 120 for s in sentences))


class Figures(unittest.TestCase):
    def test_percentile_is_nearest_rank(self):
        values = list(range(100, 0, -1))
        self.assertEqual(bench.percentile(values, 50), 50)
        self.assertEqual(bench.percentile(values, 99), 99)
        self.assertEqual(bench.percentile(values, 100), 100)
        self.assertEqual(bench.percentile([7], 99), 7)
        self.assertEqual(bench.percentile([1, 2, 3, 4], 50), 2)
        self.assertEqual(bench.percentile([1, 2, 3, 1000], 99), 1000)
        self.assertTrue(math.isnan(bench.percentile([], 50)))

    def test_latency_summary_and_ratio(self):
        summary = bench.latency_summary([5.0, 1.0, 3.0, 2.0, 4.0])
        self.assertEqual(summary, {"requests": 5, "p50": 3.0, "p99": 5.0, "max": 5.0})
        self.assertTrue(math.isnan(bench.latency_summary([])["p50"]))
        self.assertEqual(bench.ratio(30.0, 10.0), 3.0)
        self.assertTrue(math.isnan(bench.ratio(1.0, 0)))
        self.assertTrue(math.isnan(bench.ratio(float("nan"), 1.0)))

    def test_multipart_body(self):
        content_type, body = bench.multipart([("tags", "a,b"), ("chunk_size", 1000)], "file", "x.md", b"# hi\n",
                                             boundary="BND")
        self.assertEqual(content_type, "multipart/form-data; boundary=BND")
        self.assertEqual(body, (b'--BND\r\nContent-Disposition: form-data; name="tags"\r\n\r\na,b\r\n'
                                b'--BND\r\nContent-Disposition: form-data; name="chunk_size"\r\n\r\n1000\r\n'
                                b'--BND\r\nContent-Disposition: form-data; name="file"; filename="x.md"\r\n'
                                b"Content-Type: text/markdown\r\n\r\n# hi\n\r\n--BND--\r\n"))


class Tables(unittest.TestCase):
    def test_a_table_formats_numbers_and_right_aligns_numeric_columns(self):
        text = bench.table(["Figure", "Value", "Ratio"],
                           [("p50 (ms)", 12.345, "1.50x"), ("requests", 1234, "-"), ("missing", float("nan"), "")])
        self.assertEqual(text.splitlines(), [
            "| Figure | Value | Ratio |",
            "|---|---:|---|",
            "| p50 (ms) | 12.3 | 1.50x |",
            "| requests | 1,234 | - |",
            "| missing | - |  |",
        ])

    def test_fmt(self):
        self.assertEqual(bench.fmt(3), "3")
        self.assertEqual(bench.fmt(12345.678), "12,345.7")
        self.assertEqual(bench.fmt(0.123, 2), "0.12")
        self.assertEqual(bench.fmt(None), "-")
        self.assertEqual(bench.fmt("text"), "text")

    def test_the_phase_tables_render(self):
        baseline = {"memories": 300, "seeding_s": 4.0, "search_ms": {"requests": 200, "p50": 10.0, "p99": 20.0,
                                                                     "max": 25.0},
                    "load_average": {"1m": 1.0, "5m": 0.5, "15m": 0.25}, "server": {"rss_mib": 100.0, "hwm_mib": 110.0}}
        text = bench.baseline_markdown(baseline)
        self.assertIn("| search p99 (ms) | 20.0 |", text)
        self.assertIn("| load average 1 / 5 / 15 min | 1.00 / 0.50 / 0.25 |", text)
        upload = {"file": "f.md", "bytes": 1000, "total_chunks": 10, "chunks_stored": 10, "duplicates": 0, "errors": [],
                  "post_s": 0.01, "queued_s": None, "seconds": 2.0, "chunks_per_s": 5.0,
                  "search_ms": {"requests": 7, "p50": 30.0, "p99": 90.0, "max": 100.0}, "search_failures": [],
                  "slowest_searches": [{"began_s": 1.25, "ms": 100.0}], "search_timeline": [(1.25, 100.0)],
                  "search_ratio": {"p50": 3.0, "p99": 4.5, "max": 4.0},
                  "load_average": {"1m": 2.0, "5m": 1.0, "15m": 0.5}, "peak_load_1m": 2.5,
                  "server": {"rss_before_mib": 100.0, "rss_after_mib": 150.0, "peak_rss_mib": 160.0, "hwm_mib": 161.0,
                             "hwm_reset": True}}
        text = bench.upload_markdown("b. upload", upload, baseline)
        self.assertIn("| chunks/s | 5.0 |", text)
        self.assertIn("| slowest search (ms), began at (s after the POST) | 100.0 at 1.2 |", text)
        self.assertIn("| p99 | 20.0 | 90.0 | 4.50x |", text)
        self.assertIn("| server VmHWM at the end (MiB) | 161.0 |", text)
        self.assertIn("|---|---:|---:|---:|", text)
        self.assertIn("| requests | 200 | 7 | - |", text)


if __name__ == "__main__":
    unittest.main()
