"""Every kernel variant compiles for a Hopper GPU (sm_90), checked without one (see compile_for_gpu.py).

33 variants: about 55 s of CPU without Triton's cache (5 minutes wall on the shared, busy 2-core machine; the
RoPE attention variants are the slow ones), under 5 s with it: marked slow.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def _ptxas_available() -> bool:
    try:
        from triton.backends.nvidia import compiler  # noqa: F401
    except ImportError:
        return False
    return any((Path(compiler.__file__).parent / "bin").glob("ptxas*"))


@pytest.mark.slow
@pytest.mark.skipif(not _ptxas_available(), reason="this triton has no NVIDIA backend with ptxas")
def test_kernels_compile_for_sm90():
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env.setdefault("TRITON_DEFAULT_FP_FUSION", "1")  # silences triton 3.9's notice; fusion on, as its default
    proc = subprocess.run([sys.executable, str(HERE / "compile_for_gpu.py")], env=env, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-2000:]
    summary = re.search(r"(\d+) variants, 0 failed", proc.stdout)
    assert summary and proc.stdout.count("\nok   ") + proc.stdout.startswith("ok   ") == int(summary[1]) >= 33, (
        proc.stdout
    )
