from archc.ir.dims import fmt
from archc.ops.base import Attr, Op, Port


class Attention(Op):
    """Multi-head scaled dot-product attention with its projections (Vaswani et al. 2017).

    ``window: N`` restricts each causal query to its last N keys (sliding-window attention, Beltagy et al.
    2020; Mistral): position i sees j with i - N < j <= i; with ``causal: false``, |i - j| < N (local
    attention, Longformer).

    ``n_kv_heads < n_heads`` is grouped-query attention (Ainslie et al. 2023); ``n_kv_heads: 1`` is
    multi-query. Inputs: ``x`` (queries, and keys/values for self-attention), optional ``kv`` (the memory
    for cross-attention) and optional ``rope`` (tables from a ``rope`` node).

    Parameters: ``qkv`` (fused, rows [q heads | k heads | v heads]) or ``q_proj``/``k_proj``/``v_proj`` when
    ``fused_qkv: false`` or with ``kv`` (then ``q_proj`` and a fused ``kv_proj``); and ``o_proj``.

    Constraints: ``n_heads % n_kv_heads == 0``; without ``head_dim``, the width of ``x`` divisible by
    ``n_heads``.
    """

    name = "attention"
    category = "attention"
    inputs = (Port("x", takes="float32", doc="[B, T, d]"),
              Port("kv", optional=True, takes="float32", doc="[B, S, d_kv]: memory for cross-attention"),
              Port("rope", optional=True, takes="rope_tables", doc="rotary tables from a rope node"))
    attrs = {
        "n_heads": Attr(int, min=1, doc="query heads"),
        "n_kv_heads": Attr(int, None, nullable=True, min=1, doc="key/value heads; default n_heads"),
        "head_dim": Attr(int, None, nullable=True, min=1, doc="width per head; default width / n_heads"),
        "causal": Attr(bool, True, doc="each position sees only itself and earlier ones"),
        "bias": Attr(bool, False, doc="bias on the q, k, v projections"),
        "out_bias": Attr(bool, None, nullable=True, doc="bias on the output projection; default: bias"),
        "dropout": Attr(float, 0.0, min=0.0, doc="dropout on attention weights (training only)"),
        "fused_qkv": Attr(bool, True, doc="one matmul for q, k and v"),
        "scale": Attr(float, None, nullable=True, min=0.0, doc="logit scale; default 1/sqrt(head_dim)"),
        "out_features": Attr(int, None, nullable=True, min=1, doc="output width; default width of x"),
        "window": Attr(int, None, nullable=True, min=1,
                       doc="sliding window: i sees j with i - window < j <= i (Mistral); without causal, "
                           "|i - j| < window (Longformer's local attention)"),
    }
    example = {"attrs": {"n_heads": 3, "n_kv_heads": 1}, "inputs": {"x": ["B", "T", 12]}}

    @staticmethod
    def dims(n):
        """(d_model, n_heads, n_kv_heads, head_dim, d_kv_in, d_out) with defaults applied."""
        d = n.width("x")
        h = n["n_heads"]
        kv = n["n_kv_heads"] or h
        hd = n["head_dim"] or d // h
        d_kv_in = n.width("kv") if n.shapes.get("kv") is not None else d
        return d, h, kv, hd, d_kv_in, n["out_features"] or d

    def check(self, n):
        h, kv = n["n_heads"], n["n_kv_heads"] or n["n_heads"]
        if h % kv:
            n.fail(f"n_heads ({h}) must be a multiple of n_kv_heads ({kv})", "n_kv_heads")
        if not 0.0 <= n["dropout"] < 1.0:
            n.fail("dropout must be below 1", "dropout")

    def infer(self, n):
        x = n.need_rank("x", exactly=3, what=": [batch, sequence, features]")
        d = n.width("x")
        if n["head_dim"] is None and d % n["n_heads"]:
            n.fail(f"the width {d} of x is not divisible by n_heads={n['n_heads']}; set head_dim or change "
                   "n_heads", "n_heads")
        kv_shape = n.shapes.get("kv")
        if kv_shape is not None:
            n.need_rank("kv", exactly=3, what=": [batch, memory length, features]")
            n.width("kv")
            if n["window"] is not None:
                n.fail("window applies to self-attention: a cross-attention's memory has no positions relative "
                       "to the queries", "window")
            if kv_shape[0] != x[0]:
                n.fail(f"kv {fmt(kv_shape)} does not match x {fmt(x)} in batch")
        d, h, kv, hd, _, d_out = self.dims(n)
        rope = n.shapes.get("rope")
        if rope is not None:
            if rope[-1] != hd:
                n.fail(f"rope tables are {rope[-1]} wide but head_dim is {hd}")
            if rope[0] != x[1]:
                n.fail(f"rope tables cover {rope[0]} positions but x has {x[1]}")
            if kv_shape is not None and kv_shape[1] != x[1]:
                n.fail(f"rope rotates queries and keys by the same positions, but x has {x[1]} and kv has "
                       f"{kv_shape[1]}")
        return [x[:-1] + (d_out,)]

    def params(self, n):
        d, h, kv, hd, d_kv_in, d_out = self.dims(n)
        bias, out_bias = n["bias"], n["bias"] if n["out_bias"] is None else n["out_bias"]
        shapes: dict = {}

        def proj(name, rows, cols, with_bias):
            shapes[f"{name}.weight"] = (rows, cols)
            if with_bias:
                shapes[f"{name}.bias"] = (rows,)

        if n.shapes.get("kv") is not None:
            proj("q_proj", h * hd, d, bias)
            proj("kv_proj", 2 * kv * hd, d_kv_in, bias)
        elif n["fused_qkv"]:
            proj("qkv", (h + 2 * kv) * hd, d, bias)
        else:
            proj("q_proj", h * hd, d, bias)
            proj("k_proj", kv * hd, d, bias)
            proj("v_proj", kv * hd, d, bias)
        proj("o_proj", d_out, h * hd, out_bias)
        return shapes

    def flops(self, n, out):
        d, h, kv, hd, d_kv_in, d_out = self.dims(n)
        projections = 2.0 * (d * h * hd + d_kv_in * 2 * kv * hd + h * hd * d_out)
        # per query token and per key: q.k and p.v, 2 FLOPs each per head dim
        return (projections, 4.0 * h * hd)
