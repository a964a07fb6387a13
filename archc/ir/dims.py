"""Symbolic dimensions: ints for known sizes, identifiers (``B``, ``T``) for sizes known at run time.

Kept deliberately small (no sympy on the start-up path): symbols appear in leading axes, and ops that do
arithmetic on them produce canonical strings: :func:`add` and :func:`offset` give ``T+1`` after a prefix
token, ``T-2`` after slicing one entry off each end, ``T+S`` after joining two sequences. Such a size is a
sum of symbols and one signed constant last; :func:`evaluate` gives its value for concrete symbol sizes.
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


_CONST = re.compile(r"(.*[A-Za-z_][A-Za-z0-9_]*)([+-][0-9]+)")  # symbols, then a constant
_TERM = re.compile(r"([+-]?)([A-Za-z_][A-Za-z0-9_]*|[0-9]+)")
#: torch indexes, sizes and element counts are int64: no axis, index or parameter may be larger
INT64_MAX = 2**63 - 1


def show_int(n: int) -> str:
    """``1,024`` for an int a reader can take in; its size in bits beyond 30 digits (Python refuses to print
    ints of over 4,300 digits at all)."""
    return f"{n:,}" if abs(n) < 10**30 else f"{'-' if n < 0 else ''}an int of {n.bit_length():,} bits"


def numel(shape) -> int | None:
    """Number of elements when every axis is known, else None."""
    if all(isinstance(d, int) for d in shape):
        return math.prod(shape)
    return None


def _split(dim: str) -> tuple[str, int]:
    """'T+S-2' -> ('T+S', -2); 'T' -> ('T', 0)."""
    match = _CONST.fullmatch(dim)
    return (match.group(1), int(match.group(2))) if match else (dim, 0)


def offset(dim, k: int):
    """``dim + k``: ``offset('T', -1) == 'T-1'``, ``offset('T+1', -1) == 'T'``, ``offset(5, 2) == 7``."""
    if isinstance(dim, int):
        return dim + k
    base, const = _split(dim)
    const += k
    return base if const == 0 else f"{base}{const:+d}"


def add(a, b):
    if isinstance(b, int):
        return offset(a, b)
    if isinstance(a, int):
        return offset(b, a)
    base_a, const_a = _split(a)
    base_b, const_b = _split(b)
    return offset(f"{base_a}+{base_b}", const_a + const_b)


def evaluate(dim, sizes: dict) -> int | None:
    """The value of a size for concrete symbol sizes (``evaluate('T-2', {'T': 5}) == 3``), None if unknown."""
    if isinstance(dim, int):
        return dim
    total, pos = 0, 0
    for match in _TERM.finditer(dim):
        if match.start() != pos:
            return None
        sign, term = match.groups()
        value = int(term) if term.isdigit() else sizes.get(term)
        if value is None:
            return None
        total += -value if sign == "-" else value
        pos = match.end()
    return total if pos == len(dim) else None


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
