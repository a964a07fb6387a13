"""LLaMA (``model_type: llama``): ``LlamaConfig`` keys -> a spec extending the catalog's ``llama``, and the
state-dict map to ``LlamaForCausalLM``.

Both layouts of the RoPE settings are read, with transformers 5.x's priority: ``rope_scaling`` (4.x) or
``rope_parameters`` (5.x: {rope_type, rope_theta}), then a top-level ``rope_theta`` (4.x), then 10,000.
The scalings HF applies to LLaMA-like families (``linear``, ``dynamic``, ``yarn``, ``llama3``) become the
rope node's ``scaling`` attributes; any other rope_type (longrope, proportional...) is refused at its line.
RoPE needs no weight permutation: archc's rotary layout is HF LLaMA's half-split one.
"""

from __future__ import annotations

import math

from archc.interop.config import Key, check, only, to_path, to_var
from archc.interop.family import Family, Published, WeightMap, rule

# HF rope_type -> the rope op's `scaling`; each type's sub-keys (beyond rope_type, type, rope_theta)
SCALINGS = {"default": "none", "linear": "linear", "dynamic": "dynamic", "yarn": "yarn", "llama3": "llama3"}
_SUBKEYS = {
    "default": (),
    "linear": ("factor",),
    "dynamic": ("factor",),
    "llama3": ("factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"),
    "yarn": ("factor", "original_max_position_embeddings", "beta_fast", "beta_slow", "attention_factor",
             "mscale", "mscale_all_dim", "truncate"),
}
_COMMON_SUBKEYS = ("rope_type", "type", "rope_theta", "partial_rotary_factor")


def _number(cfg, path, v, low=0.0, what="a positive number"):
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > low or v > 1e9:
        cfg.refuse(path, f"'{'.'.join(path)}' must be {what}, got {cfg.show(v)}")
    return float(v)


def _rope_dict(cfg, key, value, draft):
    if value is None:
        return
    if not isinstance(value, dict):
        cfg.refuse(key, f"'{key}' must be an object like {{\"rope_type\": \"default\", \"rope_theta\": 10000}}")
    kind = value.get("rope_type", value.get("type", "default"))
    where = (key, "rope_type" if "rope_type" in value else "type")
    if kind not in SCALINGS:
        cfg.refuse(where, f"unsupported RoPE scaling {cfg.show(kind)} in '{'.'.join(where)}': archc imports "
                          f"{', '.join(SCALINGS)}")
    for sub, v in value.items():
        if sub not in _COMMON_SUBKEYS + _SUBKEYS[kind]:
            cfg.refuse((key, sub), f"unsupported key '{key}.{cfg.name(sub)}' for rope_type {kind}: archc reads "
                                   f"{', '.join(_COMMON_SUBKEYS[2:] + _SUBKEYS[kind])}")
        if sub == "partial_rotary_factor" and v != 1.0:
            cfg.refuse((key, sub), f"unsupported '{key}.{sub}' {cfg.show(v)}: archc rotates the whole head")
        if sub == "rope_theta":
            check(cfg, (key, sub), v, "theta")
        if sub == "truncate" and not isinstance(v, bool):
            cfg.refuse((key, sub), f"'{key}.{sub}' must be true or false, got {cfg.show(v)}")
        if sub == "original_max_position_embeddings":
            check(cfg, (key, sub), v, "count")
        if sub in ("low_freq_factor", "high_freq_factor", "beta_fast", "beta_slow", "attention_factor",
                   "mscale", "mscale_all_dim") and v is not None:
            _number(cfg, (key, sub), v)
        if sub == "factor" and not (kind == "yarn" and v is None):  # yarn: null means max_pos / original
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 1 <= v <= 1e6:
                cfg.refuse((key, sub), f"'{key}.factor' must be a number from 1 to 1e6, got {cfg.show(v)}")
    for need in {"linear": ("factor",), "dynamic": ("factor",),
                 "llama3": ("factor", "low_freq_factor", "high_freq_factor")}.get(kind, ()):
        if need not in value:
            cfg.refuse(key, f"rope_type {kind} needs '{key}.{need}' (transformers requires it too)")
    if kind == "llama3" and not value["high_freq_factor"] > value["low_freq_factor"]:
        cfg.refuse((key, "high_freq_factor"), f"'{key}.high_freq_factor' must be above low_freq_factor")


