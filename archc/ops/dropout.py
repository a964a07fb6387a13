from archc.ops.base import Attr, Op


class Dropout(Op):
    """Dropout (Srivastava et al. 2014): zeroes a fraction ``p`` in training, identity in eval."""

    name = "dropout"
    elementwise = True
    attrs = {"p": Attr(float, 0.1, min=0.0, doc="probability of zeroing an element, below 1")}
    example = {"attrs": {"p": 0.0}, "inputs": {"x": ["B", "T", 4]}}

    def check(self, n):
        if not n["p"] < 1.0:
            n.fail("p must be below 1", "p")

    def flops(self, n, out):
        return (0.0, 0.0)
