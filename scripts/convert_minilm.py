#!/usr/bin/env python3
"""Convert all-MiniLM-L6-v2 (BERT, safetensors) to a plain ONNX encoder graph.

Uses only numpy + onnx (no torch, no transformers). The graph reproduces
transformers' BertModel forward pass in eval mode (no dropout):

  inputs : input_ids, attention_mask, token_type_ids   int64 [batch, seq]
  output : last_hidden_state                            f32   [batch, seq, hidden]

Pooling (masked mean) and L2 normalisation are NOT in the graph; the caller
does them. Opset 17, IR version 8.

Position embeddings are taken with Slice(table, 0, seq) rather than
Gather(table, Range(0, seq)): ONNX Runtime 1.32's optimiser breaks the latter
("Starts must be a 1-D array").

The weights can go into a second file beside the graph (ONNX external data,
--external-data NAME), as scripts/install-assets installs them: ONNX Runtime
then reads each weight straight into its tensor instead of parsing a 90 MB
protobuf and keeping a copy of it, which loads the model about 3x faster and
keeps about 70 MB less resident memory.

The output is deterministic: same inputs + same onnx version => same bytes.

Usage:
  convert_minilm.py --model-dir DIR --out model.onnx [--external-data model.onnx.data]
  (DIR holds model.safetensors and config.json)
"""

import argparse
import json
import math
import os
import struct
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

_DTYPES = {"F32": np.float32, "I64": np.int64, "F16": np.float16}


def load_safetensors(path):
    """Return {name: np.ndarray} from a .safetensors file (numpy only)."""
    with open(path, "rb") as f:
        data = f.read()
    (hlen,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + hlen])
    base = 8 + hlen
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        dtype = _DTYPES.get(meta["dtype"])
        if dtype is None:
            raise SystemExit(f"unsupported dtype {meta['dtype']} for {name}")
        start, end = meta["data_offsets"]
        arr = np.frombuffer(data, dtype=dtype, count=(end - start) // np.dtype(dtype).itemsize,
                            offset=base + start)
        out[name] = arr.reshape(meta["shape"]).copy()
    return out


class GraphBuilder:
    def __init__(self):
        self.nodes = []
        self.inits = []
        self._n = 0

    def name(self, prefix):
        self._n += 1
        return f"{prefix}_{self._n}"

    def const(self, name, arr):
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), name))
        return name

    def op(self, op_type, inputs, prefix=None, **attrs):
        out = self.name(prefix or op_type)
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=out + "_node", **attrs))
        return out


