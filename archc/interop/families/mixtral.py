"""Mixtral (``model_type: mixtral``): ``MixtralConfig`` keys -> a spec extending the catalog's ``mixtral``,
and the state-dict map to transformers 5's ``MixtralForCausalLM``.

LLaMA's keys (attention, RoPE, norms; Mixtral has no ``attention_bias``/``mlp_bias``) with Mixtral's
defaults, plus the router: ``num_local_experts`` and ``num_experts_per_tok`` size the ``moe`` op, whose
stacked weights are transformers 5's own layout (``experts.gate_up_proj`` (E, 2F, d), gate rows first,
``experts.down_proj`` (E, d, F)); 4.x checkpoints with one ``w1``/``w2``/``w3`` per expert are converted by
transformers when it loads them, so ``load_hf_weights`` takes the 5.x state dict. The spec returns
``aux_loss`` beside the logits whatever ``output_router_logits`` says (HF returns it only when asked);
``router_aux_loss_coef`` becomes ``vars.router_aux_loss_coef`` for the training loop, since HF's
``aux_loss`` is the unscaled loss and the coefficient only enters HF's ``loss`` when labels are given.
"""

from __future__ import annotations

from archc.interop.config import Key, check, no_effect, only, to_var
from archc.interop.families import llama
from archc.interop.family import Family, Published, WeightMap, rule


def _coef(cfg, key, value, draft):
    draft.vars["router_aux_loss_coef"] = float(check(cfg, key, value, "std"))


_LLAMA_ONLY = ("attention_bias", "mlp_bias", "pretraining_tp")  # keys MixtralConfig does not have

KEYS: dict[str, Key] = {
    **{k: v for k, v in llama.KEYS.items() if k not in _LLAMA_ONLY},
    "intermediate_size": to_var("d_ff", 14336, doc="vars.d_ff (hidden width of each expert)"),
    "num_key_value_heads": to_var("n_kv_heads", 8, when_null=lambda cfg: cfg.value("num_attention_heads"),
                                  doc="vars.n_kv_heads (null: num_attention_heads)"),
    "max_position_embeddings": to_var("max_seq_len", 4096 * 32, doc="vars.max_seq_len (rows of the RoPE table)"),
    "rms_norm_eps": to_var("norm_eps", 1e-5, "eps"),
    "num_local_experts": to_var("n_experts", 8, doc="vars.n_experts (experts per moe layer)"),
    "num_experts_per_tok": to_var("top_k", 2, doc="vars.top_k (experts each token is routed to)"),
    "router_aux_loss_coef": Key(0.001, _coef, "vars.router_aux_loss_coef (for the training loop's loss)"),
    "output_router_logits": no_effect("the spec always returns aux_loss beside the logits"),
    "router_jitter_noise": only((0, 0.0), 0.0, why="archc's moe op has no input jitter (it would change "
                                                   "training only: HF multiplies the input by U(1-eps, 1+eps))"),
    "sliding_window": only((None,), why="archc's attention has no sliding window yet: every Mixtral layer "
                                        "attends to the whole causal context (Mixtral-8x7B's sliding_window is null)"),
}


def finish(cfg, draft):
    llama.finish(cfg, draft)
    v = draft.vars
    rope = cfg.data.get("rope_scaling") or cfg.data.get("rope_parameters") or {}
    v["rope_theta"] = float(rope.get("rope_theta", cfg.data.get("rope_theta", 1e6)))  # MixtralConfig's default
    if v["top_k"] > v["n_experts"]:
        cfg.refuse("num_experts_per_tok", f"num_experts_per_tok ({v['top_k']}) is more than num_local_experts "
                                          f"({v['n_experts']})")


_LAYER = "model.layers.{i}"
WEIGHTS = WeightMap("model.", (
    *(r for r in llama.WEIGHTS.rules if ".mlp." not in r.archc),
    rule("layers.{i}.moe.router.weight", f"{_LAYER}.mlp.gate.weight"),
    rule("layers.{i}.moe.gate_up", f"{_LAYER}.mlp.experts.gate_up_proj"),
    rule("layers.{i}.moe.down", f"{_LAYER}.mlp.experts.down_proj"),
), ignored_hf=llama.WEIGHTS.ignored_hf)

MIXTRAL_8X7B = {  # mistralai/Mixtral-8x7B-v0.1 config.json
    "architectures": ["MixtralForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 1, "eos_token_id": 2,
    "hidden_act": "silu", "hidden_size": 4096, "initializer_range": 0.02, "intermediate_size": 14336,
    "max_position_embeddings": 32768, "model_type": "mixtral", "num_attention_heads": 32,
    "num_experts_per_tok": 2, "num_hidden_layers": 32, "num_key_value_heads": 8, "num_local_experts": 8,
    "output_router_logits": False, "rms_norm_eps": 1e-05, "rope_theta": 1e6, "router_aux_loss_coef": 0.02,
    "sliding_window": None, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
    "transformers_version": "4.36.0.dev0", "use_cache": True, "vocab_size": 32000,
}

FAMILY = Family(
    model_type="mixtral", base="mixtral", keys=KEYS, finish=finish, weights=WEIGHTS, hf_class="MixtralForCausalLM",
    # odd sizes; output_router_logits so that HF returns the aux_loss the parity test compares. d_ff a
    # multiple of 4: transformers 5.24 runs its experts through torch._grouped_mm, which on CPU refuses rows
    # that are not a multiple of 16 bytes (d_ff 37 fails inside MixtralForCausalLM itself)
    tiny={"model_type": "mixtral", "num_hidden_layers": 2, "hidden_size": 60, "num_attention_heads": 5,
          "num_key_value_heads": 1, "intermediate_size": 44, "vocab_size": 1001, "num_local_experts": 5,
          "num_experts_per_tok": 2, "output_router_logits": True, "max_position_embeddings": 512},
    outputs=(("logits", "logits"), ("aux_loss", "aux_loss")),
    examples={
        "top3-tied": {
            "model_type": "mixtral", "num_hidden_layers": 3, "hidden_size": 48, "num_attention_heads": 4,
            "num_key_value_heads": 2, "intermediate_size": 40, "vocab_size": 307, "num_local_experts": 6,
            "num_experts_per_tok": 3, "output_router_logits": True, "tie_word_embeddings": True,
            "rope_theta": 10000.0, "router_aux_loss_coef": 0.02, "max_position_embeddings": 256},
    },
    published=(
        Published("mixtral-8x7b", MIXTRAL_8X7B, 46_702_792_704,
                  "mistralai/Mixtral-8x7B-v0.1 (the 46.7B of its model card)"),
    ),
)
