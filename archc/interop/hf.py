"""State dicts between archc's generated models and HuggingFace ``GPT2LMHeadModel`` / ``LlamaForCausalLM``.

>>> model = archc.build_module(archc.load_spec("tiny_llama.yaml"))   # from `archc import-hf config.json`
>>> load_hf_weights(model, hf_model.state_dict())                     # in place; strict
>>> hf_model.load_state_dict(to_hf_state_dict(model), strict=True)    # and back

The mapping is data: one :class:`Rule` per parameter pattern of the generated model, naming the HF
tensor(s) it is made of and how (``copy``; ``conv1d``: GPT-2's Conv1D stores weights as [in, out], so
transpose; ``qkv``: LLaMA's q_proj, k_proj, v_proj rows concatenated into archc's fused ``qkv``). Patterns
use ``{i}`` for a layer index and ``{p}`` for ``weight`` or ``bias``. The family is the one whose table
covers every parameter of the model. RoPE needs no permutation: archc's rotary layout is HF LLaMA's
half-split one.

Tied parameters (GPT-2's head and ``wte``; LLaMA with ``tie_word_embeddings``) appear in the model under
both names; loading needs one of the HF tensors (checkpoints often drop ``lm_head.weight``) and, when both
are there, refuses them if they differ. Buffers (RoPE tables, masks) are never loaded: both sides compute
them. Importing this module is cheap; torch is imported by the functions that need it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    """archc parameter pattern -> the HF tensor patterns it is made of (in row order), and how."""

    archc: str
    hf: tuple[str, ...]
    how: str = "copy"  # copy | conv1d (transpose) | qkv (rows [q | k | v], split by o_proj's input width)


@dataclass(frozen=True)
class Family:
    name: str
    base_prefix: str  # the base model inside *ForCausalLM; checkpoints of the base model lack it
    rules: tuple[Rule, ...]
    ignored_hf: tuple[str, ...] = ()  # buffers older checkpoints saved; never loaded


def _r(archc: str, *hf: str, how: str = "copy") -> Rule:
    return Rule(archc, hf, how)


_GPT2_LAYER = "transformer.h.{i}"
GPT2 = Family("gpt2", "transformer.", (
    _r("wte.weight", "transformer.wte.weight"),
    _r("wpe.weight", "transformer.wpe.weight"),
    _r("h.{i}.ln_1.{p}", f"{_GPT2_LAYER}.ln_1.{{p}}"),
    _r("h.{i}.attn.qkv.weight", f"{_GPT2_LAYER}.attn.c_attn.weight", how="conv1d"),
    _r("h.{i}.attn.qkv.bias", f"{_GPT2_LAYER}.attn.c_attn.bias"),
    _r("h.{i}.attn.o_proj.weight", f"{_GPT2_LAYER}.attn.c_proj.weight", how="conv1d"),
    _r("h.{i}.attn.o_proj.bias", f"{_GPT2_LAYER}.attn.c_proj.bias"),
    _r("h.{i}.ln_2.{p}", f"{_GPT2_LAYER}.ln_2.{{p}}"),
    _r("h.{i}.mlp.up.weight", f"{_GPT2_LAYER}.mlp.c_fc.weight", how="conv1d"),
    _r("h.{i}.mlp.up.bias", f"{_GPT2_LAYER}.mlp.c_fc.bias"),
    _r("h.{i}.mlp.down.weight", f"{_GPT2_LAYER}.mlp.c_proj.weight", how="conv1d"),
    _r("h.{i}.mlp.down.bias", f"{_GPT2_LAYER}.mlp.c_proj.bias"),
    _r("ln_f.{p}", "transformer.ln_f.{p}"),
    _r("head.weight", "lm_head.weight"),
), ignored_hf=(f"{_GPT2_LAYER}.attn.bias", f"{_GPT2_LAYER}.attn.masked_bias"))  # causal masks, 4.x

_LLAMA_ATTN = "model.layers.{i}.self_attn"
LLAMA = Family("llama", "model.", (
    _r("embed.weight", "model.embed_tokens.weight"),
    _r("layers.{i}.attn_norm.weight", "model.layers.{i}.input_layernorm.weight"),
    _r("layers.{i}.attn.qkv.{p}", *(f"{_LLAMA_ATTN}.{x}_proj.{{p}}" for x in "qkv"), how="qkv"),
    _r("layers.{i}.attn.q_proj.{p}", f"{_LLAMA_ATTN}.q_proj.{{p}}"),  # spec with fused_qkv: false
    _r("layers.{i}.attn.k_proj.{p}", f"{_LLAMA_ATTN}.k_proj.{{p}}"),
    _r("layers.{i}.attn.v_proj.{p}", f"{_LLAMA_ATTN}.v_proj.{{p}}"),
    _r("layers.{i}.attn.o_proj.{p}", f"{_LLAMA_ATTN}.o_proj.{{p}}"),
    _r("layers.{i}.mlp_norm.weight", "model.layers.{i}.post_attention_layernorm.weight"),
    _r("layers.{i}.mlp.gate.{p}", "model.layers.{i}.mlp.gate_proj.{p}"),
    _r("layers.{i}.mlp.up.{p}", "model.layers.{i}.mlp.up_proj.{p}"),
    _r("layers.{i}.mlp.down.{p}", "model.layers.{i}.mlp.down_proj.{p}"),
    _r("norm.weight", "model.norm.weight"),
    _r("head.weight", "lm_head.weight"),
), ignored_hf=(f"{_LLAMA_ATTN}.rotary_emb.inv_freq", "model.rotary_emb.inv_freq"))  # RoPE buffers, 4.x

FAMILIES = (GPT2, LLAMA)

_FIELDS = {"i": r"\d+", "p": "weight|bias"}


def _regex(pattern: str, optional_prefix: str = "") -> re.Pattern:
    parts = re.split(r"\{(\w+)\}", pattern.removeprefix(optional_prefix))  # literal, field, literal, ...
    head = f"(?:{re.escape(optional_prefix)})?" if optional_prefix and pattern.startswith(optional_prefix) else ""
    return re.compile(head + "".join(re.escape(s) if j % 2 == 0 else f"(?P<{s}>{_FIELDS[s]})"
                                     for j, s in enumerate(parts)) + r"\Z")


_COMPILED = {f.name: [(_regex(r.archc), r) for r in f.rules] for f in FAMILIES}
# HF keys of a family, with or without the base model's prefix: which family a state dict comes from
_COMPILED_HF = {f.name: [_regex(p, f.base_prefix) for p in [*(p for r in f.rules for p in r.hf), *f.ignored_hf]]
                for f in FAMILIES}
_IGNORED = {f.name: [_regex(p) for p in f.ignored_hf] for f in FAMILIES}


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
    for regex, rule in _COMPILED[family.name]:
        m = regex.match(key)
        if m:
            return rule, m.groupdict()
    return None


def detect_family(keys) -> Family:
    """The family whose table covers every key of a generated model; a clear error when none does."""
    keys = list(keys)
    best, best_unmatched = None, None
    for family in FAMILIES:
        unmatched = [k for k in keys if _rule_for(family, k) is None]
        if not unmatched:
            return family
        if best is None or len(unmatched) < len(best_unmatched):
            best, best_unmatched = family, unmatched
    raise StateDictMismatch(f"parameters with no HuggingFace equivalent in the {best.name} mapping: "
                            f"{_listing(best_unmatched)} (archc maps GPT-2 and LLaMA models built from "
                            "specs/gpt2.yaml, specs/llama.yaml or `archc import-hf` specs)", missing=best_unmatched)


def _hf_family(keys) -> str | None:
    """The family most of the HF keys belong to, prefix or not (None when none of them match)."""
    counts = {name: sum(any(r.match(k) for r in regexes) for k in keys) for name, regexes in _COMPILED_HF.items()}
    name = max(counts, key=counts.get)
    return name if counts[name] else None


def plan(shapes: dict[str, tuple]) -> tuple[Family, list[Entry]]:
    """For each parameter of a generated model (key -> shape), its HF source keys. Pure Python."""
    family = detect_family(shapes)
    entries = []
    for key in shapes:
        rule, fields = _rule_for(family, key)
        entry = Entry(key, rule, tuple(p.format(**fields) for p in rule.hf))
        if rule.how == "qkv":  # rows [q | k | v]; q has as many rows as o_proj has input features
            scope = key.rsplit(".", 2)[0]
            o_proj = shapes.get(f"{scope}.o_proj.weight")
            if o_proj is None:
                raise StateDictMismatch(f"{key}: no {scope}.o_proj.weight to tell q rows from k and v rows")
            q = o_proj[1]
            kv, odd = divmod(shapes[key][0] - q, 2)
            if odd or kv <= 0:
                raise StateDictMismatch(f"{key} {list(shapes[key])}: cannot split into q ({q} rows), k and v")
            entry.rows = (q, kv, kv)
        entries.append(entry)
    return family, entries


def hf_shapes(shapes: dict[str, tuple]) -> dict[str, tuple]:
    """The HF state dict's keys and shapes for a generated model's parameters (key -> shape). Pure Python:
    ``hf_shapes({f"{n.key}.{p}": s for n in ir.nodes() for p, s in n.meta["params"].items()})``; add the
    tied names (``head.weight``) to get ``lm_head.weight`` too, as ``hf_model.state_dict()`` lists it."""
    out = {}
    for e in plan(shapes)[1]:
        shape = tuple(shapes[e.key])
        if e.rule.how == "conv1d":
            out[e.hf[0]] = shape[::-1]
        elif e.rule.how == "qkv":
            out.update({k: (rows,) + shape[1:] for k, rows in zip(e.hf, e.rows, strict=True)})
        else:
            out[e.hf[0]] = shape
    return out


# -- tensors (torch) -------------------------------------------------------------------------------------


def convert_to_hf(tensors: dict) -> dict:
    """Per-parameter tensors of a generated model (weights, gradients...) keyed as HF names them."""
    family, entries = plan({k: tuple(t.shape) for k, t in tensors.items()})
    out = {}
    for e in entries:
        t = tensors[e.key]
        if e.rule.how == "conv1d":
            out[e.hf[0]] = t.t().contiguous()
        elif e.rule.how == "qkv":
            out.update({k: part.contiguous() for k, part in zip(e.hf, t.split(list(e.rows), dim=0), strict=True)})
        else:
            out[e.hf[0]] = t
    return out


def to_hf_state_dict(model) -> dict:
    """The generated model's parameters as the HF model's state dict (loadable with ``strict=True``).

    Tied parameters appear under both names, as in ``hf_model.state_dict()``; HF's buffers (RoPE
    ``inv_freq``) are non-persistent and not included.
    """
    params = {k: p.detach() for k, p in model.named_parameters(remove_duplicate=False)}
    return convert_to_hf(params)


def _from_hf(e: Entry, hf: dict):
    import torch

    if e.rule.how == "conv1d":
        return hf[e.hf[0]].t()
    if e.rule.how == "qkv":
        return torch.cat([hf[k] for k in e.hf], dim=0)
    return hf[e.hf[0]]


def load_hf_weights(model, hf_state_dict: dict) -> None:
    """Load a HF state dict (``GPT2LMHeadModel``/``LlamaForCausalLM`` or their base models) into a
    generated model, in place.

    Raises:
        StateDictMismatch (a ValueError): naming every missing, unexpected or mis-shaped key, before
            anything is copied.
    """
    import torch

    params = dict(model.named_parameters(remove_duplicate=False))
    family, entries = plan({k: tuple(p.shape) for k, p in params.items()})
    hf = dict(hf_state_dict)
    source = _hf_family(hf)
    if source == family.name and not any(k.startswith(family.base_prefix) for k in hf):  # GPT2Model, LlamaModel
        hf = {k if k.startswith("lm_head.") else family.base_prefix + k: v for k, v in hf.items()}
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
    unexpected = [k for k in hf if k not in used and not any(r.match(k) for r in _IGNORED[family.name])]
    if missing or unexpected or misshaped or conflicts:
        parts = [f"{what} {len(keys)} key(s): {_listing(keys)}" for what, keys in (
            ("missing", missing), ("unexpected", unexpected), ("mis-shaped", misshaped)) if keys]
        parts += [f"the model ties them but the state dict holds different {c}" for c in conflicts]
        hint = f" (the state dict looks like {source})" if source and source != family.name else ""
        raise StateDictMismatch(f"cannot load the HF state dict into this {family.name} model{hint}: "
                                + "; ".join(parts), missing, unexpected, misshaped)
    with torch.no_grad():
        for key, value in sources.items():
            params[key].copy_(value)


def _listing(keys: list, limit: int = 8) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f" and {len(keys) - limit} more" if len(keys) > limit else "")
