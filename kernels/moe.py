"""The expert FFNs of a top-k mixture-of-experts layer (SwiGLU experts), forward and backward, as grouped GEMMs.

Noam Shazeer et al., "Outrageously Large Neural Networks: The Sparsely-Gated Mixture-of-Experts Layer", 2017,
arXiv:1701.06538 (top-k routing); Albert Q. Jiang et al., "Mixtral of Experts", 2024, arXiv:2401.04088
(SwiGLU experts, top-2 of 8). The grouping follows Trevor Gale et al., "MegaBlocks", 2022, arXiv:2211.15841,
and Shawn Tan et al., "Scattered Mixture-of-Experts Implementation" (ScatterMoE), 2024, arXiv:2403.08245:
the T*k (token, expert) pairs are sorted by expert, each expert's segment is padded to BLOCK_M rows, and a
table gives the expert of every BLOCK_M-row block, so ONE launch computes every expert's GEMM, reading each
block's weights from stacked [E, N, K] tensors at that expert's offset (an index loaded from a tensor, never a
pointer loaded from one: Triton's interpreter cannot dereference those). Rows are gathered from the tokens and
scattered back to them inside the kernels, so no permuted copy of x or of the output is made.

Forward, per pair p = (token t, slot j) routed to expert e with weight w_p:
  gate_up_p = x_t @ W_gu[e]^T             (one launch over all experts; kept for the backward)
  y_p       = w_p * (silu(g_p) * u_p) @ W_d[e]^T   (one launch; SwiGLU in the prologue, w_p in the epilogue)
  out_t     = sum_j y_(t, j)
Backward: one launch gives dh = dout_t @ W_d[e] with the SwiGLU backward in its epilogue (h recomputed from
gate_up, never stored) and the routing-weight gradient sum(h * dout_t @ W_d[e]) as per-tile partial sums; one
launch gives dx_p = d gate_up_p @ W_gu[e]; one launch per weight gives dW[e] summed over e's segment only.

Weights use transformers' stacked layout: w_gate_up [E, 2F, d] (gate rows first, then up), w_down [E, d, F].
The router (logits, top-k, softmax) and its auxiliary losses stay in PyTorch: this file takes their outputs.
It imports only torch, triton and math, so a generated model file can carry it verbatim.
"""

import torch
import triton
import triton.language as tl

# ----------------------------------------------------------------------------------------------------------
# jit helpers
# ----------------------------------------------------------------------------------------------------------


@triton.jit
def _swiglu_tile(GU, rows, row_ok, cols, col_ok, stride_gum, F):
    """silu(gate) * up of gate_up rows `rows`, columns `cols` of the F-wide hidden, in fp32; also gate, up,
    sigmoid(gate) for the backward."""
    mask = row_ok[:, None] & col_ok[None, :]
    base = GU + rows[:, None] * stride_gum + cols[None, :]
    g = tl.load(base, mask=mask, other=0.0).to(tl.float32)
    u = tl.load(base + F, mask=mask, other=0.0).to(tl.float32)
    s = tl.sigmoid(g)
    return g * s * u, g, u, s


# ----------------------------------------------------------------------------------------------------------
# kernels
# ----------------------------------------------------------------------------------------------------------


