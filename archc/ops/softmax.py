from archc.ops.base import Attr, Op


class Softmax(Op):
    """Softmax along ``dim``; its output lies on the probability simplex."""

    name = "softmax"
    attrs = {"dim": Attr(int, -1, doc="axis to normalise")}
    example = {"attrs": {}, "inputs": {"x": ["B", "T", 5]}}

    def infer(self, n):
        n.axis("dim")
        return [n.shape()]

    def flops(self, n, out):
        return (5.0 * (out[0][-1] if isinstance(out[0][-1], int) else 1), 0.0)