def rope_scaling(cfg, draft):
    """The rope node's scaling attributes from the config's RoPE dict (HF's standardize_rope_params and
    rope init functions): the context before scaling is original_max_position_embeddings (top level first,
    then the dict, then max_position_embeddings); dynamic scales beyond max_position_embeddings."""
    rope = cfg.data.get("rope_scaling") or cfg.data.get("rope_parameters") or {}
    kind = rope.get("rope_type", rope.get("type", "default"))
    if kind == "default":
        return
    max_pos = draft.vars["max_seq_len"]
    original = cfg.data.get("original_max_position_embeddings", rope.get("original_max_position_embeddings",
                                                                          max_pos))
    node = {"scaling": SCALINGS[kind]}
    factor = rope.get("factor")
    if kind == "yarn" and factor is None:
        factor = max_pos / original
    node["factor"] = float(factor)
    if kind == "dynamic":
        node["original_max_len"] = max_pos
    if kind in ("llama3", "yarn"):
        node["original_max_len"] = original
    if kind == "llama3":
        node["low_freq_factor"] = float(rope["low_freq_factor"])
        node["high_freq_factor"] = float(rope["high_freq_factor"])
    if kind == "yarn":
        node["beta_fast"] = float(rope.get("beta_fast") or 32)  # HF: `or`, so null and 0 mean the default
        node["beta_slow"] = float(rope.get("beta_slow") or 1)
        node["truncate"] = rope.get("truncate", True)
        attention, mscale, mscale_all = (rope.get(k) for k in ("attention_factor", "mscale", "mscale_all_dim"))

        def get_mscale(scale, m=1.0):
            return 1.0 if scale <= 1 else 0.1 * m * math.log(scale) + 1.0

        if attention is None and mscale and mscale_all:
            attention = get_mscale(factor, mscale) / get_mscale(factor, mscale_all)
        if attention is not None:
            node["attention_factor"] = float(attention)
    for attr, value in node.items():
        draft.set(f"nodes.rope.{attr}", value)


def _theta(cfg, key, value, draft):
    check(cfg, key, value, "theta")  # which theta wins is decided in finish()


def _init(cfg, key, value, draft):
    draft.set("init", {"std": check(cfg, key, value, "std")})  # HF: every Linear and Embedding ~ N(0, std)


def _tie(cfg, key, value, draft):
    if check(cfg, key, value, "bool"):  # the catalog's head is untied
        draft.set("nodes.head.tie", "embed")


def _pad(cfg, key, value, draft):
    # HF: nn.Embedding(vocab_size, hidden_size, padding_idx=pad_token_id): that row gets no gradient
    if value is None:
        return
    vocab = cfg.value("vocab_size")  # a bad vocab_size is refused at its own key
    if isinstance(value, bool) or not isinstance(value, int) or value < 0 or (
            isinstance(vocab, int) and value >= vocab):
        cfg.refuse(key, f"'{key}' must be null or a token id below vocab_size, got {cfg.show(value)}")
    draft.set("nodes.embed.padding_idx", value)


def _attn_dropout(cfg, key, value, draft):
    p = check(cfg, key, value, "prob")
    if p:
        draft.set("blocks.layer.nodes.attn.dropout", p)


def _head_dim(cfg):
    d, h = cfg.value("hidden_size"), cfg.value("num_attention_heads")
    return d // h if isinstance(d, int) and isinstance(h, int) and h > 0 else None  # else refused by check


