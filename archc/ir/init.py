"""Initialisation choices, shared by lint (zero-init branches, ReZero) and code generation.

A node's ``init:`` (or the spec's top-level ``init:``, the default for every node) is one of:

* ``zeros`` | ``ones`` | ``default`` (PyTorch's own init for the module);
* ``{std: 0.02}``: normal(0, std) for weights of two or more axes, zeros for biases, norm scales kept at 1;
* ``{std: 0.02, depth: 12}``: GPT-2's scaled init, std / sqrt(2 * depth) (Radford et al. 2019, sec. 2.3);
* ``{value: 0.0}``: every parameter of the node set to a constant (ReZero's alpha = 0);
* a mapping from parameter name (``o_proj.weight``) to any of the above.

Normalised form, stored in ``Node.init``: {param name or '*': {"kind": ..., "std"/"value"/"depth": ...}}.
"""

from __future__ import annotations

import math
import sys

from archc.errors import SpecError, did_you_mean

KINDS = ("default", "zeros", "ones")
RULE_KEYS = ("std", "depth", "value")


def _rule(value, loc, where: str) -> dict:
    if isinstance(value, str):
        if value not in KINDS:
            raise SpecError(f"unknown init '{value}' for {where}{did_you_mean(value, KINDS)}; expected one of "
                            f"{', '.join(KINDS)} or {{std: ...}} / {{value: ...}}", loc)
        return {"kind": value}
    if isinstance(value, dict) and value and set(value) <= set(RULE_KEYS):
        if "value" in value:
            if set(value) != {"value"} or not _is_number(value["value"]):
                raise SpecError(f"init {{value: ...}} for {where} takes one finite number, got "
                                f"{_shown(value.get('value'))}", loc)
            return {"kind": "constant", "value": float(value["value"])}
        if "std" not in value or not _is_number(value["std"]) or value["std"] < 0:
            raise SpecError(f"init for {where} needs a finite, non-negative 'std', got {_shown(value.get('std'))}",
                            loc)
        rule = {"kind": "normal", "std": float(value["std"])}
        if "depth" in value:
            if not isinstance(value["depth"], int) or isinstance(value["depth"], bool) or value["depth"] < 1:
                raise SpecError(f"init 'depth' for {where} must be a positive int (the number of layers)", loc)
            rule["depth"] = value["depth"]
        return rule
    raise SpecError(f"bad init for {where}: expected zeros, ones, default, {{std: ...}}, {{value: ...}} or a "
                    "mapping from parameter names to these", loc)


def _is_number(x) -> bool:
    """A finite int or float: generated code prints it as a literal, and inf or nan would poison every weight."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return False
    return math.isfinite(x) if isinstance(x, float) else abs(x) <= sys.float_info.max  # float(10**400) overflows


def _shown(x) -> str:
    if isinstance(x, float) and not math.isfinite(x):
        return ".nan" if x != x else ".inf" if x > 0 else "-.inf"  # as YAML writes them
    text = "nothing" if x is None else repr(x)
    return text if len(text) <= 40 else f"{text[:20]}... ({len(text)} characters)"


def normalize(value, loc, where: str) -> dict:
    """The normalised init for one node (or the spec default); raises SpecError on a bad choice."""
    if value is None:
        return {}
    if isinstance(value, dict) and value and not (set(value) <= set(RULE_KEYS)):
        mixed = [k for k in value if k not in RULE_KEYS]
        if any(k in RULE_KEYS for k in value):  # {std: 0.02, depht: 12}: a typo, not parameter names
            raise SpecError(f"unknown key '{mixed[0]}' in init for {where}{did_you_mean(mixed[0], RULE_KEYS)}; "
                            f"an init rule takes {', '.join(RULE_KEYS)}", loc)
        return {str(k): _rule(v, loc, f"{where} parameter '{k}'") for k, v in value.items()}
    return {"*": _rule(value, loc, where)}

