from archc.ir.dims import add
from archc.ops.base import FLOAT_DTYPES, Attr, Op, Port

#: the fill values torch converts to each dtype without overflow: [low, high) for ints, |value| <= max for floats
_INT_RANGE = {"int64": (-2**63, 2**63), "int32": (-2**31, 2**31), "bool": (0, 2)}
_FLOAT_MAX = {"float32": 3.4028234663852886e38, "float16": 65504.0, "bfloat16": 3.3895313892515355e38}


class Pad(Op):
    """Pad the last axis with a constant: a width change with no parameters (ResNet's shortcut 'A').

    The fill ``value`` must be one the input's dtype holds: a whole number in range for integers, 0 or 1 for
    bool, at most 65504 in magnitude for float16 (torch refuses the rest, or converts them silently).
    """

    name = "pad"
    inputs = (Port("x", takes="any"),)
    attrs = {"before": Attr(int, 0, min=0, doc="entries added before"),
             "after": Attr(int, 0, min=0, doc="entries added after"),
             "value": Attr(float, 0.0, doc="fill value")}
    example = {"attrs": {"after": 2}, "inputs": {"x": ["B", "T", 6]}}

    def check(self, n):
        dtype, value = n.dtypes["x"], n["value"]
        if dtype in FLOAT_DTYPES:
            if abs(value) > _FLOAT_MAX[dtype]:
                n.fail(f"value {value} is beyond the range of {dtype} (at most {_FLOAT_MAX[dtype]:g})", "value")
            return
        low, high = _INT_RANGE[dtype]
        if not value.is_integer() or not low <= value < high:
            n.fail(f"value {value} cannot fill {'a' if dtype == 'bool' else 'an'} {dtype} tensor: use a whole "
                   f"number from {low} to {high - 1}", "value")

    def infer(self, n):
        shape = n.need_rank(at_least=1, what=": pad extends the last axis")
        return [shape[:-1] + (add(add(shape[-1], n["before"]), n["after"]),)]

    def flops(self, n, out):
        return (0.0, 0.0)
