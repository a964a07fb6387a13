"""Fused attention, forward and backward: the FlashAttention-2 algorithm.

Tri Dao, "FlashAttention-2: Faster Attention with Better Parallelism and Work Partitioning", 2023,
arXiv:2307.08691 (Algorithms 1 and 2). The forward streams K/V blocks past a block of queries with an online
softmax (running max m, running sum l, rescaled accumulator), so no T x T matrix is ever in memory, and saves
only the per-row log-sum-exp. The backward recomputes the probabilities block by block from that log-sum-exp:
one kernel per K/V block accumulates dK and dV over every query (and every query head of its group), one
kernel per query block accumulates dQ, after a preprocess that computes delta = rowsum(dO * O).

Supported: causal (query i sees keys j <= i, PyTorch's `is_causal`) or not; multi-head, grouped-query and
multi-query attention (query head h reads K/V head h // (H / H_kv) by index: K/V are never repeated in
memory); head dims 16..256, also ones that are not powers of two (the head dim is padded to the next power of
two and masked); any sequence length (the last block is masked); an explicit scale; an optional RoPE rotation
of Q and K inside the kernels (the rotate-half layout: pairs (i, i + D/2), cos/sin tables of shape (T, D)),
whose backward is applied to dQ and dK in the same kernels.

Layout: q (B, H, Tq, D), k and v (B, H_kv, Tk, D), any strides with the last axis contiguous (the transposed
views of a (B, T, H, D) projection work without a copy); the output is (B, H, Tq, D) stored as (B, Tq, H, D)
so that the usual `.transpose(1, 2).reshape(B, T, H * D)` after attention is free.

The scores are kept in base 2: q.k * scale * log2(e), so exp2 replaces exp, and the log-sum-exp is saved in
that unit. This file imports only torch, triton and math, so a generated model file can carry it verbatim.
"""

import math

import torch
import triton
import triton.language as tl

LOG2E = 1.4426950408889634  # log2(e): exp(x) = exp2(x * log2(e))


# ----------------------------------------------------------------------------------------------------------
# jit helpers
# ----------------------------------------------------------------------------------------------------------


