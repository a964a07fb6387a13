from archc.ir.dims import add, fmt
from archc.ops.base import Attr, Op, Port


class Concat(Op):
    """Join tensors along ``dim`` (features by default): U-Net fusion, prefix tokens."""

    name = "concat"
    inputs = (Port("x", variadic=True, doc="two or more tensors", takes="any"),)
    attrs = {"dim": Attr(int, -1, doc="axis to join along")}
    example = {"attrs": {}, "inputs": {"x": [["B", "T", 3], ["B", "T", 5]]}}

    def infer(self, n):
        shapes = [tuple(s) for s in n.shapes["x"]]
        if len(shapes) < 2:
            n.fail("concat needs at least two inputs")
        rank = len(shapes[0])
        axis = n.axis("dim", shape=shapes[0])
        total = 0
        for s in shapes:
            if len(s) != rank or any(a != b for i, (a, b) in enumerate(zip(s, shapes[0], strict=True)) if i != axis):
                n.fail(f"cannot concat {fmt(shapes[0])} and {fmt(s)} along axis {axis}")
            total = add(total, s[axis])
        return [shapes[0][:axis] + (total,) + shapes[0][axis + 1:]]

    def flops(self, n, out):
        return (0.0, 0.0)
