"""Triton kernel benchmarks (issue 9's Speed section): each kernel next to its baseline, in one process, bf16.

    make bench-kernels                    # with .venv's Python if there is one, else $(PYTHON)
    make bench-kernels PYTHON=python3     # any Python that has torch and triton (nothing is installed)
    python scripts/bench_kernels.py attention moe     # a subset

Sections and targets (shapes and baselines from ../shared/KERNELS.md):
  attention  fwd+bwd, B=4 H=32 S=4096 D=128 causal, and with 8 K/V heads, vs F.scaled_dot_product_attention
             pinned to the flash backend: >= 0.9x (aim 1.0x); TFLOP/s counted as 4*B*H*S^2*D * 0.5 * 3.5
  swiglu     the SwiGLU FFN fwd+bwd, T=8192 d=4096 ffn=14336, our fused activation in the eager module vs
             torch.compile of the module: >= 1.0x, and peak activation memory <= 0.7x eager
  rmsnorm    fwd+bwd, 8192 x 4096, vs torch.compile of the reference: >= 1.0x and >= 80% of HBM bandwidth
  layernorm  the same for LayerNorm (no target in the issue; for the table)
  moe        the expert FFNs fwd+bwd, T=8192 d=2048 F=1408, 8 experts top-2 and 64 experts top-8, vs a
             per-expert loop (transformers' experts_implementation="eager") and a torch._grouped_mm path
             (transformers 5's default), both re-implemented below: >= 5x the loop at 64 experts, >= 1.0x
             grouped_mm

Times are medians of triton.testing.do_bench (fwd+bwd, gradients reset each run). Ratios are baseline time /
our time (above 1: ours is faster). Peaks: the vendor's dense bf16 TFLOP/s and HBM bandwidth for the GPU
name; unknown GPUs get no share of peak. Without a CUDA GPU nothing is measured and the script exits 0.
Each section first checks our result against the baseline's (relative error), so a wrong kernel cannot
post a fast number. A benchmark is not a test: nothing here fails because a GPU is slow.
"""

from __future__ import annotations

import datetime
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# name fragment -> (dense bf16 TFLOP/s, HBM TB/s), vendor figures
PEAKS = {
    "H200": (989.0, 4.8),
    "H100": (989.0, 3.35),  # SXM; the PCIe card is lower (756, 2.0)
    "A100": (312.0, 2.04),
    "L40S": (362.0, 0.864),
    "A10G": (70.0, 0.6),
}
SECTIONS = ("attention", "swiglu", "rmsnorm", "layernorm", "moe")


def _peak(name: str):
    for frag, peak in PEAKS.items():
        if frag in name:
            return peak
    return None


def _rel_err(a, b) -> float:
    return ((a.float() - b.float()).norm() / b.float().norm().clamp_min(1e-12)).item()


class Table:
    def __init__(self, gpu: str):
        self.gpu = gpu
        self.peak = _peak(gpu)
        self.rows: list[str] = []

    def add(self, kernel: str, shape: str, ms: float, work: float, unit: str, base_name: str, base_ms: float | None,
            note: str = ""):
        """work: FLOPs (unit "TFLOP/s") or bytes (unit "GB/s") of one fwd+bwd."""
        if unit == "TFLOP/s":
            rate = work / (ms * 1e-3) / 1e12
            share = f"{rate / self.peak[0]:.0%}" if self.peak else "peak unknown"
        else:
            rate = work / (ms * 1e-3) / 1e9
            share = f"{rate / (self.peak[1] * 1e3):.0%}" if self.peak else "peak unknown"
        ratio = f"{base_ms / ms:.2f}x" if base_ms else "n/a"
        base = f"{base_name} {base_ms:.3f} ms" if base_ms else f"{base_name}: unavailable"
        row = f"| {kernel} | {shape} | {ms:.3f} ms | {rate:.1f} {unit} | {share} | {base} | {ratio} | {note} |"
        self.rows.append(row)
        print(row, flush=True)


def _bench(fn, grads):
    import torch
    import triton.testing

    fn()  # compile and autotune outside the timed runs (do_bench sizes its repetitions from a first call)
    torch.cuda.synchronize()
    return triton.testing.do_bench(fn, grad_to_none=grads, return_mode="median")