@triton.jit
def _dim_offsets(HEAD_DIM: tl.constexpr, D_PAD: tl.constexpr, SPLIT: tl.constexpr):
    """Column of the head dim held in each of the D_PAD register lanes, and whether that lane is real.

    SPLIT (with RoPE) pads each half separately: lanes [0, D_PAD/2) hold columns [0, D/2) and lanes
    [D_PAD/2, D_PAD) hold columns [D/2, D), so the rotate-half partner of a lane is the lane D_PAD/2 away and
    the rotation is a swap of register halves. A dot product over the head dim does not depend on the order of
    its terms, so q, k, v, o and the gradients only have to share the mapping.
    """
    p = tl.arange(0, D_PAD)
    if SPLIT:
        in_first = p < D_PAD // 2
        col = tl.where(in_first, p, p - D_PAD // 2 + HEAD_DIM // 2)
        valid = tl.where(in_first, p, p - D_PAD // 2) < HEAD_DIM // 2
    else:
        col = p
        valid = p < HEAD_DIM
    return col, valid


@triton.jit
def _partner_cols(HEAD_DIM: tl.constexpr, D_PAD: tl.constexpr):
    """With SPLIT, the column held by the lane D_PAD/2 away: swap(x) read straight from memory, so the tiles
    rotated inside the loops need no register shuffle (on a GPU one goes through shared memory)."""
    p = tl.arange(0, D_PAD)
    return tl.where(p < D_PAD // 2, p + HEAD_DIM // 2, p - D_PAD // 2)


@triton.jit
def _swap_halves(x, ROWS: tl.constexpr, D_PAD: tl.constexpr):
    """[x1, x2] -> [x2, x1] along the last axis, in registers."""
    x3 = tl.permute(tl.reshape(x, (ROWS, 2, D_PAD // 2)), (0, 2, 1))
    a, b = tl.split(x3)
    return tl.reshape(tl.permute(tl.join(b, a), (0, 2, 1)), (ROWS, D_PAD))


@triton.jit
def _half_sign(D_PAD: tl.constexpr):
    """-1 on the first half of the lanes, +1 on the second: rotate_half(x) = sign * swap(x)."""
    p = tl.arange(0, D_PAD)
    return tl.where(p < D_PAD // 2, -1.0, 1.0)


@triton.jit
def _load_tile(base, rows, n_rows, stride_row, col, valid, COS, SIN, stride_cs,
               HEAD_DIM: tl.constexpr, D_PAD: tl.constexpr, ROPE: tl.constexpr):
    """A (ROWS, D_PAD) tile of q or k, zero outside the tensor, rotated by RoPE when ROPE is set."""
    mask = (rows[:, None] < n_rows) & valid[None, :]
    x = tl.load(base + rows[:, None] * stride_row + col[None, :], mask=mask, other=0.0)
    if ROPE:
        cs = rows[:, None] * stride_cs + col[None, :]
        cos = tl.load(COS + cs, mask=mask, other=0.0).to(tl.float32)
        sin = tl.load(SIN + cs, mask=mask, other=0.0).to(tl.float32)
        partner = _partner_cols(HEAD_DIM, D_PAD)
        xp = tl.load(base + rows[:, None] * stride_row + partner[None, :], mask=mask, other=0.0)
        rot = _half_sign(D_PAD)[None, :] * xp.to(tl.float32)  # rotate_half(x) = sign * swap(x)
        x = (x.to(tl.float32) * cos + rot * sin).to(x.dtype)
    return x


@triton.jit
def _rope_backward(g, rows, n_rows, col, valid, COS, SIN, stride_cs, ROWS: tl.constexpr, D_PAD: tl.constexpr):
    """Gradient through x_rot = x * cos + rotate_half(x) * sin: dx = g * cos + rotate_half^T(g * sin).

    rotate_half(x) = sign * swap(x) and swap is its own transpose, so rotate_half^T(y) = swap(sign * y)
    = -sign * swap(y).
    """
    mask = (rows[:, None] < n_rows) & valid[None, :]
    cs = rows[:, None] * stride_cs + col[None, :]
    cos = tl.load(COS + cs, mask=mask, other=0.0).to(tl.float32)
    sin = tl.load(SIN + cs, mask=mask, other=0.0).to(tl.float32)
    return g * cos - _half_sign(D_PAD)[None, :] * _swap_halves(g * sin, ROWS, D_PAD)


@triton.jit
def _fwd_inner(acc, l_i, m_i, q, K_base, V_base, offs_m, lo, hi, TK, stride_kt, stride_vt, col, valid,
               COS, SIN, stride_cs, qk_scale,
               BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, HEAD_DIM: tl.constexpr, D_PAD: tl.constexpr,
               CAUSAL: tl.constexpr, MASK: tl.constexpr, ROPE: tl.constexpr, IP: tl.constexpr):
    """Online softmax over the key blocks [lo, hi); MASK applies the causal and key-length masks."""
    for start_n in range(lo, hi, BLOCK_N):
        offs_n = start_n + tl.arange(0, BLOCK_N)
        k = _load_tile(K_base, offs_n, TK, stride_kt, col, valid, COS, SIN, stride_cs, HEAD_DIM, D_PAD, ROPE)
        v_mask = (offs_n[:, None] < TK) & valid[None, :]
        v = tl.load(V_base + offs_n[:, None] * stride_vt + col[None, :], mask=v_mask, other=0.0)
        qk = tl.dot(q, tl.trans(k), input_precision=IP) * qk_scale
        if MASK:
            keep = offs_n[None, :] < TK
            if CAUSAL:
                keep = keep & (offs_m[:, None] >= offs_n[None, :])
            qk = tl.where(keep, qk, float("-inf"))
        # every row of a block sees at least one key before its first fully masked block (see _attn_fwd),
        # so m_new is finite and exp2(-inf - m_new) is a clean 0
        m_new = tl.maximum(m_i, tl.max(qk, 1))
        p = tl.math.exp2(qk - m_new[:, None])
        alpha = tl.math.exp2(m_i - m_new)
        l_i = l_i * alpha + tl.sum(p, 1)
        acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v, input_precision=IP)
        m_i = m_new
    return acc, l_i, m_i


# ----------------------------------------------------------------------------------------------------------
# kernels
# ----------------------------------------------------------------------------------------------------------


@triton.jit
def _attn_fwd(Q, K, V, Out, LSE, COS, SIN,
              stride_qb, stride_qh, stride_qt, stride_kb, stride_kh, stride_kt,
              stride_vb, stride_vh, stride_vt, stride_ob, stride_oh, stride_ot, stride_cs,
              H, GROUP, TQ, TK, qk_scale,
              HEAD_DIM: tl.constexpr, D_PAD: tl.constexpr, CAUSAL: tl.constexpr, ROPE: tl.constexpr,
              IP: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):
    """One program: BLOCK_M queries of one (batch, head), all their keys. Grid (cdiv(TQ, BLOCK_M), B * H)."""
    # causal: the last query blocks see the most keys; launching them first shortens the tail of the grid
    start_m = tl.num_programs(0) - 1 - tl.program_id(0) if CAUSAL else tl.program_id(0)
    bh = tl.program_id(1)
    b = (bh // H).to(tl.int64)
    h = bh % H
    hk = (h // GROUP).to(tl.int64)
    h = h.to(tl.int64)
    col, valid = _dim_offsets(HEAD_DIM, D_PAD, ROPE)
    offs_m = start_m * BLOCK_M + tl.arange(0, BLOCK_M)

    q = _load_tile(Q + b * stride_qb + h * stride_qh, offs_m, TQ, stride_qt, col, valid, COS, SIN, stride_cs,
                   HEAD_DIM, D_PAD, ROPE)
    K_base = K + b * stride_kb + hk * stride_kh
    V_base = V + b * stride_vb + hk * stride_vh
    m_i = tl.full([BLOCK_M], float("-inf"), dtype=tl.float32)
    l_i = tl.zeros([BLOCK_M], dtype=tl.float32)
    acc = tl.zeros([BLOCK_M, D_PAD], dtype=tl.float32)

    # Key blocks below full_hi need no mask: all their keys exist and (causal) precede every query of the
    # block. BLOCK_M is a multiple of BLOCK_N, so full_hi is a block boundary, and the first masked block
    # starts at or before this block's first query, so every row sees a key in it.
    if CAUSAL:
        hi = tl.minimum(TK, (start_m + 1) * BLOCK_M)
        full_hi = tl.minimum(start_m * BLOCK_M, (TK // BLOCK_N) * BLOCK_N)
    else:
        hi = TK
        full_hi = (TK // BLOCK_N) * BLOCK_N
    acc, l_i, m_i = _fwd_inner(acc, l_i, m_i, q, K_base, V_base, offs_m, 0, full_hi, TK, stride_kt, stride_vt,
                               col, valid, COS, SIN, stride_cs, qk_scale,
                               BLOCK_M, BLOCK_N, HEAD_DIM, D_PAD, CAUSAL, False, ROPE, IP)
    acc, l_i, m_i = _fwd_inner(acc, l_i, m_i, q, K_base, V_base, offs_m, full_hi, hi, TK, stride_kt, stride_vt,
                               col, valid, COS, SIN, stride_cs, qk_scale,
                               BLOCK_M, BLOCK_N, HEAD_DIM, D_PAD, CAUSAL, True, ROPE, IP)

    o = acc / l_i[:, None]
    row_ok = offs_m < TQ
    tl.store(LSE + bh.to(tl.int64) * TQ + offs_m, m_i + tl.math.log2(l_i), mask=row_ok)
    O_base = Out + b * stride_ob + h * stride_oh
    tl.store(O_base + offs_m[:, None] * stride_ot + col[None, :], o.to(Out.dtype.element_ty),
             mask=row_ok[:, None] & valid[None, :])


@triton.jit
def _attn_bwd_preprocess(Out, DO, DELTA, stride_ob, stride_oh, stride_ot, stride_dob, stride_doh, stride_dot,
                         H, TQ, HEAD_DIM: tl.constexpr, D_PAD: tl.constexpr, BLOCK_M: tl.constexpr):
    """delta_i = sum_d O[i, d] * dO[i, d] (FlashAttention-2 Algorithm 2, line 4). Grid (cdiv(TQ, BLOCK_M), B*H)."""
    start_m = tl.program_id(0)
    bh = tl.program_id(1)
    b = (bh // H).to(tl.int64)
    h = (bh % H).to(tl.int64)
    offs_m = start_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, D_PAD)
    mask = (offs_m[:, None] < TQ) & (offs_d[None, :] < HEAD_DIM)
    o = tl.load(Out + b * stride_ob + h * stride_oh + offs_m[:, None] * stride_ot + offs_d[None, :], mask=mask,
                other=0.0)
    do = tl.load(DO + b * stride_dob + h * stride_doh + offs_m[:, None] * stride_dot + offs_d[None, :],
                 mask=mask, other=0.0)
    delta = tl.sum(o.to(tl.float32) * do.to(tl.float32), axis=1)
    tl.store(DELTA + bh.to(tl.int64) * TQ + offs_m, delta, mask=offs_m < TQ)


@triton.jit
def _bwd_dkdv_inner(dk, dv, k, v, Q_base, DO_base, LSE_base, DELTA_base, offs_n, lo, hi, TQ,
                    stride_qt, stride_dot, col, valid, COS, SIN, stride_cs, qk_scale,
                    BLOCK_M: tl.constexpr, HEAD_DIM: tl.constexpr, D_PAD: tl.constexpr, MASK: tl.constexpr,
                    ROPE: tl.constexpr, IP: tl.constexpr):
    """Accumulate dK, dV of one key block over the query blocks [lo, hi); MASK applies the causal mask.

    Query rows past TQ load as q = dO = 0, delta = 0 and lse = +inf, so their p is 0 and they add nothing.
    """
    for start_m in range(lo, hi, BLOCK_M):
        offs_m = start_m + tl.arange(0, BLOCK_M)
        row_ok = offs_m < TQ
        q = _load_tile(Q_base, offs_m, TQ, stride_qt, col, valid, COS, SIN, stride_cs, HEAD_DIM, D_PAD, ROPE)
        do = tl.load(DO_base + offs_m[:, None] * stride_dot + col[None, :],
                     mask=row_ok[:, None] & valid[None, :], other=0.0)
        lse = tl.load(LSE_base + offs_m, mask=row_ok, other=float("inf"))
        delta = tl.load(DELTA_base + offs_m, mask=row_ok, other=0.0)
        qkT = tl.dot(k, tl.trans(q), input_precision=IP) * qk_scale  # (BLOCK_N, BLOCK_M)
        pT = tl.math.exp2(qkT - lse[None, :])
        if MASK:
            pT = tl.where(offs_m[None, :] >= offs_n[:, None], pT, 0.0)
        dv += tl.dot(pT.to(do.dtype), do, input_precision=IP)
        dpT = tl.dot(v, tl.trans(do), input_precision=IP)
        dsT = pT * (dpT - delta[None, :])
        dk += tl.dot(dsT.to(q.dtype), q, input_precision=IP)
    return dk, dv


@triton.jit
def _attn_bwd_dkdv(Q, K, V, DO, LSE, DELTA, DK, DV, COS, SIN,
                   stride_qb, stride_qh, stride_qt, stride_kb, stride_kh, stride_kt,
                   stride_vb, stride_vh, stride_vt, stride_dob, stride_doh, stride_dot,
                   stride_dkb, stride_dkh, stride_dkt, stride_dvb, stride_dvh, stride_dvt, stride_cs,
                   H, HKV, GROUP, TQ, TK, sm_scale, qk_scale,
                   HEAD_DIM: tl.constexpr, D_PAD: tl.constexpr, CAUSAL: tl.constexpr, ROPE: tl.constexpr,
                   IP: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):
    """One program: BLOCK_N keys of one (batch, K/V head), every query of every query head that reads them
    (GROUP heads with GQA), so dK and dV are summed over the group in registers, without atomics.
    Grid (cdiv(TK, BLOCK_N), B * HKV)."""
    start_n = tl.program_id(0)
    bhk = tl.program_id(1)
    b = (bhk // HKV).to(tl.int64)
    hk = (bhk % HKV).to(tl.int64)
    col, valid = _dim_offsets(HEAD_DIM, D_PAD, ROPE)
    offs_n = start_n * BLOCK_N + tl.arange(0, BLOCK_N)
    kv_mask = (offs_n[:, None] < TK) & valid[None, :]
    k = _load_tile(K + b * stride_kb + hk * stride_kh, offs_n, TK, stride_kt, col, valid, COS, SIN, stride_cs,
                   HEAD_DIM, D_PAD, ROPE)
    v = tl.load(V + b * stride_vb + hk * stride_vh + offs_n[:, None] * stride_vt + col[None, :], mask=kv_mask,
                other=0.0)
    dk = tl.zeros([BLOCK_N, D_PAD], dtype=tl.float32)
    dv = tl.zeros([BLOCK_N, D_PAD], dtype=tl.float32)

    # causal: query blocks before lo see none of these keys; from mid on they see all of them
    if CAUSAL:
        lo = (start_n * BLOCK_N // BLOCK_M) * BLOCK_M
        mid = tl.cdiv((start_n + 1) * BLOCK_N, BLOCK_M) * BLOCK_M
    else:
        lo = 0
        mid = 0
    for g in range(0, GROUP):
        h = hk * GROUP + g
        Q_base = Q + b * stride_qb + h * stride_qh
        DO_base = DO + b * stride_dob + h * stride_doh
        row0 = (b * H + h) * TQ
        dk, dv = _bwd_dkdv_inner(dk, dv, k, v, Q_base, DO_base, LSE + row0, DELTA + row0, offs_n,
                                 lo, tl.minimum(mid, TQ), TQ, stride_qt, stride_dot, col, valid, COS, SIN,
                                 stride_cs, qk_scale, BLOCK_M, HEAD_DIM, D_PAD, True, ROPE, IP)
        dk, dv = _bwd_dkdv_inner(dk, dv, k, v, Q_base, DO_base, LSE + row0, DELTA + row0, offs_n,
                                 mid, TQ, TQ, stride_qt, stride_dot, col, valid, COS, SIN,
                                 stride_cs, qk_scale, BLOCK_M, HEAD_DIM, D_PAD, False, ROPE, IP)

    dk = dk * sm_scale
    if ROPE:
        dk = _rope_backward(dk, offs_n, TK, col, valid, COS, SIN, stride_cs, BLOCK_N, D_PAD)
    tl.store(DK + b * stride_dkb + hk * stride_dkh + offs_n[:, None] * stride_dkt + col[None, :],
             dk.to(DK.dtype.element_ty), mask=kv_mask)
    tl.store(DV + b * stride_dvb + hk * stride_dvh + offs_n[:, None] * stride_dvt + col[None, :],
             dv.to(DV.dtype.element_ty), mask=kv_mask)


@triton.jit
def _bwd_dq_inner(dq, q, do, lse, delta, K_base, V_base, offs_m, lo, hi, TK, stride_kt, stride_vt, col, valid,
                  COS, SIN, stride_cs, qk_scale,
                  BLOCK_N: tl.constexpr, HEAD_DIM: tl.constexpr, D_PAD: tl.constexpr, CAUSAL: tl.constexpr,
                  MASK: tl.constexpr, ROPE: tl.constexpr, IP: tl.constexpr):
    """Accumulate dQ of one query block over the key blocks [lo, hi); MASK applies causal and key-length masks."""
    for start_n in range(lo, hi, BLOCK_N):
        offs_n = start_n + tl.arange(0, BLOCK_N)
        k = _load_tile(K_base, offs_n, TK, stride_kt, col, valid, COS, SIN, stride_cs, HEAD_DIM, D_PAD, ROPE)
        v = tl.load(V_base + offs_n[:, None] * stride_vt + col[None, :],
                    mask=(offs_n[:, None] < TK) & valid[None, :], other=0.0)
        qk = tl.dot(q, tl.trans(k), input_precision=IP) * qk_scale
        p = tl.math.exp2(qk - lse[:, None])
        if MASK:
            keep = offs_n[None, :] < TK
            if CAUSAL:
                keep = keep & (offs_m[:, None] >= offs_n[None, :])
            p = tl.where(keep, p, 0.0)
        dp = tl.dot(do, tl.trans(v), input_precision=IP)
        ds = p * (dp - delta[:, None])
        dq += tl.dot(ds.to(k.dtype), k, input_precision=IP)
    return dq


@triton.jit
def _attn_bwd_dq(Q, K, V, DO, LSE, DELTA, DQ, COS, SIN,
                 stride_qb, stride_qh, stride_qt, stride_kb, stride_kh, stride_kt,
                 stride_vb, stride_vh, stride_vt, stride_dob, stride_doh, stride_dot,
                 stride_dqb, stride_dqh, stride_dqt, stride_cs,
                 H, GROUP, TQ, TK, sm_scale, qk_scale,
                 HEAD_DIM: tl.constexpr, D_PAD: tl.constexpr, CAUSAL: tl.constexpr, ROPE: tl.constexpr,
                 IP: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):
    """One program: dQ of BLOCK_M queries of one (batch, head). Grid (cdiv(TQ, BLOCK_M), B * H)."""
    # causal: the last query blocks see the most keys; launching them first shortens the tail of the grid
    start_m = tl.num_programs(0) - 1 - tl.program_id(0) if CAUSAL else tl.program_id(0)
    bh = tl.program_id(1)
    b = (bh // H).to(tl.int64)
    h = bh % H
    hk = (h // GROUP).to(tl.int64)
    h = h.to(tl.int64)
    col, valid = _dim_offsets(HEAD_DIM, D_PAD, ROPE)
    offs_m = start_m * BLOCK_M + tl.arange(0, BLOCK_M)
    row_ok = offs_m < TQ
    q = _load_tile(Q + b * stride_qb + h * stride_qh, offs_m, TQ, stride_qt, col, valid, COS, SIN, stride_cs,
                   HEAD_DIM, D_PAD, ROPE)
    do = tl.load(DO + b * stride_dob + h * stride_doh + offs_m[:, None] * stride_dot + col[None, :],
                 mask=row_ok[:, None] & valid[None, :], other=0.0)
    row0 = bh.to(tl.int64) * TQ
    lse = tl.load(LSE + row0 + offs_m, mask=row_ok, other=float("inf"))
    delta = tl.load(DELTA + row0 + offs_m, mask=row_ok, other=0.0)
    K_base = K + b * stride_kb + hk * stride_kh
    V_base = V + b * stride_vb + hk * stride_vh
    dq = tl.zeros([BLOCK_M, D_PAD], dtype=tl.float32)
    if CAUSAL:
        hi = tl.minimum(TK, (start_m + 1) * BLOCK_M)
        full_hi = tl.minimum(start_m * BLOCK_M, (TK // BLOCK_N) * BLOCK_N)
    else:
        hi = TK
        full_hi = (TK // BLOCK_N) * BLOCK_N
    dq = _bwd_dq_inner(dq, q, do, lse, delta, K_base, V_base, offs_m, 0, full_hi, TK, stride_kt, stride_vt,
                       col, valid, COS, SIN, stride_cs, qk_scale, BLOCK_N, HEAD_DIM, D_PAD, CAUSAL, False, ROPE, IP)
    dq = _bwd_dq_inner(dq, q, do, lse, delta, K_base, V_base, offs_m, full_hi, hi, TK, stride_kt, stride_vt,
                       col, valid, COS, SIN, stride_cs, qk_scale, BLOCK_N, HEAD_DIM, D_PAD, CAUSAL, True, ROPE, IP)
    dq = dq * sm_scale
    if ROPE:
        dq = _rope_backward(dq, offs_m, TQ, col, valid, COS, SIN, stride_cs, BLOCK_M, D_PAD)
    tl.store(DQ + b * stride_dqb + h * stride_dqh + offs_m[:, None] * stride_dqt + col[None, :],
             dq.to(DQ.dtype.element_ty), mask=row_ok[:, None] & valid[None, :])


# ----------------------------------------------------------------------------------------------------------
# launchers
# ----------------------------------------------------------------------------------------------------------

# GPU block sizes, tried by the autotuner once per shape (a config that needs too much shared memory is
# skipped by it). BLOCK_M must be a multiple of BLOCK_N in the forward and dQ kernels (their causal split).
_FWD_CONFIGS = [
    triton.Config({"BLOCK_M": bm, "BLOCK_N": bn}, num_warps=w, num_stages=s)
    for bm, bn, w, s in [(128, 64, 8, 3), (128, 64, 4, 3), (128, 128, 8, 3), (64, 64, 4, 3), (64, 32, 4, 4),
                         (128, 32, 4, 3)]
]
_DKDV_CONFIGS = [
    triton.Config({"BLOCK_M": bm, "BLOCK_N": bn}, num_warps=w, num_stages=s)
    for bm, bn, w, s in [(32, 128, 4, 3), (64, 128, 8, 3), (32, 64, 4, 3), (16, 64, 4, 2), (64, 64, 4, 2)]
]
_DQ_CONFIGS = [
    triton.Config({"BLOCK_M": bm, "BLOCK_N": bn}, num_warps=w, num_stages=s)
    for bm, bn, w, s in [(128, 32, 4, 3), (128, 64, 8, 3), (64, 32, 4, 3), (64, 16, 4, 2), (64, 64, 4, 2)]
]
_KEY = ["TQ", "TK", "HEAD_DIM", "CAUSAL", "ROPE", "IP"]
_attn_fwd_tuned = triton.autotune(_FWD_CONFIGS, key=_KEY)(_attn_fwd)
_attn_bwd_dkdv_tuned = triton.autotune(_DKDV_CONFIGS, key=_KEY)(_attn_bwd_dkdv)
_attn_bwd_dq_tuned = triton.autotune(_DQ_CONFIGS, key=_KEY)(_attn_bwd_dq)

# CPU tensors mean Triton's interpreter (TRITON_INTERPRET=1), which costs about 4 ms per program and block:
# small blocks there keep the tests' several-block shapes cheap. BLOCK_M % BLOCK_N == 0 as above.
_INTERPRETER_BLOCKS = {"BLOCK_M": 16, "BLOCK_N": 16}


def _pad_dim(head_dim: int) -> int:
    return max(16, triton.next_power_of_2(head_dim))


def _strides3(t: torch.Tensor) -> tuple[int, int, int]:
    return t.stride(0), t.stride(1), t.stride(2)


def _launch(kernel, tuned, grid_rows, grid_bh, x: torch.Tensor, seq_len: int, *args, **kw):
    """Autotuned on a GPU for sequences of _AUTOTUNE_MIN_LEN or more; fixed small tiles for shorter ones on a
    GPU (one compilation per shape instead of one per candidate: the GPU tests' many tiny shapes) and in the
    interpreter."""
    if x.is_cuda and seq_len >= _AUTOTUNE_MIN_LEN:
        tuned[lambda meta: (triton.cdiv(grid_rows, meta[_GRID_BLOCK[kernel]]), grid_bh)](*args, **kw)
        return
    cfg = _small_gpu_tiles(kernel, kw["D_PAD"] * x.element_size()) if x.is_cuda else _INTERPRETER_BLOCKS
    kernel[(triton.cdiv(grid_rows, cfg[_GRID_BLOCK[kernel]]), grid_bh)](*args, **kw, **cfg)


def _small_gpu_tiles(kernel, row_bytes: int) -> dict:
    """_SMALL_GPU's tiles for rows of up to 256 bytes (bf16 D <= 128); halved per doubling beyond (bf16
    D = 256, fp32 D > 64), at least 16, so the K/V tiles stay within shared memory."""
    cfg = dict(_SMALL_GPU[kernel])
    shrink = max(1, row_bytes // 256)
    cfg["BLOCK_M"] = max(16, cfg["BLOCK_M"] // shrink)
    cfg["BLOCK_N"] = max(16, cfg["BLOCK_N"] // shrink)
    return cfg


_GRID_BLOCK = {_attn_fwd: "BLOCK_M", _attn_bwd_dkdv: "BLOCK_N", _attn_bwd_dq: "BLOCK_M"}
_AUTOTUNE_MIN_LEN = 1024
# tests/kernels/compile_for_gpu.py compiles these for sm_90 (and the shrunk ones for fp32, D = 256)
_SMALL_GPU = {
    _attn_fwd: dict(BLOCK_M=64, BLOCK_N=32, num_warps=4, num_stages=2),
    _attn_bwd_dq: dict(BLOCK_M=64, BLOCK_N=32, num_warps=4, num_stages=2),
    _attn_bwd_dkdv: dict(BLOCK_M=32, BLOCK_N=64, num_warps=4, num_stages=2),
}


def _check(q, k, v, cos, sin):
    B, H, TQ, D = q.shape
    if k.shape[0] != B or v.shape[:3] != k.shape[:3] or k.shape[3] != D or v.shape[3] != D:
        raise ValueError(f"q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)}: expected (B, H, Tq, D) "
                         "and (B, H_kv, Tk, D) twice")
    if not q.dtype == k.dtype == v.dtype:
        raise ValueError(f"q, k and v must share a dtype, not {q.dtype}, {k.dtype}, {v.dtype}")
    if H % k.shape[1]:
        raise ValueError(f"{H} query heads are not a multiple of {k.shape[1]} K/V heads")
    if not 1 <= D <= 256:
        raise ValueError(f"head dim {D}: the kernels hold it in registers up to 256")
    if (cos is None) != (sin is None):
        raise ValueError("RoPE needs both cos and sin")
    if cos is not None:
        if D % 2:
            raise ValueError(f"RoPE rotates pairs (i, i + D/2): head dim {D} is odd")
        rows = max(TQ, k.shape[2])
        if cos.shape != sin.shape or cos.dim() != 2 or cos.shape[0] < rows or cos.shape[1] != D:
            raise ValueError(f"cos/sin {tuple(cos.shape)}: expected ({rows} or more, {D})")


def _last_contiguous(t: torch.Tensor) -> torch.Tensor:
    return t if t.stride(-1) == 1 else t.contiguous()


def _attention_forward(q, k, v, causal, scale, cos, sin, ip):
    B, H, TQ, D = q.shape
    HKV, TK = k.shape[1], k.shape[2]
    o = torch.empty((B, TQ, H, D), device=q.device, dtype=q.dtype).transpose(1, 2)
    lse = torch.empty((B, H, TQ), device=q.device, dtype=torch.float32)
    rope = cos is not None
    cs = (cos, sin, cos.stride(0)) if rope else (q, q, 0)  # unused pointers when rope is off
    _launch(_attn_fwd, _attn_fwd_tuned, TQ, B * H, q, max(TQ, TK),
            q, k, v, o, lse, cs[0], cs[1], *_strides3(q), *_strides3(k), *_strides3(v), *_strides3(o), cs[2],
            H, H // HKV, TQ, TK, scale * LOG2E,
            HEAD_DIM=D, D_PAD=_pad_dim(D), CAUSAL=causal, ROPE=rope, IP=ip)
    return o, lse


def _attention_backward(do, q, k, v, o, lse, causal, scale, cos, sin, ip):
    B, H, TQ, D = q.shape
    HKV, TK = k.shape[1], k.shape[2]
    do = _last_contiguous(do)
    delta = torch.empty_like(lse)
    pre_block = 16 if not q.is_cuda else 64
    _attn_bwd_preprocess[(triton.cdiv(TQ, pre_block), B * H)](
        o, do, delta, *_strides3(o), *_strides3(do), H, TQ, HEAD_DIM=D, D_PAD=_pad_dim(D), BLOCK_M=pre_block)
    dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
    rope = cos is not None
    cs = (cos, sin, cos.stride(0)) if rope else (q, q, 0)
    common = dict(HEAD_DIM=D, D_PAD=_pad_dim(D), CAUSAL=causal, ROPE=rope, IP=ip)
    _launch(_attn_bwd_dkdv, _attn_bwd_dkdv_tuned, TK, B * HKV, q, max(TQ, TK),
            q, k, v, do, lse, delta, dk, dv, cs[0], cs[1],
            *_strides3(q), *_strides3(k), *_strides3(v), *_strides3(do), *_strides3(dk), *_strides3(dv), cs[2],
            H, HKV, H // HKV, TQ, TK, scale, scale * LOG2E, **common)
    _launch(_attn_bwd_dq, _attn_bwd_dq_tuned, TQ, B * H, q, max(TQ, TK),
            q, k, v, do, lse, delta, dq, cs[0], cs[1],
            *_strides3(q), *_strides3(k), *_strides3(v), *_strides3(do), *_strides3(dq), cs[2],
            H, H // HKV, TQ, TK, scale, scale * LOG2E, **common)
    return dq, dk, dv


# ----------------------------------------------------------------------------------------------------------
# autograd Function
# ----------------------------------------------------------------------------------------------------------


class FlashAttention(torch.autograd.Function):
    """softmax(rope(q) rope(k)^T * scale [+ causal mask]) v; saves q, k, v, o and the log-sum-exp only."""

    @staticmethod
    def forward(ctx, q, k, v, causal, scale, cos, sin, input_precision):
        q, k, v = _last_contiguous(q), _last_contiguous(k), _last_contiguous(v)
        if cos is not None:
            cos, sin = _last_contiguous(cos), _last_contiguous(sin)
        # the precision of a dot only means something for fp32 operands; 16-bit ones take the default
        input_precision = input_precision if q.dtype == torch.float32 else "tf32"
        o, lse = _attention_forward(q, k, v, causal, scale, cos, sin, input_precision)
        ctx.save_for_backward(q, k, v, o, lse, cos, sin)
        ctx.causal, ctx.scale, ctx.input_precision = causal, scale, input_precision
        return o

    @staticmethod
    def backward(ctx, do):
        q, k, v, o, lse, cos, sin = ctx.saved_tensors
        dq, dk, dv = _attention_backward(do, q, k, v, o, lse, ctx.causal, ctx.scale, cos, sin,
                                         ctx.input_precision)
        return dq, dk, dv, None, None, None, None, None


def flash_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool = False,
                    scale: float | None = None, cos: torch.Tensor | None = None, sin: torch.Tensor | None = None,
                    input_precision: str = "ieee") -> torch.Tensor:
    """Attention of q (B, H, Tq, D) over k, v (B, H_kv, Tk, D); returns (B, H, Tq, D).

    scale defaults to 1/sqrt(D). cos/sin (T >= max(Tq, Tk), D), when given, rotate q and k (rotate-half RoPE)
    inside the kernels; the tables get no gradient. input_precision applies to fp32 inputs' dots: "ieee"
    (exact, PyTorch's default) or "tf32" (faster on a GPU; the interpreter is always exact).
    """
    _check(q, k, v, cos, sin)
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
    return FlashAttention.apply(q, k, v, bool(causal), scale, cos, sin, input_precision)


# ----------------------------------------------------------------------------------------------------------
# reference and FLOP count
# ----------------------------------------------------------------------------------------------------------


def rotate_half_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x * cos + rotate_half(x) * sin over positions 0..T-1 of x (B, H, T, D); the layout archc's
    templates/support/rope.py.j2 uses."""
    T = x.shape[-2]
    x1, x2 = x.chunk(2, dim=-1)
    return x * cos[:T] + torch.cat((-x2, x1), dim=-1) * sin[:T]


def attention_reference(q, k, v, causal=False, scale=None, cos=None, sin=None):
    """The same attention in plain PyTorch, materialising the T x T scores (for tests only)."""
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    if cos is not None:
        q, k = rotate_half_rope(q, cos, sin), rotate_half_rope(k, cos, sin)
    group = q.shape[1] // k.shape[1]
    k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)
    s = torch.matmul(q, k.transpose(-1, -2)) * scale
    if causal:
        TQ, TK = q.shape[-2], k.shape[-2]
        keep = torch.ones(TQ, TK, dtype=torch.bool, device=q.device).tril()
        s = s.masked_fill(~keep, float("-inf"))
    return torch.matmul(torch.softmax(s, dim=-1), v)


def attention_flops(B: int, H: int, TQ: int, TK: int, D: int, causal: bool, backward: bool = False) -> float:
    """Matmul FLOPs: forward 2 GEMMs of 2*TQ*TK*D each per head, half of them under a causal mask; the
    backward 5 GEMMs (2.5x the forward's; the recomputed QK^T included). The FlashAttention papers' count."""
    fwd = 4.0 * B * H * TQ * TK * D * (0.5 if causal else 1.0)
    return fwd * (2.5 if backward else 1.0)
