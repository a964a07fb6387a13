"""Mistral, Qwen2 and Gemma beyond the registry-wide tests: config keys refused at their line, the ops'
new attributes refused where they cannot apply, and the embedding's padding row (pad_token_id) getting no
gradient as in HF."""

from __future__ import annotations

import json

import pytest

from archc.cli.main import main
from archc.interop.registry import FAMILIES


def _tiny(model_type):
    import transformers  # only to write every key, as transformers would

    family = FAMILIES[model_type]
    cls = getattr(transformers, family.hf_class).config_class
    return json.loads(cls(**{k: v for k, v in family.tiny.items() if k != "model_type"}).to_json_string())


REFUSALS = [  # (family, changes, key whose line is cited, words)
    ("qwen2", {"use_sliding_window": True}, "use_sliding_window", "max_window_layers"),
    ("qwen2", {"layer_types": ["full_attention", "sliding_attention"]}, "layer_types", "full attention"),
    ("qwen2", {"attention_bias": False}, "attention_bias", "unsupported key"),
    ("mistral", {"sliding_window": 0}, "sliding_window", "positive integer"),
    ("mistral", {"mlp_bias": True}, "mlp_bias", "unsupported key"),
    ("gemma", {"hidden_act": "relu"}, "hidden_act", "tanh"),
    ("gemma", {"hidden_activation": "gelu"}, "hidden_activation", "unsupported value"),
    ("gemma", {"pad_token_id": 5000}, "pad_token_id", "below vocab_size"),
    ("gemma", {"use_bidirectional_attention": True}, "use_bidirectional_attention", "causally"),
]


@pytest.mark.parametrize("model_type,changes,key,words", REFUSALS, ids=[f"{m}-{k}" for m, _, k, _ in REFUSALS])
def test_config_refused_at_its_line(tmp_path, capsys, model_type, changes, key, words):
    text = json.dumps({**_tiny(model_type), **changes}, indent=2)
    path = tmp_path / "config.json"
    path.write_text(text)
    assert main(["import-hf", str(path), "-o", str(tmp_path / "out.yaml")]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]  # after transformers' own log lines, if any
    line = text[:text.index(f'\n  "{key}":') + 1].count("\n") + 1
    assert f"config.json:{line}:" in err and words in err, err


SPEC = """inputs:
  tokens: {{shape: [B, T], dtype: int64}}
  mem: {{shape: [B, S, 16]}}
nodes:
  embed: {{op: embedding, in: tokens, num_embeddings: 50, dim: 16}}
  norm: {{op: rmsnorm, in: embed, {norm}}}
  attn: {{op: attention, in: {attn_in}, n_heads: 2, {attn}}}
outputs:
  y: attn
"""


@pytest.mark.parametrize("norm,attn_in,attn,attr,words", [
    ("unit_offset: true, affine: false", "norm", "window: 4", "unit_offset", "affine"),
    ("eps: 1.0e-6", "{x: norm, kv: mem}", "window: 4", "window", "self-attention"),
    ("eps: 1.0e-6", "norm", "window: 0", "window", "window"),
])
def test_attribute_refused_at_its_place(tmp_path, capsys, norm, attn_in, attn, attr, words):
    text = SPEC.format(norm=norm, attn_in=attn_in, attn=attn)
    path = tmp_path / "s.yaml"
    path.write_text(text)
    assert main(["lint", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    line = next(i for i, t in enumerate(text.splitlines(), 1) if f"{attr}:" in t)
    assert f"s.yaml:{line}:" in err and words in err, err


@pytest.mark.slow
def test_padding_row_gets_no_gradient_as_in_hf(tmp_path):
    import torch
    import transformers

    import archc
    from archc.interop.hf import convert_to_hf, load_hf_weights

    config = {**FAMILIES["gemma"].tiny, "pad_token_id": 3, "tie_word_embeddings": False}  # a tied head adds to row 3
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    hf = transformers.GemmaForCausalLM(transformers.GemmaConfig.from_json_file(str(path))).eval()
    with torch.no_grad():
        hf.model.embed_tokens.weight[3].normal_()  # a trained checkpoint's pad row need not be zero
    assert main(["import-hf", str(path), "-o", str(tmp_path / "spec.yaml")]) == 0
    model = archc.build_module(archc.load_spec(tmp_path / "spec.yaml")).eval()
    load_hf_weights(model, hf.state_dict(), model_type="gemma")
    ids = torch.tensor([[3, 7, 3, 11, 5]])
    model(ids).sum().backward()
    hf(input_ids=ids).logits.sum().backward()
    grad = convert_to_hf({k: p.grad for k, p in model.named_parameters()}, "gemma")["model.embed_tokens.weight"]
    assert torch.equal(grad[3], torch.zeros_like(grad[3]))
    assert grad[7].abs().sum() > 0
    torch.testing.assert_close(grad, hf.model.embed_tokens.weight.grad, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("causal", [True, False])
def test_window_mask_against_explicit_softmax(tmp_path, causal):
    """The generated attention with window 3 equals softmax attention over exactly the allowed keys."""
    import torch

    import archc

    path = tmp_path / "w.yaml"
    path.write_text("inputs:\n  x: {shape: [B, T, 8]}\nnodes:\n  attn: {op: attention, in: x, n_heads: 1, "
                    f"window: 3, causal: {str(causal).lower()}}}\noutputs:\n  y: attn\n")
    model = archc.build_module(archc.load_spec(path)).eval()
    x = torch.randn(2, 9, 8)
    attn = model.attn
    q, k, v = attn.qkv(x).split(8, dim=-1)
    i, j = torch.arange(9)[:, None], torch.arange(9)[None, :]
    allowed = ((i - j >= 0) if causal else (j - i < 3)) & (i - j < 3)
    scores = (q @ k.transpose(1, 2) / 8**0.5).masked_fill(~allowed, float("-inf"))
    with torch.no_grad():
        torch.testing.assert_close(model(x), attn.o_proj(scores.softmax(-1) @ v), rtol=1e-5, atol=1e-6)