KEYS: dict[str, Key] = {
    "vocab_size": to_var("vocab_size", 32000),
    "hidden_size": to_var("d_model", 4096),
    "intermediate_size": to_var("d_ff", 11008),
    "num_hidden_layers": to_var("n_layers", 32, "layers"),
    "num_attention_heads": to_var("n_heads", 32),
    "num_key_value_heads": to_var("n_kv_heads", None, when_null=lambda cfg: cfg.value("num_attention_heads"),
                                  doc="vars.n_kv_heads (null: num_attention_heads)"),
    "head_dim": to_var("head_dim", None, when_null=_head_dim,
                       doc="vars.head_dim (null: hidden_size / num_attention_heads)"),
    "max_position_embeddings": to_var("max_seq_len", 2048, doc="vars.max_seq_len (rows of the RoPE table)"),
    "rms_norm_eps": to_var("norm_eps", 1e-6, "eps"),
    "rope_theta": Key(apply=_theta, doc="vars.rope_theta (4.x layout)"),
    "rope_parameters": Key(apply=_rope_dict, doc="vars.rope_theta; rope_type default, linear, dynamic, yarn or "
                                                 "llama3 -> nodes.rope.scaling and its attributes (5.x layout)"),
    "rope_scaling": Key(apply=_rope_dict, doc="as rope_parameters (4.x layout)"),
    "original_max_position_embeddings": Key(apply=lambda cfg, key, value, draft: check(cfg, key, value, "count"),
                                            doc="llama3 / yarn: the context before scaling (HF prefers it to "
                                                "the rope dict's)"),
    "attention_bias": to_path("blocks.layer.nodes.attn.bias", False, doc="bias on q, k, v and o projections"),
    "mlp_bias": to_path("blocks.ffn.params.bias", False, doc="bias on gate, up and down projections"),
    "attention_dropout": Key(0.0, _attn_dropout, "blocks.layer.nodes.attn.dropout"),
    "initializer_range": Key(0.02, _init, "init std"),
    "tie_word_embeddings": Key(False, _tie, "true: nodes.head.tie = embed"),
    "pad_token_id": Key(None, _pad, "nodes.embed.padding_idx (its row gets no gradient, as in HF)"),
    "hidden_act": only(("silu",), "silu", why="the catalog's LLaMA MLP is SwiGLU: down(silu(gate(x)) * up(x))"),
    "pretraining_tp": only((1, None), 1, why="other values emulate tensor-parallel rounding in the MLP"),
    "sliding_window": only((None,), why="LLaMA blocks attend to the whole causal context"),
    "use_sliding_window": only((False,), why="LLaMA blocks attend to the whole causal context"),
}


# LlamaConfig refuses hidden_size % num_attention_heads even with head_dim set; Mistral's, Qwen2's and
# Gemma's configs accept it when head_dim is given (Gemma-7B: 16 heads of 256 on a width of 3072)
_HEADS_DIVIDE = {"mistral": False, "qwen2": False, "gemma": False}


def finish(cfg, draft):
    """Cross-key checks (as LlamaConfig / LlamaAttention make them) and the RoPE theta."""
    v = draft.vars
    if v["d_model"] % v["n_heads"] and (_HEADS_DIVIDE.get(cfg.data.get("model_type"), True)
                                        or cfg.value("head_dim") is None):
        cfg.refuse("num_attention_heads", f"hidden_size ({v['d_model']}) is not a multiple of "
                                          f"num_attention_heads ({v['n_heads']}); transformers refuses this too")
    if v["n_heads"] % v["n_kv_heads"]:
        cfg.refuse("num_key_value_heads", f"num_attention_heads ({v['n_heads']}) is not a multiple of "
                                          f"num_key_value_heads ({v['n_kv_heads']})")
    if v["head_dim"] % 2:
        cfg.refuse("head_dim", f"head_dim ({v['head_dim']}) must be even for rotary embeddings")
    rope = cfg.data.get("rope_scaling") or cfg.data.get("rope_parameters") or {}
    theta = rope.get("rope_theta", cfg.data.get("rope_theta", 10000.0))  # each was checked by _rope_dict/_theta
    v["rope_theta"] = float(theta)
    rope_scaling(cfg, draft)


