"""Start-up hygiene: the read-only commands never import torch; `import archc` stays cheap."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT


def _modules_after(code: str) -> set[str]:
    probe = code + "\nimport sys\nprint('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_import_archc_is_cheap():
    mods = _modules_after("import archc")
    assert not {"torch", "jinja2", "networkx", "omegaconf", "sympy"} & mods


def test_op_registry_pulls_in_no_torch_jinja2_or_sympy():
    mods = _modules_after("import archc.ops.registry")
    assert not {"torch", "jinja2", "sympy"} & mods


@pytest.mark.parametrize("argv", [
    ["show", "specs/llama.yaml"],
    ["show", "specs/gpt2.yaml", "vars.n_layers=2", "--format", "json"],
    ["lint", "specs/llama.yaml"],
    ["build", "specs/llama.yaml"],
    ["--help"],
])
def test_cli_commands_do_not_import_torch(argv):
    code = ("import contextlib, io\nfrom archc.cli.main import main\n"
            f"with contextlib.redirect_stdout(io.StringIO()):\n    rc = main({argv!r})\n"
            "assert rc in (0, 1), rc")
    mods = _modules_after(code)
    assert "torch" not in mods
    assert "sympy" not in mods


def test_build_verify_does_import_torch():
    code = ("import contextlib, io\nfrom archc.cli.main import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    rc = main(['build', 'specs/gpt2.yaml', 'vars.n_layers=1', '--verify'])\nassert rc == 0, rc")
    assert "torch" in _modules_after(code)
