"""Reading a HuggingFace ``config.json``: values with their line and column, and the rules for its keys.

Every key of a config must be *understood* before a spec is written: either it maps to something in the
spec (a var, an attribute, a tie, the init) or it is known to have no effect on the model's function
(token ids, ``use_cache``, generation defaults...). A key that is neither, or a value archc cannot express,
is refused with a :class:`~archc.errors.SpecError` at the key's position in the JSON file.

A family module (``import_gpt2``, ``import_llama``) is mostly a table ``{config key: Key}`` built from the
constructors below; :data:`COMMON_KEYS` holds the keys every ``PretrainedConfig`` has.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from json.decoder import scanstring
from typing import Any, NoReturn

from archc.errors import Loc, SpecError

ABSENT = object()  # a key's default when transformers has none worth stating


class ConfigFile:
    """A parsed ``config.json`` and the offset of every key in its text (by path: ``('rope_parameters',
    'rope_type')``)."""

    def __init__(self, path: str, text: str):
        self.path = path
        self.text = text
        try:
            self.data = json.loads(text, object_pairs_hook=self._no_duplicates)
        except json.JSONDecodeError as exc:
            raise SpecError(f"malformed JSON: {exc.msg}", Loc(path, exc.lineno, exc.colno)) from None
        except _Duplicate as exc:
            raise SpecError(f"duplicate key '{exc.args[0]}' in the config", Loc(path)) from None
        if not isinstance(self.data, dict):
            raise SpecError("a HuggingFace config.json is a JSON object", Loc(path))
        self.offsets = _key_offsets(text)
        self.defaults: dict = {}  # transformers' defaults for missing keys, set by the family's importer

    def value(self, key: str):
        """The key's value, or transformers' default when the config leaves it out."""
        return self.data[key] if key in self.data else self.defaults.get(key)

    @staticmethod
    def _no_duplicates(pairs):
        seen = {}
        for key, value in pairs:
            if key in seen:
                raise _Duplicate(key)
            seen[key] = value
        return seen

    def loc(self, *path) -> Loc:
        """Where the key at ``path`` is written (the file's start when it is not written at all)."""
        offset = self.offsets.get(tuple(path))
        if offset is None:
            return Loc(self.path)
        line = self.text.count("\n", 0, offset) + 1
        return Loc(self.path, line, offset - (self.text.rfind("\n", 0, offset) + 1) + 1)

    def refuse(self, path: tuple | str, message: str) -> NoReturn:
        path = (path,) if isinstance(path, str) else path
        raise SpecError(message, self.loc(*path))


class _Duplicate(Exception):
    pass


def _key_offsets(text: str) -> dict[tuple, int]:
    """Offsets of the opening quote of every object key, by path. ``text`` is known to be valid JSON."""
    offsets: dict[tuple, int] = {}
    stack: list[list] = []  # [bracket, current key or index, expecting a key]
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            value, end = scanstring(text, i + 1)
            top = stack[-1] if stack else None
            if top is not None and top[0] == "{" and top[2]:
                top[1], top[2] = value, False
                offsets[tuple(entry[1] for entry in stack)] = i
            i = end
            continue
        if c in "{[":
            stack.append([c, None if c == "{" else 0, c == "{"])
        elif c in "}]":
            stack.pop()
        elif c == "," and stack:
            if stack[-1][0] == "{":
                stack[-1][2] = True
            else:
                stack[-1][1] += 1
        i += 1
    return offsets


# -- what a key means ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Key:
    """How the importer understands one config key.

    Attributes:
        default: transformers' value when the key is missing (applied like a written value), or ABSENT.
        apply: ``apply(cfg, key, value, draft)`` checks the value and writes what it means into the draft
            spec; None for a key with no effect on the model's function.
        doc: what the key is, for the tables in the docs and for ``--explain``-style listings.
    """

    default: Any = ABSENT
    apply: Callable | None = None
    doc: str = ""


def no_effect(doc: str) -> Key:
    return Key(doc=doc)


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "count": (lambda v: _is_int(v) and v >= 1, "a positive integer"),
    "eps": (lambda v: _is_number(v) and 0 <= v < 1, "a small non-negative number"),
    "prob": (lambda v: _is_number(v) and 0 <= v < 1, "a probability in [0, 1)"),
    "std": (lambda v: _is_number(v) and v >= 0, "a non-negative number"),
    "theta": (lambda v: _is_number(v) and v > 1, "a number above 1"),
    "bool": (lambda v: isinstance(v, bool), "true or false"),
}


