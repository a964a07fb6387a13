"""kernels/attention.py against plain PyTorch attention (the T x T matrix materialised), forward and the
gradients of q, k and v, on odd sizes: T = 1, T not a multiple of the 16-row interpreter block, head dims that
are not powers of two (24, 80, 96), 3 query heads per K/V head, one K/V head (MQA), Tq != Tk, RoPE inside the
kernel, an explicit scale, and q/k/v given as transposed (B, T, H, D) views.

Interpreter cost: about 4 ms per program and K/V block; each case below takes 0.3-3 s on one core
(the first also pays the interpreter's start).
"""

import math
import zlib

import pytest
import torch

from kernels.attention import (
    FlashAttention,
    attention_flops,
    attention_reference,
    flash_attention,
)
from tests.kernels.tolerance import DEVICE, DTYPES, check, dtype_id

# (B, H, H_kv, Tq, Tk, D, causal, rope, scale, layout)
CASES = {
    "mha_T20_d16": (2, 2, 2, 20, 20, 16, False, False, None, "bhtd"),
    "gqa3_causal_d80_views": (1, 6, 2, 19, 19, 80, True, False, 0.3, "bthd"),
    "mqa_causal_rope_d64_T33": (1, 3, 1, 33, 33, 64, True, True, None, "bhtd"),
    "T1_causal_rope_d32": (1, 2, 1, 1, 1, 32, True, True, None, "bhtd"),
    "cross_Tq5_Tk37_d96": (1, 2, 2, 5, 37, 96, False, False, 0.125, "bhtd"),
    "rope_d128_T18": (1, 2, 1, 18, 18, 128, False, True, None, "bthd"),
    "causal_Tq_lt_Tk_d48": (1, 2, 2, 7, 21, 48, True, False, None, "bhtd"),
    # the two ends of the head-dim range: 256 (the register limit) and 24 (padded per RoPE half to 2 x 16)
    "causal_d256_T17": (1, 1, 1, 17, 17, 256, True, False, None, "bhtd"),
    "gqa2_causal_rope_d24_T17": (1, 4, 2, 17, 17, 24, True, True, None, "bthd"),
}


def _tables(T: int, D: int, theta: float = 10000.0):
    """cos/sin as templates/support/rope.py.j2 builds them: angles t * theta^(-2i/D), halves duplicated."""
    pos = torch.arange(T, dtype=torch.float64)
    ang = torch.outer(pos, 1.0 / theta ** (torch.arange(0, D, 2, dtype=torch.float64) / D))
    ang = torch.cat((ang, ang), dim=-1)
    return ang.cos(), ang.sin()


def _make(B, H, HKV, TQ, TK, D, layout, gen):
    def one(heads, T):
        if layout == "bthd":  # the generated model's layout: a projection viewed (B, T, H, D), transposed
            return torch.randn(B, T, heads, D, generator=gen, dtype=torch.float64).transpose(1, 2)
        return torch.randn(B, heads, T, D, generator=gen, dtype=torch.float64)

    return one(H, TQ), one(HKV, TK), one(HKV, TK)


def _run(case, dtype):
    B, H, HKV, TQ, TK, D, causal, rope, scale, layout = case
    gen = torch.Generator().manual_seed(zlib.crc32(repr(case).encode()))  # fresh per case, reproducible
    q64, k64, v64 = _make(B, H, HKV, TQ, TK, D, layout, gen)
    do64 = torch.randn(B, H, TQ, D, generator=gen, dtype=torch.float64)
    cos64, sin64 = _tables(max(TQ, TK), D) if rope else (None, None)

    def prepared(dt):
        leaves = [t.to(DEVICE, dt).requires_grad_() for t in (q64, k64, v64)]
        tables = [t.to(DEVICE, torch.float32 if dt != torch.float64 else dt) if rope else None
                  for t in (cos64, sin64)]
        return leaves, tables

    (q, k, v), (cos, sin) = prepared(dtype)
    if layout == "bthd":
        assert not q.is_contiguous()  # the kernels read the strided view itself
    out = flash_attention(q, k, v, causal=causal, scale=scale, cos=cos, sin=sin, input_precision="ieee")
    got = [out, *torch.autograd.grad(out, (q, k, v), do64.to(DEVICE, dtype))]

    (q_r, k_r, v_r), (cos_r, sin_r) = prepared(torch.float64)
    ref = attention_reference(q_r, k_r, v_r, causal, scale, cos_r, sin_r)
    want = [ref, *torch.autograd.grad(ref, (q_r, k_r, v_r), do64.to(DEVICE))]

    same = [None] * 4
    if dtype != torch.float32:
        (q_p, k_p, v_p), (cos_p, sin_p) = prepared(dtype)
        pt = attention_reference(q_p, k_p, v_p, causal, scale,
                                 None if cos_p is None else cos_p.to(dtype), None if sin_p is None else sin_p.to(dtype))
        same = [pt, *torch.autograd.grad(pt, (q_p, k_p, v_p), do64.to(DEVICE, dtype))]
    for name, g, w, s in zip(("out", "dq", "dk", "dv"), got, want, same, strict=True):
        check(name, g, w, s)


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_attention_matches_reference(case, dtype):
    _run(case, dtype)


