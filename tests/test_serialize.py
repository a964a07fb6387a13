"""The IR as JSON: ``from_json(to_json(ir))`` equals ``ir``, through JSON text, for the catalog and odd shapes."""

from __future__ import annotations

import json

import pytest

from archc.ir.serialize import FORMAT, VERSION, from_json, to_json
from archc.pipeline import load_spec

# repeats (nested, of a single-node block), a split with two outputs, block parameters bound two ways
ODD = """
vars: {d: 8}
inputs:
  x: {shape: [B, T, 8]}
blocks:
  act: {nodes: {r: {op: relu}}}
  inner:
    params: {width: 8}
    nodes:
      l: {op: linear, out_features: "${params.width}", init: {weight: {std: 0.02, depth: 3}}}
      a: {block: act}
  outer:
    nodes:
      n: {op: layernorm}
      body: {block: inner, repeat: 3}
      s: {op: split, sizes: [4, 4]}
      c: {op: concat, in: [s.1, s.0]}
nodes:
  acts: {block: act, repeat: 2}
  h: {block: outer, repeat: 2}
  other: {block: inner, width: 8, in: h}
  out: {op: add, in: [other, x]}
  head: {op: linear, out_features: 8, tie: h.0.body.0.l}
"""


def round_trip(ir):
    return from_json(json.loads(json.dumps(to_json(ir))))


def assert_same_ir(a, b):
    assert [n.key for n in b.nodes()] == [n.key for n in a.nodes()]  # order first: a clearer failure
    for x, y in zip(a.nodes(), b.nodes(), strict=True):
        assert y == x, x.key
        assert type(y.loc) is type(x.loc) and all(type(p) is tuple for p in y.inputs)
    assert list(b.graph.edges) == list(a.graph.edges)
    assert b.info == a.info
    assert list(b.info) == list(a.info)
    assert b.scopes.instances == a.scopes.instances and b.scopes.repeats == a.scopes.repeats
    assert b.scopes.classes == a.scopes.classes
    assert list(b.scopes.instances) == list(a.scopes.instances)


@pytest.mark.parametrize("spec, overrides", [("specs/gpt2.yaml", []), ("specs/llama.yaml", []),
                                             ("specs/llama.yaml", ["size=7b", "ffn=geglu"])])
def test_catalog_round_trip(spec, overrides, in_root):
    ir = load_spec(spec, overrides).ir
    assert_same_ir(ir, round_trip(ir))


def test_round_trip_keeps_everything_the_passes_wrote(in_root):
    ir = load_spec("specs/gpt2.yaml").ir
    back = round_trip(ir)
    head, wte = back.node("head"), back.node("wte")
    assert head.tie == "wte" and head.meta["tied"] == {"weight": "wte.weight"}
    assert back.node("h.3.attn").init == {"o_proj.weight": {"kind": "normal", "std": 0.02, "depth": 12}}
    assert wte.meta["params"] == {"weight": [50257, 768]}
    assert back.info["spec"]["hash"] == ir.info["spec"]["hash"]
    assert back.info["default_init"] == {"*": {"kind": "normal", "std": 0.02}}
    assert back.node("h.0.attn").attr_locs["n_heads"] == ir.node("h.0.attn").attr_locs["n_heads"]


def test_odd_structures_round_trip(tmp_path):
    path = tmp_path / "odd.yaml"
    path.write_text(ODD)
    ir = load_spec(path).ir
    assert ir.scopes.repeats["h.1.body"].count == 3  # the spec exercises what it claims to
    assert ir.node("h.0.c").inputs == [("x", "h.0.s", "1"), ("x", "h.0.s", "0")]
    assert_same_ir(ir, round_trip(ir))


def test_to_json_is_plain_data_and_a_copy(in_root):
    ir = load_spec("specs/gpt2.yaml").ir
    data = to_json(ir)
    assert data["format"] == FORMAT and data["version"] == VERSION
    assert json.loads(json.dumps(data, allow_nan=False)) == data
    data["nodes"][1]["attrs"]["dim"] = 1
    data["info"]["vars"]["d_model"] = 1
    assert ir.node("wte").attrs["dim"] == 768 and ir.info["vars"]["d_model"] == 768
    back = from_json(data)
    data["nodes"][1]["attrs"]["dim"] = 2
    assert back.node("wte").attrs["dim"] == 1


def test_data_json_cannot_hold_is_refused_not_changed(in_root):
    ir = load_spec("specs/gpt2.yaml").ir
    ir.node("wte").meta["extent"] = (1, 2)
    with pytest.raises(TypeError, match=r"nodes\[1\]\.meta\.extent' is a tuple"):
        to_json(ir)


@pytest.mark.parametrize("data, message", [
    ({"nodes": []}, "not an archc IR"),
    ({"format": FORMAT, "version": VERSION + 1, "info": {}, "nodes": []}, f"version {VERSION + 1}"),
])
def test_from_json_refuses_other_data(data, message):
    with pytest.raises(ValueError, match=message):
        from_json(data)
