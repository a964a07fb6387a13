"""Gated activations of a GLU feed-forward, fused: out = act(gate) * up, forward and backward.

Noam Shazeer, "GLU Variants Improve Transformer", 2020, arXiv:2002.05202: SwiGLU is act = silu
(Ramachandran et al. 2017, arXiv:1710.05941), GeGLU act = gelu (Hendrycks and Gimpel 2016, arXiv:1606.08415),
exact (erf) or its tanh approximation. Eager PyTorch keeps act(gate) alive for the backward; here the backward
reads only gate and up and recomputes act(gate) in registers (Liger-Kernel's trick), so one tensor of the hidden
width per token is never stored, and the forward and the backward are one memory pass each.

gate and up are (..., N) tensors with the last axis contiguous and any row stride, so the two halves of one
fused gate/up projection (`torch.chunk` views) are read in place. This file imports only torch, triton and
math, so a generated model file can carry it verbatim.
"""

import math

import torch
import triton
import triton.language as tl

ACTIVATIONS = ("silu", "gelu", "gelu_tanh")
# globals a kernel reads must be tl.constexpr on a GPU (the interpreter would accept plain floats)
_SQRT_2_OVER_PI = tl.constexpr(math.sqrt(2.0 / math.pi))
_INV_SQRT_2 = tl.constexpr(1.0 / math.sqrt(2.0))
_INV_SQRT_2PI = tl.constexpr(1.0 / math.sqrt(2.0 * math.pi))


# ----------------------------------------------------------------------------------------------------------
# jit helpers
# ----------------------------------------------------------------------------------------------------------


@triton.jit
def _act_and_grad(g, ACT: tl.constexpr):
    """act(g) and act'(g) in fp32."""
    if ACT == "silu":
        s = tl.sigmoid(g)
        a = g * s
        da = s * (1.0 + g * (1.0 - s))
    elif ACT == "gelu":
        cdf = 0.5 * (1.0 + tl.math.erf(g * _INV_SQRT_2))
        a = g * cdf
        da = cdf + g * tl.exp(-0.5 * g * g) * _INV_SQRT_2PI
    else:  # gelu_tanh: 0.5 g (1 + tanh(u)), u = sqrt(2/pi) (g + 0.044715 g^3); tanh(u) = 2 sigmoid(2u) - 1
        u = _SQRT_2_OVER_PI * (g + 0.044715 * g * g * g)
        # tanh is +-1 in fp32 beyond |u| = 9.01; clamping keeps exp(-2u) finite (no overflow) and changes nothing
        u = tl.minimum(tl.maximum(u, -20.0), 20.0)
        t = 2.0 * tl.sigmoid(2.0 * u) - 1.0
        a = 0.5 * g * (1.0 + t)
        da = 0.5 * (1.0 + t) + 0.5 * g * (1.0 - t * t) * _SQRT_2_OVER_PI * (1.0 + 3.0 * 0.044715 * g * g)
    return a, da


# ----------------------------------------------------------------------------------------------------------
# kernels
# ----------------------------------------------------------------------------------------------------------


@triton.jit
def _glu_fwd(G, U, OUT, stride_g, stride_u, stride_o, N, ACT: tl.constexpr, BLOCK: tl.constexpr):
    """out = act(gate) * up for BLOCK columns of one row. Grid (rows, cdiv(N, BLOCK))."""
    row = tl.program_id(0).to(tl.int64)
    cols = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    mask = cols < N
    g = tl.load(G + row * stride_g + cols, mask=mask, other=0.0).to(tl.float32)
    u = tl.load(U + row * stride_u + cols, mask=mask, other=0.0).to(tl.float32)
    a, _ = _act_and_grad(g, ACT)
    tl.store(OUT + row * stride_o + cols, (a * u).to(OUT.dtype.element_ty), mask=mask)


@triton.jit
def _glu_bwd(G, U, DO, DG, DU, stride_g, stride_u, stride_do, stride_dg, stride_du, N,
             ACT: tl.constexpr, BLOCK: tl.constexpr):
    """d gate = dout * up * act'(gate), d up = dout * act(gate), act recomputed. Grid (rows, cdiv(N, BLOCK))."""
    row = tl.program_id(0).to(tl.int64)
    cols = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    mask = cols < N
    g = tl.load(G + row * stride_g + cols, mask=mask, other=0.0).to(tl.float32)
    u = tl.load(U + row * stride_u + cols, mask=mask, other=0.0).to(tl.float32)
    do = tl.load(DO + row * stride_do + cols, mask=mask, other=0.0).to(tl.float32)
    a, da = _act_and_grad(g, ACT)
    tl.store(DG + row * stride_dg + cols, (do * u * da).to(DG.dtype.element_ty), mask=mask)
    tl.store(DU + row * stride_du + cols, (do * a).to(DU.dtype.element_ty), mask=mask)


