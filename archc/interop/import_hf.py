"""A HuggingFace ``config.json`` -> a small spec that extends the catalog's spec of its family.

The spec written for a LLaMA config reads like this::

    doc: Imported by `archc import-hf` from config.json (model_type llama, transformers 5.23.0). Extends
      the catalog spec llama; vars state every size, other keys are where this model differs.
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

How it works: the JSON is read (size-limited) and parsed with the position of every key
(:class:`~archc.interop.config.ConfigFile`); ``model_type`` picks the family in
:data:`archc.interop.registry.FAMILIES`; each key must be in the family's table or in
:data:`~archc.interop.config.COMMON_KEYS`; each rule checks its value and writes into a :class:`Draft`; the
family's ``finish`` checks across keys. The whole file is emitted by ``yaml.safe_dump`` from those checked
values (nothing from the config is pasted as text) and loaded back with :func:`archc.pipeline.load_spec`
before anyone sees it. Pure Python: no torch, no transformers.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from archc.errors import Loc, SpecError
from archc.interop.config import ABSENT, COMMON_KEYS, ConfigFile, Key, check, no_effect
from archc.interop.registry import FAMILIES

_SAFE_NAME = re.compile(r"[A-Za-z0-9_.+-]{1,100}\Z")  # a config's file name, shown in the spec's doc


class Draft:
    """The spec being written: the catalog spec it extends, its vars, and overrides at dotted paths."""

    def __init__(self, base: str):
        self.base = base
        self.vars: dict = {}
        self.overrides: dict = {}  # nested, merged over the catalog spec
        self.doc = ""  # where the spec came from

    def set(self, dotted: str, value) -> None:
        *parents, last = dotted.split(".")  # a dotted parameter name goes inside `value`: {o_proj.weight: ...}
        node = self.overrides
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value

    def data(self) -> dict:
        order = ["init", "blocks", "nodes"]  # the order of a catalog spec
        rest = {k: self.overrides[k] for k in sorted(self.overrides, key=lambda k: (order + [k]).index(k))}
        head = {"doc": self.doc} if self.doc else {}
        return {**head, "defaults": [self.base, "_self_"], "vars": self.vars, **rest}


@dataclass
class Imported:
    """What :func:`import_config` returns: the spec text and what it was made from."""

    text: str
    model_type: str
    draft: Draft
    params: int  # as archc counts them, from loading the written spec


def table(model_type: str) -> dict[str, Key]:
    """Every key the importer understands for ``model_type``: the family's and the common ones."""
    return {**COMMON_KEYS, "model_type": no_effect("the family, checked first"), **FAMILIES[model_type].keys}


def import_config(path: str | Path) -> Imported:
    """Read a ``config.json`` and return the spec for it. Raises SpecError at the offending key."""
    path = str(path)
    cfg = ConfigFile.read(path)
    known = ", ".join(FAMILIES)
    if "model_type" not in cfg.data:
        cfg.refuse((), f"the config has no 'model_type'; archc imports {known}")
    model_type = check(cfg, "model_type", cfg.data["model_type"], "name")
    if model_type not in FAMILIES:
        cfg.refuse("model_type", f"unsupported model_type {cfg.show(model_type)}: archc imports {known}")
    family = FAMILIES[model_type]
    keys = table(model_type)
    cfg.defaults = {k: rule.default for k, rule in family.keys.items() if rule.default is not ABSENT}
    for key in cfg.data:
        if key not in keys:
            cfg.refuse(key, f"unsupported key '{cfg.name(key)}': archc's {model_type} import does not know what "
                            "it does to the model")
    draft = Draft(family.base)
    for key, rule in keys.items():
        if rule.apply is None or (key not in cfg.data and rule.default is ABSENT):
            continue
        rule.apply(cfg, key, cfg.value(key), draft)
    family.finish(cfg, draft)
    version = cfg.data.get("transformers_version")
    if version is not None:
        check(cfg, "transformers_version", version, "version")
    name = Path(path).name
    source = f"from {name} " if _SAFE_NAME.match(name) else ""
    draft.doc = (f"Imported by `archc import-hf` {source}(model_type {model_type}"
                 f"{', transformers ' + version if version else ''}). Extends the catalog spec {family.base}; "
                 "vars state every size, other keys are where this model differs.")
    text = render(draft)
    return Imported(text, model_type, draft, verify(path, text, draft))


def render(draft: Draft) -> str:
    """The spec's text: YAML written by yaml.safe_dump, one top-level key at a time (for the layout)."""
    parts = []
    for key, value in draft.data().items():
        flow = None if key not in ("doc", "defaults", "vars") else False  # leaves inline, sections as blocks
        parts.append(yaml.safe_dump({key: value}, sort_keys=False, default_flow_style=flow, width=100,
                                    allow_unicode=False))
    return "".join(parts)


def verify(config: str, text: str, draft: Draft) -> int:
    """Load the spec as archc will and check that every value written arrived; returns its parameters."""
    from archc.passes.count import totals
    from archc.pipeline import load_spec

    with tempfile.TemporaryDirectory() as tmp:  # an empty folder: 'defaults: [llama]' is the catalog's
        path = Path(tmp) / "imported.yaml"
        path.write_text(text, encoding="utf-8")
        try:
            spec = load_spec(path)
        except SpecError as exc:  # values that pass each key's check but not the model as a whole
            raise SpecError(f"archc cannot build this config's model: {exc.message}", Loc(config)) from None
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
