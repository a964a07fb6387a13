"""Symbolic dimensions: ints for known sizes, identifiers (``B``, ``T``) for sizes known at run time.

Kept deliberately small (no sympy on the start-up path): symbols appear in leading axes, and ops that do
arithmetic on them (``T+1`` after a prefix token) produce canonical strings via :func:`add`.
"""

from __future__ import annotations

import math
import re

_SYMBOL = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # fullmatch: `$` would accept "B\n"


def is_symbol(dim) -> bool:
    return isinstance(dim, str) and bool(_SYMBOL.fullmatch(dim))


def valid_dim(dim) -> bool:
    return (isinstance(dim, int) and not isinstance(dim, bool) and dim >= 1) or is_symbol(dim)


def fmt(shape) -> str:
    """``[B, T, 768]``."""
    return "[" + ", ".join(str(d) for d in shape) + "]"


def numel(shape) -> int | None:
    """Number of elements when every axis is known, else None."""
    if all(isinstance(d, int) for d in shape):
        return math.prod(shape)
    return None


def add(a, b):
    if isinstance(a, int) and isinstance(b, int):
        return a + b
    if b == 0:
        return a
    if a == 0:
        return b
    return f"{a}+{b}"


def broadcast(a: tuple, b: tuple):
    """NumPy broadcasting of two shapes, or None when they do not broadcast."""
    out = []
    for i in range(1, max(len(a), len(b)) + 1):
        da = a[-i] if i <= len(a) else 1
        db = b[-i] if i <= len(b) else 1
        if da == db or db == 1:
            out.append(da)
        elif da == 1:
            out.append(db)
        else:
            return None
    return tuple(reversed(out))
