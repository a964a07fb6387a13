"""Reading a HuggingFace ``config.json``: values with their line and column, and the rules for its keys.

Every key of a config must be *understood* before a spec is written: either it maps to something in the
spec (a var, an attribute, a tie, the init) or it is known to have no effect on the model's function
(token ids, ``use_cache``, generation defaults...). A key that is neither, or a value archc cannot express,
is refused with a :class:`~archc.errors.SpecError` at the key's position in the JSON file.

A family (``archc/interop/families/*.py``) holds a table ``{config key: Key}`` built from the constructors
below; :data:`COMMON_KEYS` holds the keys every ``PretrainedConfig`` has. Values are checked by kind
(:data:`CHECKS`: type, range and a sane upper bound) before anything is written.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

from archc.errors import Loc, SpecError

ABSENT = object()  # a key's default when transformers has none worth stating

# Hub configs are 0.5-2 KB; the largest are vision configs listing every class in id2label/label2id
# (ImageNet-21k: 21,843 classes, 1.1 MB). 2 MiB leaves room; the worst 2 MiB (a million one-digit values)
# is scanned and parsed in about 0.4 s.
MAX_BYTES = 2 * 2**20
MAX_DEPTH = 32  # real configs nest 3 deep (task_specific_params -> task -> setting)
MAX_NUMBER_CHARS = 40  # int64 is 19 digits; a longer integer is no config value (and int() of it is slow)


class ConfigFile:
    """A parsed ``config.json`` and the offset of every key in its text (by path: ``('rope_parameters',
    'rope_type')``). Malformed, duplicated, too deep, non-standard (NaN, Infinity) or out-of-range values
    are refused at their place in the file, before ``json`` sees them (its parser recurses and converts
    digit strings of any length)."""

    def __init__(self, path: str, text: str):
        self.path = path
        self.text = text
        self.offsets: dict[tuple, int] = {}
        self._scan()
        try:
            self.data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SpecError(f"malformed JSON: {exc.msg}", Loc(path, exc.lineno, exc.colno)) from None
        if not isinstance(self.data, dict):
            raise SpecError("a HuggingFace config.json is a JSON object", Loc(path))
        self.defaults: dict = {}  # transformers' defaults for missing keys, set by the family's importer

    @classmethod
    def read(cls, path: str) -> ConfigFile:
        """Read and parse ``path``, refusing anything over MAX_BYTES before reading it (by size when the
        file says it, else by reading one byte more than the limit)."""
        try:
            info = os.stat(path)
            if stat.S_ISDIR(info.st_mode):
                raise SpecError("cannot read the config: it is a directory", Loc(path))
            if stat.S_ISREG(info.st_mode) and info.st_size > MAX_BYTES:
                raise SpecError(f"the config is {info.st_size:,} bytes; archc reads configs of up to "
                                f"{MAX_BYTES:,}", Loc(path))
            with open(path, "rb") as fh:
                data = fh.read(MAX_BYTES + 1)
        except OSError as exc:
            raise SpecError(f"cannot read the config: {exc.strerror or exc}", Loc(path)) from None
        if len(data) > MAX_BYTES:
            raise SpecError(f"the config is over {MAX_BYTES:,} bytes, archc's limit", Loc(path))
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
            raise SpecError("the config is not UTF-8 text", Loc(path, line, col)) from None
        return cls(path, text)

    def value(self, key: str):
        """The key's value, or transformers' default when the config leaves it out."""
        return self.data[key] if key in self.data else self.defaults.get(key)

    def loc(self, *path) -> Loc:
        """Where the key at ``path`` is written (the file's start when it is not written at all)."""
        offset = self.offsets.get(tuple(path))
        return Loc(self.path) if offset is None else self._at(offset)

    def _at(self, offset: int) -> Loc:
        line = self.text.count("\n", 0, offset) + 1
        return Loc(self.path, line, offset - (self.text.rfind("\n", 0, offset) + 1) + 1)

    def refuse(self, path: tuple | str, message: str) -> NoReturn:
        path = (path,) if isinstance(path, str) else path
        raise SpecError(message, self.loc(*path))

    @staticmethod
    def show(value, limit: int = 60) -> str:
        """A value for a message: JSON, control characters escaped, cut at ``limit`` characters."""
        text = json.dumps(value, ensure_ascii=True)
        return text if len(text) <= limit else text[:limit] + "..."

    @classmethod
    def name(cls, key) -> str:
        """A key for a message, inside quotes: escaped and cut like :meth:`show`."""
        return cls.show(str(key))[1:-1] if isinstance(key, str) else cls.show(key)

    def _scan(self) -> None:
        """One pass over the tokens that matter (no recursion): key offsets by path, and the refusals above.
        Whitespace, commas, short plain numbers and literals are skipped by the regex itself, so a 2 MiB file
        of small values takes a fraction of a second. Anything malformed is left to ``json.loads``."""
        stack: list[list] = []  # [bracket, current key, keys seen]; arrays do not count their items
        for m in _TOKEN.finditer(self.text):
            tok, i = m.group(), m.start()
            c = tok[0]
            if m.lastgroup == "key":
                if not stack or stack[-1][0] != "{":
                    return
                try:
                    key = json.loads(m.group("name"))
                except ValueError:
                    return
                top = stack[-1]
                if key in top[2]:
                    raise SpecError(f"duplicate key '{self.name(key)}' in the config", self._at(i))
                top[1] = key
                top[2].add(key)
                self.offsets[tuple(entry[1] for entry in stack)] = i
            elif m.lastgroup == "string":
                continue
            elif c in "{[":
                stack.append([c, None, set()])
                if len(stack) > MAX_DEPTH:
                    raise SpecError(f"the config nests deeper than {MAX_DEPTH} levels", self._at(i))
            elif c in "}]":
                if stack:
                    stack.pop()
            elif m.lastgroup == "number":
                self._check_number(tok, i, stack)
            else:  # NaN, Infinity
                raise SpecError(f"{self._where(stack)}{tok} is not standard JSON, and no size or rate archc imports "
                                "can be it", self._at(i))

    def _where(self, stack) -> str:
        """'key.sub': ' for a message about the value being scanned (empty at the top level)."""
        names = [self.name(entry[1]) for entry in stack if entry[1] is not None]
        return f"'{'.'.join(names)}': " if names else ""

    def _check_number(self, tok: str, i: int, stack) -> None:
        where = self._where(stack)
        if tok.lstrip("-").isdigit():
            if len(tok) > MAX_NUMBER_CHARS:  # before int(): Python refuses over 4,300 digits with a ValueError
                raise SpecError(f"{where}a number of {len(tok):,} characters; archc reads numbers of up to "
                                f"{MAX_NUMBER_CHARS}", self._at(i))
            if not -(2**63) <= int(tok) < 2**63:
                raise SpecError(f"{where}{tok} is beyond the 64-bit integer range", self._at(i))
            return
        try:
            finite = math.isfinite(float(tok))
        except ValueError:
            return  # malformed: json.loads says where
        if not finite:
            raise SpecError(f"{where}{tok} is out of range for a 64-bit float", self._at(i))


_STRING = r'"(?:[^"\\]|\\.)*"'
# numbers that need a look: 19 digits or more (int64 has 19), and those with an exponent (1e400 is inf)
_TOKEN = re.compile(rf'(?P<key>(?P<name>{_STRING})\s*:)|(?P<string>{_STRING})|[{{}}\[\]]'
                    r'|(?P<number>-?[0-9]{19,}[-+0-9.eE]*|-?[0-9][0-9.]*[eE][-+0-9]*)'
                    r'|-?(?:NaN|Infinity)', re.S)


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
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


# Upper bounds, so that a config cannot ask the loader for more than it can hold: the largest published
# widths are 53,248 (Llama-3.1-405B's d_ff) and vocabularies 256,000 (Gemma); 2**24 leaves 64x room and
# keeps a width x vocabulary matrix below 2**48 elements. The deepest published stacks have 126 layers
# (Llama-3.1-405B); 1,000 stays well inside the loader's 100,000-node limit (about 10 nodes a layer).
MAX_SIZE = 2**24
MAX_LAYERS = 1000
# RoPE bases: 10,000 (LLaMA 1-2) to 500,000 (Llama-3) and 10,000,000 (Qwen2.5-1M); init stds are ~0.02
MAX_THETA = 1e12
MAX_STD = 1e3
VERSION = re.compile(r"[0-9A-Za-z][0-9A-Za-z.+-]{0,39}\Z")  # 4.31.0.dev0, 5.0.0rc1

CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "count": (lambda v: _is_int(v) and 1 <= v <= MAX_SIZE, f"a positive integer up to {MAX_SIZE:,}"),
    "layers": (lambda v: _is_int(v) and 1 <= v <= MAX_LAYERS, f"a positive integer up to {MAX_LAYERS:,}"),
    "eps": (lambda v: _is_number(v) and 0 <= v < 1, "a small non-negative number"),
    "prob": (lambda v: _is_number(v) and 0 <= v < 1, "a probability in [0, 1)"),
    "std": (lambda v: _is_number(v) and 0 <= v <= MAX_STD, f"a non-negative number up to {MAX_STD:g}"),
    "theta": (lambda v: _is_number(v) and 1 < v <= MAX_THETA, f"a number above 1 and up to {MAX_THETA:g}"),
    "bool": (lambda v: isinstance(v, bool), "true or false"),
    "version": (lambda v: isinstance(v, str) and VERSION.match(v) is not None, 'a version like "4.40.0"'),
    "name": (lambda v: isinstance(v, str), "a string"),
}


def check(cfg: ConfigFile, path: tuple | str, value, kind: str):
    """``value`` if it is of ``kind`` (see :data:`CHECKS`), else a refusal naming the key."""
    ok, what = CHECKS[kind]
    if not ok(value):
        name = ".".join(map(cfg.name, (path,) if isinstance(path, str) else path))
        cfg.refuse(path, f"'{name}' must be {what}, got {cfg.show(value)}")
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
            cfg.refuse(key, f"unsupported value {cfg.show(value)} for '{key}': archc builds {shown} only"
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
    # a family of another kind (encoder-decoder, cross-attending decoder) states these keys in its own table
    "is_encoder_decoder": only((False,), why="this family is decoder-only"),
    "add_cross_attention": only((False,), why="cross-attention layers are not imported"),
    "pruned_heads": only(({},), why="pruned attention heads change the layer shapes"),
}
