from archc.ops.base import Attr, Op, Port


class Linear(Op):
    """``y = x W^T + b`` over the last axis. ``in_features`` is read from the input's shape."""

    name = "linear"
    inputs = (Port("x", takes="float32"),)
    output_category = "head"  # a projection straight to a model output gives the logits
    attrs = {
        "out_features": Attr(int, min=1, doc="output width"),
        "bias": Attr(bool, True, doc="add a learned bias"),
    }
    example = {"attrs": {"out_features": 5}, "inputs": {"x": ["B", "T", 7]}}

    def infer(self, n):
        n.width()
        return [tuple(n.shape()[:-1]) + (n["out_features"],)]

    def params(self, n):
        p = {"weight": (n["out_features"], n.width())}
        if n["bias"]:
            p["bias"] = (n["out_features"],)
        return p

    def flops(self, n, out):
        return (2.0 * n.width() * n["out_features"], 0.0)
