from archc.ir.dims import fmt
from archc.ops.base import Attr, Op
from archc.ops.mathops import per_token


class TopK(Op):
    """The ``k`` largest (or smallest) entries along ``dim``: outputs ``values`` (the input's dtype) and
    ``indices`` (int64, positions along ``dim``), as torch.topk: an MoE router's expert choice.

    ``k`` must not exceed a numbered axis; on a size name (``T``) the run-time length must be ``k`` or more.
    Gradients flow through ``values`` to the chosen entries.
    """

    name = "topk"
    outputs = ("values", "indices")
    attrs = {"k": Attr(int, min=1, doc="how many entries to keep"),
             "dim": Attr(int, -1, doc="axis to choose along"),
             "largest": Attr(bool, True, doc="the largest entries (false: the smallest)"),
             "sorted": Attr(bool, True, doc="in order, best first")}
    example = {"attrs": {"k": 2}, "inputs": {"x": ["B", "T", 6]}}

    def infer(self, n):
        shape = tuple(n.need_rank(at_least=1, what=": topk needs an axis"))
        axis = n.axis("dim")
        if isinstance(shape[axis], int) and n["k"] > shape[axis]:
            n.fail(f"k {n['k']} is more than axis {axis} of {fmt(shape)} holds", "k")
        out = shape[:axis] + (n["k"],) + shape[axis + 1:]
        return [out, out]

    def dtypes(self, n):
        return [n.dtypes["x"], "int64"]

    def flops(self, n, out):
        return (float(per_token(n.shape())), 0.0)  # about one compare per input element
