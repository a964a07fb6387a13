"""RoPE scalings beyond the parity table: dynamic NTK at several lengths, each against a fresh HF model (HF
caches the longest length seen, so a reused model would answer for an earlier call), and a check that every
scaled example really differs from plain RoPE at its length (so the parity rows could fail)."""

from __future__ import annotations

import json

import pytest
import torch
import transformers

import archc
from archc.cli.main import main
from archc.interop.hf import load_hf_weights
from archc.interop.registry import FAMILIES

LLAMA = FAMILIES["llama"]


def _pair(tmp_path, config):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config, indent=2))
    hf = transformers.LlamaForCausalLM(transformers.LlamaConfig.from_json_file(str(path))).float().eval()
    with torch.no_grad():
        for p in hf.parameters():
            p.copy_(torch.randn_like(p) * 0.1)
    assert main(["import-hf", str(path), "-o", str(tmp_path / "spec.yaml")]) == 0
    model = archc.build_module(archc.load_spec(tmp_path / "spec.yaml"))
    load_hf_weights(model, hf.state_dict(), model_type="llama")
    return model.float().eval(), hf


def _rel(got, ref):
    return ((got - ref).abs().max() / ref.abs().max()).item()


@pytest.mark.slow
@pytest.mark.parametrize("length", [3, 8, 9, 23, 40])  # max_position_embeddings is 8: below, at and beyond
def test_dynamic_per_call_length(tmp_path, length):
    torch.manual_seed(length)
    model, hf = _pair(tmp_path, LLAMA.examples["rope-dynamic"])
    ids = torch.randint(0, 211, (2, length))
    with torch.no_grad():
        assert _rel(model(ids), hf(input_ids=ids).logits) <= 1e-5


def test_dynamic_calls_do_not_leak_into_each_other(tmp_path):
    """archc computes each call from its own length: a long call first changes nothing for a short one."""
    torch.manual_seed(0)
    model, _ = _pair(tmp_path, LLAMA.examples["rope-dynamic"])
    ids = torch.randint(0, 211, (1, 6))
    with torch.no_grad():
        before = model(ids)
        model(torch.randint(0, 211, (1, 30)))
        assert torch.equal(model(ids), before)


@pytest.mark.parametrize("name", [n for n in LLAMA.examples if n.startswith("rope-")])
def test_scaling_changes_the_tables(tmp_path, name):
    """At the parity test's 17 positions, each scaled table differs from the plain one by far more than
    rounding, so a scaling read but not applied would fail the parity rows."""
    config = LLAMA.examples[name]
    plain = {k: v for k, v in config.items() if k not in ("rope_scaling", "rope_parameters")}
    plain["max_position_embeddings"] = 64  # rows for 17 positions
    tables = []
    for i, c in enumerate((config, plain)):
        d = tmp_path / str(i)
        d.mkdir()
        (d / "config.json").write_text(json.dumps(c))
        assert main(["import-hf", str(d / "config.json"), "-o", str(d / "spec.yaml")]) == 0
        model = archc.build_module(archc.load_spec(d / "spec.yaml"))
        tables.append(model.rope(torch.zeros(1, 17, dtype=torch.int64)))
    assert (tables[0][0] - tables[1][0]).abs().max() > 1e-2
