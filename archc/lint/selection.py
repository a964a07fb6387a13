"""``--select`` / ``--ignore``: which rules run, as in ruff.

A selector is ``ALL``, a code (``GF001``), a code prefix (``GF``, ``GF0``) or a rule name
(``post-norm-deep-stack``). A rule runs when the most specific selector that matches it comes from ``select``
(``ALL`` when none is given); on a tie ``ignore`` wins. So ``--select GF --ignore GF001`` runs GF002 and
following, and ``--ignore GF --select GF002`` runs GF002 alone.
"""

from __future__ import annotations

from collections.abc import Iterable


def split(values: Iterable[str] | str | None) -> list[str] | None:
    """Selectors from strings that may hold several, comma-separated: ``["GF,AL001", "SY"]``."""
    if values is None:
        return None
    if isinstance(values, str):
        values = [values]
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def _specificity(selector: str, code: str, name: str) -> int | None:
    """How specific ``selector`` is for the rule, or None when it does not match it."""
    if selector == "ALL":
        return 0
    if selector == name:
        return len(code)
    if code.startswith(selector.upper()):
        return len(selector)
    return None


def selected(rules: dict, select=None, ignore=None) -> list[str]:
    """Codes of ``rules`` ({code: rule class}) that run, in registry order; ValueError for an unknown selector."""
    select, ignore = split(select), split(ignore)
    for selector in (select or []) + (ignore or []):
        if not any(_specificity(selector, code, cls.name) is not None for code, cls in rules.items()):
            raise ValueError(f"unknown rule selector '{selector}': expected ALL, a code (GF001), a code prefix "
                             "(GF) or a rule name; see archc lint --list-rules")
    out = []
    for code, cls in rules.items():
        chosen = _best(select if select is not None else ["ALL"], code, cls.name)
        dropped = _best(ignore or [], code, cls.name)
        if chosen is not None and (dropped is None or chosen > dropped):
            out.append(code)
    return out


def _best(selectors: list[str], code: str, name: str) -> int | None:
    found = [s for s in (_specificity(sel, code, name) for sel in selectors) if s is not None]
    return max(found, default=None)
