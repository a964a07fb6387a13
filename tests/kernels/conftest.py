"""Kernel tests run in Triton's interpreter when there is no CUDA GPU.

TRITON_INTERPRET is read when a kernel is decorated (`triton.jit` returns an interpreted function then), so
it is set here, at import time, before any test module imports kernels/ (pytest-xdist workers import this
file too). On a GPU the kernels compile for real and the half-precision cases run as well.
"""

import os

import torch

if not torch.cuda.is_available():
    os.environ["TRITON_INTERPRET"] = "1"
