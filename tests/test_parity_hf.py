"""Parity with HuggingFace transformers: GPT2LMHeadModel and LlamaForCausalLM built from configs.

Each case: the config JSON -> `archc import-hf` -> load_spec -> archc.build_module -> load_hf_weights from
the transformers model (random weights, re-drawn at std 0.1 so that norm scales, biases and every row of
every matrix matter) -> logits on fresh random tokens, then one backward pass of the same cross-entropy
loss on both, and the gradient of every parameter mapped through the same key tables; finally the round
trip: to_hf_state_dict into a fresh transformers model with strict=True gives the same logits.

Tolerances (fp32 on CPU): logits max|got - ref| / max|ref| <= 1e-5 and per-parameter gradients
max|g - g_ref| / max|g_ref| <= 1e-4. Both models do the same arithmetic in a different order (one fused
qkv matmul against three, SDPA against eager softmax), so differences are rounding: a few ulp of fp32
(1.2e-7) grown over two layers and a vocab-wide softmax; a wrong mapping or layout is off by O(1).
"""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
import transformers

import archc
from archc.cli.main import main
from archc.interop.hf import StateDictMismatch, convert_to_hf, load_hf_weights, to_hf_state_dict

LOGITS_RTOL = 1e-5
GRAD_RTOL = 1e-4

CASES = {
    # name: (HF class, config: kwargs for the config class (5.x file) or a dict written as a 4.x file, attention)
    "llama-gqa3-vocab1001-theta5e4": (transformers.LlamaForCausalLM, dict(
        num_hidden_layers=2, hidden_size=96, num_attention_heads=6, num_key_value_heads=2, intermediate_size=200,
        vocab_size=1001, rope_parameters={"rope_type": "default", "rope_theta": 50000.0}), "sdpa"),
    "llama-4x-tied-biases-theta5e5": (transformers.LlamaForCausalLM, {
        "model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 64,
        "intermediate_size": 176, "num_attention_heads": 4, "num_key_value_heads": 4, "num_hidden_layers": 2,
        "vocab_size": 517, "tie_word_embeddings": True, "attention_bias": True, "mlp_bias": True,
        "rms_norm_eps": 1e-05, "rope_theta": 500000.0, "rope_scaling": None, "hidden_act": "silu",
        "max_position_embeddings": 256, "torch_dtype": "float32", "transformers_version": "4.44.0"}, "eager"),
    "llama-mqa-head_dim24": (transformers.LlamaForCausalLM, dict(
        num_hidden_layers=2, hidden_size=48, num_attention_heads=4, num_key_value_heads=1, head_dim=24,
        intermediate_size=130, vocab_size=300, max_position_embeddings=128), "eager"),
    "gpt2-tied-vocab1001": (transformers.GPT2LMHeadModel, dict(
        n_layer=2, n_embd=48, n_head=3, vocab_size=1001, n_positions=64), "sdpa"),
    "gpt2-untied-exact-gelu-unscaled": (transformers.GPT2LMHeadModel, dict(
        n_layer=2, n_embd=64, n_head=4, n_inner=100, vocab_size=333, n_positions=32, activation_function="gelu",
        tie_word_embeddings=False, scale_attn_weights=False), "eager"),
}


def build_pair(tmp_path, name):
    """(archc model, transformers model), both fp32 in eval mode, the archc one holding HF's weights."""
    cls, config, attention = CASES[name]
    path = tmp_path / "config.json"
    if isinstance(config, dict) and "model_type" in config:
        path.write_text(json.dumps(config, indent=2))
    else:
        cls.config_class(**config).to_json_file(path)
    hf_config = cls.config_class.from_json_file(str(path))
    hf = cls(hf_config)
    hf.set_attn_implementation(attention)
    with torch.no_grad():
        for key, p in hf.named_parameters():
            p.copy_(torch.randn_like(p) * 0.1 + (1.0 if "ln" in key or "norm" in key else 0.0))
    assert main(["import-hf", str(path), "-o", str(tmp_path / "spec.yaml")]) == 0
    model = archc.build_module(archc.load_spec(tmp_path / "spec.yaml"))
    load_hf_weights(model, hf.state_dict())
    return model.float().eval(), hf.float().eval(), hf_config


def rel_err(got, ref) -> float:
    return ((got - ref).abs().max() / ref.abs().max()).item()


