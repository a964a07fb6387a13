from archc.ir.dims import fmt
from archc.ops.base import Attr, Op, Port


class Gather(Op):
    """``torch.gather(x, dim, index)``: ``out[..., i, ...] = x[..., index[..., i, ...], ...]`` along ``dim``,
    picking entries per position (the router weights of the chosen experts).

    ``index`` (int64 or int32) has the rank of ``x``; the output has ``index``'s shape. Off ``dim`` every axis
    of ``index`` is the same size name as ``x``'s, or a number no larger than ``x``'s number.
    """

    name = "gather"
    inputs = (Port("x", takes="any", doc="the values"), Port("index", takes="index", doc="positions along dim"))
    attrs = {"dim": Attr(int, -1, doc="axis the indices point along")}
    example = {"attrs": {}, "inputs": {"x": ["B", "T", 8], "index": ["B", "T", 3]}}

    def infer(self, n):
        x, index = tuple(n.shape("x")), tuple(n.shape("index"))
        n.need_rank("x", at_least=1, what=": gather needs an axis")
        if len(index) != len(x):
            n.fail(f"index {fmt(index)} must have the rank of x {fmt(x)}")
        axis = n.axis("dim")
        for i, (a, b) in enumerate(zip(x, index, strict=True)):
            fits = a == b or (isinstance(a, int) and isinstance(b, int) and b <= a)
            if i != axis and not fits:
                n.fail(f"axis {i} of index {fmt(index)} must not exceed axis {i} of x {fmt(x)}")
        return [index]

    def dtypes(self, n):
        return [n.dtypes["x"]]

    def flops(self, n, out):
        return (0.0, 0.0)  # moves values, no arithmetic
