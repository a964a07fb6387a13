from archc.ops.base import Attr, Op


class Slice(Op):
    """Keep ``start:end`` of one axis (features by default). Changes width with no parameters."""

    name = "slice"
    attrs = {"start": Attr(int, 0, min=0, doc="first index kept"),
             "end": Attr(int, doc="one past the last index kept"),
             "dim": Attr(int, -1, doc="axis to slice")}
    example = {"attrs": {"end": 3}, "inputs": {"x": ["B", "T", 6]}}

    def infer(self, n):
        shape = tuple(n.shape())
        axis = n["dim"] % len(shape)
        size = shape[axis]
        if not n["start"] < n["end"]:
            n.fail("end must be greater than start", "end")
        if isinstance(size, int) and n["end"] > size:
            n.fail(f"end {n['end']} is past the axis size {size}", "end")
        return [shape[:axis] + (n["end"] - n["start"],) + shape[axis + 1:]]

    def flops(self, n, out):
        return (0.0, 0.0)