_ATTN = "model.layers.{i}.self_attn"
WEIGHTS = WeightMap("model.", (
    rule("embed.weight", "model.embed_tokens.weight"),
    rule("layers.{i}.attn_norm.weight", "model.layers.{i}.input_layernorm.weight"),
    rule("layers.{i}.attn.qkv.{p}", *(f"{_ATTN}.{x}_proj.{{p}}" for x in "qkv"), how="qkv"),
    rule("layers.{i}.attn.q_proj.{p}", f"{_ATTN}.q_proj.{{p}}"),  # spec with fused_qkv: false
    rule("layers.{i}.attn.k_proj.{p}", f"{_ATTN}.k_proj.{{p}}"),
    rule("layers.{i}.attn.v_proj.{p}", f"{_ATTN}.v_proj.{{p}}"),
    rule("layers.{i}.attn.o_proj.{p}", f"{_ATTN}.o_proj.{{p}}"),
    rule("layers.{i}.mlp_norm.weight", "model.layers.{i}.post_attention_layernorm.weight"),
    rule("layers.{i}.mlp.gate.{p}", "model.layers.{i}.mlp.gate_proj.{p}"),
    rule("layers.{i}.mlp.up.{p}", "model.layers.{i}.mlp.up_proj.{p}"),
    rule("layers.{i}.mlp.down.{p}", "model.layers.{i}.mlp.down_proj.{p}"),
    rule("norm.weight", "model.norm.weight"),
    rule("head.weight", "lm_head.weight"),
), ignored_hf=(f"{_ATTN}.rotary_emb.inv_freq", "model.rotary_emb.inv_freq"))  # RoPE buffers saved by 4.x

