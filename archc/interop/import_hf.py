"""A HuggingFace ``config.json`` -> a small spec that extends the catalog's spec of its family.

The spec written for a LLaMA config reads like this::

    # Imported by `archc import-hf` from config.json (model_type llama, transformers 5.23.0).
    defaults:
      - llama
      - _self_
    vars:
      vocab_size: 1001
      d_model: 96
      ...
    nodes:
      head: {tie: embed}

Every size is stated in ``vars`` (also those equal to the catalog's, so the file says what the model is
without opening another one); anything else is written only where the model differs from the catalog spec.

How it works: the JSON is parsed with the position of every key (:class:`~archc.interop.config.ConfigFile`);
each key must be in the family's table (``import_gpt2.KEYS``, ``import_llama.KEYS``) or in
:data:`~archc.interop.config.COMMON_KEYS`; each rule checks its value and writes into a :class:`Draft`; the
family's ``finish`` checks across keys. The draft is rendered as YAML and loaded back with
:func:`archc.pipeline.load_spec` before anyone sees it. Pure Python: no torch, no transformers.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from archc.errors import Loc, SpecError
from archc.interop import import_gpt2, import_llama
from archc.interop.config import ABSENT, COMMON_KEYS, ConfigFile, no_effect

FAMILIES = {"gpt2": import_gpt2, "llama": import_llama}  # model_type -> family module (KEYS, BASE, finish)


class Draft:
    """The spec being written: the catalog spec it extends, its vars, and overrides at dotted paths."""

    def __init__(self, base: str):
        self.base = base
        self.vars: dict = {}
        self.overrides: dict = {}  # nested, merged over the catalog spec

    def set(self, dotted: str, value) -> None:
        *parents, last = dotted.split(".")  # a dotted parameter name goes inside `value`: {o_proj.weight: ...}
        node = self.overrides
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value

    def data(self) -> dict:
        order = ["init", "blocks", "nodes"]  # the order of a catalog spec
        rest = {k: self.overrides[k] for k in sorted(self.overrides, key=lambda k: (order + [k]).index(k))}
        return {"defaults": [self.base, "_self_"], "vars": self.vars, **rest}


@dataclass
class Imported:
    """What :func:`import_config` returns: the spec text and what it was made from."""

    text: str
    model_type: str
    draft: Draft
    params: int  # as archc counts them, from loading the written spec


def table(model_type: str) -> dict:
    """Every key the importer understands for ``model_type``: the family's and the common ones."""
    family = FAMILIES[model_type]
    return {**COMMON_KEYS, "model_type": no_effect("the family, checked first"), **family.KEYS}


def import_config(path: str | Path) -> Imported:
    """Read a ``config.json`` and return the spec for it. Raises SpecError at the offending key."""
    path = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"cannot read the config: {getattr(exc, 'strerror', None) or exc}", Loc(path)) from None
    cfg = ConfigFile(path, text)
    model_type = cfg.data.get("model_type")
    if model_type is None:
        cfg.refuse((), f"the config has no 'model_type'; archc imports {', '.join(FAMILIES)}")
    if model_type not in FAMILIES:
        cfg.refuse("model_type", f"unsupported model_type {model_type!r}: archc imports {', '.join(FAMILIES)}")
    family = FAMILIES[model_type]
    keys = table(model_type)
    cfg.defaults = {k: rule.default for k, rule in family.KEYS.items() if rule.default is not ABSENT}
    for key in cfg.data:
        if key not in keys:
            cfg.refuse(key, f"unsupported key '{key}': archc's {model_type} import does not know what it does "
                            "to the model")
    draft = Draft(family.BASE)
    for key, rule in keys.items():
        if rule.apply is None or (key not in cfg.data and rule.default is ABSENT):
            continue
        rule.apply(cfg, key, cfg.value(key), draft)
    family.finish(cfg, draft)
    version = cfg.data.get("transformers_version")
    header = (f"# Imported by `archc import-hf` from {path} (model_type {model_type}"
              f"{', transformers ' + str(version) if version else ''}).\n"
              f"# Extends the catalog spec '{family.BASE}'; vars state every size, other keys are where this "
              "model differs.\n")
    text = header + render(draft)
    return Imported(text, model_type, draft, verify(text, draft))


def render(draft: Draft) -> str:
    parts = []
    for key, value in draft.data().items():
        flow = None if key not in ("defaults", "vars") else False  # leaves inline, sections as blocks
        parts.append(yaml.safe_dump({key: value}, sort_keys=False, default_flow_style=flow, width=100))
    return "".join(parts)


def verify(text: str, draft: Draft) -> int:
    """Load the spec as archc will and check that every value written arrived; returns its parameters."""
    from archc.passes.count import totals
    from archc.pipeline import load_spec

    with tempfile.TemporaryDirectory() as tmp:  # an empty folder: 'defaults: [llama]' is the catalog's
        path = Path(tmp) / "imported.yaml"
        path.write_text(text, encoding="utf-8")
        spec = load_spec(path)
        composed = spec.composed.data
    resolved = spec.ir.info["vars"]
    wrong = {k: (v, resolved.get(k)) for k, v in draft.vars.items() if resolved.get(k) != v}

    def walk(expected, actual, where):
        for k, v in expected.items():
            got = actual.get(k, ABSENT) if isinstance(actual, dict) else ABSENT
            if isinstance(v, dict):
                walk(v, got, where + (k,))
            elif got != v:
                wrong[".".join(where + (k,))] = (v, None if got is ABSENT else got)

    walk(draft.overrides, composed, ())
    if wrong:  # a bug in archc, not in the config
        raise AssertionError(f"the imported spec does not hold what was written: {wrong}")
    return totals(spec.ir, 1)["params"]
