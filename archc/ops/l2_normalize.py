from archc.ops.base import Attr, Op
from archc.ops.mathops import per_token


class L2Normalize(Op):
    """``x / max(||x||_2, eps)`` along ``dim`` (``F.normalize``): unit embeddings in CLIP, cosine attention."""

    name = "l2_normalize"
    elementwise = True
    attrs = {"dim": Attr(int, -1, doc="axis whose vectors get unit length"),
             "eps": Attr(float, 1e-12, min=0.0, doc="lower bound on the norm, against division by zero")}
    example = {"attrs": {}, "inputs": {"x": ["B", "T", 6]}}

    def infer(self, n):
        n.axis("dim")
        return [n.shape()]

    def flops(self, n, out):
        return (3.0 * per_token(out[0]), 0.0)  # square-and-add, then a divide, per element
