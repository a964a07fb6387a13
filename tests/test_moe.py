"""The moe op, routing losses, values collected across a repeat (``layers.*.moe.router_logits``) and the
Mixtral catalog spec (HF parity is in test_parity_hf.py through the mixtral family)."""

from __future__ import annotations

import textwrap

import pytest
import torch

import archc
from archc.codegen.pytorch import build_source
from archc.errors import SpecError
from archc.pipeline import load_spec
from tests.op_references import load_balancing_loss, moe

STACK = """
inputs:
  tokens: {shape: [B, T], dtype: int64}
blocks:
  layer:
    inputs: [x]
    nodes:
      norm: {op: rmsnorm, in: x}
      moe: {op: moe, in: norm, num_experts: 4, top_k: 2, d_ff: 24}
      res: {op: add, in: [x, moe.out]}
nodes:
  embed: {op: embedding, in: tokens, num_embeddings: 50, dim: 16}
  layers: {block: layer, in: embed, repeat: 3}
  head: {op: linear, in: layers, out_features: 50, bias: false}
  aux: {op: load_balancing_loss, in: layers.*.moe.router_logits, num_experts: 4, top_k: 2}
  z: {op: router_z_loss, in: [layers.*.moe.router_logits]}
outputs: {logits: head, aux_loss: aux, z_loss: z, first: layers.0.moe.router_logits,
          last: layers.2.moe.router_logits}
"""


def write(tmp_path, text: str):
    path = tmp_path / "spec.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def one_moe(tmp_path, **attrs):
    spec = load_spec(write(tmp_path, f"""
        inputs: {{x: {{shape: [B, T, 16]}}}}
        nodes:
          node: {{op: moe, in: x, {", ".join(f"{k}: {v}" for k, v in attrs.items())}}}
        outputs: {{out: node.out, router_logits: node.router_logits}}
    """))
    model = archc.build_module(spec).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn_like(p) * 0.3)
    return spec, model


def reference(spec, model, x):
    params = {k.removeprefix("node."): v for k, v in model.named_parameters()}
    return moe({"x": x}, params, spec.ir.node("node").attrs)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])  # grouped GEMM, and the per-expert fallback
def test_sorted_experts_match_a_per_token_loop(tmp_path, dtype):
    torch.manual_seed(0)
    spec, model = one_moe(tmp_path, num_experts=5, top_k=2, d_ff=24)
    model = model.to(dtype)
    x = torch.randn(3, 7, 16, dtype=dtype)
    got = model(x)
    want = reference(spec, model, x)
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    torch.testing.assert_close(got["out"], want[0], rtol=tol, atol=tol)
    torch.testing.assert_close(got["router_logits"], want[1], rtol=tol, atol=tol)


def test_the_compile_path_computes_the_same_sum(tmp_path):
    torch.manual_seed(1)
    _, model = one_moe(tmp_path, num_experts=4, top_k=2, d_ff=24)
    x = torch.randn(2, 9, 16)
    layer = model.get_submodule("node")
    flat = x.reshape(-1, 16)
    weights, experts = torch.topk(torch.softmax(layer.router(flat), -1), 2, -1)
    weights = weights / weights.sum(-1, keepdim=True)
    torch.testing.assert_close(layer.dense(flat, weights, experts).reshape(x.shape), model(x)["out"])


def test_capacity_drops_later_assignments_switch_style(tmp_path):
    """Top-1 with capacity factor 0.5: each expert takes ceil(0.5 * 20 / 4) = 3 tokens, the rest pass as 0."""
    torch.manual_seed(2)
    spec, model = one_moe(tmp_path, num_experts=4, top_k=1, d_ff=24, capacity_factor=0.5)
    x = torch.randn(2, 10, 16)
    got = model(x)["out"]
    want = reference(spec, model, x)[0]
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    dropped = (got.reshape(-1, 16).abs().sum(-1) == 0).sum().item()
    assert dropped >= 20 - 4 * 3


