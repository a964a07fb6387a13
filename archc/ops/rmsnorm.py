from archc.ops.base import Attr, Op, Port


class RMSNorm(Op):
    """RMSNorm over the last axis (Zhang and Sennrich 2019): ``x / sqrt(mean(x^2) + eps) * weight``.

    ``unit_offset: true`` scales by ``1 + weight`` with the weight initialised to 0 (Gemma), in fp32 whatever
    the input's dtype, as HF's GemmaRMSNorm does.
    """

    name = "rmsnorm"
    category = "norm"
    inputs = (Port("x", takes="float32"),)
    elementwise = True
    attrs = {
        "eps": Attr(float, 1e-6, min=0.0, doc="added to the mean square"),
        "affine": Attr(bool, True, doc="learned scale"),
        "unit_offset": Attr(bool, False, doc="scale by 1 + weight, weight initialised to 0 (Gemma)"),
    }
    example = {"attrs": {"eps": 1e-5}, "inputs": {"x": ["B", "T", 9]}}

    def check(self, n):
        if n["unit_offset"] and not n["affine"]:
            n.fail("unit_offset needs affine: true (it offsets the learned scale)", "unit_offset")

    def infer(self, n):
        n.width()
        return [n.shape()]

    def params(self, n):
        return {"weight": (n.width(),)} if n["affine"] else {}

    def flops(self, n, out):
        return (4.0 * n.width(), 0.0)  # square, mean, rsqrt-scale, weight
