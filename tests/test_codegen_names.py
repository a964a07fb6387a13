"""Spec names and strings in generated code: names the templates define, names that are not identifiers,
file names with quotes. Every one builds a file that compiles, constructs and runs."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap

import pytest
import torch

from archc.codegen.names import comment, docstring, identifier, string, template_defines, top_level_names
from archc.codegen.pytorch import build_source, environment, load_source, state_dict_names
from archc.codegen.verify import verify
from archc.paths import templates_dir
from archc.pipeline import load_spec

HOSTILE = ["a\n", 'x"""y', "ends in \\", "quote'\"", "\x1b[2Jclear", "line\u2028sep", "tab\there", "é"]


@pytest.mark.parametrize("text", HOSTILE)
def test_text_helpers_keep_the_file_valid(text):
    assert "\n" not in comment(text) and ast.parse(f"x = 1  # {comment(text)}\n")
    doc = ast.parse(f'def f():\n    """{docstring(text)}"""\n').body[0]
    assert ast.get_docstring(doc, clean=False) == comment(text)  # the same text, on one line
    assert ast.literal_eval(string(text)) == text  # a string literal keeps the value exactly
    assert identifier(text).isidentifier() and identifier(text).isascii()


def test_every_support_name_is_known_to_the_allocator():
    globals_, members = template_defines(environment())
    assert {"Attention", "RotaryTables", "apply_rope", "SiluMul", "silu_mul", "Scale", "MLP"} <= globals_
    assert {"torch", "F", "nn", "Config", "Model"} <= globals_ and "tie_weights" in members
    for path in (templates_dir() / "support").glob("*.py.j2"):  # read from the files, not a hand-kept list
        text = environment().get_template(f"support/{path.name}").render(
            features=["cross", "fused", "rope", "triton"], kernels=["attention", "layernorm", "rmsnorm", "swiglu"])
        assert top_level_names(text) <= globals_


def _run(tmp_path, text: str, name: str = "spec.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    spec = load_spec(path)
    source = build_source(spec)
    ast.parse(source)
    model = load_source(source).Model()
    assert set(model.state_dict()) == set(state_dict_names(spec).values())
    assert verify(spec, source).startswith("verified:")
    return spec, source, model


def test_names_the_templates_define_cannot_be_shadowed(tmp_path):
    """tie_weights as a node, attention / rotary_tables / silu_mul as blocks, silu_mul as a node in a SwiGLU."""
    _, source, model = _run(tmp_path, """
        inputs: {x: {shape: [B, T, 8]}}
        blocks:
          attention:
            nodes:
              a: {op: attention, in: x, n_heads: 2}
          rotary_tables:
            nodes:
              r: {op: linear, in: x, out_features: 8}
              s: {op: relu}
          silu_mul:
            nodes:
              gate: {op: linear, in: x, out_features: 16}
              up: {op: linear, in: x, out_features: 16}
              act: {op: silu, in: gate}
              silu_mul: {op: mul, in: [act, up]}
              down: {op: linear, out_features: 8}
        nodes:
          tie_weights: {op: linear, in: x, out_features: 8}
          reset_parameters: {op: linear, out_features: 8, tie: tie_weights}
          torch: {block: attention}
          F: {block: rotary_tables}
          Attention: {block: silu_mul}
          SiluMul: {op: gelu}
    """)
    assert "silu_mul_ = silu_mul(gate, up)" in source
    x = torch.randn(2, 3, 8)
    model(x).sum().backward()
    assert model.reset_parameters_.weight is model.tie_weights_.weight


def test_a_file_name_with_quotes_builds_a_file_that_compiles(tmp_path):
    spec, source, _ = _run(tmp_path, """
        inputs: {x: {shape: [B, 4]}}
        nodes:
          a: {op: linear, in: x, out_features: 3}
    """, name="we\"ird'.yaml")
    out = tmp_path / "out.py"
    out.write_text(source)
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--isolated", "--line-length", "120", str(out)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
    assert 'we\\"ird\'' in source  # escaped inside docstrings


def test_a_spec_name_that_is_not_an_identifier_never_reaches_code_raw(tmp_path):
    """The loader should refuse "a\\n"; if it gets through, codegen still writes a valid file."""
    try:
        spec, source, model = _run(tmp_path, 'inputs: {x: {shape: [B, 4]}}\nnodes:\n'
                                             '  "a\\n": {op: linear, in: x, out_features: 3}\n'
                                             '  b: {op: relu, in: "a\\n"}\noutputs: {"o\\n": b}\n')
    except Exception as exc:  # refused by the loader: also a promise kept
        assert type(exc).__name__ == "SpecError"
        return
    assert model(torch.randn(2, 4)).shape == (2, 3)


def test_the_model_template_declares_every_name_it_defines():
    """What Model and the module define beyond the spec's classes is in the template's `defines`."""
    from tests.conftest import ROOT

    globals_, members = template_defines(environment())
    for golden in (ROOT / "tests" / "golden").glob("*.py"):
        tree = ast.parse(golden.read_text())
        block_classes = {n.name for n in tree.body if isinstance(n, ast.ClassDef)
                         and any(isinstance(b, ast.Attribute) and b.attr == "Module" for b in n.bases)}
        assert top_level_names(golden.read_text()) - block_classes <= globals_ | {"Model"}
        (model,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Model"]
        methods = {n.name for n in model.body if isinstance(n, ast.FunctionDef)} - {"__init__"}
        assert methods <= members
