from archc.ir.dims import broadcast, fmt
from archc.ops.base import Op, Port


class Add(Op):
    """Elementwise sum of two or more tensors with broadcasting: residual joins, position addition."""

    name = "add"
    inputs = (Port("x", variadic=True, doc="two or more tensors"),)
    example = {"attrs": {}, "inputs": {"x": [["B", "T", 6], ["B", "T", 6]]}}

    def infer(self, n):
        return [_broadcast_all(n, "add")]

    def flops(self, n, out):
        width = out[0][-1] if out[0] and isinstance(out[0][-1], int) else 1
        return (float(width * (len(n.shapes["x"]) - 1)), 0.0)


def _broadcast_all(n, what):
    shapes = n.shapes["x"]
    if len(shapes) < 2:
        n.fail(f"{what} needs at least two inputs")
    out = tuple(shapes[0])
    for shape in shapes[1:]:
        joined = broadcast(out, tuple(shape))
        if joined is None:
            n.fail(f"cannot {what} shapes {fmt(out)} and {fmt(shape)}")
        out = joined
    return out
