from archc.ops.base import Attr, Op


class Split(Op):
    """Split along ``dim`` into pieces of ``sizes``; outputs are ``name.0``, ``name.1``, ..."""

    name = "split"
    outputs = ("0", "1")  # the real list depends on 'sizes', see output_names
    attrs = {"sizes": Attr(list, doc="size of each piece, e.g. [768, 768, 768]"),
             "dim": Attr(int, -1, doc="axis to split")}
    example = {"attrs": {"sizes": [2, 4]}, "inputs": {"x": ["B", "T", 6]}}

    @staticmethod
    def output_names(attrs):
        return tuple(str(i) for i in range(len(attrs["sizes"])))

    def infer(self, n):
        shape = tuple(n.shape())
        rank = len(shape)
        if not -rank <= n["dim"] < rank:
            n.fail(f"dim {n['dim']} is out of range for rank {rank}", "dim")
        axis = n["dim"] % rank
        sizes = n["sizes"]
        if len(sizes) < 2 or not all(isinstance(s, int) and s >= 1 for s in sizes):
            n.fail("sizes must list two or more positive ints", "sizes")
        if sum(sizes) != shape[axis]:
            n.fail(f"sizes {sizes} sum to {sum(sizes)}, but axis {axis} has {shape[axis]}", "sizes")
        return [shape[:axis] + (s,) + shape[axis + 1:] for s in sizes]

    def flops(self, n, out):
        return (0.0, 0.0)
