"""Helpers shared by the math and tensor ops of issue 7: named axes, per-token sizes, binary broadcasting."""

from __future__ import annotations

import math

from archc.ir.dims import broadcast, fmt, is_symbol
from archc.ops.activation import Activation
from archc.ops.base import Attr, Op, Port, promote

#: an axis attribute that also takes a size name of the input's shape (dim: T)
NAMED_DIM = Attr((int, str), -1, doc="axis: an int (negative counts from the end) or a size name of the "
                                     "input's shape that occurs there once (T)")


def named_axis(n, attr: str = "dim", port: str = "x") -> int:
    """The axis ``attr`` names in input ``port``, as 0 .. rank-1: an int as torch reads it, or a size name
    (``T``) that occurs exactly once in the input's shape."""
    shape = tuple(n.shape(port))
    dim = n[attr]
    if isinstance(dim, int):
        return n.axis(attr, port)
    if not is_symbol(dim):
        n.fail(f"{attr} '{dim}' is neither an axis number nor a size name", attr)
    hits = [i for i, d in enumerate(shape) if d == dim]
    if len(hits) != 1:
        n.fail(f"{attr} '{dim}' must name exactly one axis of input '{port}' {fmt(shape)}; it names "
               f"{len(hits)}", attr)
    return hits[0]


def per_token(shape) -> int:
    """Elements per token: the product of the known axes (the symbolic ones, B and T, are the token axes)."""
    return math.prod(d for d in shape if isinstance(d, int))


class Elementwise(Activation):
    """An elementwise function of one float tensor; FLOPs ``flops_per_element`` per element of a token."""

    example = {"attrs": {}, "inputs": {"x": ["B", "T", 6]}}

    def flops(self, n, out):
        return (self.flops_per_element * per_token(out[0]), 0.0)


class Binary(Op):
    """``x <op> y`` with NumPy broadcasting, as add and mul broadcast; dtypes promote as torch's do."""

    inputs = (Port("x", doc="left operand"), Port("y", doc="right operand"))
    example = {"attrs": {}, "inputs": {"x": ["B", "T", 6], "y": [6]}}
    verb = ""

    def infer(self, n):
        out = broadcast(tuple(n.shape("x")), tuple(n.shape("y")))
        if out is None:
            n.fail(f"cannot {self.verb} shapes {fmt(n.shape('x'))} and {fmt(n.shape('y'))}")
        return [out]

    def dtypes(self, n):
        return [promote([n.dtypes["x"], n.dtypes["y"]], [len(n.shape("x")), len(n.shape("y"))])]

    def flops(self, n, out):
        return (float(per_token(out[0])), 0.0)


def same_dtype(n, dtypes: list, what: str) -> str:
    """The one dtype of a matmul's operands: torch's matmul and einsum refuse mixed dtypes (no promotion)."""
    if len(set(dtypes)) > 1:
        n.fail(f"{what} needs operands of one dtype, got {' and '.join(dtypes)}; cast one first")
    return dtypes[0]
