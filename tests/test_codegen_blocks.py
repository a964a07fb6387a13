"""Generated code for block structures outside the catalog: blocks used twice, blocks at two widths,
ties between uses, into and out of repeats, and in chains (tests/codegen_specs/*.yaml)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from archc.codegen.lower import CodegenBug
from archc.codegen.pytorch import build_source, load_source, state_dict_names
from archc.codegen.verify import verify
from archc.passes.count import totals
from archc.pipeline import load_spec
from tests.conftest import ROOT, archc_cmd

SPECS = ROOT / "tests" / "codegen_specs"
# parameters counted by hand (comments in each spec); tie shares weights, not biases
PARAMS = {
    "two_layers": 2 * (2 * 32 + 16 * 48 + 16 * 16 + 16 * 32 + 32 + 32 * 16 + 16) + 32,
    "adapter": 148 + 2 * (16 * 48 + 16 * 16 + 2 * 148 + 16 * 16 + 16),
    "lstm_unrolled": 16 * 64 + 64 + 16 * 64 + 3 * 64,
    "two_widths": (16 + 8 * 4 + 4) + (24 + 12 * 4 + 4),
    "tie_in_repeat": 3 * (8 * 8 + 8 + 8),
    "tie_chain": 8 * 8 + 3 * 8,
    "tie_repeats": (8 * 8 + 8) + 3 * (8 + 8 * 8 + 8) + 8,
    "nested_widths": (16 + 48 + 6 + 6) + (24 + 72 + 6 + 6) + 24 + 12,
    "shared_ports": 2 * (16 + 4),
    "repeat_shared_ports": 3 * (64 + 8),
}
NAMES = sorted(p.stem for p in SPECS.glob("*.yaml"))


def _inputs(spec) -> list[torch.Tensor]:
    sizes = {}
    out = []
    for decl in spec.ir.info["inputs"].values():
        shape = [sizes.setdefault(d, 2 + len(sizes)) if isinstance(d, str) else d for d in decl["shape"]]
        out.append(torch.randn(shape, dtype=getattr(torch, decl["dtype"])))
    return out


@pytest.mark.parametrize("name", NAMES)
def test_block_structure_builds_runs_and_matches_the_ir(name):
    spec = load_spec(SPECS / f"{name}.yaml")
    source = build_source(spec)
    model = load_source(source).Model()
    assert set(model.state_dict()) == set(state_dict_names(spec).values())
    n_params = sum(p.numel() for p in model.parameters())
    assert n_params == totals(spec.ir, 1)["params"] == PARAMS[name]
    out = model(*_inputs(spec))
    out = out if isinstance(out, dict) else {"out": out}
    sum(o.sum() for o in out.values()).backward()
    assert all(p.grad is not None for p in model.parameters())
    assert verify(spec, source).startswith("verified:")


def test_later_uses_keep_their_own_paths():
    names = state_dict_names(load_spec(SPECS / "two_layers.yaml"))
    assert names["l01.ln_1.weight"] == "l01.ln_1.weight"
    assert names["l01.attn.qkv.weight"] == "l01.attn.qkv.weight"
    names = state_dict_names(load_spec(SPECS / "adapter.yaml"))
    assert names["layers.1.ad_2.down.weight"] == "layers.1.ad_2.down.weight"


def test_ties_between_block_uses_share_one_tensor_and_survive_to_empty():
    model = load_source(build_source(load_spec(SPECS / "lstm_unrolled.yaml"))).Model()
    for step in (model.step1, model.step2, model.step3):
        assert step.wx.weight is model.step0.wx.weight and step.wh.weight is model.step0.wh.weight
        assert step.wx.bias is not model.step0.wx.bias  # tie shares weights only
    with torch.device("meta"):
        meta = load_source(build_source(load_spec(SPECS / "lstm_unrolled.yaml"))).Model()
    meta.to_empty(device="cpu")
    meta.tie_weights()
    meta.reset_parameters()
    assert meta.step3.wh.weight is meta.step0.wh.weight and torch.isfinite(meta.step0.wh.weight).all()


def test_tie_inside_a_repeat_is_per_iteration():
    model = load_source(build_source(load_spec(SPECS / "tie_in_repeat.yaml"))).Model()
    for layer in model.layers:
        assert layer.q.weight is layer.p.weight
    assert model.layers[0].p.weight is not model.layers[1].p.weight


def test_tie_chain_shares_the_root_weight():
    model = load_source(build_source(load_spec(SPECS / "tie_chain.yaml"))).Model()
    assert model.a.weight is model.c.weight and model.b.weight is model.c.weight


def test_ties_into_and_out_of_repeats():
    model = load_source(build_source(load_spec(SPECS / "tie_repeats.yaml"))).Model()
    assert all(layer.p.weight is model.first.weight for layer in model.layers)
    assert all(one.weight is model.first.weight for one in model.ones)
    assert model.head.weight is model.layers[1].q.weight
    assert model.head.weight is not model.layers[0].q.weight


def test_one_block_at_two_widths_gets_two_classes():
    spec = load_spec(SPECS / "two_widths.yaml")
    module = load_source(build_source(spec))
    model = module.Model()
    assert type(model.a) is not type(model.b)
    assert model.a.proj.weight.shape == (4, 8) and model.b.proj.weight.shape == (4, 12)
    nested = load_source(build_source(load_spec(SPECS / "nested_widths.yaml"))).Model()
    assert nested.a.p.lin.weight.shape == (6, 8) and nested.b.p.lin.weight.shape == (6, 12)


def test_a_block_with_one_value_on_two_ports_gets_its_own_class():
    spec = load_spec(SPECS / "shared_ports.yaml")
    model = load_source(build_source(spec)).Model()
    x, y = torch.randn(2, 4), torch.randn(2, 4)
    want = (model.s0.d(x) + x) + (model.s1.d(x) + y)
    torch.testing.assert_close(model(x, y), want)


def test_a_repeat_whose_first_iteration_gets_one_value_twice_reads_each_input_by_name():
    model = load_source(build_source(load_spec(SPECS / "repeat_shared_ports.yaml"))).Model()
    x = torch.randn(2, 8)
    h = x
    for layer in model.t:
        h = layer.d(h) + x
    torch.testing.assert_close(model(x), h * h * h)  # u: t * t, then that times t


def test_cli_build_verify_passes_on_a_block_used_four_times(tmp_path):
    result = subprocess.run([*archc_cmd(), "build", str(SPECS / "lstm_unrolled.yaml"), "--verify", "-o",
                             str(tmp_path / "m.py")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "2,304 parameters" in result.stderr


def test_a_verify_mismatch_is_archcs_bug_not_a_spec_error():
    spec = load_spec(SPECS / "two_widths.yaml")
    source = build_source(spec)
    assert "nn.Linear(8, 4)" in source
    with pytest.raises(CodegenBug, match="bug in archc"):  # as if codegen had lost a bias
        verify(spec, source.replace("nn.Linear(8, 4)", "nn.Linear(8, 4, bias=False)"))


@pytest.mark.slow
def test_a_huge_repeat_builds_in_linear_time(tmp_path):
    """99,990 iterations of a one-node block took 101 s to build (a list membership test per iteration)."""
    import time

    path = tmp_path / "deep.yaml"
    path.write_text("inputs: {x: {shape: [B, 4]}}\nblocks:\n  one:\n    nodes:\n"
                    "      l: {op: linear, in: x, out_features: 4}\nnodes:\n  layers: {block: one, repeat: 99990}\n")
    spec = load_spec(path)
    start = time.perf_counter()
    source = build_source(spec)
    names = state_dict_names(spec)
    assert time.perf_counter() - start < 60  # a hang guard: about 5 s here, 101 s before
    assert "for i in range(99990):" in source and names["layers.99989.weight"] == "layers.99989.weight"


def test_build_does_not_depend_on_the_working_directory(tmp_path):
    spec = tmp_path / "sub" / "spec.yaml"
    spec.parent.mkdir()
    spec.write_text("inputs: {x: {shape: [B, 4]}}\nnodes:\n  a: {op: linear, in: x, out_features: 3}\n")
    outputs = []
    for cwd in (tmp_path, spec.parent, ROOT):
        code = ("import sys; from archc.codegen.pytorch import build_source; "
                "sys.stdout.write(build_source(sys.argv[1]) + build_source(sys.argv[2]))")
        result = subprocess.run([sys.executable, "-c", code, str(spec), str(ROOT / "specs" / "gpt2.yaml")],
                                capture_output=True, text=True, cwd=cwd, timeout=120,
                                env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout)
    assert outputs[0] == outputs[1] == outputs[2]
    assert str(tmp_path) not in outputs[0] and "spec.yaml:3 a" in outputs[0]
    assert "from specs/gpt2.yaml" in outputs[0]


def test_names_in_comments_are_relative_to_the_spec(tmp_path):
    path = Path(tmp_path) / "m.yaml"
    path.write_text("inputs: {x: {shape: [B, 4]}}\nnodes:\n  a: {op: linear, in: x, out_features: 3}\n")
    assert "# spec: m.yaml" in build_source(load_spec(path))


def test_blocks_nested_to_the_limit_build_without_recursion(tmp_path):
    """Class lowering is a work list: blocks nested as deep as expand allows (64) build; 300 once ended in
    RecursionError at build, and deeper nesting is now refused by expand at the use (tests/test_expand.py)."""
    from archc.passes.expand import MAX_DEPTH

    depth = MAX_DEPTH
    lines = ["inputs: {x: {shape: [B, 4]}}", "blocks:"]
    for i in range(depth):
        inner = "      l: {op: linear, in: x, out_features: 4}" if i == depth - 1 else \
            f"      u: {{block: b{i + 1}, in: x}}\n      r: {{op: relu}}"
        lines += [f"  b{i}:", "    nodes:", inner]
    path = tmp_path / "deep.yaml"
    path.write_text("\n".join(lines + ["nodes:", "  top: {block: b0, in: x}"]) + "\n")
    spec = load_spec(path)
    source = build_source(spec)
    assert source.count("(nn.Module):") == depth
    assert list(state_dict_names(spec).values())[0] == "top" + ".u" * (depth - 1) + ".weight"  # the last has one node
