"""LayerNorm, forward and backward: y = (x - mean) / sqrt(var + eps) * weight + bias.

Jimmy Lei Ba, Jamie Ryan Kiros and Geoffrey Hinton, "Layer Normalization", 2016, arXiv:1607.06450. One
program normalises one row in fp32 and saves its mean and 1/std. The backward runs a fixed number of programs
(a few per SM), each taking rows start, start + P, ...: it writes dx row by row and accumulates its share of
d weight and d bias in registers, then stores one partial row of each; a second reduction sums the P partial
rows. No atomics, so no contention and a deterministic sum.

x is (..., N) with the last axis contiguous; weight and bias optional (nn.LayerNorm's elementwise_affine and
bias flags). This file imports only torch and triton, so a generated model file can carry it verbatim.
"""

import torch
import triton
import triton.language as tl

# ----------------------------------------------------------------------------------------------------------
# kernels
# ----------------------------------------------------------------------------------------------------------


@triton.jit
def _layernorm_fwd(X, W, B, Y, MEAN, RSTD, stride_x, stride_y, N, eps,
                   AFFINE: tl.constexpr, BIAS: tl.constexpr, BLOCK: tl.constexpr):
    """One row: y = (x - mean) * rstd * w + b, the biased variance as nn.LayerNorm. Grid (rows,)."""
    row = tl.program_id(0).to(tl.int64)
    cols = tl.arange(0, BLOCK)
    mask = cols < N
    x = tl.load(X + row * stride_x + cols, mask=mask, other=0.0).to(tl.float32)
    mean = tl.sum(x, axis=0) / N
    xc = tl.where(mask, x - mean, 0.0)
    rstd = 1.0 / tl.sqrt(tl.sum(xc * xc, axis=0) / N + eps)
    y = xc * rstd
    if AFFINE:
        y = y * tl.load(W + cols, mask=mask, other=0.0).to(tl.float32)
    if BIAS:
        y = y + tl.load(B + cols, mask=mask, other=0.0).to(tl.float32)
    tl.store(MEAN + row, mean)
    tl.store(RSTD + row, rstd)
    tl.store(Y + row * stride_y + cols, y.to(Y.dtype.element_ty), mask=mask)


@triton.jit
def _layernorm_bwd(X, W, DY, DX, MEAN, RSTD, DW_PARTIAL, DB_PARTIAL, stride_x, stride_dy, stride_dx, M, N,
                   AFFINE: tl.constexpr, BIAS: tl.constexpr, BLOCK: tl.constexpr):
    """Rows pid, pid + P, ...: with g = dy * w, dx = rstd * (g - mean(g) - xhat * mean(g * xhat));
    partial dw = sum dy * xhat, partial db = sum dy."""
    pid = tl.program_id(0)
    n_prog = tl.num_programs(0)
    cols = tl.arange(0, BLOCK)
    mask = cols < N
    if AFFINE:
        w = tl.load(W + cols, mask=mask, other=0.0).to(tl.float32)
    dw = tl.zeros([BLOCK], dtype=tl.float32)
    db = tl.zeros([BLOCK], dtype=tl.float32)
    row = pid.to(tl.int64)  # carried, not the loop variable: int64 offsets, and the interpreter's is an int
    for _ in range(pid, M, n_prog):
        x = tl.load(X + row * stride_x + cols, mask=mask, other=0.0).to(tl.float32)
        dy = tl.load(DY + row * stride_dy + cols, mask=mask, other=0.0).to(tl.float32)
        mean = tl.load(MEAN + row)
        rstd = tl.load(RSTD + row)
        xhat = tl.where(mask, (x - mean) * rstd, 0.0)
        if AFFINE:
            g = dy * w
            dw += dy * xhat
        else:
            g = dy
        if BIAS:
            db += dy
        dx = rstd * (g - tl.sum(g, axis=0) / N - xhat * (tl.sum(g * xhat, axis=0) / N))
        tl.store(DX + row * stride_dx + cols, dx.to(DX.dtype.element_ty), mask=mask)
        row += n_prog
    if AFFINE:
        tl.store(DW_PARTIAL + pid * N + cols, dw, mask=mask)
    if BIAS:
        tl.store(DB_PARTIAL + pid * N + cols, db, mask=mask)