@triton.jit
def _moe_grouped_gemm(A, W, OUT, GU, SORTED_PAIR, BLOCK_EXPERT, ROUTE_W, DW_PART,
                      stride_am, stride_we, stride_wk, stride_wn, stride_om, stride_gum, stride_dwp,
                      N, K, F, TOPK, NUM_PAIRS,
                      A_MODE: tl.constexpr, EPILOGUE: tl.constexpr, IP: tl.constexpr,
                      BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr):
    """out[rows] = A[rows] @ B[e] for one BLOCK_M block of sorted rows, all of expert e = BLOCK_EXPERT[block],
    with B[e][k, n] = W[e * stride_we + k * stride_wk + n * stride_wn] (so W^T or W by the strides).

    A_MODE: "token" reads row p's token x_t (p // TOPK); "sorted" reads the sorted row itself; "swiglu" reads
    silu(gate) * up from the sorted gate_up row (K = F).
    EPILOGUE: "sorted" stores at the sorted row; "pair" stores at the pair's row; "pair_scaled" multiplies by
    the pair's routing weight first; "swiglu_bwd" takes acc as dL/dh, stores d gate | d up at the sorted row
    and the routing-weight partial sum(h * acc) of this column tile in DW_PART[row, tile].
    Grid (row blocks, cdiv(N, BLOCK_N)); blocks past the last expert's segment have expert -1 and do nothing.
    """
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    e = tl.load(BLOCK_EXPERT + pid_m)
    if e >= 0:
        rows = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
        pair = tl.load(SORTED_PAIR + rows)
        row_ok = pair < NUM_PAIRS  # padding rows hold the sentinel NUM_PAIRS
        rows = rows.to(tl.int64)
        pair = pair.to(tl.int64)
        if A_MODE == "token":
            a_rows = pair // TOPK
        else:
            a_rows = rows
        offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
        n_ok = offs_n < N
        W_e = W + e.to(tl.int64) * stride_we
        acc = tl.zeros([BLOCK_M, BLOCK_N], dtype=tl.float32)
        for k0 in range(0, K, BLOCK_K):
            offs_k = k0 + tl.arange(0, BLOCK_K)
            k_ok = offs_k < K
            if A_MODE == "swiglu":
                h, _, _, _ = _swiglu_tile(A, a_rows, row_ok, offs_k, k_ok, stride_am, F)
                a = h.to(W.dtype.element_ty)
            else:
                a = tl.load(A + a_rows[:, None] * stride_am + offs_k[None, :], mask=row_ok[:, None] & k_ok[None, :],
                            other=0.0)
            b = tl.load(W_e + offs_k[:, None] * stride_wk + offs_n[None, :] * stride_wn,
                        mask=k_ok[:, None] & n_ok[None, :], other=0.0)
            acc += tl.dot(a, b, input_precision=IP)

        if EPILOGUE == "sorted":
            tl.store(OUT + rows[:, None] * stride_om + offs_n[None, :], acc.to(OUT.dtype.element_ty),
                     mask=n_ok[None, :])
        elif EPILOGUE == "pair":
            tl.store(OUT + pair[:, None] * stride_om + offs_n[None, :], acc.to(OUT.dtype.element_ty),
                     mask=row_ok[:, None] & n_ok[None, :])
        elif EPILOGUE == "pair_scaled":
            w = tl.load(ROUTE_W + pair, mask=row_ok, other=0.0).to(tl.float32)
            tl.store(OUT + pair[:, None] * stride_om + offs_n[None, :], (acc * w[:, None]).to(OUT.dtype.element_ty),
                     mask=row_ok[:, None] & n_ok[None, :])
        else:  # "swiglu_bwd": acc = dout_t @ W_d[e] over hidden columns offs_n (N = F)
            h, g, u, s = _swiglu_tile(GU, rows, row_ok, offs_n, n_ok, stride_gum, F)
            tl.store(DW_PART + rows * stride_dwp + pid_n, tl.sum(h * acc, axis=1))
            w = tl.load(ROUTE_W + pair, mask=row_ok, other=0.0).to(tl.float32)
            dh = acc * w[:, None]
            dg = dh * u * s * (1.0 + g * (1.0 - s))
            du = dh * g * s
            out = OUT + rows[:, None] * stride_om + offs_n[None, :]
            tl.store(out, dg.to(OUT.dtype.element_ty), mask=n_ok[None, :])
            tl.store(out + F, du.to(OUT.dtype.element_ty), mask=n_ok[None, :])


