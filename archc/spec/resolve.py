"""Resolution of interpolations, mapping every failure back to a spec location.

The work is done by :mod:`archc.spec.interpolation` with archc's resolver table and nothing else (OmegaConf's
``oc.env``, ``oc.decode`` and ``oc.create`` do not exist there, however their names are spelled or assembled);
this module checks the strings early, turns failures into one-line :class:`SpecError` and checks that every
number that comes out fits where archc puts it.
"""

from __future__ import annotations

import re
import sys

from archc.errors import SpecError, did_you_mean
from archc.spec.compose import Composed
from archc.spec.interpolation import MAX_UNITS, Failure, Resolved, Resolver, _Syntax, parse
from archc.spec.resolvers import RESOLVERS, check_number

__all__ = ["Resolved", "check_strings", "resolve_tree"]


def _not_allowed(name) -> str:
    hint = did_you_mean(name, RESOLVERS) if isinstance(name, str) else ""
    return (f"resolver {name!r} is not allowed in a spec{hint}; archc's resolvers are "
            f"{', '.join(RESOLVERS)}")


def _literal_names(parts):
    """Resolver names written out in full in a parsed string (assembled ones are met when resolving)."""
    stack = list(parts)
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            continue
        if isinstance(item, tuple) and item and item[0] in ("ref", "call"):
            if item[0] == "call" and all(isinstance(p, str) for p in item[1]):
                yield "".join(item[1])
            stack.extend(item[1])
            if item[0] == "call":
                stack.extend(item[2])
        elif isinstance(item, tuple) and item and item[0] in ("quoted", "plain", "list"):
            stack.extend(item[1])
        elif isinstance(item, tuple) and item and item[0] == "dict":
            for key, value in item[1]:
                stack.extend(key)
                stack.append(value)


def check_strings(composed: Composed) -> None:
    """Parse every interpolation in the composed spec, used or not: bad syntax and resolvers that are not
    archc's are reported at their place before anything is resolved (blocks no node uses included)."""
    stack = [((), composed.data)]
    text = 0
    while stack:
        path, value = stack.pop()
        if isinstance(value, dict):
            stack.extend((path + (k,), v) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((path + (i,), v) for i, v in enumerate(value))
        elif isinstance(value, str) and "${" in value:
            text += len(value)
            if text > MAX_UNITS:  # the catalog's interpolations total 2,000 characters; parsing is ~2 us each
                raise SpecError(f"interpolations total more than {MAX_UNITS:,} characters; a spec holds far fewer",
                                composed.loc(path))
            try:
                parts = parse(value)
            except _Syntax as exc:
                raise SpecError(_message(Failure(f"bad interpolation syntax: {exc}", path, value)),
                                composed.loc(path)) from None
            for name in _literal_names(parts):
                if name not in RESOLVERS:
                    raise SpecError(_not_allowed(name), composed.loc(path))


def _message(failure: Failure) -> str:
    if failure.kind == "missing":
        return "missing value '???': set it in the spec or with an override"
    if failure.kind == "resolver":
        return _not_allowed(failure.message)
    if failure.kind == "key":
        return failure.message
    raw = failure.raw
    if isinstance(raw, str):
        shown = raw if len(raw) <= 60 else raw[:57] + "..."
        return f"cannot resolve {shown!r}: {failure.message}"
    return failure.message


_MISSING_KEY = re.compile(r"^interpolation key '([^']+)' not found$")


def _missing_key_hint(text: str, tree) -> str:
    """`` (did you mean 'vars.d_model'?)`` for ``interpolation key 'vars.d_modle' not found``."""
    match = _MISSING_KEY.match(text)
    if not match:
        return ""
    parts = match.group(1).split(".")
    for i, part in enumerate(parts):
        if isinstance(tree, Resolved):
            tree = tree.value
        if not isinstance(tree, dict):
            return ""
        if part not in tree:
            return did_you_mean(part, tree, "".join(f"{p}." for p in parts[:i]))
        tree = tree[part]
    return ""


def _check_numbers(value, path: tuple, loc_of, prefix: tuple) -> None:
    """Every int and float that resolution produced fits archc's number paths (see check_number)."""
    stack = [(path, value)]
    while stack:
        p, v = stack.pop()
        if isinstance(v, dict):  # pushed last-first, so the first bad number in the file is reported
            stack.extend(reversed([(p + (k,), x) for k, x in v.items()]))
        elif isinstance(v, list):
            stack.extend(reversed([(p + (i,), x) for i, x in enumerate(v)]))
        else:
            problem = check_number(v)
            if problem:
                raise SpecError(problem, loc_of(prefix + p))


# See MAX_LEVELS in archc.spec.interpolation: the deepest resolution allowed needs about 1,000 frames.
_STACK = 4_000


def resolve_tree(tree: dict, loc_of, prefix: tuple = ()) -> dict:
    """Resolve every interpolation in ``tree`` (plain data) and return plain data.

    ``loc_of(path)`` maps a path in ``tree`` (prefixed by ``prefix``) to a Loc for error messages. Values a
    caller already resolved go in wrapped in :class:`Resolved`: they are taken as they are, never parsed again.
    """
    written = {k: v for k, v in tree.items() if not isinstance(v, Resolved)}
    _check_numbers(written, (), loc_of, prefix)  # a number written out is reported where it is written
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, _STACK))
    try:
        resolved = Resolver(tree, RESOLVERS).resolve()
    except Failure as failure:
        message = _message(failure)
        raise SpecError(message + _missing_key_hint(message, tree), loc_of(prefix + failure.path)) from None
    finally:
        sys.setrecursionlimit(limit)
    _check_numbers({k: resolved[k] for k in written}, (), loc_of, prefix)  # numbers the resolvers made
    return resolved
