"""State dicts between archc's generated models and HuggingFace models of the families archc imports.

>>> model = archc.build_module(archc.load_spec("tiny_llama.yaml"))   # from `archc import-hf config.json`
>>> load_hf_weights(model, hf_model.state_dict())                     # in place; strict
>>> hf_model.load_state_dict(to_hf_state_dict(model), strict=True)    # and back

The mapping is data: each family's :class:`~archc.interop.family.WeightMap` (in its module under
``archc/interop/families/``, listed in :data:`archc.interop.registry.FAMILIES`) has one rule per parameter
pattern of the generated model, naming the HF tensor(s) it is made of and how (a row of
:data:`TRANSFORMS`). The family is the one whose map covers every parameter of the model.

Tied parameters (GPT-2's head and ``wte``; LLaMA with ``tie_word_embeddings``) appear in the model under
both names; loading needs one of the HF tensors (checkpoints often drop ``lm_head.weight``) and, when both
are there, refuses them if they differ. Buffers (RoPE tables, masks) are never loaded: both sides compute
them. Importing this module is cheap; torch is imported by the functions that need it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from archc.interop.family import HOW, Family, Rule
from archc.interop.registry import FAMILIES

_FIELDS = {"i": r"\d+", "p": "weight|bias"}


def _regex(pattern: str, optional_prefix: str = "") -> re.Pattern:
    parts = re.split(r"\{(\w+)\}", pattern.removeprefix(optional_prefix))  # literal, field, literal, ...
    head = f"(?:{re.escape(optional_prefix)})?" if optional_prefix and pattern.startswith(optional_prefix) else ""
    return re.compile(head + "".join(re.escape(s) if j % 2 == 0 else f"(?P<{s}>{_FIELDS[s]})"
                                     for j, s in enumerate(parts)) + r"\Z")


def _maps(family: Family):
    w = family.weights
    return ([(_regex(r.archc), r) for r in w.rules],
            [_regex(p, w.base_prefix) for p in [*(p for r in w.rules for p in r.hf), *w.ignored_hf]],
            [_regex(p) for p in w.ignored_hf])


_COMPILED, _COMPILED_HF, _IGNORED = ({name: _maps(f)[k] for name, f in FAMILIES.items()} for k in range(3))


class StateDictMismatch(ValueError):
    """Keys that are missing, unexpected or of the wrong shape; all of them, named, in one message."""

    def __init__(self, message: str, missing=(), unexpected=(), misshaped=()):
        super().__init__(message)
        self.missing, self.unexpected, self.misshaped = list(missing), list(unexpected), list(misshaped)


@dataclass
class Entry:
    """One parameter of the generated model and where it comes from in HF's state dict."""

    key: str
    rule: Rule
    hf: tuple[str, ...]
    rows: tuple[int, ...] | None = None  # qkv: row counts of q, k, v


def _rule_for(family: Family, key: str):
    for regex, rule in _COMPILED[family.model_type]:
        m = regex.match(key)
        if m:
            return rule, m.groupdict()
    return None


def detect_family(keys, model_type: str | None = None) -> Family:
    """The family whose table covers every key of a generated model (the first in registry order when
    several do, as families sharing LLaMA's names will; ``model_type`` chooses); a clear error when none does."""
    keys = list(keys)
    if model_type is not None and model_type not in FAMILIES:
        raise StateDictMismatch(f"unknown family {model_type!r}: archc maps {', '.join(FAMILIES)}")
    best, best_unmatched = None, None
    for family in FAMILIES.values() if model_type is None else [FAMILIES[model_type]]:
        unmatched = [k for k in keys if _rule_for(family, k) is None]
        if not unmatched:
            return family
        if best is None or len(unmatched) < len(best_unmatched):
            best, best_unmatched = family, unmatched
    bases = ", ".join(f"specs/{f.base}.yaml" for f in FAMILIES.values())
    raise StateDictMismatch(f"parameters with no HuggingFace equivalent in the {best.model_type} mapping: "
                            f"{_listing(best_unmatched)} (archc maps models built from {bases} or "
                            "`archc import-hf` specs)", missing=best_unmatched)


def _hf_family(keys) -> str | None:
    """The family most of the HF keys belong to, prefix or not (None when none of them match)."""
    counts = {name: sum(any(r.match(k) for r in regexes) for k in keys) for name, regexes in _COMPILED_HF.items()}
    name = max(counts, key=counts.get)
    return name if counts[name] else None


def _qkv_rows(key: str, shapes: dict) -> tuple[int, ...]:
    """Rows [q | k | v] of a fused projection: q has as many rows as o_proj has input features."""
    scope = key.rsplit(".", 2)[0]
    o_proj = shapes.get(f"{scope}.o_proj.weight")
    if o_proj is None:
        raise StateDictMismatch(f"{key}: no {scope}.o_proj.weight to tell q rows from k and v rows")
    q = o_proj[1]
    kv, odd = divmod(shapes[key][0] - q, 2)
    if odd or kv <= 0:
        raise StateDictMismatch(f"{key} {list(shapes[key])}: cannot split into q ({q} rows), k and v")
    return (q, kv, kv)


def _cat(tensors):
    import torch

    return torch.cat(tensors, dim=0)


@dataclass(frozen=True)
class Transform:
    """How one archc parameter is made of its HF tensors (a rule's ``how``), both ways."""

    shapes: Callable  # (archc shape, rows) -> the HF tensors' shapes
    to_hf: Callable  # (archc tensor, rows) -> the HF tensors
    from_hf: Callable  # (HF tensors) -> the archc tensor
    rows: Callable | None = None  # (key, all shapes) -> rows of each HF tensor, for splits


