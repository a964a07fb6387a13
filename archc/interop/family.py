"""What archc knows about one HuggingFace model family: the interface of ``archc/interop/families/*.py``.

A family module defines one :class:`Family` named ``FAMILY`` and is listed by one line in
:mod:`archc.interop.registry`. Everything family-specific lives in that object, read generically by
``archc import-hf`` (config keys -> spec), :mod:`archc.interop.hf` (state dicts both ways) and the tests
(import, parameter counts, parity, golden import), which loop over the registry:

* the config: ``keys`` (every key's meaning, default and handling; the keys every config has are in
  :data:`archc.interop.config.COMMON_KEYS`), ``finish`` (checks across keys), ``base`` (the catalog spec the
  imported spec extends);
* the weights: ``weights``, one :class:`Rule` per parameter pattern of the generated model, read both ways;
* the reference: ``hf_class`` (the transformers class the weights and the parity tests refer to), ``kind``,
  ``inputs`` (the model's main inputs, HF keyword -> spec input) and ``outputs`` (HF output attribute ->
  spec output), so encoders (``last_hidden_state``), encoder-decoders (``input_ids`` and
  ``decoder_input_ids``) and vision models (``pixel_values`` of an ``image`` input) fit the same tests;
* test data: ``tiny`` (a small config, keys as in a config.json), ``examples`` (small variants that exercise
  non-default keys) and ``published`` (real configs with their published parameter counts).

Pure Python: importing a family imports neither torch nor transformers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from archc.interop.config import Key

KINDS = ("decoder", "encoder", "encoder-decoder", "vision")
HOW = ("copy", "conv1d", "qkv")  # see archc.interop.hf.TRANSFORMS
# tokens: int64 [B, T], ids below the config attribute `bound`; image: float [B, C, S, S], S the attribute
# `bound` and C the `num_channels` beside it (CLIP: bound "vision_config.image_size")
INPUT_KINDS = ("tokens", "image")


@dataclass(frozen=True)
class Rule:
    """archc parameter pattern -> the HF tensor patterns it is made of (in row order), and how.

    Patterns use ``{i}`` for a layer index and ``{p}`` for ``weight`` or ``bias``. ``how``: ``copy``;
    ``conv1d`` (GPT-2's Conv1D stores [in, out]: transpose); ``qkv`` (rows [q | k | v] of archc's fused
    projection from three HF tensors, split by o_proj's input width).
    """

    archc: str
    hf: tuple[str, ...]
    how: str = "copy"

    def __post_init__(self):
        assert self.how in HOW, self.how
        assert len(self.hf) == (3 if self.how == "qkv" else 1), self


def rule(archc: str, *hf: str, how: str = "copy") -> Rule:
    return Rule(archc, hf, how)


@dataclass(frozen=True)
class WeightMap:
    """A family's state-dict mapping."""

    base_prefix: str  # the base model inside *ForCausalLM ("transformer."); base-model checkpoints lack it
    rules: tuple[Rule, ...]
    ignored_hf: tuple[str, ...] = ()  # buffers older checkpoints saved (masks, inv_freq); never loaded


@dataclass(frozen=True)
class MainInput:
    """One input of the model's forward, as HF names it and as the spec names it."""

    hf: str  # keyword of the HF model's forward: input_ids, pixel_values, decoder_input_ids
    spec: str  # the spec's input name (positional order of the generated Model.forward)
    kind: str = "tokens"  # one of INPUT_KINDS: how a test draws a value
    bound: str = "vocab_size"  # dotted attribute of the HF config: token ids lie below it / an image's side

    def __post_init__(self):
        assert self.kind in INPUT_KINDS, self.kind


@dataclass(frozen=True)
class Published:
    """A real config (as published on the Hub) and the parameter count its model card or paper gives."""

    name: str
    config: dict
    params: int | None  # None: no published count; the transformers model's count is the reference
    source: str = ""


@dataclass(frozen=True)
class Family:
    model_type: str  # the config's "model_type"
    base: str  # the catalog spec (specs/<base>.yaml) the imported spec extends
    keys: dict[str, Key]
    finish: Callable  # finish(cfg, draft): checks across keys, values derived from several keys
    weights: WeightMap
    hf_class: str  # transformers class name, e.g. "LlamaForCausalLM"
    tiny: dict  # a small config for tests (config.json keys); the family's defaults fill the rest
    kind: str = "decoder"
    inputs: tuple[MainInput, ...] = (MainInput("input_ids", "tokens"),)
    outputs: tuple[tuple[str, str], ...] = (("logits", "logits"),)  # (HF output attribute, spec output)
    examples: dict[str, dict] = field(default_factory=dict)  # name -> small config exercising other keys
    published: tuple[Published, ...] = ()

    def __post_init__(self):
        assert self.kind in KINDS, self.kind
        assert all(key.doc for key in self.keys.values()), f"{self.model_type}: every key needs a doc"
