from archc.ops.base import Attr, Op, Port


class IndexSelect(Op):
    """``torch.index_select(x, dim, index)``: the entries of ``x`` at the positions a 1-D ``index`` lists
    along ``dim`` (a class token's row, a subset of channels); the output has ``len(index)`` there."""

    name = "index_select"
    inputs = (Port("x", takes="any", doc="the values"), Port("index", takes="index", doc="1-D positions"))
    attrs = {"dim": Attr(int, -1, doc="axis to select along")}
    example = {"attrs": {}, "inputs": {"x": ["B", "T", 8], "index": [3]}}

    def infer(self, n):
        shape = tuple(n.need_rank("x", at_least=1, what=": index_select needs an axis"))
        (length,) = n.need_rank("index", exactly=1, what=" (a list of positions)")
        axis = n.axis("dim")
        return [shape[:axis] + (length,) + shape[axis + 1:]]

    def dtypes(self, n):
        return [n.dtypes["x"]]

    def flops(self, n, out):
        return (0.0, 0.0)  # moves values, no arithmetic