def test_losses_pool_the_router_logits_of_every_layer(tmp_path):
    torch.manual_seed(3)
    spec = load_spec(write(tmp_path, STACK))
    model = archc.build_module(spec).eval()
    out = model(torch.randint(0, 50, (2, 6)))
    assert list(out) == ["logits", "aux_loss", "z_loss", "first", "last"]
    assert out["aux_loss"].shape == () and out["z_loss"].shape == ()
    # pooling is not summing: the loss over two layers' rows differs from the sum of their losses
    logits = [out["first"], out["last"]]
    pooled = load_balancing_loss({"x": logits}, {}, {"num_experts": 4, "top_k": 2})
    separate = sum(load_balancing_loss({"x": [t]}, {}, {"num_experts": 4, "top_k": 2}) for t in logits)
    assert not torch.allclose(pooled, separate)
    source = build_source(spec)
    assert "layers_moe_router_logits.append(moe_router_logits)" in source  # collected in the loop
    assert "for t in (*layers_moe_router_logits,)" in source
    out["aux_loss"].backward(retain_graph=True)  # the router gets a gradient through P_e
    assert model.layers[0].moe.router.weight.grad.abs().sum() > 0


def test_the_collected_loss_equals_transformers_pooled_loss(tmp_path):
    transformers = pytest.importorskip("transformers")
    from transformers.models.mixtral.modeling_mixtral import load_balancing_loss_func

    torch.manual_seed(4)
    text = STACK.replace("last: layers.2.moe.router_logits", "mid: layers.1.moe.router_logits, "
                                                               "last: layers.2.moe.router_logits")
    model = archc.build_module(load_spec(write(tmp_path, text))).eval()
    out = model(torch.randint(0, 50, (2, 6)))
    per_layer = tuple(out[k].reshape(-1, 4) for k in ("first", "mid", "last"))
    assert transformers
    torch.testing.assert_close(out["aux_loss"], load_balancing_loss_func(per_layer, 4, 2))
    z = torch.logsumexp(torch.cat(per_layer), -1).pow(2).mean()
    torch.testing.assert_close(out["z_loss"], z)


@pytest.mark.parametrize("change,message,line", [
    ("aux: {op: load_balancing_loss, in: layers.*.moe.router_logits, num_experts: 4, top_k: 2}",
     None, None),  # the baseline: loads
    ("aux: {op: router_z_loss, in: {x: nope.*.moe.router_logits}}", "not a repeat", 15),
    ("aux: {op: router_z_loss, in: layers.*.moe.*.router_logits}", "one '*'", 15),
    ("aux: {op: softmax, in: layers.*.moe.router_logits}", "only an input that takes several tensors", 15),
    ("aux: {op: load_balancing_loss, in: layers.*.moe.router_logits, num_experts: 5, top_k: 2}",
     "num_experts", 15),
])
def test_collection_errors_point_at_the_reference(tmp_path, change, message, line):
    text = STACK.replace("  aux: {op: load_balancing_loss, in: layers.*.moe.router_logits, num_experts: 4, top_k: 2}",
                         "  " + change)
    if message is None:
        load_spec(write(tmp_path, text))
        return
    with pytest.raises(SpecError) as info:
        load_spec(write(tmp_path, text))
    assert message in str(info.value)
    assert info.value.loc.line == line


def test_a_value_inside_a_nested_block_cannot_be_collected(tmp_path):
    text = """
        inputs: {x: {shape: [B, T, 8]}}
        blocks:
          inner:
            inputs: [x]
            nodes:
              moe: {op: moe, in: x, num_experts: 4, top_k: 2, d_ff: 8}
              keep: {op: add, in: [x, moe.out]}
          layer:
            inputs: [x]
            nodes:
              ffn: {block: inner, in: x}
              out: {op: add, in: [x, ffn]}
        nodes:
          layers: {block: layer, in: x, repeat: 2}
          aux: {op: router_z_loss, in: layers.*.ffn.moe.router_logits}
        outputs: {y: layers, z: aux}
    """
    with pytest.raises(SpecError, match="directly in block 'layer'") as info:
        load_spec(write(tmp_path, text))
    assert info.value.loc.line == 16


def test_top_k_above_the_experts_is_refused_at_the_attribute(tmp_path):
    with pytest.raises(SpecError, match="top_k"):
        one_moe(tmp_path, num_experts=2, top_k=3, d_ff=8)


def test_mixtral_8x7b_counts_as_published(in_root):
    spec = load_spec("specs/mixtral.yaml", ["size=mixtral-8x7b"])
    total = sum(n.meta.get("n_params", 0) for n in spec.ir.nodes())
    assert total == 46_702_792_704
