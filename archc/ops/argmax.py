from archc.ops.reduce import Reduction


class Argmax(Reduction):
    """The position of the largest entry along one axis (``dim``: a number or a size name), as int64
    indices: greedy decoding, hard routing. No gradient flows through it."""

    name = "argmax"
    out_dtype = "int64"
    example = {"attrs": {"dim": -1}, "inputs": {"x": ["B", "T", 6]}}
