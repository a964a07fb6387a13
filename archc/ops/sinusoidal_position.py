from archc.ops.base import Attr
from archc.ops.positions import PositionOp


class SinusoidalPosition(PositionOp):
    """Fixed sinusoids (Vaswani et al. 2017, sec. 3.5): PE[t, 2i] = sin(t / base^(2i/dim)), cos for 2i+1.

    Output ``[T, dim]``, computed once as a buffer; no parameters.
    """

    name = "sinusoidal_position"
    attrs = {"dim": Attr(int, min=2, doc="width, even"), "max_len": Attr(int, 8192, min=1, doc="table rows"),
             "base": Attr(float, 10000.0, min=1.0, doc="wavelength base")}
    example = {"attrs": {"dim": 6, "max_len": 32}, "inputs": {"x": ["B", "T"]}}

    def check(self, n):
        if n["dim"] % 2:
            n.fail("dim must be even (sin and cos pairs)", "dim")
        self.check_table(n, "dim")

    def infer(self, n):
        return [(self.check_len(n, "max_len"), n["dim"])]

    def flops(self, n, out):
        return (0.0, 0.0)  # a table lookup
