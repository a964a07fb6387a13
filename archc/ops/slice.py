from archc.ir.dims import fmt, offset
from archc.ops.base import Attr, Op, Port


class Slice(Op):
    """Keep ``start:end`` of one axis (features by default), with Python's meaning of negative indices:
    ``start: -3`` keeps the last three entries, ``end: -1`` drops the last one, no ``end`` runs to the end.

    On an axis of known size both ends are checked against it. On a symbolic axis (``T``) the result is
    ``T-k`` when ``start`` counts from the front and ``end`` from the back (or is left out); both ends
    counting from the same side give a fixed size, which needs ``T`` at least that long at run time.
    """

    name = "slice"
    inputs = (Port("x", takes="any"),)
    attrs = {"start": Attr(int, 0, doc="first index kept; negative counts from the end"),
             "end": Attr(int, None, nullable=True, doc="one past the last index kept; negative counts from the "
                                                       "end; default the end of the axis"),
             "dim": Attr(int, -1, doc="axis to slice")}
    example = {"attrs": {"start": 1, "end": -1}, "inputs": {"x": ["B", "T", 6]}}

    def infer(self, n):
        shape = tuple(n.shape())
        axis = n.axis("dim")
        size, start, end = shape[axis], n["start"], n["end"]
        if isinstance(size, int):
            for attr, value in (("start", start), ("end", end)):
                if value is not None and not -size <= value <= size:
                    n.fail(f"{attr} {value} is outside axis {axis} of {fmt(shape)} (from {-size} to {size})", attr)
            first = start + size if start < 0 else start
            last = size if end is None else end + size if end < 0 else end
            if first >= last:
                n.fail(f"start {start} and end {end} keep nothing of axis {axis} of {fmt(shape)} (entries "
                       f"{first} .. {last - 1})", "end")
            length = last - first
        elif start >= 0 and (end is None or end < 0):  # T - start + end
            length = offset(size, -start + (end or 0))
        elif end is not None and (start >= 0) == (end >= 0):  # both from the front, or both from the back
            if end <= start:
                n.fail(f"start {start} and end {end} keep nothing of axis {axis} of {fmt(shape)}", "end")
            length = end - start
        elif start < 0 and end is None:
            length = -start
        else:
            n.fail(f"start {start} and end {end} count from opposite ends of the symbolic axis {size} of "
                   f"{fmt(shape)}, so the length would depend on {size}; count both from the same end, or start "
                   "from the front and end from the back", "end")
        return [shape[:axis] + (length,) + shape[axis + 1:]]

    def flops(self, n, out):
        return (0.0, 0.0)
