"""The shape rule shared by reductions over one named axis: ``sum``, ``mean``, ``max`` and ``argmax``."""

from archc.ops.base import Attr, Op
from archc.ops.mathops import NAMED_DIM, named_axis, per_token


class Reduction(Op):
    """Reduce one axis (``dim``: a number or a size name such as ``T``); ``keepdim`` keeps it as size 1."""

    attrs = {"dim": NAMED_DIM, "keepdim": Attr(bool, False, doc="keep the reduced axis with size 1")}
    example = {"attrs": {"dim": "T"}, "inputs": {"x": ["B", "T", 6]}}

    def infer(self, n):
        shape = tuple(n.need_rank(at_least=1, what=": a reduction needs an axis"))
        axis = named_axis(n)
        return [shape[:axis] + ((1,) if n["keepdim"] else ()) + shape[axis + 1:]]

    def flops(self, n, out):
        return (float(per_token(n.shape())), 0.0)  # one add or compare per input element of a token