def _fwd_bwd(fn, inputs, dout):
    def step():
        fn(*inputs).backward(dout)

    return step


# ----------------------------------------------------------------------------------------------------------
# sections
# ----------------------------------------------------------------------------------------------------------


def bench_attention(table: Table):
    for hkv in (32, 8):
        _bench_attention_one(table, hkv)


def _bench_attention_one(table: Table, hkv: int):
    import torch
    import torch.nn.functional as F
    from torch.nn.attention import SDPBackend, sdpa_kernel

    from kernels.attention import attention_flops, flash_attention

    B, H, S, D = 4, 32, 4096, 128
    gen = torch.Generator(device="cuda").manual_seed(0)
    q = torch.randn(B, H, S, D, device="cuda", dtype=torch.bfloat16, generator=gen).requires_grad_()
    k = torch.randn(B, hkv, S, D, device="cuda", dtype=torch.bfloat16, generator=gen).requires_grad_()
    v = torch.randn(B, hkv, S, D, device="cuda", dtype=torch.bfloat16, generator=gen).requires_grad_()
    do = torch.randn(B, H, S, D, device="cuda", dtype=torch.bfloat16, generator=gen)

    def ours(q, k, v):
        return flash_attention(q, k, v, causal=True)

    def sdpa(q, k, v):
        with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
            return F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=hkv != H)

    base_name, note = "SDPA flash", ""
    try:
        ref = sdpa(q, k, v)
    except RuntimeError:  # a torch whose flash backend does not take GQA: it reads repeated K/V instead
        def sdpa(q, k, v):  # noqa: F811
            g = H // hkv
            with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
                return F.scaled_dot_product_attention(q, k.repeat_interleave(g, 1), v.repeat_interleave(g, 1),
                                                      is_causal=True)

        base_name, note = "SDPA flash (K/V repeated)", "flash backend refused enable_gqa"
        ref = sdpa(q, k, v)
    err = _rel_err(ours(q, k, v), ref)
    flops = attention_flops(B, H, S, S, D, causal=True) * 3.5
    ms = _bench(_fwd_bwd(ours, (q, k, v), do), [q, k, v])
    base_ms = _bench(_fwd_bwd(sdpa, (q, k, v), do), [q, k, v])
    kind = "MHA" if hkv == H else f"GQA {hkv} KV heads"
    table.add("attention fwd+bwd", f"B{B} H{H} S{S} D{D} causal {kind}", ms, flops, "TFLOP/s", base_name,
              base_ms, f"{note} rel.err {err:.1e}".strip())


def _peak_activation_mib(step, warm: int = 1) -> float:
    """Peak memory above what is allocated before the step, over one fwd+bwd (after warm-up runs)."""
    import torch

    for _ in range(warm):
        step()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    start = torch.cuda.memory_allocated()
    step()
    torch.cuda.synchronize()
    return (torch.cuda.max_memory_allocated() - start) / 2**20


def bench_swiglu(table: Table):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    from kernels.swiglu import swiglu, swiglu_ffn_flops

    T, d, ffn = 8192, 4096, 14336

    class FFN(nn.Module):
        def __init__(self, fused: bool):
            super().__init__()
            self.gate = nn.Linear(d, ffn, bias=False)
            self.up = nn.Linear(d, ffn, bias=False)
            self.down = nn.Linear(ffn, d, bias=False)
            self.fused = fused

        def forward(self, x):
            if self.fused:
                return self.down(swiglu(self.gate(x), self.up(x)))
            return self.down(F.silu(self.gate(x)) * self.up(x))

    torch.manual_seed(0)
    eager = FFN(False).cuda().bfloat16()
    ours = FFN(True).cuda().bfloat16()
    ours.load_state_dict(eager.state_dict())
    compiled = torch.compile(eager)
    x = torch.randn(T, d, device="cuda", dtype=torch.bfloat16, requires_grad=True)
    dout = torch.randn(T, d, device="cuda", dtype=torch.bfloat16)
    params = [x, *eager.parameters(), *ours.parameters()]
    err = _rel_err(ours(x), eager(x))
    steps = {name: _fwd_bwd(m, (x,), dout) for name, m in (("ours", ours), ("compile", compiled), ("eager", eager))}
    ms = {name: _bench(step, params) for name, step in steps.items()}
    mem = {}
    for name, step in steps.items():
        for p in params:
            p.grad = None
        mem[name] = _peak_activation_mib(step)
    flops = swiglu_ffn_flops(T, d, ffn) * 3
    note = (f"peak act. memory {mem['ours']:.0f} MiB = {mem['ours'] / mem['eager']:.2f}x eager "
            f"({mem['eager']:.0f}), compile {mem['compile']:.0f}; rel.err {err:.1e}")
    table.add("SwiGLU FFN fwd+bwd", f"T{T} d{d} ffn{ffn}", ms["ours"], flops, "TFLOP/s", "torch.compile",
              ms["compile"], note)


