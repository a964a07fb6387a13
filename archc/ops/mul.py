from archc.ops.add import _broadcast_all
from archc.ops.base import Op, Port


class Mul(Op):
    """Elementwise product with broadcasting: gating (GLU), FiLM scales, masks."""

    name = "mul"
    inputs = (Port("x", variadic=True, doc="two or more tensors"),)
    example = {"attrs": {}, "inputs": {"x": [["B", "T", 6], ["B", "T", 6]]}}

    def infer(self, n):
        return [_broadcast_all(n, "multiply")]

    def flops(self, n, out):
        width = out[0][-1] if out[0] and isinstance(out[0][-1], int) else 1
        return (float(width * (len(n.shapes["x"]) - 1)), 0.0)