TRANSFORMS: dict[str, Transform] = {
    "copy": Transform(lambda s, r: [s], lambda t, r: [t], lambda ts: ts[0]),
    "conv1d": Transform(lambda s, r: [s[::-1]], lambda t, r: [t.t().contiguous()], lambda ts: ts[0].t()),
    "qkv": Transform(lambda s, r: [(n,) + s[1:] for n in r],
                     lambda t, r: [part.contiguous() for part in t.split(list(r), dim=0)], _cat, _qkv_rows),
}
assert set(TRANSFORMS) == set(HOW)


def plan(shapes: dict[str, tuple], model_type: str | None = None) -> tuple[Family, list[Entry]]:
    """For each parameter of a generated model (key -> shape), its HF source keys. Pure Python."""
    family = detect_family(shapes, model_type)
    entries = []
    for key in shapes:
        rule, fields = _rule_for(family, key)
        entry = Entry(key, rule, tuple(p.format(**fields) for p in rule.hf))
        rows = TRANSFORMS[rule.how].rows
        if rows is not None:
            entry.rows = rows(key, shapes)
        entries.append(entry)
    return family, entries


def hf_shapes(shapes: dict[str, tuple], model_type: str | None = None) -> dict[str, tuple]:
    """The HF state dict's keys and shapes for a generated model's parameters (key -> shape). Pure Python:
    ``hf_shapes({f"{n.key}.{p}": s for n in ir.nodes() for p, s in n.meta["params"].items()})``; add the
    tied names (``head.weight``) to get ``lm_head.weight`` too, as ``hf_model.state_dict()`` lists it."""
    out = {}
    for e in plan(shapes, model_type)[1]:
        made = TRANSFORMS[e.rule.how].shapes(tuple(shapes[e.key]), e.rows)
        out.update(zip(e.hf, made, strict=True))
    return out


# -- tensors (torch) -------------------------------------------------------------------------------------


def convert_to_hf(tensors: dict, model_type: str | None = None) -> dict:
    """Per-parameter tensors of a generated model (weights, gradients...) keyed as HF names them."""
    family, entries = plan({k: tuple(t.shape) for k, t in tensors.items()}, model_type)
    out = {}
    for e in entries:
        out.update(zip(e.hf, TRANSFORMS[e.rule.how].to_hf(tensors[e.key], e.rows), strict=True))
    return out


def to_hf_state_dict(model, model_type: str | None = None) -> dict:
    """The generated model's parameters as the HF model's state dict (loadable with ``strict=True``).

    Tied parameters appear under both names, as in ``hf_model.state_dict()``; HF's buffers (RoPE
    ``inv_freq``) are non-persistent and not included.
    """
    params = {k: p.detach() for k, p in model.named_parameters(remove_duplicate=False)}
    return convert_to_hf(params, model_type)


def _from_hf(e: Entry, hf: dict):
    return TRANSFORMS[e.rule.how].from_hf([hf[k] for k in e.hf])


def load_hf_weights(model, hf_state_dict: dict, model_type: str | None = None) -> None:
    """Load a HF state dict (of a family's ``hf_class``, e.g. ``LlamaForCausalLM``, or of its base model) into
    a generated model, in place. ``model_type`` names the family (default: the first in the registry whose
    map covers every parameter of the model).

    Raises:
        StateDictMismatch (a ValueError): naming every missing, unexpected or mis-shaped key, before
            anything is copied.
    """
    import torch

    params = dict(model.named_parameters(remove_duplicate=False))
    family, entries = plan({k: tuple(p.shape) for k, p in params.items()}, model_type)
    hf = dict(hf_state_dict)
    source = _hf_family(hf)
    prefix = family.weights.base_prefix
    if source == family.model_type and not any(k.startswith(prefix) for k in hf):  # GPT2Model, LlamaModel
        hf = {k if k.startswith("lm_head.") else prefix + k: v for k, v in hf.items()}
    groups: dict[int, list[Entry]] = {}  # tied names share one Parameter
    for e in entries:
        groups.setdefault(id(params[e.key]), []).append(e)
    missing, misshaped, conflicts, used = [], [], [], set()
    sources = {}
    for group in groups.values():
        for e in group:
            used.update(k for k in e.hf if k in hf)
        complete = [e for e in group if all(k in hf for k in e.hf)]
        if not complete:
            missing.extend(k for k in group[0].hf if k not in hf)
            continue
        values = []
        for e in complete:
            value = _from_hf(e, hf)
            want = tuple(params[e.key].shape)
            if tuple(value.shape) != want:
                have = ", ".join(f"{k} {list(hf[k].shape)}" for k in e.hf)
                misshaped.append(f"{have} -> {e.key} needs {list(want)}")
            else:
                values.append((e, value))
        if len(values) > 1 and not all(torch.equal(values[0][1], v) for _, v in values[1:]):
            conflicts.append(" and ".join(e.hf[0] for e, _ in values))
        if values:
            sources[group[0].key] = values[0][1]
    unexpected = [k for k in hf if k not in used and not any(r.match(k) for r in _IGNORED[family.model_type])]
    if missing or unexpected or misshaped or conflicts:
        parts = [f"{what} {len(keys)} key(s): {_listing(keys)}" for what, keys in (
            ("missing", missing), ("unexpected", unexpected), ("mis-shaped", misshaped)) if keys]
        parts += [f"the model ties them but the state dict holds different {c}" for c in conflicts]
        hint = f" (the state dict looks like {source})" if source and source != family.model_type else ""
        raise StateDictMismatch(f"cannot load the HF state dict into this {family.model_type} model{hint}: "
                                + "; ".join(parts), missing, unexpected, misshaped)
    with torch.no_grad():
        for key, value in sources.items():
            params[key].copy_(value)


def _listing(keys: list, limit: int = 8) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f" and {len(keys) - limit} more" if len(keys) > limit else "")
