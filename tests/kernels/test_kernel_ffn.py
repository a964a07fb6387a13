"""kernels/swiglu.py, kernels/rmsnorm.py and kernels/layernorm.py against plain PyTorch, forward and every
input's gradient, on odd widths (37 hidden columns, 45 features), an odd number of rows (21, so the two
interpreter programs of the norms' backward take 11 and 10 rows), and gate/up given as the two halves of one
fused projection (strided views). Each case takes well under a second in the interpreter.
"""

import zlib

import pytest
import torch

from kernels.layernorm import layer_norm, layernorm_reference
from kernels.rmsnorm import rms_norm, rmsnorm_reference
from kernels.swiglu import ACTIVATIONS, GatedActivation, gated_reference, geglu, swiglu
from tests.kernels.tolerance import DEVICE, DTYPES, check, dtype_id


def _gen(*key):
    return torch.Generator().manual_seed(zlib.crc32(repr(key).encode()))


def _leaves(dtype, *tensors):
    return [t.to(DEVICE, dtype).requires_grad_() for t in tensors]


def _compare(fn, ref, tensors64, dtype, names):
    """fn and ref take the same tensors; compares the output and each tensor's gradient."""
    gen = _gen(names)
    got_in = _leaves(dtype, *tensors64)
    out = fn(*got_in)
    dout64 = torch.randn(out.shape, generator=gen, dtype=torch.float64)
    got = [out, *torch.autograd.grad(out, got_in, dout64.to(DEVICE, dtype))]
    ref_in = _leaves(torch.float64, *tensors64)
    r = ref(*ref_in)
    want = [r, *torch.autograd.grad(r, ref_in, dout64.to(DEVICE))]
    same = [None] * len(want)
    if dtype != torch.float32:
        pt_in = _leaves(dtype, *tensors64)
        p = ref(*pt_in)
        same = [p, *torch.autograd.grad(p, pt_in, dout64.to(DEVICE, dtype))]
    for name, g, w, s in zip(("out", *names), got, want, same, strict=True):
        check(name, g, w, s)


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("act", ACTIVATIONS)
def test_gated_activation_matches_reference(act, dtype):
    # (3, 7, 2 * 37): one fused gate|up projection output, chunked into two strided views
    gate_up = torch.randn(3, 7, 74, generator=_gen(act), dtype=torch.float64) * 3

    def kernel(gu):
        g, u = gu.chunk(2, dim=-1)
        if act == "silu":
            return swiglu(g, u)
        return geglu(g, u, approximate="tanh" if act == "gelu_tanh" else "none")

    def reference(gu):
        return gated_reference(*gu.chunk(2, dim=-1), act)

    _compare(kernel, reference, [gate_up], dtype, ("d_gate_up",))


def test_gated_activation_saves_inputs_only():
    """The backward recomputes act(gate): the only saved tensors are gate and up (no third hidden-width one)."""
    g, u = (torch.randn(5, 37, device=DEVICE, requires_grad=True) for _ in range(2))
    out = swiglu(g, u)
    assert out.grad_fn.__class__.__name__ == GatedActivation.__name__ + "Backward"
    assert len(out.grad_fn.saved_tensors) == 2


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("affine", [True, False], ids=["weight", "no_weight"])
def test_rmsnorm_matches_reference(affine, dtype):
    gen = _gen("rms", affine)
    x = torch.randn(7, 3, 45, generator=gen, dtype=torch.float64) * 2 + 0.5
    w = 1 + 0.3 * torch.randn(45, generator=gen, dtype=torch.float64)
    if affine:
        _compare(lambda x, w: rms_norm(x, w, 1e-5), lambda x, w: rmsnorm_reference(x, w, 1e-5), [x, w], dtype,
                 ("dx", "dweight"))
    else:
        _compare(lambda x: rms_norm(x, None, 1e-5), lambda x: rmsnorm_reference(x, None, 1e-5), [x], dtype, ("dx",))


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("params", ["weight_bias", "weight", "none"])
def test_layernorm_matches_reference(params, dtype):
    gen = _gen("ln", params)
    x = torch.randn(21, 45, generator=gen, dtype=torch.float64) * 2 + 0.5
    w = 1 + 0.3 * torch.randn(45, generator=gen, dtype=torch.float64)
    b = 0.3 * torch.randn(45, generator=gen, dtype=torch.float64)
    if params == "weight_bias":
        _compare(lambda x, w, b: layer_norm(x, w, b), lambda x, w, b: layernorm_reference(x, w, b), [x, w, b],
                 dtype, ("dx", "dweight", "dbias"))
    elif params == "weight":
        _compare(lambda x, w: layer_norm(x, w, None), lambda x, w: layernorm_reference(x, w, None), [x, w], dtype,
                 ("dx", "dweight"))
    else:
        _compare(lambda x: layer_norm(x, None, None), lambda x: layernorm_reference(x, None, None), [x], dtype,
                 ("dx",))


def test_norms_single_row():
    """One row: one forward program, one backward program, the partial-sum buffer has a single row."""
    x = torch.randn(1, 45, dtype=torch.float64)
    w = torch.rand(45, dtype=torch.float64) + 0.5
    _compare(lambda x, w: rms_norm(x, w, 1e-6), lambda x, w: rmsnorm_reference(x, w, 1e-6), [x, w],
             torch.float32, ("dx", "dweight"))
    _compare(lambda x, w: layer_norm(x, w, None), lambda x, w: layernorm_reference(x, w, None), [x, w],
             torch.float32, ("dx", "dweight"))


def test_shape_mismatches_are_refused():
    with pytest.raises(ValueError, match="differ"):
        swiglu(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="weight"):
        rms_norm(torch.zeros(2, 3), torch.zeros(4))
    with pytest.raises(ValueError, match="bias"):
        layer_norm(torch.zeros(2, 3), torch.zeros(3), torch.zeros(4))
