from archc.ops.base import Attr, Op


class Transpose(Op):
    """Swap two axes (``dim0`` and ``dim1``), e.g. heads and time: (B, T, H, D) -> (B, H, T, D)."""

    name = "transpose"
    attrs = {"dim0": Attr(int, doc="first axis"), "dim1": Attr(int, doc="second axis")}
    example = {"attrs": {"dim0": 1, "dim1": 2}, "inputs": {"x": ["B", "T", 6]}}

    def infer(self, n):
        shape = list(n.shape())
        rank = len(shape)
        for attr in ("dim0", "dim1"):
            if not -rank <= n[attr] < rank:
                n.fail(f"{attr}={n[attr]} is out of range for a rank-{rank} input", attr)
        a, b = n["dim0"] % rank, n["dim1"] % rank
        shape[a], shape[b] = shape[b], shape[a]
        return [tuple(shape)]

    def flops(self, n, out):
        return (0.0, 0.0)
