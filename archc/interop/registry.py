"""The HuggingFace families archc imports: one line per family, naming its module in
``archc/interop/families/`` (which defines ``FAMILY``). Adding a family: write the module, add its line."""

from __future__ import annotations

import importlib

from archc.interop.family import Family

_MODULES = (
    "gpt2",
    "llama",
    "mixtral",
    # LLaMA with small changes (decoders7): QKV bias, sliding window, Gemma's norm and embedding scaling
    "mistral",
    "qwen2",
    "gemma",
)

FAMILIES: dict[str, Family] = {}  # model_type -> Family, in the order above
for _name in _MODULES:
    _family: Family = importlib.import_module(f"archc.interop.families.{_name}").FAMILY
    FAMILIES[_family.model_type] = _family
