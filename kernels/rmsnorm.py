"""RMSNorm, forward and backward: y = x / sqrt(mean(x^2) + eps) * weight.

Biao Zhang and Rico Sennrich, "Root Mean Square Layer Normalization", 2019, arXiv:1910.07467. One program
normalises one row in fp32 and saves its 1/rms. The backward runs a fixed number of programs (a few per SM),
each taking rows start, start + P, ... : it writes dx row by row and accumulates its share of d weight in
registers, then stores one partial row; a second reduction sums the P partial rows. No atomics, so no
contention and a deterministic sum (the scheme of Triton's layer-norm tutorial and Liger-Kernel).

x is (..., N) with the last axis contiguous. This file imports only torch and triton, so a generated
model file can carry it verbatim.
"""

import torch
import triton
import triton.language as tl

# ----------------------------------------------------------------------------------------------------------
# kernels
# ----------------------------------------------------------------------------------------------------------


@triton.jit
def _rmsnorm_fwd(X, W, Y, RSTD, stride_x, stride_y, N, eps, AFFINE: tl.constexpr, BLOCK: tl.constexpr):
    """One row: rstd = 1 / sqrt(mean(x^2) + eps), y = x * rstd * w. Grid (rows,)."""
    row = tl.program_id(0).to(tl.int64)
    cols = tl.arange(0, BLOCK)
    mask = cols < N
    x = tl.load(X + row * stride_x + cols, mask=mask, other=0.0).to(tl.float32)
    rstd = 1.0 / tl.sqrt(tl.sum(x * x, axis=0) / N + eps)
    y = x * rstd
    if AFFINE:
        y = y * tl.load(W + cols, mask=mask, other=0.0).to(tl.float32)
    tl.store(RSTD + row, rstd)
    tl.store(Y + row * stride_y + cols, y.to(Y.dtype.element_ty), mask=mask)


@triton.jit
def _rmsnorm_bwd(X, W, DY, DX, RSTD, DW_PARTIAL, stride_x, stride_dy, stride_dx, M, N,
                 AFFINE: tl.constexpr, BLOCK: tl.constexpr):
    """Rows pid, pid + P, ...: dx = rstd * (dy*w - xhat * mean(dy*w * xhat)); partial dw = sum dy * xhat."""
    pid = tl.program_id(0)
    n_prog = tl.num_programs(0)
    cols = tl.arange(0, BLOCK)
    mask = cols < N
    if AFFINE:
        w = tl.load(W + cols, mask=mask, other=0.0).to(tl.float32)
    dw = tl.zeros([BLOCK], dtype=tl.float32)
    row = pid.to(tl.int64)  # carried, not the loop variable: int64 offsets, and the interpreter's is an int
    for _ in range(pid, M, n_prog):
        x = tl.load(X + row * stride_x + cols, mask=mask, other=0.0).to(tl.float32)
        dy = tl.load(DY + row * stride_dy + cols, mask=mask, other=0.0).to(tl.float32)
        rstd = tl.load(RSTD + row)
        xhat = x * rstd
        if AFFINE:
            dyw = dy * w
            dw += dy * xhat
        else:
            dyw = dy
        dx = rstd * (dyw - xhat * (tl.sum(dyw * xhat, axis=0) / N))
        tl.store(DX + row * stride_dx + cols, dx.to(DX.dtype.element_ty), mask=mask)
        row += n_prog
    if AFFINE:
        tl.store(DW_PARTIAL + pid * N + cols, dw, mask=mask)


# ----------------------------------------------------------------------------------------------------------
# launchers
# ----------------------------------------------------------------------------------------------------------


def _rms_rows(t: torch.Tensor) -> torch.Tensor:
    t2 = t.reshape(-1, t.shape[-1])
    return t2 if t2.stride(-1) == 1 else t2.contiguous()


def _rms_warps(block: int) -> int:
    # one warp per 256 columns, 1 to 16 warps: 8 fp32 values per thread at most in flight per load
    return max(1, min(16, block // 256))


def _rms_partial_programs(M: int, x: torch.Tensor) -> int:
    """P for the backward: 4 per SM on a GPU (enough rows in flight to fill HBM), 2 in the interpreter
    (which pays per program; 2 still exercises the second reduction)."""
    if x.is_cuda:
        return max(1, min(M, 4 * torch.cuda.get_device_properties(x.device).multi_processor_count))
    return max(1, min(M, 2))


def _rmsnorm_forward(x, weight, eps):
    x2 = _rms_rows(x)
    M, N = x2.shape
    y = torch.empty_like(x2)
    rstd = torch.empty(M, device=x.device, dtype=torch.float32)
    block = triton.next_power_of_2(N)
    affine = weight is not None
    _rmsnorm_fwd[(M,)](x2, weight if affine else x2, y, rstd, x2.stride(0), y.stride(0), N, eps, AFFINE=affine,
                       BLOCK=block, num_warps=_rms_warps(block))
    return y.view(x.shape), rstd


def _rmsnorm_backward(dy, x, weight, rstd):
    x2, dy2 = _rms_rows(x), _rms_rows(dy)
    M, N = x2.shape
    dx = torch.empty_like(x2)
    P = _rms_partial_programs(M, x)
    affine = weight is not None
    partial = torch.empty((P, N), device=x.device, dtype=torch.float32) if affine else rstd
    block = triton.next_power_of_2(N)
    _rmsnorm_bwd[(P,)](x2, weight if affine else x2, dy2, dx, rstd, partial, x2.stride(0), dy2.stride(0),
                       dx.stride(0), M, N, AFFINE=affine, BLOCK=block, num_warps=_rms_warps(block))
    dw = partial.sum(0).to(weight.dtype) if affine else None  # the second reduction: P rows, not M
    return dx.view(x.shape), dw


# ----------------------------------------------------------------------------------------------------------
# autograd Function
# ----------------------------------------------------------------------------------------------------------


class RMSNormFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, eps):
        y, rstd = _rmsnorm_forward(x, weight, eps)
        ctx.save_for_backward(x, weight, rstd)
        return y

    @staticmethod
    def backward(ctx, dy):
        x, weight, rstd = ctx.saved_tensors
        dx, dw = _rmsnorm_backward(dy, x, weight, rstd)
        return dx, dw, None


def rms_norm(x: torch.Tensor, weight: torch.Tensor | None, eps: float = 1e-6) -> torch.Tensor:
    """RMSNorm over the last axis of x; weight (N,) or None (no affine)."""
    if weight is not None and weight.shape != x.shape[-1:]:
        raise ValueError(f"weight {tuple(weight.shape)} does not match the last axis of x {tuple(x.shape)}")
    if x.shape[-1] > 65536:
        raise ValueError(f"row width {x.shape[-1]}: one program holds a row in registers, up to 65536")
    return RMSNormFunction.apply(x, weight, float(eps))


# ----------------------------------------------------------------------------------------------------------
# reference and byte count
# ----------------------------------------------------------------------------------------------------------


def rmsnorm_reference(x: torch.Tensor, weight: torch.Tensor | None, eps: float = 1e-6) -> torch.Tensor:
    y = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)
    return y * weight if weight is not None else y


def rmsnorm_bytes(M: int, N: int, element_size: int, backward: bool = False) -> int:
    """HBM bytes: forward reads x, writes y; backward reads x and dy, writes dx (weights and the P partial
    rows are small next to M rows)."""
    return (3 if backward else 2) * M * N * element_size + 4 * M  # + the fp32 1/rms per row

