"""GPT-2 (``model_type: gpt2``): ``GPT2Config`` keys -> a spec extending the catalog's ``gpt2``, and the
state-dict map to ``GPT2LMHeadModel``.

Defaults are ``GPT2Config``'s (the same in transformers 4.x and 5.x), applied when a key is missing, so a
config that leaves a key out still gets the model transformers would build from it.
"""

from __future__ import annotations

from archc.interop.config import Key, check, no_effect, only, to_var
from archc.interop.family import Family, Published, WeightMap, rule

_CATALOG_STD = 0.02  # specs/gpt2.yaml: init {std: 0.02}, residual projections depth-scaled from 0.02

# activation_function -> the gelu_mlp block's `approximate` (transformers' ACT2FN names)
ACTIVATIONS = {"gelu_new": "tanh", "gelu_pytorch_tanh": "tanh", "gelu": "none", "gelu_python": "none"}


def _activation(cfg, key, value, draft):
    if not isinstance(value, str) or value not in ACTIVATIONS:
        cfg.refuse(key, f"unsupported value {cfg.show(value)} for '{key}': archc's GPT-2 MLP takes "
                        f"{', '.join(ACTIVATIONS)}")
    if ACTIVATIONS[value] != "tanh":  # specs/ffn/gelu_mlp.yaml defaults to tanh
        draft.set("blocks.ffn.params.approximate", ACTIVATIONS[value])


def _init(cfg, key, value, draft):
    std = check(cfg, key, value, "std")
    draft.set("init", {"std": std})
    if std != _CATALOG_STD:  # HF: c_proj weights ~ N(0, initializer_range / sqrt(2 * n_layer))
        depth = "${vars.n_layers}"
        draft.set("blocks.layer.nodes.attn.init", {"o_proj.weight": {"std": std, "depth": depth}})
        draft.set("blocks.ffn.nodes.down.init", {"weight": {"std": std, "depth": depth}})


def _scale(cfg, key, value, draft):
    if not check(cfg, key, value, "bool"):  # HF: attention logits not divided by sqrt(head_dim)
        draft.set("blocks.layer.nodes.attn.scale", 1.0)


def _tie(cfg, key, value, draft):
    if not check(cfg, key, value, "bool"):  # the catalog ties head to wte
        draft.set("nodes.head.tie", None)


KEYS: dict[str, Key] = {
    "vocab_size": to_var("vocab_size", 50257),
    "n_positions": to_var("n_ctx", 1024),
    "n_embd": to_var("d_model", 768),
    "n_layer": to_var("n_layers", 12, "layers"),
    "n_head": to_var("n_heads", 12),
    "n_inner": to_var("d_ff", None, when_null=lambda cfg: 4 * cfg.value("n_embd"), doc="vars.d_ff (null: 4 d)"),
    "layer_norm_epsilon": to_var("norm_eps", 1e-5, "eps"),
    "embd_pdrop": to_var("embd_dropout", 0.1, "prob"),
    "attn_pdrop": to_var("attn_dropout", 0.1, "prob"),
    "resid_pdrop": to_var("resid_dropout", 0.1, "prob"),
    "activation_function": Key("gelu_new", _activation, "blocks.ffn.params.approximate"),
    "initializer_range": Key(0.02, _init, "init std (and the depth-scaled residual projections)"),
    "scale_attn_weights": Key(True, _scale, "false: blocks.layer.nodes.attn.scale = 1"),
    "tie_word_embeddings": Key(True, _tie, "false: nodes.head.tie = null"),
    "scale_attn_by_inverse_layer_idx": only((False,), why="the attention scale would differ per layer"),
    "reorder_and_upcast_attn": only((False,), why="it changes the attention's arithmetic"),
    "n_ctx": no_effect("legacy alias of n_positions, unused by GPT2Model"),
    **{k: no_effect("GPT2DoubleHeadsModel / sequence-classification summary head") for k in (
        "summary_type", "summary_use_proj", "summary_activation", "summary_proj_to_labels",
        "summary_first_dropout")},
}


def finish(cfg, draft):
    """Checks across keys, as GPT2Attention makes them."""
    d, h = draft.vars["d_model"], draft.vars["n_heads"]
    if d % h:
        cfg.refuse("n_head", f"n_embd ({d}) is not a multiple of n_head ({h}); transformers refuses this too")


_LAYER = "transformer.h.{i}"
WEIGHTS = WeightMap("transformer.", (
    rule("wte.weight", "transformer.wte.weight"),
    rule("wpe.weight", "transformer.wpe.weight"),
    rule("h.{i}.ln_1.{p}", f"{_LAYER}.ln_1.{{p}}"),
    rule("h.{i}.attn.qkv.weight", f"{_LAYER}.attn.c_attn.weight", how="conv1d"),
    rule("h.{i}.attn.qkv.bias", f"{_LAYER}.attn.c_attn.bias"),
    rule("h.{i}.attn.o_proj.weight", f"{_LAYER}.attn.c_proj.weight", how="conv1d"),
    rule("h.{i}.attn.o_proj.bias", f"{_LAYER}.attn.c_proj.bias"),
    rule("h.{i}.ln_2.{p}", f"{_LAYER}.ln_2.{{p}}"),
    rule("h.{i}.mlp.up.weight", f"{_LAYER}.mlp.c_fc.weight", how="conv1d"),
    rule("h.{i}.mlp.up.bias", f"{_LAYER}.mlp.c_fc.bias"),
    rule("h.{i}.mlp.down.weight", f"{_LAYER}.mlp.c_proj.weight", how="conv1d"),
    rule("h.{i}.mlp.down.bias", f"{_LAYER}.mlp.c_proj.bias"),
    rule("ln_f.{p}", "transformer.ln_f.{p}"),
    rule("head.weight", "lm_head.weight"),
), ignored_hf=(f"{_LAYER}.attn.bias", f"{_LAYER}.attn.masked_bias"))  # causal masks saved by 4.x

HUB_GPT2 = {  # the Hub's openai-community/gpt2 config.json (transformers 4.x layout)
    "activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"], "attn_pdrop": 0.1,
    "bos_token_id": 50256, "embd_pdrop": 0.1, "eos_token_id": 50256, "initializer_range": 0.02,
    "layer_norm_epsilon": 1e-05, "model_type": "gpt2", "n_ctx": 1024, "n_embd": 768, "n_head": 12,
    "n_layer": 12, "n_positions": 1024, "resid_pdrop": 0.1, "summary_activation": None,
    "summary_first_dropout": 0.1, "summary_proj_to_labels": True, "summary_type": "cls_index",
    "summary_use_proj": True, "task_specific_params": {"text-generation": {"do_sample": True, "max_length": 50}},
    "vocab_size": 50257,
}

FAMILY = Family(
    model_type="gpt2", base="gpt2", keys=KEYS, finish=finish, weights=WEIGHTS, hf_class="GPT2LMHeadModel",
    tiny={"model_type": "gpt2", "n_layer": 2, "n_embd": 48, "n_head": 3, "vocab_size": 1001, "n_positions": 64},
    examples={
        "untied-exact-gelu-unscaled": {
            "model_type": "gpt2", "n_layer": 2, "n_embd": 64, "n_head": 4, "n_inner": 100, "vocab_size": 333,
            "n_positions": 32, "activation_function": "gelu", "tie_word_embeddings": False,
            "scale_attn_weights": False, "initializer_range": 0.01, "layer_norm_epsilon": 1e-6,
            "resid_pdrop": 0.0},
    },
    published=(Published("gpt2-small", HUB_GPT2, 124_439_808, "openai-community/gpt2, head tied to wte"),),
)
