from archc.ops.base import Attr, Op, Port


class Transpose(Op):
    """Swap two axes (``dim0`` and ``dim1``), e.g. heads and time: (B, T, H, D) -> (B, H, T, D)."""

    name = "transpose"
    inputs = (Port("x", takes="any"),)
    attrs = {"dim0": Attr(int, doc="first axis"), "dim1": Attr(int, doc="second axis")}
    example = {"attrs": {"dim0": 1, "dim1": 2}, "inputs": {"x": ["B", "T", 6]}}

    def infer(self, n):
        shape = list(n.shape())
        a, b = n.axis("dim0"), n.axis("dim1")
        shape[a], shape[b] = shape[b], shape[a]
        return [tuple(shape)]

    def flops(self, n, out):
        return (0.0, 0.0)
