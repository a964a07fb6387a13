from archc.ops.base import Attr, Op


class Scale(Op):
    """Multiply by a learned scalar or per-feature vector: ReZero's alpha (init 0), LayerScale."""

    name = "scale"
    elementwise = True
    attrs = {"per_feature": Attr(bool, False, doc="one scale per feature instead of one scalar")}
    example = {"attrs": {"per_feature": True}, "inputs": {"x": ["B", "T", 6]}}

    def params(self, n):
        return {"weight": (n.width(),) if n["per_feature"] else (1,)}
