"""GPT-2 (``model_type: gpt2``): ``GPT2Config`` keys -> a spec extending the catalog's ``gpt2``.

Defaults are ``GPT2Config``'s (the same in transformers 4.x and 5.x), applied when a key is missing, so a
config that leaves a key out still gets the model transformers would build from it.
"""

from __future__ import annotations

from archc.interop.config import Key, check, no_effect, only, to_var

BASE = "gpt2"
_CATALOG_STD = 0.02  # specs/gpt2.yaml: init {std: 0.02}, residual projections depth-scaled from 0.02

# activation_function -> the gelu_mlp block's `approximate` (transformers' ACT2FN names)
ACTIVATIONS = {"gelu_new": "tanh", "gelu_pytorch_tanh": "tanh", "gelu": "none", "gelu_python": "none"}


def _activation(cfg, key, value, draft):
    if value not in ACTIVATIONS:
        cfg.refuse(key, f"unsupported value \"{value}\" for '{key}': archc's GPT-2 MLP takes "
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
    "n_layer": to_var("n_layers", 12),
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
