"""``archc explain``: resolved values and their origins (spec, config group, override, op default)."""

from __future__ import annotations

import json
import subprocess

import pytest

from archc.cli.explain import Explainer
from archc.errors import COMMAND_LINE, Loc, SpecError
from archc.pipeline import load_spec
from tests.conftest import ROOT, archc_cmd

TWO_USES = """
vars: {d: 8}
inputs:
  x: {shape: [B, T, 8]}
blocks:
  ffn:
    params: {width: 16}
    nodes:
      up: {op: linear, out_features: "${params.width}"}
      down: {op: linear, out_features: "${vars.d}"}
nodes:
  a: {block: ffn}
  b: {block: ffn, width: 32}
"""


def explain(spec, key, overrides=()):
    return Explainer(load_spec(spec, list(overrides))).explain(key)


def origin(found):
    return found.kind, (found.loc.file, found.loc.line, found.loc.col), found.detail


def test_var_set_in_the_spec(in_root):
    found = explain("specs/gpt2.yaml", "vars.d_model")
    assert (found.value, found.raw) == (768, 768)
    assert origin(found) == ("spec", ("specs/gpt2.yaml", 13, 3), "")
    assert found.via == []


def test_var_from_a_config_group(in_root):
    found = explain("specs/llama.yaml", "vars.d_model", ["size=7b"])
    assert found.value == 4096
    assert origin(found) == ("group", ("specs/size/7b.yaml", 5, 3), "size=7b")
    assert "specs/size/7b.yaml:5:3 (config group size=7b)" in found.lines()[1]


def test_var_from_a_command_line_override(in_root):
    found = explain("specs/gpt2.yaml", "vars.d_model", ["vars.n_layers=2", "vars.d_model=1536"])
    assert found.value == 1536
    assert origin(found) == ("override", (COMMAND_LINE, 1, 17), "vars.d_model=1536")


def test_interpolation_shows_raw_and_resolved_and_what_it_reads(in_root):
    found = explain("specs/gpt2.yaml", "vars.d_ff", ["vars.d_model=1536"])
    assert (found.raw, found.value) == ("${mul:${vars.d_model},4}", 6144)
    (d_model,) = found.via
    assert (d_model.key, d_model.value, d_model.kind) == ("vars.d_model", 1536, "override")
    assert found.lines() == ["vars.d_ff = 6144", "  raw:  ${mul:${vars.d_model},4}",
                             "  from: specs/gpt2.yaml:16:3 (the spec)", "  vars.d_model = 1536",
                             "    from: <command-line>:1:1 (command-line override 'vars.d_model=1536')"]


def test_ir_attribute_through_block_params_to_vars(in_root):
    found = explain("specs/gpt2.yaml", "h.3.mlp.up.out_features")
    assert (found.value, found.raw) == (3072, "${params.d_ff}")
    assert origin(found) == ("group", ("specs/ffn/gelu_mlp.yaml", 10, 20), "ffn=gelu_mlp")
    chain = [found]
    while chain[-1].via:
        (nxt,) = chain[-1].via
        chain.append(nxt)
    assert [(e.key, e.value) for e in chain] == [
        ("h.3.mlp.up.out_features", 3072), ("blocks.ffn.params.d_ff", 3072), ("vars.d_ff", 3072),
        ("vars.d_model", 768)]


def test_attribute_the_spec_did_not_set_is_the_op_default(in_root):
    found = explain("specs/llama.yaml", "layers.0.attn.dropout")
    assert (found.value, found.raw, found.kind) == (0.0, None, "default")
    assert found.detail == "op 'attention' for 'dropout': dropout on attention weights (training only)"
    assert found.loc == Loc("specs/llama.yaml", 29, 7)  # where the node is defined