def _bench_norm(table: Table, name: str, ours, reference, nbytes, with_bias: bool):
    import torch

    M, N = 8192, 4096
    gen = torch.Generator(device="cuda").manual_seed(0)
    x = torch.randn(M, N, device="cuda", dtype=torch.bfloat16, generator=gen).requires_grad_()
    w = (1 + 0.1 * torch.randn(N, device="cuda", dtype=torch.bfloat16, generator=gen)).requires_grad_()
    b = (0.1 * torch.randn(N, device="cuda", dtype=torch.bfloat16, generator=gen)).requires_grad_()
    dout = torch.randn(M, N, device="cuda", dtype=torch.bfloat16, generator=gen)
    inputs = (x, w, b) if with_bias else (x, w)
    compiled = torch.compile(reference)
    err = _rel_err(ours(*inputs), reference(*inputs))
    ms = _bench(_fwd_bwd(ours, inputs, dout), list(inputs))
    base_ms = _bench(_fwd_bwd(compiled, inputs, dout), list(inputs))
    work = nbytes(M, N, 2) + nbytes(M, N, 2, backward=True)
    table.add(f"{name} fwd+bwd", f"{M} x {N}", ms, work, "GB/s", "torch.compile", base_ms, f"rel.err {err:.1e}")


def bench_rmsnorm(table: Table):
    from kernels.rmsnorm import rms_norm, rmsnorm_bytes, rmsnorm_reference

    _bench_norm(table, "RMSNorm", lambda x, w: rms_norm(x, w, 1e-6), lambda x, w: rmsnorm_reference(x, w, 1e-6),
                rmsnorm_bytes, with_bias=False)


def bench_layernorm(table: Table):
    from kernels.layernorm import layer_norm, layernorm_bytes, layernorm_reference

    _bench_norm(table, "LayerNorm", layer_norm, layernorm_reference, layernorm_bytes, with_bias=True)


def _moe_loop(x, ids, w, w_gu, w_d):
    """transformers' eager experts loop: per hit expert, gather its tokens, FFN, scale, index_add back."""
    import torch
    import torch.nn.functional as F

    out = torch.zeros_like(x)
    mask = torch.nn.functional.one_hot(ids, w_gu.shape[0]).permute(2, 1, 0)  # (E, k, T)
    for e in torch.greater(mask.sum(dim=(-1, -2)), 0).nonzero().flatten().tolist():
        slot, tok = torch.where(mask[e])
        gate, up = F.linear(x[tok], w_gu[e]).chunk(2, dim=-1)
        y = F.linear(F.silu(gate) * up, w_d[e]) * w[tok, slot, None]
        out = out.index_add(0, tok, y.to(out.dtype))
    return out


def _moe_grouped_mm(x, ids, w, w_gu, w_d):
    """transformers 5's grouped_mm path: sort the pairs by expert, torch._grouped_mm with per-expert row
    offsets, SwiGLU, grouped_mm again, weight, unsort, sum per token."""
    import torch
    import torch.nn.functional as F

    T, k = ids.shape
    flat = ids.reshape(-1)
    order = torch.argsort(flat, stable=True)
    tok = order // k
    counts = torch.bincount(flat, minlength=w_gu.shape[0])
    offs = torch.cumsum(counts, 0, dtype=torch.int32)
    gate_up = torch._grouped_mm(x[tok], w_gu.transpose(-2, -1), offs=offs)
    gate, up = gate_up.chunk(2, dim=-1)
    y = torch._grouped_mm(F.silu(gate) * up, w_d.transpose(-2, -1), offs=offs)
    y = y * w.reshape(-1)[order, None]
    out = torch.zeros(T * k, x.shape[1], device=x.device, dtype=y.dtype).index_copy(0, order, y)
    return out.view(T, k, -1).sum(1)


