from archc.ops.base import Attr, Op, Port


class Split(Op):
    """Split along ``dim`` into pieces of ``sizes``; outputs are ``name.0``, ``name.1``, ..."""

    name = "split"
    inputs = (Port("x", takes="any"),)
    outputs = ("0", "1")  # the real list depends on 'sizes', see output_names
    attrs = {"sizes": Attr(list, item=int, doc="size of each piece, e.g. [768, 768, 768]"),
             "dim": Attr(int, -1, doc="axis to split")}
    example = {"attrs": {"sizes": [2, 4]}, "inputs": {"x": ["B", "T", 6]}}

    def output_names(self, attrs):
        # two at least, so that `sizes: [8]` reaches infer's message about sizes, not one about outputs
        return tuple(str(i) for i in range(max(2, len(attrs["sizes"]))))

    def infer(self, n):
        shape = tuple(n.shape())
        axis = n.axis("dim")
        sizes = n["sizes"]
        if len(sizes) < 2 or not all(s >= 1 for s in sizes):
            n.fail("sizes must list two or more positive ints", "sizes")
        if sum(sizes) != shape[axis]:
            n.fail(f"sizes {sizes} sum to {sum(sizes)}, but axis {axis} has {shape[axis]}", "sizes")
        return [shape[:axis] + (s,) + shape[axis + 1:] for s in sizes]

    def flops(self, n, out):
        return (0.0, 0.0)