def build(weights, cfg):
    hidden = int(cfg["hidden_size"])
    heads = int(cfg["num_attention_heads"])
    layers = int(cfg["num_hidden_layers"])
    eps = float(cfg.get("layer_norm_eps", 1e-12))
    act = cfg.get("hidden_act", "gelu")
    if act != "gelu":
        raise SystemExit(f"unsupported hidden_act {act!r} (need exact erf GELU)")
    if cfg.get("position_embedding_type", "absolute") != "absolute":
        raise SystemExit("only absolute position embeddings are supported")
    head_dim = hidden // heads
    assert head_dim * heads == hidden

    def w(name):
        a = weights[name]
        if a.dtype != np.float32:
            a = a.astype(np.float32)
        return a

    g = GraphBuilder()
    f32 = lambda x: np.array(x, dtype=np.float32)  # noqa: E731
    i64 = lambda x: np.array(x, dtype=np.int64)  # noqa: E731

    # shared constants
    c_one = g.const("const_one", f32(1.0))
    c_half = g.const("const_half", f32(0.5))
    c_sqrt2 = g.const("const_sqrt2", f32(math.sqrt(2.0)))
    c_neg = g.const("const_mask_min", f32(np.finfo(np.float32).min))
    c_scale = g.const("const_attn_scale", f32(math.sqrt(head_dim)))
    c_zero_1d = g.const("const_zero_1d", i64([0]))
    c_one_1d = g.const("const_one_1d", i64([1]))
    c_two_1d = g.const("const_two_1d", i64([2]))
    c_axes_12 = g.const("const_axes_1_2", i64([1, 2]))
    c_split_shape = g.const("const_split_heads_shape", i64([0, 0, heads, head_dim]))
    c_merge_shape = g.const("const_merge_heads_shape", i64([0, 0, hidden]))

    # ---- embeddings ------------------------------------------------------
    word_tab = g.const("embeddings.word_embeddings.weight", w("embeddings.word_embeddings.weight"))
    pos_tab = g.const("embeddings.position_embeddings.weight", w("embeddings.position_embeddings.weight"))
    type_tab = g.const("embeddings.token_type_embeddings.weight", w("embeddings.token_type_embeddings.weight"))

    word = g.op("Gather", [word_tab, "input_ids"], "word_emb", axis=0)
    ttype = g.op("Gather", [type_tab, "token_type_ids"], "type_emb", axis=0)
    shape = g.op("Shape", ["input_ids"], "ids_shape")
    seq_len = g.op("Slice", [shape, c_one_1d, c_two_1d, c_zero_1d], "seq_len")  # [1]
    pos = g.op("Slice", [pos_tab, c_zero_1d, seq_len, c_zero_1d], "pos_emb")  # [seq, hidden]
    emb = g.op("Add", [word, ttype], "emb_wt")
    emb = g.op("Add", [emb, pos], "emb_sum")

    def layer_norm(x, prefix):
        gamma = g.const(prefix + ".weight", w(prefix + ".weight"))
        beta = g.const(prefix + ".bias", w(prefix + ".bias"))
        return g.op("LayerNormalization", [x, gamma, beta], "layernorm", axis=-1, epsilon=eps)

    def linear(x, prefix):
        # torch Linear: y = x @ W^T + b, W is [out, in]
        wt = g.const(prefix + ".weight_t", np.ascontiguousarray(w(prefix + ".weight").T))
        b = g.const(prefix + ".bias", w(prefix + ".bias"))
        y = g.op("MatMul", [x, wt], "matmul")
        return g.op("Add", [y, b], "bias_add")

    h = layer_norm(emb, "embeddings.LayerNorm")

    # ---- extended attention mask: (1 - mask) * float32.min, [batch,1,1,seq]
    mask_f = g.op("Cast", ["attention_mask"], "mask_f", to=TensorProto.FLOAT)
    inv = g.op("Sub", [c_one, mask_f], "mask_inv")
    ext = g.op("Mul", [inv, c_neg], "mask_add")
    ext = g.op("Unsqueeze", [ext, c_axes_12], "mask_ext")

    # ---- encoder ---------------------------------------------------------
    for i in range(layers):
        p = f"encoder.layer.{i}"
        q = linear(h, f"{p}.attention.self.query")
        k = linear(h, f"{p}.attention.self.key")
        v = linear(h, f"{p}.attention.self.value")
        q = g.op("Transpose", [g.op("Reshape", [q, c_split_shape], "q_split")], "q_t", perm=[0, 2, 1, 3])
        k = g.op("Transpose", [g.op("Reshape", [k, c_split_shape], "k_split")], "k_t", perm=[0, 2, 3, 1])
        v = g.op("Transpose", [g.op("Reshape", [v, c_split_shape], "v_split")], "v_t", perm=[0, 2, 1, 3])
        scores = g.op("MatMul", [q, k], "scores")
        scores = g.op("Div", [scores, c_scale], "scores_scaled")
        scores = g.op("Add", [scores, ext], "scores_masked")
        probs = g.op("Softmax", [scores], "probs", axis=-1)
        ctx = g.op("MatMul", [probs, v], "ctx")
        ctx = g.op("Transpose", [ctx], "ctx_t", perm=[0, 2, 1, 3])
        ctx = g.op("Reshape", [ctx, c_merge_shape], "ctx_merged")
        attn = linear(ctx, f"{p}.attention.output.dense")
        h = layer_norm(g.op("Add", [attn, h], "attn_residual"), f"{p}.attention.output.LayerNorm")

        inter = linear(h, f"{p}.intermediate.dense")
        # exact GELU: 0.5 * x * (1 + erf(x / sqrt(2)))
        e = g.op("Erf", [g.op("Div", [inter, c_sqrt2], "gelu_div")], "gelu_erf")
        e = g.op("Add", [e, c_one], "gelu_add")
        e = g.op("Mul", [inter, e], "gelu_mul")
        inter = g.op("Mul", [e, c_half], "gelu")
        out = linear(inter, f"{p}.output.dense")
        h = layer_norm(g.op("Add", [out, h], "ffn_residual"), f"{p}.output.LayerNorm")

    g.nodes.append(helper.make_node("Identity", [h], ["last_hidden_state"], name="output_node"))

    inputs = [
        helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "seq"])
        for n in ("input_ids", "attention_mask", "token_type_ids")
    ]
    outputs = [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "seq", hidden])]
    graph = helper.make_graph(g.nodes, "all-MiniLM-L6-v2", inputs, outputs, initializer=g.inits)
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17)],
        producer_name="mcp-memory-service/convert_minilm.py",
        producer_version="1",
        ir_version=8,
    )
    model.doc_string = (
        "sentence-transformers/all-MiniLM-L6-v2 BERT encoder (last_hidden_state). "
        "Apply masked mean pooling and L2 normalisation outside the graph. "
        f"max positions {cfg['max_position_embeddings']}."
    )
    return model


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-dir", required=True, help="directory with model.safetensors and config.json")
    ap.add_argument("--out", required=True, help="output .onnx path")
    ap.add_argument("--external-data", metavar="NAME",
                    help="write the weights to NAME beside --out (ONNX external data) instead of into it")
    args = ap.parse_args()

    with open(os.path.join(args.model_dir, "config.json")) as f:
        cfg = json.load(f)
    weights = load_safetensors(os.path.join(args.model_dir, "model.safetensors"))
    model = build(weights, cfg)
    onnx.checker.check_model(model)
    if args.external_data:
        if os.path.basename(args.external_data) != args.external_data:
            sys.exit("--external-data is a file name, written beside --out")
        # Every weight of 1 KiB or more goes to the data file, one after the other, in graph order.
        onnx.save_model(model, args.out, save_as_external_data=True, all_tensors_to_one_file=True,
                        location=args.external_data, size_threshold=1024)
        data_file = os.path.join(os.path.dirname(args.out), args.external_data)
        print(f"wrote {args.out} ({os.path.getsize(args.out)} bytes) and {data_file} "
              f"({os.path.getsize(data_file)} bytes), {len(model.graph.node)} nodes, onnx {onnx.__version__}",
              file=sys.stderr)
        return
    data = model.SerializeToString()
    with open(args.out, "wb") as f:
        f.write(data)
    print(f"wrote {args.out} ({len(data)} bytes, {len(model.graph.node)} nodes, onnx {onnx.__version__})",
          file=sys.stderr)


if __name__ == "__main__":
    main()
