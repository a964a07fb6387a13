from archc.ops.base import TENSOR_DTYPES, Attr, Op


class Input(Op):
    """A declared input of the spec (``inputs: {tokens: {shape: [B, T], dtype: int64}}``)."""

    name = "input"
    category = "input"
    inputs = ()
    attrs = {
        "shape": Attr(list, doc="axes: ints for fixed sizes, names (B, T) for sizes known at run time"),
        "dtype": Attr(str, "float32", choices=TENSOR_DTYPES,
                      doc="element type"),
    }
    example = {"attrs": {"shape": ["B", "T", 8]}, "inputs": {}}

    def infer(self, n):
        return [tuple(n["shape"])]

    def dtypes(self, n):
        return [n["dtype"]]

    def flops(self, n, out):
        return (0.0, 0.0)
