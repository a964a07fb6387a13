"""Tolerances and the comparison rule shared by the kernel tests.

fp32 (the interpreter on a CPU, or a GPU with input_precision="ieee"): the kernels accumulate in fp32 in a
different order than PyTorch; against an fp64 reference the largest errors seen over these shapes are about
6e-6 (attention's dQ, sums of up to 37 products of O(1) terms), so 2e-5 absolute plus 2e-5 relative leaves a
3x margin, while a wrong mask, index or scale gives errors of 1e-2 or more.

bf16 and fp16 (GPU only): FlashAttention's rule, since a fixed tolerance would either hide a bug or fail on
rounding. The kernel's error against an fp64 reference must be at most 2x the error of plain PyTorch computing
the same thing in that dtype, plus twice the dtype's rounding error at the reference's magnitude (the floor for
outputs that PyTorch happens to round exactly).
"""

import torch

TOLERANCES = {
    # (dtype, atol, rtol)
    torch.float32: (torch.float32, 2e-5, 2e-5),
}

ON_GPU = torch.cuda.is_available()
DEVICE = "cuda" if ON_GPU else "cpu"
# half precision only where it runs natively: the interpreter has no bf16 arithmetic (bf16 tl.dot multiplies
# raw bits), so on a CPU only fp32 is tested
DTYPES = [torch.float32] + ([torch.bfloat16, torch.float16] if ON_GPU else [])


def dtype_id(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def check(name: str, got: torch.Tensor, ref64: torch.Tensor, same_dtype: torch.Tensor | None = None) -> None:
    """got (the kernel, in its dtype) against ref64 (fp64); same_dtype is PyTorch's result in got's dtype."""
    assert got.shape == ref64.shape, f"{name}: shape {tuple(got.shape)} != {tuple(ref64.shape)}"
    assert torch.isfinite(got).all(), f"{name}: non-finite values"
    if got.dtype == torch.float32:
        _, atol, rtol = TOLERANCES[torch.float32]
        torch.testing.assert_close(got.double(), ref64, atol=atol, rtol=rtol, msg=lambda m: f"{name}: {m}")
        return
    assert same_dtype is not None, f"{name}: the {got.dtype} rule needs PyTorch's result in that dtype"
    err = (got.double() - ref64).abs().max().item()
    err_pt = (same_dtype.double() - ref64).abs().max().item()
    rounding = (ref64.to(got.dtype).double() - ref64).abs().max().item()
    assert err <= 2 * err_pt + 2 * rounding, (
        f"{name}: {got.dtype} error {err:.3g} > 2 x PyTorch's {err_pt:.3g} + 2 x rounding {rounding:.3g}"
    )


def grads(out: torch.Tensor, inputs, dout: torch.Tensor):
    return torch.autograd.grad(out, inputs, dout)