def bench_moe(table: Table):
    for E, k in ((8, 2), (64, 8)):
        _bench_moe_one(table, E, k)


def _bench_moe_one(table: Table, E: int, k: int):
    import torch

    from kernels.moe import moe_experts, moe_flops

    T, d, Fh = 8192, 2048, 1408
    gen = torch.Generator(device="cuda").manual_seed(0)
    x = torch.randn(T, d, device="cuda", dtype=torch.bfloat16, generator=gen).requires_grad_()
    logits = torch.randn(T, E, device="cuda", generator=gen)
    w_top, ids = torch.softmax(logits, -1).topk(k, dim=-1)
    w_top = w_top.to(torch.bfloat16).requires_grad_()
    w_gu = (torch.randn(E, 2 * Fh, d, device="cuda", generator=gen) / math.sqrt(d)).bfloat16().requires_grad_()
    w_d = (torch.randn(E, d, Fh, device="cuda", generator=gen) / math.sqrt(Fh)).bfloat16().requires_grad_()
    dout = torch.randn(T, d, device="cuda", dtype=torch.bfloat16, generator=gen)
    leaves = [x, w_top, w_gu, w_d]

    def ours(x, w, w_gu, w_d):
        return moe_experts(x, ids, w, w_gu, w_d)

    def loop(x, w, w_gu, w_d):
        return _moe_loop(x, ids, w, w_gu, w_d)

    def grouped(x, w, w_gu, w_d):
        return _moe_grouped_mm(x, ids, w, w_gu, w_d)

    ref = loop(*leaves)
    err = _rel_err(ours(*leaves), ref)
    flops = moe_flops(T, d, Fh, k) * 3
    ms = _bench(_fwd_bwd(ours, leaves, dout), leaves)
    loop_ms = _bench(_fwd_bwd(loop, leaves, dout), leaves)
    try:
        gerr = _rel_err(grouped(*leaves), ref)
        grouped_ms = _bench(_fwd_bwd(grouped, leaves, dout), leaves)
        gnote = f"grouped_mm {grouped_ms:.3f} ms: {grouped_ms / ms:.2f}x (its rel.err {gerr:.1e})"
    except (RuntimeError, AttributeError, NotImplementedError) as exc:  # no _grouped_mm (or its backward)
        gnote = f"grouped_mm unavailable: {str(exc).splitlines()[0][:80]}"
    table.add("MoE experts fwd+bwd", f"T{T} d{d} F{Fh} E{E} top{k}", ms, flops, "TFLOP/s", "per-expert loop",
              loop_ms, f"{gnote}; rel.err {err:.1e}")


def main(argv: list[str]) -> int:
    chosen = argv or list(SECTIONS)
    unknown = [s for s in chosen if s not in SECTIONS]
    if unknown:
        print(f"unknown section {unknown[0]!r}; choose from {', '.join(SECTIONS)}", file=sys.stderr)
        return 2
    try:
        import torch
        import triton
    except ImportError as exc:
        print(f"{sys.executable} cannot import {exc.name}: nothing measured (run with a Python that has torch "
              "and triton: make bench-kernels PYTHON=...)")
        return 0
    if not torch.cuda.is_available():
        print("no CUDA GPU: nothing measured (BENCHMARKS.md keeps 'not measured')")
        return 0
    gpu = torch.cuda.get_device_name()
    table = Table(gpu)
    print(f"GPU: {gpu}; torch {torch.__version__}, triton {triton.__version__}; "
          f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC")
    print("peak:", f"{table.peak[0]:.0f} TFLOP/s bf16 dense, {table.peak[1]:.2f} TB/s HBM" if table.peak else "unknown")
    print("| kernel | shape | time | rate | share of peak | baseline | ratio (baseline / ours) | notes |")
    print("|---|---|---|---|---|---|---|---|")
    for name in chosen:
        try:
            globals()[f"bench_{name}"](table)
        except Exception as exc:  # one broken section must not hide the others' numbers
            print(f"| {name} | failed: {type(exc).__name__}: {str(exc).splitlines()[0][:160]} |||||||", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