def check(cfg: ConfigFile, path: tuple | str, value, kind: str):
    """``value`` if it is of ``kind`` (see :data:`CHECKS`), else a refusal naming the key."""
    ok, what = CHECKS[kind]
    if not ok(value):
        name = ".".join(map(str, (path,) if isinstance(path, str) else path))
        cfg.refuse(path, f"'{name}' must be {what}, got {json.dumps(value)}")
    return float(value) if kind in ("eps", "prob", "std", "theta") else value


def to_var(name: str, default=ABSENT, kind: str = "count", when_null: Callable | None = None,
           doc: str = "") -> Key:
    """The value becomes ``vars.<name>``; ``when_null(cfg)`` gives transformers' derived value for null."""

    def apply(cfg, key, value, draft):
        if value is None and when_null is not None:
            value = when_null(cfg)
        draft.vars[name] = check(cfg, key, value, kind)

    return Key(default, apply, doc or f"vars.{name}")


def to_path(path: str, default, kind: str = "bool", doc: str = "") -> Key:
    """The value is written at ``path`` (dotted) in the spec when it differs from ``default``, which must be
    the catalog spec's own value there."""

    def apply(cfg, key, value, draft):
        value = check(cfg, key, value, kind)
        if value != default:
            draft.set(path, value)

    return Key(default, apply, doc or path)


def only(allowed: tuple, default=ABSENT, why: str = "") -> Key:
    """A key whose only values archc can build are ``allowed`` (which then change nothing)."""

    def apply(cfg, key, value, draft):
        if value not in allowed:
            shown = " or ".join(json.dumps(a) for a in allowed)
            cfg.refuse(key, f"unsupported value {json.dumps(value)} for '{key}': archc builds {shown} only"
                            f"{'; ' + why if why else ''}")

    return Key(default, apply, f"must be {' or '.join(json.dumps(a) for a in allowed)}")


# -- keys every PretrainedConfig may carry -----------------------------------------------------------------

_IDENTITY = ("_name_or_path", "architectures", "transformers_version", "_commit_hash", "tokenizer_class",
             "prefix", "finetuning_task")
_TOKEN_IDS = ("bos_token_id", "eos_token_id", "pad_token_id", "sep_token_id", "decoder_start_token_id")
_STORAGE = ("dtype", "torch_dtype", "use_bfloat16")
_RUNTIME = ("use_cache", "output_attentions", "output_hidden_states", "return_dict", "use_return_dict",
            "torchscript", "chunk_size_feed_forward", "attn_implementation", "_attn_implementation",
            "_attn_implementation_autoset", "gradient_checkpointing", "output_past", "tf_legacy_loss")
_TASK = ("id2label", "label2id", "num_labels", "_num_labels", "problem_type", "task_specific_params")
# generation defaults that transformers 4.x kept in the model config (5.x moved them to generation_config)
_GENERATION = ("max_length", "min_length", "max_new_tokens", "do_sample", "early_stopping", "num_beams",
               "num_beam_groups", "diversity_penalty", "temperature", "top_k", "top_p", "typical_p",
               "epsilon_cutoff", "eta_cutoff", "repetition_penalty", "length_penalty", "no_repeat_ngram_size",
               "encoder_no_repeat_ngram_size", "bad_words_ids", "num_return_sequences", "output_scores",
               "return_dict_in_generate", "forced_bos_token_id", "forced_eos_token_id", "remove_invalid_values",
               "exponential_decay_length_penalty", "suppress_tokens", "begin_suppress_tokens",
               "output_logits")

COMMON_KEYS: dict[str, Key] = {
    **{k: no_effect("identification") for k in _IDENTITY},
    **{k: no_effect("token id: tokenizer and generation, not the network") for k in _TOKEN_IDS},
    **{k: no_effect("storage dtype; archc builds fp32 modules, cast as you like") for k in _STORAGE},
    **{k: no_effect("runtime switch: what forward returns or how it is computed, not its values")
       for k in _RUNTIME},
    **{k: no_effect("task heads and labels other than the LM head") for k in _TASK},
    **{k: no_effect("generation default") for k in _GENERATION},
    "is_decoder": no_effect("decoder-only families are decoders whatever the flag says"),
    "tie_encoder_decoder": no_effect("encoder-decoder models only"),
    "cross_attention_hidden_size": no_effect("used only with add_cross_attention"),
    "is_encoder_decoder": only((False,), why="GPT-2 and LLaMA are decoder-only"),
    "add_cross_attention": only((False,), why="cross-attention layers are not imported"),
    "pruned_heads": only(({},), why="pruned attention heads change the layer shapes"),
}
