"""Mistral (``model_type: mistral``): LLaMA's keys and weights with sliding-window attention ->
a spec extending the catalog's ``mistral`` (the attention's ``window`` attribute), mapped to
``MistralForCausalLM``.

``MistralConfig`` differs from ``LlamaConfig`` in its defaults (Mistral-7B-v0.1's sizes, 8 key/value heads,
``sliding_window`` 4096, 131,072 positions) and in lacking ``attention_bias``, ``mlp_bias`` and
``pretraining_tp``: its projections never have biases, so those keys are refused like any unknown key.
``sliding_window: null`` is full causal attention, as in HF.
"""

from __future__ import annotations

from archc.interop.config import Key, check
from archc.interop.families import llama
from archc.interop.family import Family, Published

_NOT_IN_MISTRAL = ("attention_bias", "mlp_bias", "pretraining_tp", "use_sliding_window")


def _window(cfg, key, value, draft):
    # HF masks key j for query i unless 0 <= i - j < sliding_window; null: the whole causal context
    draft.vars["window"] = None if value is None else check(cfg, key, value, "count")


def _defaults(table: dict, **defaults) -> dict:
    """``table`` with other transformers defaults for the keys named."""
    out = dict(table)
    for name, default in defaults.items():
        out[name] = Key(default, table[name].apply, table[name].doc)
    return out


KEYS: dict[str, Key] = {
    **_defaults({k: v for k, v in llama.KEYS.items() if k not in _NOT_IN_MISTRAL}, vocab_size=32000,
                hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
                num_key_value_heads=8, max_position_embeddings=4096 * 32),
    "sliding_window": Key(4096, _window, "vars.window: the attention's window (null: none)"),
}

MISTRAL_7B = {  # mistralai/Mistral-7B-v0.1 config.json
    "architectures": ["MistralForCausalLM"], "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu",
    "hidden_size": 4096, "initializer_range": 0.02, "intermediate_size": 14336,
    "max_position_embeddings": 32768, "model_type": "mistral", "num_attention_heads": 32,
    "num_hidden_layers": 32, "num_key_value_heads": 8, "rms_norm_eps": 1e-05, "rope_theta": 10000.0,
    "sliding_window": 4096, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
    "transformers_version": "4.34.0.dev0", "use_cache": True, "vocab_size": 32000,
}

FAMILY = Family(
    model_type="mistral", base="mistral", keys=KEYS, finish=llama.finish, weights=llama.WEIGHTS,
    hf_class="MistralForCausalLM",
    # window 5 < the parity test's 17 positions, so the mask matters; odd widths (d_ff 101)
    tiny={"model_type": "mistral", "num_hidden_layers": 2, "hidden_size": 96, "num_attention_heads": 6,
          "num_key_value_heads": 2, "intermediate_size": 101, "vocab_size": 1001, "sliding_window": 5,
          "max_position_embeddings": 64},
    examples={
        "no-window-tied": {
            "model_type": "mistral", "num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 4,
            "num_key_value_heads": 4, "intermediate_size": 90, "vocab_size": 333, "sliding_window": None,
            "tie_word_embeddings": True, "max_position_embeddings": 128, "rope_theta": 1e6},
    },
    published=(Published("mistral-7b-v0.1", MISTRAL_7B, 7_241_732_096, "mistralai/Mistral-7B-v0.1"),),
)
