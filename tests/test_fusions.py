"""Peephole fusions in code generation: when they apply, and that they compute the same thing."""

from __future__ import annotations

import textwrap

import torch

import archc
from archc.codegen.pytorch import build_source, load_source
from archc.pipeline import load_spec

SWIGLU = """
defaults: [{ffn: swiglu}, _self_]
vars: {d_model: 12, d_ff: 20}
inputs: {x: {shape: [B, T, 12]}}
nodes:
  mlp: {block: ffn, in: x}
"""


def test_silu_mul_backward_matches_autograd_in_float64():
    source = build_source(load_spec(_write(SWIGLU)))
    silu_mul = load_source(source).silu_mul
    gate = torch.randn(3, 5, 20, dtype=torch.float64, requires_grad=True)
    up = torch.randn(3, 5, 20, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(silu_mul, (gate, up))
    weight = torch.randn(3, 5, 20, dtype=torch.float64)
    got = torch.autograd.grad((silu_mul(gate, up) * weight).sum(), (gate, up))
    want = torch.autograd.grad((torch.nn.functional.silu(gate) * up * weight).sum(), (gate, up))
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, rtol=1e-12, atol=1e-12)


def test_swiglu_block_prints_fused_and_equals_the_unfused_formula():
    spec = load_spec(_write(SWIGLU))
    source = build_source(spec)
    assert "gated = silu_mul(gate, up)" in source and "act = " not in source
    model = archc.build_module(spec).double()
    x = torch.randn(2, 7, 12, dtype=torch.float64)
    m = model.mlp
    want = m.down(torch.nn.functional.silu(m.gate(x)) * m.up(x))
    torch.testing.assert_close(model(x), want, rtol=1e-12, atol=1e-12)


def test_silu_with_another_consumer_is_not_fused():
    spec = load_spec(_write("""
        inputs: {x: {shape: [B, 6]}, y: {shape: [B, 6]}}
        nodes:
          act: {op: silu, in: x}
          gated: {op: mul, in: [act, y]}
          out: {op: add, in: [gated, act]}
    """))
    source = build_source(spec)
    assert "silu_mul" not in source and "act = F.silu(x)" in source


def test_broadcasting_mul_is_not_fused():
    spec = load_spec(_write("""
        inputs: {x: {shape: [B, 6]}, y: {shape: [B, 1]}}
        nodes:
          act: {op: silu, in: x}
          gated: {op: mul, in: [act, y]}
    """))
    assert "silu_mul" not in build_source(spec)


def _write(text: str):
    import tempfile
    from pathlib import Path

    path = Path(tempfile.mkdtemp()) / "spec.yaml"
    path.write_text(textwrap.dedent(text))
    return path
