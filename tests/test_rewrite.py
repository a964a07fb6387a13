"""The rewrite pass (archc/passes/rewrite.py): rows of one table, each with its own check; recorded in the
IR, shown by `archc show`, printed by lowering."""

from __future__ import annotations

import subprocess
import textwrap

from archc.ir.graph import IR
from archc.passes.rewrite import RULES, Match, Pat, Rule, rewrite
from archc.pipeline import load_spec
from tests.conftest import ROOT, archc_cmd


def _spec(tmp_path, text: str):
    path = tmp_path / "spec.yaml"
    path.write_text(textwrap.dedent(text))
    return load_spec(path)


SWIGLU = """
    inputs: {x: {shape: [B, 8]}}
    nodes:
      gate: {op: linear, in: x, out_features: 16}
      up: {op: linear, in: x, out_features: 16}
      act: {op: silu, in: gate}
      gated: {op: mul, in: [up, act]}
"""


def test_silu_mul_is_recorded_on_the_ir_in_either_operand_order(tmp_path):
    ir = _spec(tmp_path, SWIGLU).ir
    (record,) = ir.info["rewrites"]
    assert record["rule"] == "silu_mul" and record["root"] == "gated" and set(record["nodes"]) == {"gated", "act"}
    assert ir.node("act").meta["rewrite"]["part"] == "act" and ir.node("gated").meta["rewrite"]["part"] == "root"
    assert ir.node("gated").meta["rewrite"]["operands"] == {"in0": ["gate", "out"], "in1": ["up", "out"]}
    assert "rewrite" not in ir.node("up").meta


def test_a_refused_check_is_recorded_with_its_reason(tmp_path):
    ir = _spec(tmp_path, """
        inputs: {x: {shape: [B, 6]}, y: {shape: [B, 1]}}
        nodes:
          act: {op: silu, in: x}
          gated: {op: mul, in: [act, y]}
    """).ir
    assert ir.info["rewrites"] == []
    (miss,) = ir.info["rewrite_misses"]
    assert miss["rule"] == "silu_mul" and miss["root"] == "gated" and "broadcast" in miss["reason"]


def test_a_new_row_needs_only_its_pattern_check_and_target(tmp_path):
    """A row for another backend (as the Triton kernel selection will add) matches without codegen."""
    ir = _spec(tmp_path, SWIGLU).ir

    def wide_enough(ir: IR, m: Match) -> str | None:
        width = ir.shape_of(m.root.key)[-1]
        return None if width >= 32 else f"width {width} < 32"

    row = Rule("gated_kernel", Pat("mul", "root", (None, Pat("silu", "act", (None,))), commutative=True),
               wide_enough, "swiglu", "test row", backend="triton")
    pytorch_rows = tuple(r for r in RULES if r.backend == "pytorch")  # without the real swiglu kernel row
    rewrite(ir, (row, *pytorch_rows), backends=("triton", "pytorch"))
    assert ir.info["rewrite_misses"][0] == {"rule": "gated_kernel", "backend": "triton", "root": "gated",
                                            "reason": "width 16 < 32"}
    assert [r["rule"] for r in ir.info["rewrites"]] == ["silu_mul"]  # the next row still applies


def test_rows_of_other_backends_wait_for_their_backend_and_a_forced_row_that_cannot_apply_is_an_error(tmp_path):
    import pytest

    from archc.errors import SpecError

    ir = _spec(tmp_path, SWIGLU).ir
    row = Rule("narrow_kernel", Pat("mul", "root", (None, Pat("silu", "act", (None,))), commutative=True),
               lambda ir, m: "needs a GPU", "swiglu", "test row", backend="triton")
    rewrite(ir, (row, *RULES))
    assert [r["rule"] for r in ir.info["rewrites"]] == ["silu_mul"] and ir.info["rewrite_misses"] == []
    with pytest.raises(SpecError, match="gated: cannot lower to swiglu .*needs a GPU") as err:
        rewrite(ir, (row, *RULES), backends=("triton", "pytorch"), force=frozenset({"narrow_kernel"}))
    assert err.value.loc.line == 7  # the mul node's line in the spec


def test_show_marks_the_nodes_a_rewrite_took(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text(textwrap.dedent(SWIGLU))
    out = subprocess.run([*archc_cmd(), "show", str(path)], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = {line.split()[0]: line for line in out.stdout.splitlines() if line.strip()}
    assert "> silu_mul" in lines["act"] and "> silu_mul" in lines["gated"] and "> " not in lines["up"]
    assert "silu_mul x1" in lines["rewrites:"]


def test_a_repeated_single_op_block_is_not_rewritten_in_one_iteration_only(tmp_path):
    """Iteration 0 of a repeated mul is fed by silu, iteration 1 is not: one loop body, so no rewrite."""
    spec = _spec(tmp_path, """
        inputs: {x: {shape: [B, 6]}, y: {shape: [B, 6]}}
        blocks:
          gate: {inputs: [h, y], nodes: {m: {op: mul, in: [h, y]}}}
        nodes:
          act: {op: silu, in: x}
          layers: {block: gate, in: [act, y], repeat: 2}
    """)
    assert spec.ir.info["rewrites"] == [] and "repeated" in spec.ir.info["rewrite_misses"][0]["reason"]
    import torch

    from archc.codegen.pytorch import build_module

    x, y = torch.randn(2, 6), torch.randn(2, 6)
    torch.testing.assert_close(build_module(spec)(x, y), torch.nn.functional.silu(x) * y * y)
