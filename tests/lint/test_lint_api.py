"""The Python API, rule selection, and the shared analyses (residual joins, stacks) the rules stand on."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from archc.ir.graph import IR
from archc.lint import Finding, lint
from archc.lint.context import Context
from archc.lint.registry import RULES
from archc.lint.selection import selected
from archc.pipeline import load_spec

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures"
GPT2 = ROOT / "specs" / "gpt2.yaml"
LLAMA = ROOT / "specs" / "llama.yaml"


# -- API ---------------------------------------------------------------------------------------------------

def test_lint_takes_a_path_a_spec_or_an_ir():
    path = FIXTURES / "missing_final_norm.yaml"
    spec = load_spec(path)
    by_path, by_spec, by_ir = lint(path), lint(spec), lint(spec.ir)
    assert by_path == by_spec == by_ir
    assert by_path and all(isinstance(f, Finding) for f in by_path)
    with pytest.raises(TypeError, match="takes an IR, a Spec or a spec path"):
        lint(42)


def test_lint_options_and_errors():
    spec = load_spec(FIXTURES / "post_norm_deep_stack.yaml")
    assert len(lint(spec, select="GF001")) == 8
    assert len(lint(spec, select="GF001", options={"GF001": {"min_layers": 20}})) == 2  # the two of 24
    assert len(lint(spec, select="GF", options={"post-norm-deep-stack": {"min_layers": 100}})) == 0
    with pytest.raises(ValueError, match="unknown rule selector 'ZZ'"):
        lint(spec, ignore=["ZZ"])
    with pytest.raises(ValueError, match="options for unknown rule 'GF999'"):
        lint(spec, options={"GF999": {}})
    with pytest.raises(ValueError, match="takes float"):
        lint(spec, options={"GF001": {"max_branch_scale": "small"}})


def test_findings_are_sorted_by_location():
    findings = lint(FIXTURES / "unprojected_width_change.yaml")
    keys = [(f.loc.line, f.loc.col, f.code) for f in findings]
    assert keys == sorted(keys)


def test_a_problem_in_every_iteration_is_reported_once(tmp_path):
    """1,000 iterations of a block with a broadcast residual: one finding, and linear time."""
    spec = tmp_path / "deep.yaml"
    spec.write_text(
        "inputs:\n  x: {shape: [B, T, 8]}\n"
        "blocks:\n  layer:\n    nodes:\n"
        "      score: {op: linear, out_features: 1}\n"
        "      res: {op: add, in: [x, score]}\n"
        "nodes:\n  h: {block: layer, repeat: 1000}\n")
    ir = load_spec(spec).ir
    start = time.perf_counter()
    (finding,) = lint(ir)
    assert time.perf_counter() - start < 2.0
    assert (finding.code, finding.scope, finding.loc.line) == ("AL001", "h.0.res", 7)
    assert finding.message.endswith("is broadcast to [B, T, 8] (and 999 more iterations)")


def test_a_1000_layer_llama_lints_fast_and_clean():
    ir = load_spec(LLAMA, ["vars.n_layers=1000"]).ir
    start = time.perf_counter()
    assert lint(ir) == []
    assert time.perf_counter() - start < 1.5  # about 0.15 s on one core; quadratic would take minutes


# -- selection ---------------------------------------------------------------------------------------------

GF = [code for code in RULES if code.startswith("GF")]
AL = [code for code in RULES if code.startswith("AL")]


@pytest.mark.parametrize("select, ignore, codes", [
    (None, None, list(RULES)),
    ("ALL", None, list(RULES)),
    (["GF"], None, GF),
    (["G"], ["GF002"], [c for c in GF if c != "GF002"]),
    (["gf001"], None, ["GF001"]),
    (["missing-final-norm"], None, ["GF002"]),
    (None, ["AL", "GF001"], [c for c in RULES if c not in AL and c != "GF001"]),
    (["AL003"], ["AL"], ["AL003"]),
    (["AL"], ["AL"], []),
    (["GF001,AL002"], None, ["GF001", "AL002"]),
])
def test_selected(select, ignore, codes):
    assert selected(RULES, select, ignore) == codes


# -- shared analyses ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def gpt2():
    return Context(load_spec(GPT2, ["vars.n_layers=3"]).ir)


def test_residual_joins_of_gpt2(gpt2):
    join = gpt2.residual(gpt2.node("h.1.res_1"))
    assert join.shortcut == ("h.0.res_2", "out") and join.steps == ()
    assert join.branches == (("h.1.attn_drop", "out"),)
    assert join.branch_nodes == {"h.1.ln_1", "h.1.attn", "h.1.attn_drop"}  # the alias norm is on the branch
    assert gpt2.residual(gpt2.node("embed")) is None  # wte + wpe: the position table is not an activation
    assert "wpe" not in gpt2.activations and "wte" in gpt2.activations


def test_region_of_an_alias_is_its_instance_parent(gpt2):
    assert gpt2.region(gpt2.node("h.2.ln_1")) == "h.2"  # keyed by its own instance scope 'h.2.ln_1'
    assert gpt2.region(gpt2.node("h.2.mlp.up")) == "h.2.mlp"
    assert gpt2.region(gpt2.node("ln_f")) == ""
    assert [n.key for n in gpt2.members("h.2.mlp")] == ["h.2.mlp.up", "h.2.mlp.act", "h.2.mlp.down"]


def test_stacks(gpt2):
    (stack,) = gpt2.stacks.values()
    assert (stack.group, stack.kind, stack.depth, stack.entry, stack.output) == ("h", "pre", 3, "drop", "h.2.res_2")
    assert [r.join for r in stack.residuals][:3] == ["h.0.res_1", "h.0.res_2", "h.1.res_1"]  # every block's
    post = Context(load_spec(FIXTURES / "post_norm_deep_stack.yaml").ir).stacks
    assert (post["deep_post"].kind, post["deep_post"].stream_norms) == ("post", ("deep_post.0.ln_1",
                                                                                 "deep_post.0.ln_2"))
    assert post["deep_pre"].kind == "pre"
    assert "outer.1.inner" in post


def test_option_a_shortcut_steps():
    ctx = Context(load_spec(FIXTURES / "unprojected_width_change.yaml").ir)
    join = ctx.residual(ctx.node("widen.res"))
    assert (join.shortcut, join.source, join.steps) == (("widen.short", "out"), ("x", "out"),
                                                        (("widen.short", "out"),))
    assert ctx.residual(ctx.node("joined")) is None  # pad(c) + f(x): no common source


def test_collapse_names_every_iteration_alike():
    ctx = Context(load_spec(FIXTURES / "post_norm_deep_stack.yaml").ir)
    assert ctx.collapse("outer.1.inner.11.res_2") == "outer.[i].inner.[i].res_2"
    assert ctx.collapse("ln_f") == "ln_f"


def test_an_ir_round_trips_through_lint_without_changes():
    ir = load_spec(GPT2).ir
    before = [(n.key, dict(n.meta)) for n in ir.nodes()]
    lint(ir)
    assert isinstance(ir, IR) and [(n.key, dict(n.meta)) for n in ir.nodes()] == before


def test_a_spec_wide_depth_scaled_init_tames_post_norm_stacks():
    path = FIXTURES / "post_norm_deep_stack.yaml"
    assert lint(load_spec(path), select="GF001")
    assert lint(load_spec(path, ["+init={std: 0.02, depth: 24}"]), select="GF001") == []