@pytest.mark.parametrize("key, value, where", [
    ("nodes.head.bias", False, ("specs/gpt2.yaml", 58, 58)),
    ("head.bias", False, ("specs/gpt2.yaml", 58, 58)),
    ("blocks.ffn.params.d_ff", 3072, ("specs/ffn/gelu_mlp.yaml", 6, 3)),
    ("h.0.ln_1.eps", 1e-5, ("specs/norm/layernorm.yaml", 5, 25)),
    ("inputs.tokens.dtype", "int64", ("specs/gpt2.yaml", 26, 27)),
    ("tokens.dtype", "int64", ("specs/gpt2.yaml", 26, 27)),
    ("h.11.attn.init", {"o_proj.weight": {"std": 0.02, "depth": 12}}, ("specs/gpt2.yaml", 40, 9)),
])
def test_keys_in_the_spec_and_the_ir(key, value, where, in_root):
    found = explain("specs/gpt2.yaml", key)
    assert found.value == value
    assert (found.loc.file, found.loc.line, found.loc.col) == where


@pytest.mark.parametrize("spec, overrides", [("specs/gpt2.yaml", []), ("specs/llama.yaml", ["size=7b"])])
def test_every_key_and_every_attribute_can_be_explained(spec, overrides, in_root):
    loaded = load_spec(spec, overrides)
    explainer = Explainer(loaded)
    for path in filter(None, loaded.composed.origins):
        key = ".".join(map(str, path))
        assert explainer.explain(key).key == key
    for node in loaded.ir.nodes():
        for attr, value in node.attrs.items():
            assert explainer.explain(f"{node.key}.{attr}").value == value, (node.key, attr)


def test_key_with_dots_inside(in_root):
    found = explain("specs/gpt2.yaml", "blocks.layer.nodes.attn.init.o_proj.weight.depth")
    assert (found.value, found.raw) == (12, "${vars.n_layers}")
    assert [v.key for v in found.via] == ["vars.n_layers"]


def test_block_used_with_different_parameters(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text(TWO_USES)
    per_use = explain(path, "blocks.ffn.nodes.up.out_features")
    assert per_use.varies and per_use.value == {"ffn": 16, "ffn_1": 32}
    assert explain(path, "blocks.ffn.params.width").value == 16  # the declared default
    bound = explain(path, "b.up.out_features")
    assert bound.value == 32 and [(v.key, v.value) for v in bound.via] == [("nodes.b.width", 32)]
    assert [(v.key, v.value) for v in explain(path, "a.up.out_features").via] == [("blocks.ffn.params.width", 16)]


@pytest.mark.parametrize("key, message", [
    ("vars.d_modle", "no key 'vars.d_modle' in the spec or the IR (did you mean 'vars.d_model'?)"),
    ("h.3.attn.n_head", "no key 'h.3.attn.n_head' in the spec or the IR (did you mean 'h.3.attn.n_heads'?)"),
    ("h.3.atn.n_heads", "no key 'h.3.atn.n_heads' in the spec or the IR (did you mean 'h.3.attn'?)"),
    ("blocks.fnn", "no key 'blocks.fnn' in the spec or the IR (did you mean 'blocks.ffn'?)"),
    ("h.3", "'h.3' is a block; explain an attribute of one of its nodes (h.3.ln_1, h.3.attn, h.3.attn_drop, ...)"),
])
def test_unknown_key(key, message, in_root):
    with pytest.raises(SpecError) as info:
        explain("specs/gpt2.yaml", key)
    assert str(info.value) == message


def run_explain(*args):
    return subprocess.run([*archc_cmd(), "explain", *args], capture_output=True, text=True, cwd=ROOT, timeout=60)


def test_cli_json():
    result = run_explain("specs/llama.yaml", "layers.0.mlp.up.bias", "--format", "json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert (data["key"], data["value"], data["raw"]) == ("layers.0.mlp.up.bias", False, "${params.bias}")
    assert data["origin"] == {"kind": "group", "file": "specs/ffn/swiglu.yaml", "line": 10, "column": 59,
                              "detail": "ffn=swiglu"}
    assert data["via"][0]["key"] == "blocks.ffn.params.bias"


def test_cli_unknown_key_is_one_line_exit_2():
    result = run_explain("specs/gpt2.yaml", "vars.d_modle")
    assert result.returncode == 2
    assert result.stderr == "error: no key 'vars.d_modle' in the spec or the IR (did you mean 'vars.d_model'?)\n"
