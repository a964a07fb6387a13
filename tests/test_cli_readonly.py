"""The read-only commands end to end: graph, ir, schema, explain's CLI, --help, --version, import hygiene."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from archc.cli.main import COMMANDS
from archc.ir.serialize import from_json
from archc.pipeline import load_spec
from tests.conftest import ROOT, archc_cmd

HAS_DOT = shutil.which("dot") is not None


def run(*args, cwd=ROOT, env=None):
    return subprocess.run([*archc_cmd(), *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=120)


# -- archc graph --------------------------------------------------------------------------------------------

def test_graph_collapses_repeats_into_one_cluster():
    result = run("graph", "specs/gpt2.yaml")
    assert result.returncode == 0, result.stderr
    dot = result.stdout
    assert 'subgraph "cluster_h.0" {' in dot and 'label="h: layer x 12"' in dot
    assert 'subgraph "cluster_h.0.mlp" {' in dot  # nested: the ffn block inside the layer
    assert "h.1." not in dot and "cluster_h.1" not in dot
    assert '"h.0.attn" [label="attn\\nattention\\n[B, T, 768]"' in dot
    assert 'drop -> "h.0.ln_1"' in dot and '"h.0.res_2" -> ln_f' in dot  # into and out of the repeat
    assert 'head -> wte [label=tied' in dot
    assert '"output logits"' in dot


def test_graph_labels_ports_of_multi_input_ops():
    dot = run("graph", "specs/llama.yaml").stdout
    assert 'rope -> "layers.0.attn" [label=rope]' in dot
    assert 'label="layers: layer x 12"' in dot


NESTED = """
inputs:
  graph: {shape: [B, T, 8]}
blocks:
  act: {nodes: {r: {op: relu}}}
  inner: {nodes: {l: {op: linear, out_features: 8}, a: {block: act}}}
  outer:
    nodes:
      n: {op: layernorm}
      body: {block: inner, repeat: 3}
      s: {op: split, sizes: [4, 4]}
      c: {op: concat, in: [s.1, s.0]}
nodes:
  acts: {block: act, repeat: 2}
  h: {block: outer, repeat: 2}
  node: {op: add, in: [h, graph]}
"""


def test_graph_nests_repeats_and_quotes_dot_keywords(tmp_path):
    from archc.cli.graph import draw

    path = tmp_path / "nested.yaml"
    path.write_text(NESTED)
    dot = draw(load_spec(path).ir, "nested").source
    assert '\n\tsubgraph "cluster_h.0" {' in dot
    assert '\n\t\tsubgraph "cluster_h.0.body.0" {' in dot  # one level deeper: inside h's cluster
    assert 'label="body: inner x 3"' in dot and 'label="h: outer x 2"' in dot
    assert '"acts.0" [label="acts\\nrelu\\n[B, T, 8]"' in dot and "acts.1" not in dot
    assert '"h.0.s" -> "h.0.c" [label=1]' in dot  # which output of the split
    assert '"h.0.c" -> "node"' in dot and '"graph" -> "acts.0"' in dot  # DOT keywords quoted
    assert "h.1." not in dot and "body.1" not in dot


def test_graph_is_deterministic_across_hash_seeds(tmp_path):
    outputs = []
    for seed in ("1", "2"):
        path = tmp_path / f"llama{seed}.dot"
        result = run("graph", "specs/llama.yaml", "ffn=geglu", "-o", str(path),
                     env={**os.environ, "PYTHONHASHSEED": seed})
        assert result.returncode == 0, result.stderr
        outputs.append(path.read_text())
    assert outputs[0] == outputs[1]


@pytest.mark.skipif(not HAS_DOT, reason="Graphviz's dot is not installed")
@pytest.mark.parametrize("suffix, magic", [("svg", b"<?xml"), ("png", b"\x89PNG")])
def test_graph_renders(tmp_path, suffix, magic):
    path = tmp_path / f"gpt2.{suffix}"
    result = run("graph", "specs/gpt2.yaml", "vars.n_layers=2", "-o", str(path))
    assert result.returncode == 0, result.stderr
    assert path.read_bytes().startswith(magic)


def test_graph_without_dot_says_to_install_graphviz(tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    result = run("graph", "specs/gpt2.yaml", "-o", str(tmp_path / "g.svg"), env={**os.environ, "PATH": str(empty)})
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "install Graphviz" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "g.svg").exists()


def test_graph_refuses_an_unknown_format(tmp_path):
    result = run("graph", "specs/gpt2.yaml", "-o", str(tmp_path / "g.pdf"))
    assert result.returncode == 2 and "must end in .dot, .svg or .png" in result.stderr


# -- archc ir -----------------------------------------------------------------------------------------------

def test_ir_to_stdout_and_file_reads_back(tmp_path, in_root):
    result = run("ir", "specs/llama.yaml", "vars.n_layers=2")
    assert result.returncode == 0, result.stderr
    path = tmp_path / "llama.json"
    assert run("ir", "specs/llama.yaml", "vars.n_layers=2", "-o", str(path)).returncode == 0
    assert path.read_text() == result.stdout
    back = from_json(json.loads(result.stdout))
    ir = load_spec("specs/llama.yaml", ["vars.n_layers=2"]).ir
    assert list(back.nodes()) == list(ir.nodes()) and back.info == ir.info


# -- archc schema -------------------------------------------------------------------------------------------

def test_schema_to_stdout_and_file(tmp_path):
    path = tmp_path / "archc.schema.json"
    assert run("schema", "-o", str(path)).returncode == 0
    stdout = run("schema").stdout
    assert path.read_text() == stdout
    schema = json.loads(stdout)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert "op_attention" in schema["$defs"]


@pytest.mark.parametrize("args", [["ir", "specs/gpt2.yaml"], ["graph", "specs/gpt2.yaml"], ["schema"]])
def test_output_that_cannot_be_written_is_one_line(args, tmp_path):
    target = tmp_path / "missing" / "out.dot"
    result = run(*args, "-o", str(target))
    assert (result.returncode, result.stderr) == (2, f"error: {target}: No such file or directory\n")


# -- help, version, imports ---------------------------------------------------------------------------------

@pytest.mark.parametrize("command", ["show", "graph", "ir", "explain", "schema"])
def test_help_has_an_example(command):
    result = run(command, "--help")
    assert result.returncode == 0, result.stderr
    assert "Examples:" in result.stdout and f"archc {command} " in result.stdout.split("Examples:")[1]


def test_version():
    from archc import __version__

    result = run("--version")
    assert (result.returncode, result.stdout) == (0, f"archc, version {__version__}\n")


# each argv runs in a fresh interpreter: torch takes seconds to import and would leak between cases
@pytest.mark.parametrize("argv", [None, ["show", "specs/gpt2.yaml"], ["lint", "specs/gpt2.yaml"],
                                  ["graph", "specs/gpt2.yaml"], ["ir", "specs/gpt2.yaml"],
                                  ["explain", "specs/gpt2.yaml", "vars.d_model"], ["schema"]])
def test_no_torch_or_jinja2(argv):
    if argv and argv[0] not in COMMANDS:
        pytest.fail(f"command {argv[0]} is not registered")
    code = ("import sys, contextlib, io\nimport archc\n"
            f"argv = {argv!r}\n"
            "if argv:\n"
            "    from archc.cli.main import main\n"
            "    with contextlib.redirect_stdout(io.StringIO()):\n"
            "        rc = main(argv)\n"
            "    assert rc in (0, 1), rc\n"  # lint exits 1 when it finds something
            "print(sorted(m for m in ('torch', 'jinja2') if m in sys.modules))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"
