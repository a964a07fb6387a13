import math

from archc.ops.base import FLOAT_DTYPES, INT_DTYPES, TENSOR_DTYPES, Attr, Op
from archc.ops.param import fixed_shape

#: the largest finite value of each float dtype (torch.finfo(...).max)
FLOAT_MAX = {"float32": 3.4028234663852886e38, "float16": 65504.0, "bfloat16": 3.3895313892515355e38}


class Constant(Op):
    """A tensor that is never trained, of a fixed ``shape`` with no input (``in: []``): every entry ``value``
    (``fill: full``), or ``0, 1, 2, ...`` along the last axis (``fill: arange``: position ids).

    It is a non-persistent buffer: it moves with ``.to(device)`` but is not in the state dict, since the spec
    defines it (HF registers its ``position_ids`` the same way), so weights load strictly without it.
    """

    name = "constant"
    inputs = ()
    attrs = {"shape": Attr(list, item=int, doc="the tensor's axes, numbers only ([] for a scalar)"),
             "fill": Attr(str, "full", choices=("full", "arange"), doc="every entry `value`, or 0, 1, ... "
                                                                       "along the last axis"),
             "value": Attr((int, float), 0.0, doc="the entries for fill: full; an int for integer dtypes, 0 or 1 "
                                                  "for bool"),
             "dtype": Attr(str, "float32", choices=TENSOR_DTYPES, doc="element type")}
    example = {"attrs": {"shape": [2, 6], "fill": "arange"}, "inputs": {}}

    def check(self, n):
        value, dtype = n["value"], n["dtype"]
        if isinstance(value, float) and not math.isfinite(value):
            n.fail(f"value {value} is not a finite number", "value")
        if dtype == "bool" and value not in (0, 1):
            n.fail(f"value {value} is not a bool; use 0 or 1 with dtype bool", "value")
        if dtype in ("int64", "int32") and value != int(value):
            n.fail(f"value {value} is not an integer, as dtype {dtype} needs", "value")
        if dtype in INT_DTYPES:
            bits = 31 if dtype == "int32" else 63
            if not -(2**bits) <= value < 2**bits:
                n.fail(f"value {value:,.0f} does not fit {dtype}", "value")
        if dtype in FLOAT_DTYPES and abs(value) > FLOAT_MAX[dtype]:
            n.fail(f"value {value} is beyond the largest {dtype} ({FLOAT_MAX[dtype]:.4g}): it would be inf", "value")

    def infer(self, n):
        shape = fixed_shape(n)
        if n["fill"] == "arange" and not shape:
            n.fail("fill: arange needs an axis to count along", "fill")
        if n["fill"] == "arange" and n["dtype"] == "bool":
            n.fail("fill: arange counts 0, 1, 2...; it needs a number dtype, not bool", "dtype")
        return [shape]

    def dtypes(self, n):
        return [n["dtype"]]

    def flops(self, n, out):
        return (0.0, 0.0)
