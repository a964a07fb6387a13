from archc.ops.base import Attr, Op, Port

ACTIVATIONS = ("gelu", "gelu_tanh", "relu", "silu", "tanh", "sigmoid")


class MLP(Op):
    """Position-wise feed-forward network in one op: ``down(act(up(x)))``, or with ``gated: true``
    ``down(act(gate(x)) * up(x))`` (GLU variants, Shazeer 2020: SwiGLU is ``silu``, GeGLU ``gelu``).

    Parameters ``up``, ``down`` and, gated, ``gate``. The catalog's ``ffn`` blocks spell the same thing out
    node by node; this op is for specs that want one node.
    """

    name = "mlp"
    category = "mlp"
    inputs = (Port("x", takes="float32"),)
    attrs = {
        "d_ff": Attr(int, min=1, doc="hidden width"),
        "activation": Attr(str, "gelu", choices=ACTIVATIONS, doc="nonlinearity"),
        "gated": Attr(bool, False, doc="multiply act(gate(x)) by up(x)"),
        "bias": Attr(bool, True, doc="biases on the projections"),
        "out_features": Attr(int, None, nullable=True, min=1, doc="output width; default the input width"),
    }
    example = {"attrs": {"d_ff": 10, "gated": True, "activation": "silu"}, "inputs": {"x": ["B", "T", 4]}}

    def infer(self, n):
        return [tuple(n.shape()[:-1]) + (n["out_features"] or n.width(),)]

    def params(self, n):
        d, f, d_out = n.width(), n["d_ff"], n["out_features"] or n.width()
        names = ("gate", "up") if n["gated"] else ("up",)
        p = {}
        for name in names:
            p[f"{name}.weight"] = (f, d)
            if n["bias"]:
                p[f"{name}.bias"] = (f,)
        p["down.weight"] = (d_out, f)
        if n["bias"]:
            p["down.bias"] = (d_out,)
        return p

    def flops(self, n, out):
        d, f, d_out = n.width(), n["d_ff"], n["out_features"] or n.width()
        matmuls = 2.0 * f * (d * (2 if n["gated"] else 1) + d_out)
        return (matmuls + f * (2 if n["gated"] else 1), 0.0)