@pytest.mark.slow
@pytest.mark.parametrize("name", CASES)
def test_forward_backward_round_trip(tmp_path, name):
    torch.manual_seed(sum(map(ord, name)))
    model, hf, config = build_pair(tmp_path, name)
    tokens = torch.randint(0, config.vocab_size, (2, 17))
    targets = torch.randint(0, config.vocab_size, (2, 17))

    ref = hf(tokens).logits
    got = model(tokens)
    assert got.shape == ref.shape == (2, 17, config.vocab_size) and got.dtype == ref.dtype == torch.float32
    err = rel_err(got, ref)
    print(f"\n{name}: logits rel err {err:.2e}")
    assert err <= LOGITS_RTOL

    F.cross_entropy(ref.flatten(0, 1), targets.flatten()).backward()
    F.cross_entropy(got.flatten(0, 1), targets.flatten()).backward()
    ref_grads = {k: p.grad for k, p in hf.named_parameters(remove_duplicate=False)}
    grads = convert_to_hf({k: p.grad for k, p in model.named_parameters(remove_duplicate=False)})
    assert set(grads) == set(ref_grads)
    errors = {k: rel_err(grads[k], ref_grads[k]) for k in ref_grads}
    worst = max(errors, key=errors.get)
    print(f"{name}: worst grad rel err {errors[worst]:.2e} ({worst}, {len(errors)} parameters)")
    assert all(e <= GRAD_RTOL for e in errors.values()), {k: e for k, e in errors.items() if e > GRAD_RTOL}

    fresh = type(hf)(config).eval()
    fresh.set_attn_implementation(hf.config._attn_implementation)
    fresh.load_state_dict(to_hf_state_dict(model), strict=True)
    with torch.no_grad():
        assert torch.equal(fresh(tokens).logits, ref.detach())


# -- load_hf_weights refuses what does not fit ---------------------------------------------------------


@pytest.fixture(scope="module")
def gpt2_pair(tmp_path_factory):
    torch.manual_seed(0)
    return build_pair(tmp_path_factory.mktemp("gpt2"), "gpt2-tied-vocab1001")


def test_base_model_checkpoint_and_legacy_buffers(gpt2_pair):
    """A GPT2Model checkpoint (no 'transformer.' prefix, no lm_head) with 4.x's saved mask buffers loads."""
    model, hf, _ = gpt2_pair
    sd = {k.removeprefix("transformer."): v for k, v in hf.state_dict().items() if k != "lm_head.weight"}
    sd["h.0.attn.bias"] = torch.ones(1, 1, 64, 64, dtype=torch.bool)
    sd["h.0.attn.masked_bias"] = torch.tensor(-1e4)
    with torch.no_grad():
        model.wte.weight.zero_()
    load_hf_weights(model, sd)
    assert torch.equal(model.head.weight, hf.lm_head.weight)


@pytest.mark.parametrize("change,words", [
    (lambda sd: sd.pop("transformer.h.1.attn.c_attn.weight"), "missing 1 key(s): transformer.h.1.attn.c_attn.weight"),
    (lambda sd: sd.update({"transformer.h.2.ln_1.weight": torch.ones(48)}),
     "unexpected 1 key(s): transformer.h.2.ln_1.weight"),
    (lambda sd: sd.update({"transformer.wte.weight": torch.zeros(1000, 48), "lm_head.weight": torch.zeros(1000, 48)}),
     "mis-shaped 2 key(s): transformer.wte.weight [1000, 48] -> wte.weight needs [1001, 48]"),
    (lambda sd: sd.update({"lm_head.weight": torch.zeros(1001, 48)}), "the model ties them but"),
])
def test_load_refuses(gpt2_pair, change, words):
    model, hf, _ = gpt2_pair
    sd = dict(hf.state_dict())
    change(sd)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(StateDictMismatch) as info:
        load_hf_weights(model, sd)
    assert words in str(info.value)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items()), "nothing is loaded on error"


def test_wrong_family(gpt2_pair, tmp_path):
    model, _, _ = gpt2_pair
    config = transformers.LlamaConfig(num_hidden_layers=1, hidden_size=48, num_attention_heads=3,
                                      intermediate_size=64, vocab_size=1001)
    with torch.device("meta"):
        llama = transformers.LlamaForCausalLM(config)
    with pytest.raises(StateDictMismatch, match="looks like llama"):
        load_hf_weights(model, llama.state_dict())
