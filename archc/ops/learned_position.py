from archc.ops.base import Attr
from archc.ops.positions import PositionOp


class LearnedPosition(PositionOp):
    """A learned table of ``max_len`` position vectors (GPT-2's ``wpe``); output ``[T, dim]``.

    Input: anything whose axis 1 is the sequence (the token ids). Add the output to the embeddings.
    """

    name = "learned_position"
    attrs = {"max_len": Attr(int, min=1, doc="longest sequence"), "dim": Attr(int, min=1, doc="width")}
    example = {"attrs": {"max_len": 16, "dim": 6}, "inputs": {"x": ["B", "T"]}}

    def infer(self, n):
        return [(self.check_len(n, "max_len"), n["dim"])]

    def params(self, n):
        return {"weight": (n["max_len"], n["dim"])}

    def flops(self, n, out):
        return (0.0, 0.0)
