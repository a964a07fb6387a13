"""The shared analyses the new rules stand on: gradient depth, stacks however written, value origins and
readers, position information, init scales, and inline suppression."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from archc.lint import lint
from archc.lint.context import Context
from archc.lint.paths import is_layer
from archc.pipeline import load_spec

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def llama():
    return Context(load_spec(ROOT / "specs" / "llama.yaml", ["vars.n_layers=6"]).ir)


def test_gradient_depth_of_a_pre_norm_model_does_not_grow_with_depth(llama):
    depth = llama.gradient.depth
    assert depth["head"] == 0 and depth["norm"] == 1
    # every layer's gradient goes around the other blocks on the residual stream: 1 (the head) + its own block
    layers = [k for k in depth if is_layer(llama, k)]
    assert max(depth[k] for k in layers) == 2
    assert depth["layers.0.attn"] == depth["layers.5.attn"] == 1
    assert depth["layers.0.mlp.gate"] == 2  # gate -> act -> gated -> down -> res -> ... -> head


def test_gradient_depth_of_a_plain_stack_is_the_same_however_it_is_written():
    ctx = Context(load_spec(FIXTURES / "unbypassed_deep_chain.yaml").ir)

    def run(first):
        return len(ctx.gradient.chain(first, lambda k: is_layer(ctx, k)))

    assert run("deep.0.fc") == run("halves_a.0.fc") == run("u0.fc") == 21
    assert run("shallow.0.fc") == 20
    assert run("resnet.0.fc") == 1  # its own; the shortcut goes around every later one


def test_stacks_however_written():
    stacks = Context(load_spec(FIXTURES / "post_norm_deep_stack.yaml").ir).stacks
    assert (stacks["half_a"].depth, stacks["half_a"].last, stacks["half_a"].output) == (10, "half_b",
                                                                                       "half_b.4.ln_2")
    assert (stacks["u0"].depth, stacks["u0"].last) == (10, "u9")
    assert stacks["short_0"].depth == 9
    # a fork ends the chain: fork_a feeds two stacks, so neither continues it
    assert (stacks["fork_a"].depth, stacks["fork_b"].depth, stacks["fork_c"].depth) == (5, 5, 5)


def test_origin_and_readers_skip_ops_that_keep_meaning():
    ctx = Context(load_spec(FIXTURES / "softmax_output_as_logits.yaml").ir)
    assert ctx.origin("drop").key == "probs"
    assert [n.key for n in ctx.readers("probs")] == []  # dropout only, then the output
    assert ctx.input_origin(ctx.node("twice")).key == "scores"


def test_position_information_flows_forward():
    ctx = Context(load_spec(FIXTURES / "order_blind_attention.yaml").ir)
    assert {"pos", "with_pos", "dec", "after", "rope"} <= ctx.positioned
    assert "embed" not in ctx.positioned and "enc" not in ctx.positioned


def test_residual_branches(llama):
    assert {"layers.2.attn", "layers.2.mlp.down", "layers.2.attn_norm"} <= llama.on_branch
    assert "head" not in llama.on_branch and "embed" not in llama.on_branch


SUPPRESSED = """\
inputs:
  x: {shape: [B, T, 16]}
nodes:
  keep: {op: dropout, in: x, p: 0.9}   # lint: ignore[CT001] %s
  other: {op: dropout, p: 0.8}         # lint: ignore[dropout-as-keep-probability, SY003] annealed by the trainer
  third: {op: dropout, p: 0.7}         # lint: ignore[SY003] suppresses another rule
outputs: [third]
"""


def test_inline_suppression_needs_a_reason(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(SUPPRESSED % "a keep probability of 0.1, on purpose")
    assert [(f.code, f.scope) for f in lint(path, select="CT001")] == [("CT001", "third")]
    path.write_text(SUPPRESSED % "")
    found = [(f.code, f.scope, "not honoured without a reason" in f.message) for f in lint(path, select="CT001")]
    assert found == [("CT001", "keep", True), ("CT001", "third", False)]


def test_the_catalog_suppression_is_on_the_line_of_the_finding(tmp_path):
    assert lint(ROOT / "specs" / "gpt2.yaml", select="SY003") == []
    specs = tmp_path / "specs"
    shutil.copytree(ROOT / "specs", specs)  # with its config groups (norm/, ffn/)
    gpt2 = specs / "gpt2.yaml"
    gpt2.write_text(gpt2.read_text().replace("# lint: ignore[SY003]", "#"))
    assert [f.scope for f in lint(gpt2, select="SY003")] == ["wte"]
