"""kernels/moe.py against a plain PyTorch MoE (a loop over experts, below), forward and the gradients of x,
the routing weights and both stacked expert weights, with routings chosen to hit the edge cases: an expert
that receives no token, an expert that receives every token, one token, top-1 and top-2, hidden widths that
are not multiples of the tiles (d = 24, F = 40). About 0.5-3 s per case in the interpreter.
"""

import zlib

import pytest
import torch
import torch.nn.functional as F

from kernels.moe import _route, moe_experts, moe_flops
from tests.kernels.tolerance import DEVICE, DTYPES, check, dtype_id


def moe_reference(x, topk_ids, topk_weights, w_gate_up, w_down):
    """The per-expert loop (transformers' experts_implementation="eager"): gather the expert's tokens, run its
    SwiGLU FFN, scale by the routing weight, add back into the token's row."""
    out = torch.zeros_like(x)
    for e in range(w_gate_up.shape[0]):
        tok, slot = (topk_ids == e).nonzero(as_tuple=True)
        if tok.numel() == 0:
            continue
        gate, up = (x[tok] @ w_gate_up[e].T).chunk(2, dim=-1)
        y = (F.silu(gate) * up) @ w_down[e].T
        out = out.index_add(0, tok, y * topk_weights[tok, slot, None])
    return out


def _routing(kind, T, E, k, gen):
    if kind == "random":
        logits = torch.randn(T, E, generator=gen)
        return logits.topk(k, dim=-1).indices
    if kind == "one_expert_takes_all":  # expert 1 in every token's slot 0; slot 1 from {0, 2}: expert 3 gets none
        ids = torch.empty(T, 2, dtype=torch.int64)
        ids[:, 0] = 1
        ids[:, 1] = torch.randint(0, 2, (T,), generator=gen) * 2
        return ids
    if kind == "top1_all_to_last":  # top-1, every token to the last expert, the others get none
        return torch.full((T, 1), E - 1, dtype=torch.int64)
    raise AssertionError(kind)


# (T, d, F, E, k, routing)
CASES = {
    "T11_E4_top2": (11, 24, 40, 4, 2, "random"),
    # 20 rows for expert 1: its segment spans two 16-row interpreter blocks (and the weight-gradient loop two steps)
    "one_expert_all_one_none": (20, 24, 40, 4, 2, "one_expert_takes_all"),
    "top1_all_to_last": (13, 16, 24, 3, 1, "top1_all_to_last"),
    "T1_E2_top2": (1, 16, 16, 2, 2, "random"),
    "T37_E5_top2_multiblock": (37, 16, 24, 5, 2, "random"),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_moe_matches_expert_loop(case, dtype):
    T, d, Fh, E, k, kind = case
    gen = torch.Generator().manual_seed(zlib.crc32(repr(case).encode()))
    ids = _routing(kind, T, E, k, gen)
    counts = torch.bincount(ids.flatten(), minlength=E)
    if kind == "one_expert_takes_all":
        assert counts[1] == T and counts[3] == 0
    if kind == "top1_all_to_last":
        assert counts[-1] == T and (counts[:-1] == 0).all()
    x64 = torch.randn(T, d, generator=gen, dtype=torch.float64)
    w64 = torch.softmax(torch.randn(T, k, generator=gen, dtype=torch.float64), dim=-1)
    wgu64 = torch.randn(E, 2 * Fh, d, generator=gen, dtype=torch.float64) / d**0.5
    wd64 = torch.randn(E, d, Fh, generator=gen, dtype=torch.float64) / Fh**0.5
    dout64 = torch.randn(T, d, generator=gen, dtype=torch.float64)
    ids = ids.to(DEVICE)

    def run(fn, dt):
        leaves = [t.to(DEVICE, dt).requires_grad_() for t in (x64, w64, wgu64, wd64)]
        x, w, wgu, wd = leaves
        out = fn(x, ids, w, wgu, wd)
        return [out, *torch.autograd.grad(out, leaves, dout64.to(DEVICE, dt))]

    got = run(lambda *a: moe_experts(*a, input_precision="ieee"), dtype)
    want = run(moe_reference, torch.float64)
    same = run(moe_reference, dtype) if dtype != torch.float32 else [None] * 5
    for name, g, w, s in zip(("out", "dx", "d_routing_weights", "dw_gate_up", "dw_down"), got, want, same, strict=True):
        check(name, g, w, s)


def test_routing_layout():
    """Pairs sorted by expert, each segment padded to the block, one expert per block, -1 after the last."""
    ids = torch.tensor([[2, 0], [2, 1], [0, 2]])  # pairs 0..5: experts 2, 0, 2, 1, 0, 2
    sorted_pair, block_expert, pad_start, pad_count = _route(ids, num_experts=4, block_m=2)
    S = 6  # the sentinel: T * k
    assert sorted_pair.tolist()[:8] == [1, 4, 3, S, 0, 2, 5, S]
    assert (sorted_pair[8:] == S).all()
    assert block_expert.tolist() == [0, 1, 2, 2, -1, -1, -1]  # cdiv(6, 2) + 4 = 7 blocks, the worst case
    assert pad_start.tolist() == [0, 2, 4, 8] and pad_count.tolist() == [2, 2, 4, 0]


def test_bad_shapes_are_refused():
    x = torch.zeros(3, 8)
    ids, w = torch.zeros(3, 2, dtype=torch.int64), torch.zeros(3, 2)
    with pytest.raises(ValueError, match="expected"):
        moe_experts(x, ids, w, torch.zeros(2, 10, 8), torch.zeros(2, 8, 4))
    with pytest.raises(ValueError, match="topk"):
        moe_experts(x, ids[:2], w[:2], torch.zeros(2, 8, 8), torch.zeros(2, 8, 4))


def test_flop_count():
    # T=8192, d=2048, F=1408, top-8: 2 FLOPs x 8192 x 8 pairs x 2048 x 3F
    assert moe_flops(8192, 2048, 1408, 8) == 2.0 * 8192 * 8 * 2048 * 3 * 1408
    assert moe_flops(8192, 2048, 1408, 8, backward=True) == 2 * moe_flops(8192, 2048, 1408, 8)


def test_strided_routing_weights_and_mixed_dtypes():
    """Routing weights given as a non-contiguous (T, k) view give the same result as a contiguous copy;
    x and weights in different dtypes are refused before any launch."""
    gen = torch.Generator().manual_seed(3)
    T, d, Fh, E = 5, 16, 16, 3
    x = torch.randn(T, d, generator=gen).to(DEVICE)
    ids = torch.randint(0, E, (T, 2), generator=gen).to(DEVICE)
    w = torch.rand(2, T, generator=gen).to(DEVICE).t()  # (T, 2), strides (1, T)
    assert not w.is_contiguous()
    wgu = torch.randn(E, 2 * Fh, d, generator=gen).to(DEVICE)
    wd = torch.randn(E, d, Fh, generator=gen).to(DEVICE)
    torch.testing.assert_close(moe_experts(x, ids, w, wgu, wd), moe_experts(x, ids, w.contiguous(), wgu, wd))
    with pytest.raises(ValueError, match="dtype"):
        moe_experts(x.double(), ids, w, wgu, wd)
