"""Parity with HuggingFace transformers, for every family in archc.interop.registry.

Each case (a family's tiny config, with SDPA, and each of its examples, with eager attention): the config
JSON -> `archc import-hf` -> load_spec -> archc.build_module -> load_hf_weights from the transformers model
(random weights, re-drawn at std 0.1 so that norm scales, biases and every row of every matrix matter) ->
the family's outputs on fresh random inputs, then one backward pass of the same loss on both (a fixed random
projection of every output, so it fits logits and hidden states alike), and the gradient of every parameter
mapped through the same key tables; finally the round trip: to_hf_state_dict into a fresh transformers model
with strict=True gives the same outputs.

Tolerances (fp32 on CPU): outputs max|got - ref| / max|ref| <= 1e-5 and per-parameter gradients
max|g - g_ref| / max|g_ref| <= 1e-4. Both models do the same arithmetic in a different order (one fused
qkv matmul against three, SDPA against eager softmax), so differences are rounding: a few ulp of fp32
(1.2e-7) grown over two layers and a vocab-wide softmax; a wrong mapping or layout is off by O(1).
"""

from __future__ import annotations

import json

import pytest
import torch
import transformers

import archc
from archc.cli.main import main
from archc.interop.hf import StateDictMismatch, convert_to_hf, load_hf_weights, to_hf_state_dict
from archc.interop.registry import FAMILIES

OUTPUT_RTOL = 1e-5
GRAD_RTOL = 1e-4
BATCH, SEQ = 2, 17

CASES = {f"{f.model_type}-{name}": (f, config, "sdpa" if name == "tiny" else "eager")
         for f in FAMILIES.values() for name, config in {"tiny": f.tiny, **f.examples}.items()}

def attribute(config, dotted: str):
    for part in dotted.split("."):
        config = getattr(config, part)
    return config


def _image(inp, config):
    side = attribute(config, inp.bound)
    channels = attribute(config, inp.bound.rpartition(".")[0] + ".num_channels" if "." in inp.bound
                         else "num_channels")
    return torch.randn(BATCH, channels, side, side)


# how a test draws a value for a family's main input (archc.interop.family.INPUT_KINDS)
DRAW = {
    "tokens": lambda inp, config: torch.randint(0, attribute(config, inp.bound), (BATCH, SEQ)),
    "image": _image,
}


def build_pair(tmp_path, name):
    """(archc model, transformers model, HF config), both fp32 in eval mode, the archc one holding HF's weights."""
    family, config, attention = CASES[name]
    cls = getattr(transformers, family.hf_class)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config, indent=2))
    hf_config = cls.config_class.from_json_file(str(path))
    hf = cls(hf_config)
    hf.set_attn_implementation(attention)
    with torch.no_grad():
        for key, p in hf.named_parameters():
            p.copy_(torch.randn_like(p) * 0.1 + (1.0 if "ln" in key or "norm" in key else 0.0))
    assert main(["import-hf", str(path), "-o", str(tmp_path / "spec.yaml")]) == 0
    model = archc.build_module(archc.load_spec(tmp_path / "spec.yaml"))
    load_hf_weights(model, hf.state_dict(), model_type=family.model_type)
    return model.float().eval(), hf.float().eval(), hf_config


def outputs(family, model, hf, inputs) -> tuple[list, list]:
    """(archc's outputs, HF's outputs), in the family's order."""
    got = model(*inputs.values())
    ref = hf(**inputs)
    got = [got if isinstance(got, torch.Tensor) else got[spec] for _, spec in family.outputs]
    return got, [getattr(ref, attr) for attr, _ in family.outputs]


def rel_err(got, ref) -> float:
    return ((got - ref).abs().max() / ref.abs().max()).item()


@pytest.mark.slow
@pytest.mark.parametrize("name", CASES)
def test_forward_backward_round_trip(tmp_path, name):
    torch.manual_seed(sum(map(ord, name)))
    family = CASES[name][0]
    model, hf, config = build_pair(tmp_path, name)
    inputs = {inp.hf: DRAW[inp.kind](inp, config) for inp in family.inputs}

    got, ref = outputs(family, model, hf, inputs)
    weights = [torch.randn_like(r) for r in ref]
    for g, r, (attr, _) in zip(got, ref, family.outputs, strict=True):
        assert g.shape == r.shape and g.dtype == r.dtype == torch.float32, attr
        err = rel_err(g, r)
        print(f"\n{name}: {attr} rel err {err:.2e}")
        assert err <= OUTPUT_RTOL

    sum((r * w).sum() for r, w in zip(ref, weights, strict=True)).backward()
    sum((g * w).sum() for g, w in zip(got, weights, strict=True)).backward()
    ref_grads = {k: p.grad for k, p in hf.named_parameters(remove_duplicate=False)}
    grads = convert_to_hf({k: p.grad for k, p in model.named_parameters(remove_duplicate=False)}, family.model_type)
    assert set(grads) == set(ref_grads)
    errors = {k: rel_err(grads[k], ref_grads[k]) for k in ref_grads}
    worst = max(errors, key=errors.get)
    print(f"{name}: worst grad rel err {errors[worst]:.2e} ({worst}, {len(errors)} parameters)")
    assert all(e <= GRAD_RTOL for e in errors.values()), {k: e for k, e in errors.items() if e > GRAD_RTOL}

    fresh = type(hf)(config).eval()
    fresh.set_attn_implementation(hf.config._attn_implementation)
    fresh.load_state_dict(to_hf_state_dict(model, family.model_type), strict=True)
    with torch.no_grad():
        again = fresh(**inputs)
        for (attr, _), r in zip(family.outputs, ref, strict=True):
            assert torch.equal(getattr(again, attr), r.detach())


# -- load_hf_weights refuses what does not fit ---------------------------------------------------------


@pytest.fixture(scope="module")
def gpt2_pair(tmp_path_factory):
    torch.manual_seed(0)
    return build_pair(tmp_path_factory.mktemp("gpt2"), "gpt2-tiny")


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


def test_named_family_must_cover_the_model(gpt2_pair):
    model, hf, _ = gpt2_pair
    with pytest.raises(StateDictMismatch, match="no HuggingFace equivalent in the llama mapping"):
        load_hf_weights(model, hf.state_dict(), model_type="llama")
    with pytest.raises(StateDictMismatch, match="unknown family 'bert'"):
        to_hf_state_dict(model, "bert")
    assert set(to_hf_state_dict(model, "gpt2")) == set(hf.state_dict()) - {
        k for k in hf.state_dict() if k.endswith((".attn.bias", ".attn.masked_bias"))}
