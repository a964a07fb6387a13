"""Qwen2 (``model_type: qwen2``): LLaMA's keys and weights with biases on q, k and v (never on o) -> a spec
extending the catalog's ``qwen2``, mapped to ``Qwen2ForCausalLM``.

Sliding windows: ``Qwen2Config`` sets ``sliding_window`` to null unless ``use_sliding_window`` is true, and
then gives layers from ``max_window_layers`` on a windowed attention (``layer_types``). archc imports the
full-attention models (every published Qwen2 and Qwen2.5 sets ``use_sliding_window: false``): then
``sliding_window`` and ``max_window_layers`` change nothing. ``use_sliding_window: true`` (a window in some
layers only) and ``layer_types`` other than all ``full_attention`` are refused at their line.
``Qwen2Config`` has no ``attention_bias``, ``mlp_bias`` or ``pretraining_tp``: they are refused as unknown.
"""

from __future__ import annotations

from archc.interop.config import Key, only
from archc.interop.families import llama
from archc.interop.families.mistral import _defaults
from archc.interop.family import Family, Published

_NOT_IN_QWEN2 = ("attention_bias", "mlp_bias", "pretraining_tp", "sliding_window", "use_sliding_window")


def _layer_types(cfg, key, value, draft):
    if value is None:
        return
    if not isinstance(value, list) or any(v != "full_attention" for v in value):
        cfg.refuse(key, f"unsupported '{key}' {cfg.show(value)}: archc imports Qwen2 with full attention in "
                        "every layer")
    if len(value) != cfg.value("num_hidden_layers"):
        cfg.refuse(key, f"'{key}' lists {len(value)} layers but num_hidden_layers is "
                        f"{cfg.value('num_hidden_layers')}")


KEYS: dict[str, Key] = {
    **_defaults({k: v for k, v in llama.KEYS.items() if k not in _NOT_IN_QWEN2}, vocab_size=151936,
                hidden_size=4096, intermediate_size=22016, num_hidden_layers=32, num_attention_heads=32,
                num_key_value_heads=32, max_position_embeddings=32768),
    "use_sliding_window": only((False,), False, why="per-layer sliding windows (layers from max_window_layers "
                                                    "on) are not imported"),
    "sliding_window": Key(doc="no effect: Qwen2Config nulls it unless use_sliding_window"),
    "max_window_layers": Key(doc="no effect: the first windowed layer, when use_sliding_window"),
    "layer_types": Key(apply=_layer_types, doc="null or every layer full_attention"),
}


QWEN2_05B = {  # Qwen/Qwen2-0.5B config.json
    "architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 151643,
    "eos_token_id": 151643, "hidden_act": "silu", "hidden_size": 896, "initializer_range": 0.02,
    "intermediate_size": 4864, "max_position_embeddings": 131072, "max_window_layers": 24,
    "model_type": "qwen2", "num_attention_heads": 14, "num_hidden_layers": 24, "num_key_value_heads": 2,
    "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "sliding_window": 131072, "tie_word_embeddings": True,
    "torch_dtype": "bfloat16", "transformers_version": "4.40.1", "use_cache": True,
    "use_sliding_window": False, "vocab_size": 151936,
}

FAMILY = Family(
    model_type="qwen2", base="qwen2", keys=KEYS, finish=llama.finish, weights=llama.WEIGHTS,
    hf_class="Qwen2ForCausalLM",
    tiny={"model_type": "qwen2", "num_hidden_layers": 2, "hidden_size": 84, "num_attention_heads": 6,
          "num_key_value_heads": 2, "intermediate_size": 131, "vocab_size": 1001, "max_position_embeddings": 64,
          "rope_theta": 1000000.0, "use_sliding_window": False, "sliding_window": 4, "max_window_layers": 1},
    examples={
        "tied-layer-types": {
            "model_type": "qwen2", "num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 4,
            "num_key_value_heads": 1, "intermediate_size": 77, "vocab_size": 333, "tie_word_embeddings": True,
            "max_position_embeddings": 128, "layer_types": ["full_attention", "full_attention"]},
        "wide-heads": {  # a head_dim key is read by Qwen2Attention (getattr) although Qwen2Config lacks it
            "model_type": "qwen2", "num_hidden_layers": 2, "hidden_size": 48, "num_attention_heads": 4,
            "num_key_value_heads": 2, "head_dim": 20, "intermediate_size": 64, "vocab_size": 250},
    },
    published=(Published("qwen2-0.5b", QWEN2_05B, 494_032_768, "Qwen/Qwen2-0.5B (head tied)"),),
)