# ----------------------------------------------------------------------------------------------------------
# launchers
# ----------------------------------------------------------------------------------------------------------


def _ln_rows(t: torch.Tensor) -> torch.Tensor:
    t2 = t.reshape(-1, t.shape[-1])
    return t2 if t2.stride(-1) == 1 else t2.contiguous()


def _ln_warps(block: int) -> int:
    # one warp per 256 columns, 1 to 16 warps
    return max(1, min(16, block // 256))


def _ln_partial_programs(M: int, x: torch.Tensor) -> int:
    """P for the backward: 4 per SM on a GPU, 2 in the interpreter (which pays per program)."""
    if x.is_cuda:
        return max(1, min(M, 4 * torch.cuda.get_device_properties(x.device).multi_processor_count))
    return max(1, min(M, 2))


def _layernorm_forward(x, weight, bias, eps):
    x2 = _ln_rows(x)
    M, N = x2.shape
    y = torch.empty_like(x2)
    mean = torch.empty(M, device=x.device, dtype=torch.float32)
    rstd = torch.empty(M, device=x.device, dtype=torch.float32)
    block = triton.next_power_of_2(N)
    _layernorm_fwd[(M,)](x2, weight if weight is not None else x2, bias if bias is not None else x2, y, mean,
                         rstd, x2.stride(0), y.stride(0), N, eps, AFFINE=weight is not None,
                         BIAS=bias is not None, BLOCK=block, num_warps=_ln_warps(block))
    return y.view(x.shape), mean, rstd


def _layernorm_backward(dy, x, weight, bias, mean, rstd):
    x2, dy2 = _ln_rows(x), _ln_rows(dy)
    M, N = x2.shape
    dx = torch.empty_like(x2)
    P = _ln_partial_programs(M, x)
    dw_part = torch.empty((P, N), device=x.device, dtype=torch.float32) if weight is not None else rstd
    db_part = torch.empty((P, N), device=x.device, dtype=torch.float32) if bias is not None else rstd
    block = triton.next_power_of_2(N)
    _layernorm_bwd[(P,)](x2, weight if weight is not None else x2, dy2, dx, mean, rstd, dw_part, db_part,
                         x2.stride(0), dy2.stride(0), dx.stride(0), M, N, AFFINE=weight is not None,
                         BIAS=bias is not None, BLOCK=block, num_warps=_ln_warps(block))
    # the second reduction: P partial rows, not M
    dw = dw_part.sum(0).to(weight.dtype) if weight is not None else None
    db = db_part.sum(0).to(bias.dtype) if bias is not None else None
    return dx.view(x.shape), dw, db


# ----------------------------------------------------------------------------------------------------------
# autograd Function
# ----------------------------------------------------------------------------------------------------------


class LayerNormFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, eps):
        y, mean, rstd = _layernorm_forward(x, weight, bias, eps)
        ctx.save_for_backward(x, weight, bias, mean, rstd)
        return y

    @staticmethod
    def backward(ctx, dy):
        x, weight, bias, mean, rstd = ctx.saved_tensors
        dx, dw, db = _layernorm_backward(dy, x, weight, bias, mean, rstd)
        return dx, dw, db, None


def layer_norm(x: torch.Tensor, weight: torch.Tensor | None, bias: torch.Tensor | None,
               eps: float = 1e-5) -> torch.Tensor:
    """LayerNorm over the last axis of x; weight and bias (N,) or None."""
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and t.shape != x.shape[-1:]:
            raise ValueError(f"{name} {tuple(t.shape)} does not match the last axis of x {tuple(x.shape)}")
    if x.shape[-1] > 65536:
        raise ValueError(f"row width {x.shape[-1]}: one program holds a row in registers, up to 65536")
    return LayerNormFunction.apply(x, weight, bias, float(eps))


# ----------------------------------------------------------------------------------------------------------
# reference and byte count
# ----------------------------------------------------------------------------------------------------------


def layernorm_reference(x, weight, bias, eps=1e-5):
    return torch.nn.functional.layer_norm(x, x.shape[-1:], weight, bias, eps)


def layernorm_bytes(M: int, N: int, element_size: int, backward: bool = False) -> int:
    """HBM bytes: forward reads x, writes y; backward reads x and dy, writes dx; + fp32 mean, 1/std per row."""
    return (3 if backward else 2) * M * N * element_size + 8 * M
