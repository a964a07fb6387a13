"""The kernel files are self-contained, so the Triton backend can copy each one verbatim into a generated
model file (which needs torch and triton, never archc): every import is torch, triton, triton.language or
math, and each file cites its paper (an arXiv id) in its docstring."""

import ast
import re
from pathlib import Path

import pytest

KERNELS = Path(__file__).resolve().parents[2] / "kernels"
ALLOWED = {"torch", "triton", "triton.language", "math"}
FILES = sorted(p for p in KERNELS.glob("*.py") if p.name != "__init__.py")


def test_the_five_kernel_files_exist():
    assert {f.stem for f in FILES} >= {"attention", "swiglu", "rmsnorm", "layernorm", "moe"}


def test_kernels_is_a_regular_package():
    """`import kernels.x` must find this directory even where another package named kernels is installed."""
    import kernels

    assert Path(kernels.__file__).parent == KERNELS


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_imports_only_torch_triton_math(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        else:
            continue
        assert set(names) <= ALLOWED, f"{path.name}:{node.lineno}: imports {names}"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_docstring_cites_a_paper(path):
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    assert re.search(r"arXiv:\d{4}\.\d{4,5}", doc), f"{path.name}: no arXiv citation in the module docstring"


def test_no_two_files_define_the_same_name():
    """A generated model carries several kernel files one after another in one module: a top-level name
    defined twice would silently take the later file's definition."""
    seen: dict[str, str] = {}
    for path in FILES:
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                names = [node.name]
            elif isinstance(node, ast.Assign):
                names = [t.id for t in node.targets if isinstance(t, ast.Name)]
            else:
                continue
            for name in names:
                assert name not in seen, f"{path.name}:{node.lineno}: {name} is also defined in {seen[name]}"
                seen[name] = path.name