LLAMA2_7B = {  # meta-llama/Llama-2-7b-hf config.json
    "_name_or_path": "meta-llama/Llama-2-7b-hf", "architectures": ["LlamaForCausalLM"], "bos_token_id": 1,
    "eos_token_id": 2, "hidden_act": "silu", "hidden_size": 4096, "initializer_range": 0.02,
    "intermediate_size": 11008, "max_position_embeddings": 4096, "model_type": "llama",
    "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 32, "pretraining_tp": 1,
    "rms_norm_eps": 1e-05, "rope_scaling": None, "tie_word_embeddings": False, "torch_dtype": "float16",
    "transformers_version": "4.31.0.dev0", "use_cache": True, "vocab_size": 32000,
}
LLAMA3_8B = {  # meta-llama/Meta-Llama-3-8B config.json (transformers 4.40)
    "architectures": ["LlamaForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
    "bos_token_id": 128000, "eos_token_id": 128001, "hidden_act": "silu", "hidden_size": 4096,
    "initializer_range": 0.02, "intermediate_size": 14336, "max_position_embeddings": 8192,
    "model_type": "llama", "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8,
    "pretraining_tp": 1, "rms_norm_eps": 1e-05, "rope_scaling": None, "rope_theta": 500000.0,
    "tie_word_embeddings": False, "torch_dtype": "bfloat16", "transformers_version": "4.40.0.dev0",
    "use_cache": True, "vocab_size": 128256,
}
LLAMA31_8B = {  # meta-llama/Llama-3.1-8B config.json: Llama 3's shapes, llama3 rope scaling to 131,072
    "architectures": ["LlamaForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
    "bos_token_id": 128000, "eos_token_id": 128001, "hidden_act": "silu", "hidden_size": 4096,
    "initializer_range": 0.02, "intermediate_size": 14336, "max_position_embeddings": 131072,
    "mlp_bias": False, "model_type": "llama", "num_attention_heads": 32, "num_hidden_layers": 32,
    "num_key_value_heads": 8, "pretraining_tp": 1, "rms_norm_eps": 1e-05,
    "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                     "original_max_position_embeddings": 8192, "rope_type": "llama3"},
    "rope_theta": 500000.0, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
    "transformers_version": "4.43.0.dev0", "use_cache": True, "vocab_size": 128256,
}
_LLAMA2 = {k: v for k, v in LLAMA2_7B.items() if k != "_name_or_path"}
LLAMA2_13B = {**_LLAMA2, "hidden_size": 5120, "intermediate_size": 13824, "num_attention_heads": 40,
              "num_hidden_layers": 40, "num_key_value_heads": 40}  # meta-llama/Llama-2-13b-hf: these keys differ
LLAMA2_70B = {**_LLAMA2, "hidden_size": 8192, "intermediate_size": 28672, "num_attention_heads": 64,
              "num_hidden_layers": 80, "num_key_value_heads": 8}  # meta-llama/Llama-2-70b-hf: these keys differ
OLD_4X = {  # an early 4.x layout: no num_key_value_heads or rms_norm_eps, generation defaults inside
    "model_type": "llama", "hidden_size": 64, "intermediate_size": 172, "num_attention_heads": 4,
    "num_hidden_layers": 2, "vocab_size": 1001, "max_length": 20, "do_sample": False,
    "num_beams": 1, "temperature": 1.0, "top_k": 50, "top_p": 1.0, "repetition_penalty": 1.0, "id2label":
    {"0": "LABEL_0"}, "label2id": {"LABEL_0": 0}, "torchscript": False, "use_bfloat16": False,
    "pruned_heads": {}, "is_encoder_decoder": False, "add_cross_attention": False, "output_attentions": False,
}

_SMALL = {"model_type": "llama", "num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 4,
          "num_key_value_heads": 2, "intermediate_size": 90, "vocab_size": 211}

FAMILY = Family(
    model_type="llama", base="llama", keys=KEYS, finish=finish, weights=WEIGHTS, hf_class="LlamaForCausalLM",
    tiny={"model_type": "llama", "num_hidden_layers": 2, "hidden_size": 96, "num_attention_heads": 6,
          "num_key_value_heads": 2, "intermediate_size": 200, "vocab_size": 1001,
          "rope_parameters": {"rope_type": "default", "rope_theta": 50000.0}},
    examples={
        "tied-biases-4x-theta": {
            "model_type": "llama", "hidden_size": 64, "intermediate_size": 176, "num_attention_heads": 4,
            "num_key_value_heads": 4, "num_hidden_layers": 2, "vocab_size": 517, "tie_word_embeddings": True,
            "attention_bias": True, "mlp_bias": True, "attention_dropout": 0.1, "rms_norm_eps": 1e-05,
            "initializer_range": 0.05, "rope_theta": 500000.0, "rope_scaling": None, "hidden_act": "silu",
            "max_position_embeddings": 256, "transformers_version": "4.44.0"},
        "mqa-wide-heads": {
            "model_type": "llama", "num_hidden_layers": 2, "hidden_size": 48, "num_attention_heads": 4,
            "num_key_value_heads": 1, "head_dim": 24, "intermediate_size": 130, "vocab_size": 300,
            "max_position_embeddings": 128},
        "old-4x-layout": OLD_4X,
        # RoPE scalings, each tested at T = 17 positions, beyond the context before scaling (8 or 16).
        # head_dim 16, theta 10,000: wavelengths 6.3 to 19,900, so llama3's bounds (16 / 0.5 = 32 and
        # 16 / 2 = 8) leave dims kept, smoothed and divided
        "rope-llama3": {**_SMALL, "max_position_embeddings": 64, "rope_scaling": {
            "rope_type": "llama3", "factor": 8.0, "low_freq_factor": 0.5, "high_freq_factor": 2.0,
            "original_max_position_embeddings": 16}},
        "rope-linear": {**_SMALL, "max_position_embeddings": 32,
                        "rope_parameters": {"rope_type": "linear", "factor": 4.0, "rope_theta": 10000.0}},
        "rope-dynamic": {**_SMALL, "max_position_embeddings": 8,
                         "rope_scaling": {"type": "dynamic", "factor": 2.0}},
        "rope-yarn": {**_SMALL, "max_position_embeddings": 64, "rope_theta": 500.0, "rope_scaling": {
            "rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 8, "beta_fast": 8,
            "beta_slow": 1}},
        "rope-yarn-mscale": {**_SMALL, "max_position_embeddings": 64, "rope_scaling": {
            "rope_type": "yarn", "factor": 8.0, "original_max_position_embeddings": 8, "mscale": 0.7,
            "mscale_all_dim": 1.0, "truncate": False}},
    },
    published=(
        Published("llama-2-7b", LLAMA2_7B, 6_738_415_616, "Touvron et al. 2023; meta-llama/Llama-2-7b-hf"),
        Published("llama-2-13b", LLAMA2_13B, 13_015_864_320, "meta-llama/Llama-2-13b-hf"),
        Published("llama-2-70b", LLAMA2_70B, 68_976_648_192, "meta-llama/Llama-2-70b-hf (GQA, 8 kv heads)"),
        Published("llama-3-8b", LLAMA3_8B, 8_030_261_248, "meta-llama/Meta-Llama-3-8B (8B on its model card)"),
        Published("llama-3.1-8b", LLAMA31_8B, 8_030_261_248, "meta-llama/Llama-3.1-8B (llama3 rope scaling)"),
    ),
)
