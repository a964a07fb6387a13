"""LLaMA (``model_type: llama``): ``LlamaConfig`` keys -> a spec extending the catalog's ``llama``.

Both layouts of the RoPE settings are read, with transformers 5.x's priority: ``rope_scaling`` (4.x) or
``rope_parameters`` (5.x: {rope_type, rope_theta}), then a top-level ``rope_theta`` (4.x), then 10,000.
Only the plain rotary embedding (``rope_type: default``) is imported; scaled variants (linear, dynamic,
yarn, llama3...) change the frequencies and are refused.
"""

from __future__ import annotations

import json

from archc.interop.config import Key, check, only, to_path, to_var

BASE = "llama"
_ROPE_SUBKEYS = ("rope_type", "type", "rope_theta", "partial_rotary_factor")


def _rope_dict(cfg, key, value, draft):
    if value is None:
        return
    if not isinstance(value, dict):
        cfg.refuse(key, f"'{key}' must be an object like {{\"rope_type\": \"default\", \"rope_theta\": 10000}}")
    for sub, v in value.items():
        if sub not in _ROPE_SUBKEYS:
            cfg.refuse((key, sub), f"unsupported key '{key}.{sub}': archc imports the plain rotary embedding "
                                   "(rope_type default) only")
        if sub in ("rope_type", "type") and v != "default":
            cfg.refuse((key, sub), f"unsupported RoPE scaling {json.dumps(v)} in '{key}.{sub}': archc imports "
                                   "rope_type \"default\" only")
        if sub == "partial_rotary_factor" and v != 1.0:
            cfg.refuse((key, sub), f"unsupported '{key}.{sub}' {json.dumps(v)}: archc rotates the whole head")
        if sub == "rope_theta":
            check(cfg, (key, sub), v, "theta")


def _theta(cfg, key, value, draft):
    check(cfg, key, value, "theta")  # which theta wins is decided in finish()


def _init(cfg, key, value, draft):
    draft.set("init", {"std": check(cfg, key, value, "std")})  # HF: every Linear and Embedding ~ N(0, std)


def _tie(cfg, key, value, draft):
    if check(cfg, key, value, "bool"):  # the catalog's head is untied
        draft.set("nodes.head.tie", "embed")


def _attn_dropout(cfg, key, value, draft):
    p = check(cfg, key, value, "prob")
    if p:
        draft.set("blocks.layer.nodes.attn.dropout", p)


KEYS: dict[str, Key] = {
    "vocab_size": to_var("vocab_size", 32000),
    "hidden_size": to_var("d_model", 4096),
    "intermediate_size": to_var("d_ff", 11008),
    "num_hidden_layers": to_var("n_layers", 32),
    "num_attention_heads": to_var("n_heads", 32),
    "num_key_value_heads": to_var("n_kv_heads", None, when_null=lambda cfg: cfg.value("num_attention_heads"),
                                  doc="vars.n_kv_heads (null: num_attention_heads)"),
    "head_dim": to_var("head_dim", None,
                       when_null=lambda cfg: cfg.value("hidden_size") // cfg.value("num_attention_heads"),
                       doc="vars.head_dim (null: hidden_size / num_attention_heads)"),
    "max_position_embeddings": to_var("max_seq_len", 2048, doc="vars.max_seq_len (rows of the RoPE table)"),
    "rms_norm_eps": to_var("norm_eps", 1e-6, "eps"),
    "rope_theta": Key(apply=_theta, doc="vars.rope_theta (4.x layout)"),
    "rope_parameters": Key(apply=_rope_dict, doc="vars.rope_theta; rope_type must be default (5.x layout)"),
    "rope_scaling": Key(apply=_rope_dict, doc="null or rope_type default (4.x layout)"),
    "attention_bias": to_path("blocks.layer.nodes.attn.bias", False, doc="bias on q, k, v and o projections"),
    "mlp_bias": to_path("blocks.ffn.params.bias", False, doc="bias on gate, up and down projections"),
    "attention_dropout": Key(0.0, _attn_dropout, "blocks.layer.nodes.attn.dropout"),
    "initializer_range": Key(0.02, _init, "init std"),
    "tie_word_embeddings": Key(False, _tie, "true: nodes.head.tie = embed"),
    "hidden_act": only(("silu",), "silu", why="the catalog's LLaMA MLP is SwiGLU: down(silu(gate(x)) * up(x))"),
    "pretraining_tp": only((1, None), 1, why="other values emulate tensor-parallel rounding in the MLP"),
    "sliding_window": only((None,), why="LLaMA blocks attend to the whole causal context"),
    "use_sliding_window": only((False,), why="LLaMA blocks attend to the whole causal context"),
}


def finish(cfg, draft):
    """Cross-key checks (as LlamaConfig / LlamaAttention make them) and the RoPE theta."""
    v = draft.vars
    if v["d_model"] % v["n_heads"]:
        cfg.refuse("num_attention_heads", f"hidden_size ({v['d_model']}) is not a multiple of "
                                          f"num_attention_heads ({v['n_heads']}); transformers refuses this too")
    if v["n_heads"] % v["n_kv_heads"]:
        cfg.refuse("num_key_value_heads", f"num_attention_heads ({v['n_heads']}) is not a multiple of "
                                          f"num_key_value_heads ({v['n_kv_heads']})")
    if v["head_dim"] % 2:
        cfg.refuse("head_dim", f"head_dim ({v['head_dim']}) must be even for rotary embeddings")
    rope = cfg.data.get("rope_scaling") or cfg.data.get("rope_parameters") or {}
    theta = rope.get("rope_theta", cfg.data.get("rope_theta", 10000.0))
    v["rope_theta"] = float(theta)
