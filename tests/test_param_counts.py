"""archc's parameter count against published numbers and against transformers' models.

References: each family's published configs and counts (archc/interop/families/*.py: GPT-2 small
124,439,808, the Hub's gpt2 checkpoint, head tied; LLaMA-2 7B 6,738,415,616, Touvron et al. 2023);
otherwise ``sum(p.numel() for p in model.parameters())`` of the transformers model built from the same
config on the meta device (no memory is allocated, so 70B is free).
"""

from __future__ import annotations

import json

import pytest
import torch
import transformers

from archc.cli.main import main
from archc.interop.registry import FAMILIES
from archc.passes.count import totals
from archc.paths import catalog_dir
from archc.pipeline import load_spec

SPECS = catalog_dir()


def params(spec) -> int:
    return totals(spec.ir, 1)["params"]


def hf_params(cls, config) -> int:
    with torch.device("meta"):
        return sum(p.numel() for p in cls(config).parameters())


def test_gpt2_small():
    assert params(load_spec(SPECS / "gpt2.yaml")) == 124_439_808


def test_llama2_7b():
    assert params(load_spec(SPECS / "llama.yaml", ["size=7b"])) == 6_738_415_616


PUBLISHED = [(f, p) for f in FAMILIES.values() for p in f.published]
SMALL = [(f, name, config) for f in FAMILIES.values() for name, config in {"tiny": f.tiny, **f.examples}.items()]


def imported_params(tmp_path, config: dict) -> int:
    (tmp_path / "config.json").write_text(json.dumps(config, indent=2))
    assert main(["import-hf", str(tmp_path / "config.json"), "-o", str(tmp_path / "spec.yaml")]) == 0
    return params(load_spec(tmp_path / "spec.yaml"))


@pytest.mark.parametrize("family,published", PUBLISHED, ids=[p.name for _, p in PUBLISHED])
def test_import_hf_reproduces_published_counts(tmp_path, family, published):
    """`archc import-hf` on the real config gives the published count (GPT-2 124,439,808; Llama-2-7B
    6,738,415,616; ...), which is also what transformers builds from it."""
    cls = getattr(transformers, family.hf_class)
    config = cls.config_class(**{k: v for k, v in published.config.items() if k != "model_type"})
    got = imported_params(tmp_path, published.config)
    assert got == hf_params(cls, config)
    if published.params is not None:
        assert got == published.params


def test_the_counts_the_readme_cites_are_checked():
    counts = {p.name: p.params for _, p in PUBLISHED}
    assert counts["gpt2-small"] == 124_439_808 and counts["llama-2-7b"] == 6_738_415_616


@pytest.mark.parametrize("family,name,config", SMALL, ids=[f"{f.model_type}-{n}" for f, n, _ in SMALL])
def test_import_hf_small_configs(tmp_path, family, name, config):
    cls = getattr(transformers, family.hf_class)
    hf_config = cls.config_class(**{k: v for k, v in config.items() if k != "model_type"})
    assert imported_params(tmp_path, config) == hf_params(cls, hf_config)


# LlamaConfig kwargs for the catalog spec with plain overrides (no import-hf); GQA, MQA, tied and untied
# heads, odd vocabularies, biases
LLAMA = {
    "gqa3-vocab1001": dict(num_hidden_layers=2, hidden_size=96, num_attention_heads=6, num_key_value_heads=2,
                           intermediate_size=200, vocab_size=1001),
    "tied-vocab517": dict(num_hidden_layers=3, hidden_size=64, num_attention_heads=4, intermediate_size=176,
                          vocab_size=517, tie_word_embeddings=True),
    "mqa-head_dim24": dict(num_hidden_layers=1, hidden_size=48, num_attention_heads=4, num_key_value_heads=1,
                           head_dim=24, intermediate_size=130, vocab_size=300),
    "biases": dict(num_hidden_layers=2, hidden_size=32, num_attention_heads=2, intermediate_size=90,
                   vocab_size=99, attention_bias=True, mlp_bias=True),
    "70b": dict(hidden_size=8192, intermediate_size=28672, num_hidden_layers=80, num_attention_heads=64,
                num_key_value_heads=8),
}


def llama_overrides(kw: dict) -> list[str]:
    """The same model as plain overrides of specs/llama.yaml, without import-hf."""
    c = transformers.LlamaConfig(**kw)
    out = [f"vars.vocab_size={c.vocab_size}", f"vars.d_model={c.hidden_size}", f"vars.d_ff={c.intermediate_size}",
           f"vars.n_layers={c.num_hidden_layers}", f"vars.n_heads={c.num_attention_heads}",
           f"vars.n_kv_heads={c.num_key_value_heads}"]
    if "head_dim" in kw:
        out.append(f"vars.head_dim={c.head_dim}")
    if c.tie_word_embeddings:
        out.append("+nodes.head.tie=embed")
    if c.attention_bias:
        out.append("blocks.layer.nodes.attn.bias=true")
    if c.mlp_bias:
        out.append("blocks.ffn.params.bias=true")
    return out


@pytest.mark.parametrize("name", LLAMA)
def test_llama_overrides(name):
    spec = load_spec(SPECS / "llama.yaml", llama_overrides(LLAMA[name]))
    assert params(spec) == hf_params(transformers.LlamaForCausalLM, transformers.LlamaConfig(**LLAMA[name]))


@pytest.mark.parametrize("kw,overrides", [
    (dict(n_layer=24, n_embd=1024, n_head=16), ["vars.n_layers=24", "vars.d_model=1024", "vars.n_heads=16"]),
    (dict(n_layer=2, n_embd=48, n_head=3, vocab_size=1001, n_positions=64, n_inner=100, tie_word_embeddings=False),
     ["vars.n_layers=2", "vars.d_model=48", "vars.n_heads=3", "vars.vocab_size=1001", "vars.n_ctx=64",
      "vars.d_ff=100", "~nodes.head.tie"]),
], ids=["medium", "tiny-untied"])
def test_gpt2(tmp_path, kw, overrides):
    config = transformers.GPT2Config(**kw)
    expected = hf_params(transformers.GPT2LMHeadModel, config)
    assert params(load_spec(SPECS / "gpt2.yaml", overrides)) == expected
    config.to_json_file(tmp_path / "config.json")
    assert main(["import-hf", str(tmp_path / "config.json"), "-o", str(tmp_path / "spec.yaml")]) == 0
    assert params(load_spec(tmp_path / "spec.yaml")) == expected