def test_causal_output_ignores_future_keys():
    """A causal query's output must not change when later keys and values change (the mask really masks)."""
    gen = torch.Generator().manual_seed(7)
    q, k, v = (torch.randn(1, 2, 21, 16, generator=gen).to(DEVICE) for _ in range(3))
    k2, v2 = k.clone(), v.clone()
    k2[:, :, 12:], v2[:, :, 12:] = 5.0, -5.0
    a = flash_attention(q, k, v, causal=True)
    b = flash_attention(q, k2, v2, causal=True)
    assert torch.equal(a[:, :, :12], b[:, :, :12])
    assert not torch.allclose(a[:, :, 12:], b[:, :, 12:])


def test_saves_no_score_matrix():
    """The forward keeps q, k, v, the output, the fp32 log-sum-exp per row (and RoPE tables): nothing T x T."""
    q, k, v = (torch.randn(1, 2, 40, 16, device=DEVICE, requires_grad=True) for _ in range(3))
    out = flash_attention(q, k, v, causal=True)
    saved = out.grad_fn.saved_tensors
    assert out.grad_fn.__class__.__name__ == FlashAttention.__name__ + "Backward"
    assert max(t.numel() for t in saved if t is not None) == 1 * 2 * 40 * 16
    lse = [t for t in saved if t is not None and t.shape == (1, 2, 40)]
    assert lse and lse[0].dtype == torch.float32


@pytest.mark.parametrize(
    "shapes, kw, words",
    [
        (((1, 3, 4, 16), (1, 2, 4, 16), (1, 2, 4, 16)), {}, "multiple"),
        (((1, 2, 4, 300), (1, 2, 4, 300), (1, 2, 4, 300)), {}, "256"),
        (((1, 2, 4, 15), (1, 2, 4, 15), (1, 2, 4, 15)), {"rope": True}, "odd"),
        (((1, 2, 4, 16), (1, 2, 4, 8), (1, 2, 4, 16)), {}, "expected"),
    ],
)
def test_bad_shapes_are_refused_before_launch(shapes, kw, words):
    q, k, v = (torch.zeros(s) for s in shapes)
    extra = {}
    if kw.get("rope"):
        extra = {"cos": torch.zeros(4, q.shape[-1]), "sin": torch.zeros(4, q.shape[-1])}
    with pytest.raises(ValueError, match=words):
        flash_attention(q, k, v, **extra)


def test_flop_count():
    # B=4, H=32, S=4096, D=128 causal: 4*B*H*S^2*D/2 forward, x2.5 backward (the benchmark's count)
    fwd = attention_flops(4, 32, 4096, 4096, 128, causal=True)
    assert fwd == 4 * 4 * 32 * 4096**2 * 128 / 2
    assert attention_flops(4, 32, 4096, 4096, 128, causal=True, backward=True) == 2.5 * fwd
    assert math.isclose(attention_flops(1, 1, 8, 8, 8, causal=False), 4 * 8 * 8 * 8)


def test_mixed_dtypes_are_refused():
    q = torch.zeros(1, 2, 4, 16)
    with pytest.raises(ValueError, match="dtype"):
        flash_attention(q, q.double(), q)
