"""Gemma (``model_type: gemma``): LLaMA's weights, a spec extending the catalog's ``gemma`` (RMSNorm scaled
by 1 + weight, embedding times sqrt(hidden_size), GeGLU with tanh GELU, tied head), mapped to
``GemmaForCausalLM``.

``hidden_act``: transformers reads Gemma's published ``"gelu"`` as the tanh approximation
(``GemmaConfig.__post_init__``), so both ``gelu`` and ``gelu_pytorch_tanh`` import as the catalog's tanh
GELU; anything else is refused. ``hidden_activation`` (written by 4.38-4.41 configs) is unused by
transformers 5.x and accepted only when it says the same tanh GELU. ``GemmaConfig`` has no ``mlp_bias``,
``pretraining_tp`` or sliding-window keys: they are refused as unknown.
"""

from __future__ import annotations

from archc.interop.config import Key, check, only
from archc.interop.families import llama
from archc.interop.families.mistral import _defaults
from archc.interop.family import Family, Published

_NOT_IN_GEMMA = ("mlp_bias", "pretraining_tp", "sliding_window", "use_sliding_window", "hidden_act")


def _tie(cfg, key, value, draft):
    if not check(cfg, key, value, "bool"):  # the catalog's head is tied to the embedding
        draft.set("nodes.head.tie", None)


KEYS: dict[str, Key] = {
    **_defaults({k: v for k, v in llama.KEYS.items() if k not in _NOT_IN_GEMMA}, vocab_size=256000,
                hidden_size=3072, intermediate_size=24576, num_hidden_layers=28, num_attention_heads=16,
                num_key_value_heads=16, head_dim=256, max_position_embeddings=8192, pad_token_id=0),
    "tie_word_embeddings": Key(True, _tie, "false: nodes.head.tie = null"),
    "hidden_act": only(("gelu", "gelu_pytorch_tanh"), "gelu_pytorch_tanh",
                       why="transformers reads Gemma's gelu as the tanh approximation, the catalog's GeGLU"),
    "hidden_activation": only((None, "gelu_pytorch_tanh"), why="transformers 5 ignores it; other values "
                              "would say a different activation from the one it builds"),
    "use_bidirectional_attention": only((None, False), why="Gemma decoders attend causally"),
}

GEMMA_2B = {  # google/gemma-2b config.json
    "architectures": ["GemmaForCausalLM"], "attention_bias": False, "attention_dropout": 0.0, "bos_token_id": 2,
    "eos_token_id": 1, "head_dim": 256, "hidden_act": "gelu", "hidden_size": 2048, "initializer_range": 0.02,
    "intermediate_size": 16384, "max_position_embeddings": 8192, "model_type": "gemma",
    "num_attention_heads": 8, "num_hidden_layers": 18, "num_key_value_heads": 1, "pad_token_id": 0,
    "rms_norm_eps": 1e-06, "rope_scaling": None, "rope_theta": 10000.0, "torch_dtype": "bfloat16",
    "transformers_version": "4.38.0.dev0", "use_cache": True, "vocab_size": 256000,
}

FAMILY = Family(
    model_type="gemma", base="gemma", keys=KEYS, finish=llama.finish, weights=llama.WEIGHTS,
    hf_class="GemmaForCausalLM",
    # head_dim 22 with 3 heads of d_model 50: head_dim apart from d / n_heads, odd sizes throughout
    tiny={"model_type": "gemma", "num_hidden_layers": 2, "hidden_size": 50, "num_attention_heads": 3,
          "num_key_value_heads": 1, "head_dim": 22, "intermediate_size": 77, "vocab_size": 1001,
          "max_position_embeddings": 64, "hidden_act": "gelu", "pad_token_id": 0},
    examples={
        "untied-bias-mha": {
            "model_type": "gemma", "num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 4,
            "num_key_value_heads": 4, "head_dim": 16, "intermediate_size": 96, "vocab_size": 333,
            "tie_word_embeddings": False, "attention_bias": True, "hidden_act": "gelu_pytorch_tanh",
            "hidden_activation": "gelu_pytorch_tanh", "pad_token_id": 5, "max_position_embeddings": 128},
    },
    published=(Published("gemma-2b", GEMMA_2B, 2_506_172_416, "google/gemma-2b (head tied)"),),
)
