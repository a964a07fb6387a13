"""A non-editable install works: the wheel carries the catalog, templates and kernels it needs at run time."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import zipfile

import pytest

from tests.conftest import ROOT


@pytest.mark.slow
def test_wheel_ships_catalog_and_templates_and_works_outside_the_checkout(tmp_path):
    wheels = tmp_path / "wheels"
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                            str(wheels), str(ROOT)], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = wheels.glob("archc-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ("archc/_data/specs/llama.yaml", "archc/_data/specs/ffn/swiglu.yaml",
                   "archc/_data/templates/model.py.j2", "archc/_data/templates/ops/attention.j2",
                   "archc/_data/kernels/README.md"):
        assert needed in names, needed
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, capture_output=True)
    work = tmp_path / "experiments"
    work.mkdir()
    (work / "my.yaml").write_text(textwrap.dedent("""
        defaults: [{ffn: swiglu}, _self_]
        vars: {d_model: 32, d_ff: 64}
        inputs: {x: {shape: [B, T, 32]}}
        nodes:
          mlp: {block: ffn, in: x}
    """))
    env = {**os.environ, "PYTHONPATH": str(target)}
    code = ("import archc, sys; assert archc.__file__.startswith(sys.argv[1]), archc.__file__; "
            "spec = archc.load_spec('my.yaml'); src = archc.build_source(spec); print(len(spec.ir), len(src))")
    out = subprocess.run([sys.executable, "-c", code, str(target)], cwd=work, env=env, capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.split()[0]) == 6  # input + gate, up, act, gated, down