# ----------------------------------------------------------------------------------------------------------
# launchers
# ----------------------------------------------------------------------------------------------------------


def _glu_rows(t: torch.Tensor) -> torch.Tensor:
    """(..., N) -> (M, N) with unit column stride, a view when the layout allows."""
    t2 = t.reshape(-1, t.shape[-1]) if t.dim() != 2 else t
    return t2 if t2.stride(-1) == 1 else t2.contiguous()


def _glu_block(n: int, on_gpu: bool) -> int:
    # GPU: 1024 fp32 lanes per program (4 warps, 8 elements each) keeps loads 16-byte wide; the interpreter
    # pays per program, so one program covers a whole (small) row there
    return min(1024, triton.next_power_of_2(n)) if on_gpu else triton.next_power_of_2(n)


def _glu_forward(gate, up, act):
    g, u = _glu_rows(gate), _glu_rows(up)
    M, N = g.shape
    out = torch.empty((M, N), device=g.device, dtype=g.dtype)
    block = _glu_block(N, g.is_cuda)
    _glu_fwd[(M, triton.cdiv(N, block))](g, u, out, g.stride(0), u.stride(0), out.stride(0), N, ACT=act,
                                         BLOCK=block)
    return out.view(gate.shape)


def _glu_backward(dout, gate, up, act):
    g, u, do = _glu_rows(gate), _glu_rows(up), _glu_rows(dout)
    M, N = g.shape
    dg = torch.empty((M, N), device=g.device, dtype=g.dtype)
    du = torch.empty((M, N), device=u.device, dtype=u.dtype)
    block = _glu_block(N, g.is_cuda)
    _glu_bwd[(M, triton.cdiv(N, block))](g, u, do, dg, du, g.stride(0), u.stride(0), do.stride(0), dg.stride(0),
                                         du.stride(0), N, ACT=act, BLOCK=block)
    return dg.view(gate.shape), du.view(up.shape)


# ----------------------------------------------------------------------------------------------------------
# autograd Function
# ----------------------------------------------------------------------------------------------------------


class GatedActivation(torch.autograd.Function):
    """act(gate) * up saving gate and up only."""

    @staticmethod
    def forward(ctx, gate, up, act):
        ctx.save_for_backward(gate, up)
        ctx.act = act
        return _glu_forward(gate, up, act)

    @staticmethod
    def backward(ctx, dout):
        gate, up = ctx.saved_tensors
        dg, du = _glu_backward(dout, gate, up, ctx.act)
        return dg, du, None


def _apply(gate, up, act):
    if gate.shape != up.shape:
        raise ValueError(f"gate {tuple(gate.shape)} and up {tuple(up.shape)} differ")
    if act not in ACTIVATIONS:
        raise ValueError(f"activation {act!r}: one of {', '.join(ACTIVATIONS)}")
    return GatedActivation.apply(gate, up, act)


def swiglu(gate: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
    """silu(gate) * up."""
    return _apply(gate, up, "silu")


def geglu(gate: torch.Tensor, up: torch.Tensor, approximate: str = "none") -> torch.Tensor:
    """gelu(gate) * up; approximate="tanh" is GPT-2's gelu_new, as in F.gelu."""
    return _apply(gate, up, "gelu_tanh" if approximate == "tanh" else "gelu")


# ----------------------------------------------------------------------------------------------------------
# reference and FLOP count
# ----------------------------------------------------------------------------------------------------------


def gated_reference(gate: torch.Tensor, up: torch.Tensor, act: str = "silu") -> torch.Tensor:
    """Plain PyTorch: the eager module's act(gate) * up."""
    fn = {"silu": torch.nn.functional.silu, "gelu": torch.nn.functional.gelu,
          "gelu_tanh": lambda x: torch.nn.functional.gelu(x, approximate="tanh")}[act]
    return fn(gate) * up


def glu_bytes(M: int, N: int, element_size: int, backward: bool = False) -> int:
    """Bytes moved: the forward reads gate, up and writes out; the backward reads gate, up, dout, writes two."""
    return (5 if backward else 3) * M * N * element_size


def swiglu_ffn_flops(T: int, d: int, ffn: int, backward: bool = False) -> float:
    """The three projections of a SwiGLU FFN (gate, up: d -> ffn; down: ffn -> d), 2 FLOPs per MAC; the
    backward twice the forward (input and weight gradients). The elementwise part is negligible."""
    fwd = 2.0 * T * d * ffn * 3
    return fwd * (2.0 if backward else 1.0)
