from archc.ops.base import Attr, Op, Port


class Scale(Op):
    """Multiply by a learned scalar or per-feature vector: ReZero's alpha (init 0), LayerScale."""

    name = "scale"
    elementwise = True
    inputs = (Port("x", takes="float32"),)
    attrs = {"per_feature": Attr(bool, False, doc="one scale per feature instead of one scalar")}
    example = {"attrs": {"per_feature": True}, "inputs": {"x": ["B", "T", 6]}}

    def infer(self, n):
        return [n.need_rank(at_least=1, what=": a scale of shape [1] would give a rank-0 input an axis")]

    def params(self, n):
        return {"weight": (n.width(),) if n["per_feature"] else (1,)}
