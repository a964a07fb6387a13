"""archc show: collapsed repeats, full totals at any terminal width, JSON for scripts."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap

from tests.conftest import ROOT, archc_cmd


def _show(*args: str, columns: str = "40") -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": columns}
    return subprocess.run(archc_cmd() + ["show", *args], cwd=ROOT, env=env, capture_output=True, text=True)


def test_totals_in_full_and_repeats_collapsed_even_on_a_narrow_terminal():
    out = _show("specs/gpt2.yaml")
    assert out.returncode == 0, out.stderr
    assert "parameters:      124,439,808" in out.stdout
    assert "h.[0-11] x12" in out.stdout and "h.[i].attn" in out.stdout
    assert "h.3.attn" not in out.stdout
    assert "FLOPs share:" in out.stdout and "mlp" in out.stdout and "attention" in out.stdout


def test_expand_lists_every_scope():
    out = _show("specs/gpt2.yaml", "vars.n_layers=3", "--expand")
    for i in range(3):
        assert f"h.{i}.attn " in out.stdout


def test_json_totals_and_shares():
    out = _show("specs/llama.yaml", "size=7b", "--format", "json")
    data = json.loads(out.stdout)
    assert data["totals"]["params"] == 6_738_415_616
    shares = data["totals"]["flops_share"]
    assert abs(sum(shares.values()) - 1.0) < 1e-9 and shares["mlp"] > shares["attention"]


def test_nested_repeats_collapse_to_one_subtree(tmp_path):
    spec = tmp_path / "nest.yaml"
    spec.write_text(textwrap.dedent("""
        inputs: {x: {shape: [B, 8]}}
        blocks:
          inner: {nodes: {l: {op: linear, out_features: 8}, a: {op: relu}}}
          outer:
            nodes:
              n: {op: layernorm}
              sub: {block: inner, repeat: 2}
              p: {op: linear, out_features: 8}
        nodes:
          h: {block: outer, in: x, repeat: 3}
    """))
    out = _show(str(spec))
    scopes = [line.split()[0] for line in out.stdout.splitlines()[2:] if line.startswith(" ") or line[:1] == "h"]
    assert scopes == ["h.[0-2]", "h.[i]", "h.[i].n", "h.[i].sub.[0-1]", "h.[i].sub.[i]", "h.[i].sub.[i].l",
                      "h.[i].sub.[i].a", "h.[i].p"]
    assert "parameters:      696" in out.stdout  # 3 x (16 + 2 x 72 + 72)


def test_repeat_of_a_single_node_block_has_its_group_row(tmp_path):
    spec = tmp_path / "ar.yaml"
    spec.write_text("inputs: {x: {shape: [B, 8]}}\nblocks: {lin: {nodes: {l: {op: linear, out_features: 8}}}}\n"
                    "nodes:\n  h: {block: lin, in: x, repeat: 3}\n  o: {op: tanh}\n")
    rows = [line.split() for line in _show(str(spec)).stdout.splitlines()[2:5]]
    assert rows[0][:2] == ["h.[0-2]", "x3"] and rows[0][-2:] == ["216", "384"]
    assert rows[1][0] == "h.[i]" and rows[1][-2:] == ["72", "128"]
