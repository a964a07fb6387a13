from archc.ir.dims import add
from archc.ops.base import Attr, Op


class Pad(Op):
    """Pad the last axis with a constant: a width change with no parameters (ResNet's shortcut 'A')."""

    name = "pad"
    attrs = {"before": Attr(int, 0, min=0, doc="entries added before"),
             "after": Attr(int, 0, min=0, doc="entries added after"),
             "value": Attr(float, 0.0, doc="fill value")}
    example = {"attrs": {"after": 2}, "inputs": {"x": ["B", "T", 6]}}

    def infer(self, n):
        shape = tuple(n.shape())
        return [shape[:-1] + (add(add(shape[-1], n["before"]), n["after"]),)]

    def flops(self, n, out):
        return (0.0, 0.0)
