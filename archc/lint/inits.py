"""Init scales: the initial distribution of each parameter, with the spec-wide ``init`` applied.

A node's rule for a parameter is its own ``init`` entry for that parameter, else its ``*`` entry, else the
spec-wide rule (``init:`` at the top of the spec; its parameter entries, then its ``*``). None means
PyTorch's default for the module (Kaiming-uniform for ``nn.Linear``: std = 1/sqrt(3 fan_in) for the
weight, well below the unit gain), which the rules leave alone. See :mod:`archc.ir.init` for the forms.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from archc.ir.graph import Node
    from archc.lint.context import Context


def rule_of(ctx: Context, node: Node, param: str) -> dict | None:
    """The normalised init rule of ``param`` of ``node``, or None for PyTorch's default."""
    default = ctx.info.get("default_init") or {}
    for rules in (node.init, default):
        if param in rules:
            return rules[param]
        if "*" in rules:
            return rules["*"]
    return None


def from_spec_wide(ctx: Context, node: Node, param: str) -> bool:
    """Whether ``param``'s rule comes from the spec-wide ``init`` rather than the node's own."""
    return param not in node.init and "*" not in node.init and rule_of(ctx, node, param) is not None


def weight_std(rule: dict | None) -> float | None:
    """The standard deviation a weight of two or more axes starts with under ``rule`` (None: not normal)."""
    if rule is None or rule["kind"] != "normal":
        return None
    std = rule["std"]
    return std / math.sqrt(2 * rule["depth"]) if "depth" in rule else std


def starts_at_zero(rule: dict | None) -> bool:
    """Whether ``rule`` sets the parameter to exactly zero."""
    if rule is None:
        return False
    return rule["kind"] == "zeros" or (rule["kind"] == "constant" and rule["value"] == 0.0) or \
        (rule["kind"] == "normal" and rule["std"] == 0.0)


def weights(node: Node) -> dict[str, tuple]:
    """The node's own matrices: {param: shape} for parameters of two or more axes named ``*weight``."""
    return {p: tuple(s) for p, s in (node.meta.get("params") or {}).items() if p.endswith("weight") and len(s) >= 2}
