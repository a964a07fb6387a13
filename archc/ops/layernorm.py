from archc.ops.base import Attr, Op, Port


class LayerNorm(Op):
    """LayerNorm over the last axis (Ba et al. 2016): ``(x - mean) / sqrt(var + eps) * weight + bias``."""

    name = "layernorm"
    category = "norm"
    inputs = (Port("x", takes="float32"),)
    elementwise = True
    attrs = {
        "eps": Attr(float, 1e-5, min=0.0, doc="added to the variance"),
        "bias": Attr(bool, True, doc="learned shift (False as in OLMo)"),
        "affine": Attr(bool, True, doc="learned scale and shift"),
    }
    example = {"attrs": {}, "inputs": {"x": ["B", "T", 9]}}

    def infer(self, n):
        n.width()
        return [n.shape()]

    def params(self, n):
        if not n["affine"]:
            return {}
        d = n.width()
        return {"weight": (d,), **({"bias": (d,)} if n["bias"] else {})}

    def flops(self, n, out):
        return (8.0 * n.width(), 0.0)  # mean, centre, square, mean, rsqrt, scale, weight, bias
