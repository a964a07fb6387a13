from archc.ops.base import PARAM_DTYPE, Attr, Op, Port


class Embedding(Op):
    """Token embedding: a lookup table of ``num_embeddings`` rows of width ``dim``.

    Input: integer ids of any shape; output: the same shape plus a feature axis of ``dim``.
    ``scale`` multiplies the looked-up rows: sqrt(dim) in Vaswani et al. 2017 and Gemma.
    """

    name = "embedding"
    category = "embedding"
    inputs = (Port("x", takes="index", doc="token ids"),)
    out_dtype = PARAM_DTYPE  # rows of the table
    attrs = {
        "num_embeddings": Attr(int, min=1, doc="vocabulary size (rows)"),
        "dim": Attr(int, min=1, doc="embedding width"),
        "padding_idx": Attr(int, None, nullable=True, min=0, doc="a row kept at zero and never updated"),
        "scale": Attr(float, None, nullable=True, min=0.0, doc="multiplier on the output (Gemma: sqrt(dim))"),
    }
    example = {"attrs": {"num_embeddings": 11, "dim": 6}, "inputs": {"x": ["B", "T"]}}

    def check(self, n):
        if n["padding_idx"] is not None and n["padding_idx"] >= n["num_embeddings"]:
            n.fail("padding_idx must be below num_embeddings", "padding_idx")

    def infer(self, n):
        return [tuple(n.shape()) + (n["dim"],)]

    def params(self, n):
        return {"weight": (n["num_embeddings"], n["dim"])}

    def flops(self, n, out):
        return (0.0, 0.0)  # a gather, no arithmetic