@triton.jit
def _moe_weight_grad(L, R, DW, SORTED_PAIR, PAD_START, PAD_COUNT, ROUTE_W,
                     stride_lm, stride_rm, stride_de, stride_dn, stride_dk,
                     N, K, F, TOPK, NUM_PAIRS,
                     MODE: tl.constexpr, IP: tl.constexpr,
                     BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr):
    """dW[e][n, k] = sum over expert e's sorted rows r of Lrow(r)[n] * Rrow(r)[k], one (n, k) tile of one
    expert per program, looping over that expert's segment only (an expert with no rows gets zeros).

    MODE "down": dW_d[e] (d x F): L = w_p * dout_t (gathered by token), R = silu(gate) * up (recomputed).
    MODE "up": dW_gu[e] (2F x d): L = d gate_up (sorted rows), R = x_t (gathered by token).
    Grid (cdiv(N, BLOCK_N), cdiv(K, BLOCK_K), E).
    """
    pid_n = tl.program_id(0)
    pid_k = tl.program_id(1)
    e = tl.program_id(2)
    start = tl.load(PAD_START + e)
    count = tl.load(PAD_COUNT + e)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    offs_k = pid_k * BLOCK_K + tl.arange(0, BLOCK_K)
    n_ok = offs_n < N
    k_ok = offs_k < K
    acc = tl.zeros([BLOCK_N, BLOCK_K], dtype=tl.float32)
    for r0 in range(0, count, BLOCK_M):
        rows = start + r0 + tl.arange(0, BLOCK_M)
        pair = tl.load(SORTED_PAIR + rows, mask=r0 + tl.arange(0, BLOCK_M) < count, other=NUM_PAIRS)
        row_ok = pair < NUM_PAIRS
        rows = rows.to(tl.int64)
        pair = pair.to(tl.int64)
        token = pair // TOPK
        if MODE == "down":
            w = tl.load(ROUTE_W + pair, mask=row_ok, other=0.0).to(tl.float32)
            lt = tl.load(L + token[:, None] * stride_lm + offs_n[None, :], mask=row_ok[:, None] & n_ok[None, :],
                         other=0.0).to(tl.float32)
            lt = (lt * w[:, None]).to(L.dtype.element_ty)
            h, _, _, _ = _swiglu_tile(R, rows, row_ok, offs_k, k_ok, stride_rm, F)
            rt = h.to(L.dtype.element_ty)
        else:
            lt = tl.load(L + rows[:, None] * stride_lm + offs_n[None, :], mask=row_ok[:, None] & n_ok[None, :],
                         other=0.0)
            rt = tl.load(R + token[:, None] * stride_rm + offs_k[None, :], mask=row_ok[:, None] & k_ok[None, :],
                         other=0.0)
        acc += tl.dot(tl.trans(lt), rt, input_precision=IP)
    tl.store(DW + e.to(tl.int64) * stride_de + offs_n[:, None] * stride_dn + offs_k[None, :] * stride_dk,
             acc.to(DW.dtype.element_ty), mask=n_ok[:, None] & k_ok[None, :])


# ----------------------------------------------------------------------------------------------------------
# launchers
# ----------------------------------------------------------------------------------------------------------

# GPU tiles (not autotuned: BLOCK_M also sets the padding of the routing layout, and the routing-weight
# partials are indexed by column tile). 64 x 128 x 64 bf16 tiles with 8 warps: vLLM's fused_moe default
# region for large token counts. The interpreter pays about 4 ms per program and K step, so its tiles are
# as large as the tests' tiny widths allow while still giving several row blocks.
_GPU = dict(BLOCK_M=64, BLOCK_N=128, BLOCK_K=64, num_warps=8, num_stages=3)
_INTERPRETER = dict(BLOCK_M=16, BLOCK_N=32, BLOCK_K=32)


def _tiles(x: torch.Tensor) -> dict:
    return _GPU if x.is_cuda else _INTERPRETER


