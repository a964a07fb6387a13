from archc.ir.dims import fmt, is_symbol, numel
from archc.ops.base import Attr, Op, Port


class Reshape(Op):
    """View the input with another shape. Axes may name input symbols (``B``, ``T``); one axis may be -1."""

    name = "reshape"
    inputs = (Port("x", takes="any"),)
    attrs = {"shape": Attr(list, item=(int, str), doc="the new shape, e.g. [B, T, 12, 64]")}
    example = {"attrs": {"shape": ["B", "T", 2, 3]}, "inputs": {"x": ["B", "T", 6]}}

    def infer(self, n):
        src = tuple(n.shape())
        new = list(n["shape"])
        if sum(1 for d in new if d == -1) > 1:
            n.fail("at most one axis may be -1", "shape")
        for d in new:
            if not (isinstance(d, int) and (d >= 1 or d == -1)) and not is_symbol(d):
                n.fail(f"bad axis {d!r}: use a positive int, a symbol or -1", "shape")
        src_syms = sorted(d for d in src if isinstance(d, str))
        new_syms = sorted(d for d in new if isinstance(d, str))
        if src_syms != new_syms:
            n.fail(f"reshape must keep the symbolic axes {src_syms} of {fmt(src)}, got {fmt(new)}", "shape")
        known_src = numel([d for d in src if isinstance(d, int)])
        known_new = numel([d for d in new if isinstance(d, int) and d != -1])
        if -1 in new:
            if known_src % known_new:
                n.fail(f"cannot reshape {fmt(src)} to {fmt(new)}", "shape")
            new[new.index(-1)] = known_src // known_new
        elif known_src != known_new:
            n.fail(f"cannot reshape {fmt(src)} to {fmt(new)}: {known_src} vs {known_new} elements", "shape")
        return [tuple(new)]

    def flops(self, n, out):
        return (0.0, 0.0)
