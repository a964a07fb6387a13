"""Compile every kernel of kernels/ for an NVIDIA GPU (sm_90, Hopper) without one: Triton's front end and
ptxas run on the CPU. The interpreter runs kernels as Python, so it accepts code a GPU compile refuses (a
plain float global read inside a kernel, a layout the backend cannot lower); this catches that class.

    python tests/kernels/compile_for_gpu.py        # prints one line per kernel variant, exit 1 on a failure

Run in its own process: TRITON_INTERPRET must be unset when the kernels are decorated.
"""

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.pop("TRITON_INTERPRET", None)

import triton  # noqa: E402
from triton.backends.compiler import GPUTarget  # noqa: E402
from triton.compiler import ASTSource  # noqa: E402

from kernels import attention, layernorm, moe, rmsnorm, swiglu  # noqa: E402

TARGET = GPUTarget("cuda", 90, 32)
FLOATS = {"qk_scale", "sm_scale", "eps"}
# pointer arguments by name; everything else that is not a constexpr is an i32 (sizes, strides)
POINTERS = {
    **{n: "bf16" for n in ("Q", "K", "V", "Out", "DO", "DQ", "DK", "DV", "A", "W", "OUT", "GU", "L", "R", "DW",
                           "ROUTE_W", "G", "U", "DG", "DU", "X", "B", "Y", "DY", "DX")},
    **{n: "fp32" for n in ("LSE", "DELTA", "COS", "SIN", "DW_PART", "RSTD", "MEAN", "DW_PARTIAL", "DB_PARTIAL")},
    **{n: "i32" for n in ("SORTED_PAIR", "BLOCK_EXPERT", "PAD_START", "PAD_COUNT")},
}


def variants():
    """(label, kernel, constexprs, num_warps, num_stages[, dtype]): every constexpr branch once, small tiles."""
    for causal, rope in ((True, False), (True, True), (False, False)):
        c = dict(HEAD_DIM=80, D_PAD=128, CAUSAL=causal, ROPE=rope, IP="tf32", BLOCK_M=64, BLOCK_N=32)
        label = f"causal={causal} rope={rope}"
        yield f"attention fwd {label}", attention._attn_fwd, c, 4, 2
        yield f"attention dq {label}", attention._attn_bwd_dq, c, 4, 2
        yield f"attention dkdv {label}", attention._attn_bwd_dkdv, dict(c, BLOCK_M=32, BLOCK_N=64), 4, 2
    for fn in (attention._attn_fwd, attention._attn_bwd_dq, attention._attn_bwd_dkdv):  # fp32, D = 256
        c = dict(HEAD_DIM=256, D_PAD=256, CAUSAL=True, ROPE=False, IP="ieee", **attention._small_gpu_tiles(fn, 1024))
        warps, stages = c.pop("num_warps"), c.pop("num_stages")
        yield f"attention {fn.__name__} fp32 D=256", fn, c, warps, stages, "fp32"
    yield "attention preprocess", attention._attn_bwd_preprocess, dict(HEAD_DIM=80, D_PAD=128, BLOCK_M=64), 4, 1
    tiles = dict(BLOCK_M=64, BLOCK_N=64, BLOCK_K=32)
    for a, e in (("token", "sorted"), ("swiglu", "pair_scaled"), ("token", "swiglu_bwd"), ("sorted", "pair")):
        yield f"moe gemm {a}/{e}", moe._moe_grouped_gemm, dict(A_MODE=a, EPILOGUE=e, IP="tf32", **tiles), 4, 2
    for mode in ("down", "up"):
        yield f"moe weight grad {mode}", moe._moe_weight_grad, dict(MODE=mode, IP="tf32", **tiles), 4, 2
    for act in swiglu.ACTIVATIONS:
        yield f"glu fwd {act}", swiglu._glu_fwd, dict(ACT=act, BLOCK=1024), 4, 1
        yield f"glu bwd {act}", swiglu._glu_bwd, dict(ACT=act, BLOCK=1024), 4, 1
    for affine in (True, False):
        yield f"rmsnorm fwd affine={affine}", rmsnorm._rmsnorm_fwd, dict(AFFINE=affine, BLOCK=4096), 16, 1
        yield f"rmsnorm bwd affine={affine}", rmsnorm._rmsnorm_bwd, dict(AFFINE=affine, BLOCK=4096), 16, 1
        c = dict(AFFINE=affine, BIAS=affine, BLOCK=4096)
        yield f"layernorm fwd affine={affine}", layernorm._layernorm_fwd, c, 16, 1
        yield f"layernorm bwd affine={affine}", layernorm._layernorm_bwd, c, 16, 1


def compile_one(fn, constexprs, num_warps, num_stages, dtype="bf16"):
    sig = {}
    # K is attention's key tensor but the MoE GEMMs' reduction width
    ints = {"K"} if fn.__module__.endswith("moe") else set()
    for name in fn.arg_names:
        if name in constexprs:
            sig[name] = "constexpr"
        elif name in POINTERS and name not in ints:
            sig[name] = "*" + (dtype if POINTERS[name] == "bf16" else POINTERS[name])
        else:
            sig[name] = "fp32" if name in FLOATS else "i32"
    src = ASTSource(fn, sig, constexprs=constexprs)
    return triton.compile(src, target=TARGET, options={"num_warps": num_warps, "num_stages": num_stages})


def main() -> int:
    failed = total = 0
    for label, fn, constexprs, warps, stages, *dtype in variants():
        total += 1
        t = time.perf_counter()
        try:
            kernel = compile_one(fn, constexprs, warps, stages, *dtype)
        except Exception as exc:  # report every failing variant, not only the first
            failed += 1
            cause = exc.__cause__ or exc
            print(f"FAIL {label}: {type(cause).__name__}: {str(cause)[-400:]}")
            continue
        print(f"ok   {label}: {kernel.metadata.shared / 1024:.0f} KiB shared, {time.perf_counter() - t:.1f} s")
    print(f"{total} variants, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