def _route(topk_ids: torch.Tensor, num_experts: int, block_m: int):
    """Sort the T*k pairs by expert and pad each expert's segment to block_m rows, without a host sync.

    Returns sorted_pair (rows, each a pair id p = t * k + j or the sentinel T*k), block_expert (one expert per
    block_m rows, -1 past the last segment), pad_start and pad_count (each expert's rows in sorted_pair).
    The buffer has room for the worst case, cdiv(T*k, block_m) + E blocks, so its size never waits on the GPU.
    """
    P = topk_ids.numel()
    dev = topk_ids.device
    e_flat = topk_ids.reshape(-1).to(torch.int64)
    order = torch.argsort(e_flat, stable=True)
    counts = torch.zeros(num_experts, dtype=torch.int64, device=dev).index_add_(
        0, e_flat, torch.ones_like(e_flat))
    padded = (counts + block_m - 1) // block_m * block_m
    pad_end = torch.cumsum(padded, 0)
    pad_start = pad_end - padded
    start = torch.cumsum(counts, 0) - counts
    e_sorted = e_flat[order]
    dest = pad_start[e_sorted] + torch.arange(P, device=dev) - start[e_sorted]
    n_blocks = triton.cdiv(P, block_m) + num_experts
    sorted_pair = torch.full((n_blocks * block_m,), P, dtype=torch.int32, device=dev)
    sorted_pair[dest] = order.to(torch.int32)
    block_expert = torch.searchsorted(pad_end // block_m, torch.arange(n_blocks, device=dev), right=True)
    block_expert = torch.where(block_expert < num_experts, block_expert, -1).to(torch.int32)
    return sorted_pair, block_expert, pad_start.to(torch.int32), padded.to(torch.int32)


def _gemm(a, w, out, w_strides, N, K, F, topk, P, route, a_mode, epilogue, ip, gu=None, route_w=None,
          dw_part=None, stride_gum=0, stride_dwp=0):
    sorted_pair, block_expert = route[0], route[1]
    t = _tiles(a)
    grid = (block_expert.numel(), triton.cdiv(N, t["BLOCK_N"]))
    _moe_grouped_gemm[grid](a, w, out, gu if gu is not None else a, sorted_pair, block_expert,
                            route_w if route_w is not None else a, dw_part if dw_part is not None else a,
                            a.stride(0), w.stride(0), w_strides[0], w_strides[1], out.stride(0), stride_gum,
                            stride_dwp, N, K, F, topk, P, A_MODE=a_mode, EPILOGUE=epilogue, IP=ip, **t)


def _wgrad(lhs, rhs, dw, N, K, F, topk, P, route, route_w, mode, ip):
    sorted_pair, _, pad_start, pad_count = route
    t = _tiles(lhs)
    E = dw.shape[0]
    grid = (triton.cdiv(N, t["BLOCK_N"]), triton.cdiv(K, t["BLOCK_K"]), E)
    _moe_weight_grad[grid](lhs, rhs, dw, sorted_pair, pad_start, pad_count, route_w,
                           lhs.stride(0), rhs.stride(0), dw.stride(0), dw.stride(1), dw.stride(2),
                           N, K, F, topk, P, MODE=mode, IP=ip, **t)


def _moe_forward(x, topk_ids, topk_w, w_gu, w_d, ip):
    T, d = x.shape
    E, F2, _ = w_gu.shape
    F, k = F2 // 2, topk_ids.shape[1]
    P = T * k
    bm = _tiles(x)["BLOCK_M"]
    route = _route(topk_ids, E, bm)
    rows = route[0].numel()
    gate_up = torch.empty((rows, F2), device=x.device, dtype=x.dtype)
    # gate_up_p = x_t @ W_gu[e]^T: B[k, n] = W_gu[e, n, k]
    _gemm(x, w_gu, gate_up, (w_gu.stride(2), w_gu.stride(1)), F2, d, F, k, P, route, "token", "sorted", ip)
    y = torch.empty((P, d), device=x.device, dtype=x.dtype)
    # y_p = w_p * h_p @ W_d[e]^T: B[k, n] = W_d[e, n, k]
    _gemm(gate_up, w_d, y, (w_d.stride(2), w_d.stride(1)), d, F, F, k, P, route, "swiglu", "pair_scaled", ip,
          route_w=topk_w)
    return y.view(T, k, d).sum(1), gate_up, route


def _moe_backward(dout, x, topk_w, w_gu, w_d, gate_up, route, ip):
    T, d = x.shape
    E, F2, _ = w_gu.shape
    F, k = F2 // 2, topk_w.shape[1]
    P = T * k
    dout = dout.contiguous()
    rows = route[0].numel()
    t = _tiles(x)
    n_tiles = triton.cdiv(F, t["BLOCK_N"])
    dgu = torch.empty_like(gate_up)
    dw_part = torch.empty((rows, n_tiles), device=x.device, dtype=torch.float32)
    # dh_p = w_p * dout_t @ W_d[e] (B[k, n] = W_d[e, k, n]), then the SwiGLU backward into d gate_up
    _gemm(dout, w_d, dgu, (w_d.stride(1), w_d.stride(2)), F, d, F, k, P, route, "token", "swiglu_bwd", ip,
          gu=gate_up, route_w=topk_w, dw_part=dw_part, stride_gum=gate_up.stride(0), stride_dwp=dw_part.stride(0))
    # routing-weight gradient: sum the column tiles, then move from sorted rows to pair order
    d_route = torch.zeros(P + 1, device=x.device, dtype=torch.float32)
    d_route.index_copy_(0, route[0].long(), dw_part.sum(1))  # padding rows all land on the sentinel slot P
    d_route = d_route[:P].view(T, k).to(topk_w.dtype)
    # dx_p = d gate_up_p @ W_gu[e] (B[k, n] = W_gu[e, k, n]), summed over the token's k pairs
    dx_pairs = torch.empty((P, d), device=x.device, dtype=x.dtype)
    _gemm(dgu, w_gu, dx_pairs, (w_gu.stride(1), w_gu.stride(2)), d, F2, F, k, P, route, "sorted", "pair", ip)
    dx = dx_pairs.view(T, k, d).sum(1)
    dw_d = torch.empty_like(w_d)
    _wgrad(dout, gate_up, dw_d, d, F, F, k, P, route, topk_w, "down", ip)
    dw_gu = torch.empty_like(w_gu)
    _wgrad(dgu, x, dw_gu, F2, d, F, k, P, route, topk_w, "up", ip)
    return dx, d_route, dw_gu, dw_d


# ----------------------------------------------------------------------------------------------------------
# autograd Function
# ----------------------------------------------------------------------------------------------------------


class MoEExperts(torch.autograd.Function):
    """sum_j w_(t,j) * FFN_(e(t,j))(x_t), keeping gate_up (as eager does) but not silu(gate) * up."""

    @staticmethod
    def forward(ctx, x, topk_weights, w_gate_up, w_down, topk_ids, input_precision):
        # the precision of a dot only means something for fp32 operands; 16-bit ones take the default
        input_precision = input_precision if x.dtype == torch.float32 else "tf32"
        out, gate_up, route = _moe_forward(x, topk_ids, topk_weights, w_gate_up, w_down, input_precision)
        ctx.save_for_backward(x, topk_weights, w_gate_up, w_down, gate_up, *route)
        ctx.input_precision = input_precision
        return out

    @staticmethod
    def backward(ctx, dout):
        x, topk_w, w_gu, w_d, gate_up, *route = ctx.saved_tensors
        dx, d_route, dw_gu, dw_d = _moe_backward(dout, x, topk_w, w_gu, w_d, gate_up, route, ctx.input_precision)
        return dx, d_route, dw_gu, dw_d, None, None


def moe_experts(x: torch.Tensor, topk_ids: torch.Tensor, topk_weights: torch.Tensor, w_gate_up: torch.Tensor,
                w_down: torch.Tensor, input_precision: str = "ieee") -> torch.Tensor:
    """The routed SwiGLU experts of an MoE layer.

    x (..., d); topk_ids (..., k) int expert indices and topk_weights (..., k) their routing weights, from
    the router; w_gate_up (E, 2F, d), w_down (E, d, F). Returns (..., d). Gradients flow to x, topk_weights
    and both weights. input_precision applies to fp32 dots ("ieee" exact, "tf32" faster on a GPU).
    """
    d = x.shape[-1]
    E, F2, d_in = w_gate_up.shape
    if d_in != d or F2 % 2 or w_down.shape != (E, d, F2 // 2):
        raise ValueError(f"x (..., {d}), w_gate_up {tuple(w_gate_up.shape)}, w_down {tuple(w_down.shape)}: "
                         "expected (E, 2F, d) and (E, d, F)")
    if topk_ids.shape != topk_weights.shape or topk_ids.shape[:-1] != x.shape[:-1]:
        raise ValueError(f"topk_ids {tuple(topk_ids.shape)} and topk_weights {tuple(topk_weights.shape)} must "
                         f"both be (..., k) over x's leading axes {tuple(x.shape[:-1])}")
    if not x.dtype == w_gate_up.dtype == w_down.dtype:
        raise ValueError(f"x, w_gate_up and w_down must share a dtype, not {x.dtype}, {w_gate_up.dtype}, "
                         f"{w_down.dtype}")
    k = topk_ids.shape[-1]
    # the kernels index the routing weights by pair id t * k + j: a contiguous (T, k) layout
    out = MoEExperts.apply(x.reshape(-1, d).contiguous(), topk_weights.reshape(-1, k).contiguous(),
                           w_gate_up.contiguous(), w_down.contiguous(), topk_ids.reshape(-1, k), input_precision)
    return out.view(x.shape)


# ----------------------------------------------------------------------------------------------------------
# FLOP count (the PyTorch reference, a loop over experts, lives in tests/kernels/test_moe.py)
# ----------------------------------------------------------------------------------------------------------


def moe_flops(T: int, d: int, F: int, top_k: int, backward: bool = False) -> float:
    """Expert GEMM FLOPs: per routed pair, gate and up (d -> 2F) and down (F -> d), 2 FLOPs per MAC; the
    backward twice the forward (input and weight gradients)."""
    fwd = 2.0 * T * top_k * d * 3 * F
    return fwd * (2.0 if backward else 1.0)
