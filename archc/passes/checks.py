"""Checks of single values written in a spec: names, docs, numbers and op attributes.

Every message shows a value through :func:`shown`, which never prints an int of thousands of digits (Python
refuses to convert one to text) or a long value whole.
"""

from __future__ import annotations

import math
import re

from archc.errors import Loc, SpecError, did_you_mean
from archc.ops.base import Attr

# fullmatch, never match with a `$` anchor: `$` also matches before a final newline, and "a\n" reached
# generated code as a name
IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
INT64 = (-(2**63), 2**63 - 1)  # every int attribute ends up in a torch call or a tensor shape
_TYPE_NAMES = {int: "an int", float: "a number", bool: "true or false", str: "a string", list: "a list"}


def check_name(name, what: str, loc: Loc) -> str:
    """``name`` if generated code can use it as an identifier: no quotes, spaces or dunders.

    Python keywords (``class``, ``lambda``) are fine: code generation renames them (``class_``), as it does
    any name that clashes (archc/codegen/names.py).
    """
    if not isinstance(name, str) or not IDENT.fullmatch(name) or name.startswith("__"):
        raise SpecError(f"{what} {shown(name)} is not a valid name: use letters, digits and '_', not starting with "
                        "a digit or '__'", loc)
    return name


def check_doc(value, what: str, loc: Loc) -> None:
    """A ``doc`` (or the spec's ``name``) is a note for readers: a string when given."""
    if value is not None and not isinstance(value, str):
        raise SpecError(f"{what} must be a string, got {shown(value)}", loc)


def _leaves(value):
    """Every value that is not a list or mapping in ``value``, without recursion (interpolations can build
    values nested deeper than the loader's limit)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(reversed(list(item.values())))  # reversed: leaves come out in spec order
        elif isinstance(item, list):
            stack.extend(reversed(item))
        else:
            yield item


def check_finite(value, what: str, loc: Loc) -> None:
    """Refuse inf and nan anywhere in ``value``: no size or rate is infinite, and JSON cannot hold them."""
    for item in _leaves(value):
        if isinstance(item, float) and not math.isfinite(item):
            raise SpecError(f"{what} must be finite, got {item!r}", loc)


def shown(value) -> str:
    """``repr(value)`` for a message, short: Python refuses to print ints of over 4,300 digits."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**30:
        digits = int(math.log10(abs(value)))  # a float: may be one off either way
        digits += (10 ** (digits + 1) <= abs(value)) - (10**digits > abs(value))
        return f"an integer of {digits + 1:,} digits"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_int64(value, what: str, loc: Loc) -> None:
    """Refuse ints outside int64 anywhere in ``value``: torch cannot take them (and 2**63 overflows)."""
    for item in _leaves(value):
        if isinstance(item, int) and not isinstance(item, bool) and not INT64[0] <= item <= INT64[1]:
            raise SpecError(f"{what}: {shown(item)} does not fit in a 64-bit integer", loc)


def check_attr(op_name: str, attr: str, spec: Attr, value, loc: Loc):
    """The value, converted (int -> float) and checked against the schema."""
    check_int64(value, f"attribute '{attr}' of op '{op_name}'", loc)
    if value is None:
        if spec.nullable:
            return None
        raise SpecError(f"attribute '{attr}' of op '{op_name}' cannot be null", loc)
    types = spec.type if isinstance(spec.type, tuple) else (spec.type,)
    if float in types and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    ok = any(isinstance(value, t) and not (t is int and isinstance(value, bool)) for t in types)
    if not ok:
        want = " or ".join(_TYPE_NAMES.get(t, t.__name__) for t in types)
        raise SpecError(f"attribute '{attr}' of op '{op_name}' expects {want}, got {shown(value)}", loc)
    if isinstance(value, float) and not math.isfinite(value):
        raise SpecError(f"attribute '{attr}' of op '{op_name}' must be finite, got {value!r}", loc)
    if spec.choices is not None and value not in spec.choices:
        raise SpecError(f"attribute '{attr}' of op '{op_name}' must be one of {', '.join(map(str, spec.choices))}"
                        f", got {shown(value)}{did_you_mean(value, spec.choices)}", loc)
    if spec.min is not None and isinstance(value, (int, float)) and value < spec.min:
        raise SpecError(f"attribute '{attr}' of op '{op_name}' must be at least {spec.min}, got {shown(value)}",
                        loc)
    return value
