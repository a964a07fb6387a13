from archc.ir.dims import fmt
from archc.ops.base import FLOAT_DTYPES, PARAM_DTYPE, Attr, Op


def fixed_shape(n) -> tuple:
    """The ``shape`` attribute: numbers only, since a tensor with no input has no run-time sizes to follow."""
    shape = tuple(n["shape"])
    if not all(type(d) is int and d >= 1 for d in shape):
        n.fail(f"shape {fmt(shape)} must list positive ints (a tensor with no input has no B or T)", "shape")
    return shape


class Param(Op):
    """A learned free tensor of a fixed ``shape``, with no input (``in: []``): a class token ``[1, 1, d]``,
    CLIP's learned log-temperature ``[]``, LayerScale's gamma ``[d]``.

    Its state-dict key is the node's key plus ``.weight`` (``cls.weight``), as for every op's parameters.
    It starts at zeros; the node's ``init:`` sets another start (``{std: 0.02}``, ``{value: 2.6592}``).
    """

    name = "param"
    inputs = ()
    attrs = {"shape": Attr(list, item=int, doc="the tensor's axes, numbers only ([] for a scalar)"),
             "dtype": Attr(str, PARAM_DTYPE, choices=FLOAT_DTYPES, doc="element type")}
    example = {"attrs": {"shape": [1, 1, 6]}, "inputs": {}}

    def infer(self, n):
        return [fixed_shape(n)]

    def dtypes(self, n):
        return [n["dtype"]]

    def params(self, n):
        return {"weight": fixed_shape(n)}

    def flops(self, n, out):
        return (0.0, 0.0)
