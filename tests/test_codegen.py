"""Code generation: golden files, determinism, style, hostile names, verify, compile."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap

import pytest
import torch

import archc
from archc.codegen.pytorch import build_source, is_edited, load_source
from archc.errors import SpecError
from archc.pipeline import load_spec
from tests.conftest import ROOT, SPECS, archc_cmd

CATALOG = sorted(p.stem for p in SPECS.glob("*.yaml"))
TINY = {
    "gpt2": ["vars.n_layers=2", "vars.d_model=48", "vars.n_heads=3", "vars.vocab_size=101", "vars.n_ctx=32"],
    "llama": ["vars.n_layers=2", "vars.d_model=48", "vars.n_heads=6", "vars.n_kv_heads=2", "vars.d_ff=100",
              "vars.vocab_size=101", "vars.max_seq_len=32"],
    "mixtral": ["vars.n_layers=2", "vars.d_model=48", "vars.n_heads=6", "vars.n_kv_heads=2", "vars.d_ff=40",
                "vars.vocab_size=101", "vars.max_seq_len=32", "vars.n_experts=4"],
    "mistral": ["vars.n_layers=2", "vars.d_model=48", "vars.n_heads=6", "vars.n_kv_heads=2", "vars.d_ff=100",
                "vars.vocab_size=101", "vars.max_seq_len=32", "vars.window=4"],
    "gemma": ["vars.n_layers=2", "vars.d_model=48", "vars.n_heads=3", "vars.n_kv_heads=1", "vars.head_dim=20",
              "vars.d_ff=100", "vars.vocab_size=101", "vars.max_seq_len=32"],
    "qwen2": ["vars.n_layers=2", "vars.d_model=48", "vars.n_heads=6", "vars.n_kv_heads=2", "vars.d_ff=100",
              "vars.vocab_size=101", "vars.max_seq_len=32"],
}


@pytest.mark.parametrize("name", CATALOG)
def test_golden_file_is_current(name, in_root):
    golden = ROOT / "tests" / "golden" / f"{name}.py"
    assert golden.exists(), f"no golden file for specs/{name}.yaml: run `make golden`"
    assert build_source(load_spec(f"specs/{name}.yaml")) == golden.read_text(), \
        f"generated code for specs/{name}.yaml changed: review and run `make golden`"


@pytest.mark.parametrize("name", CATALOG)
def test_golden_file_passes_ruff(name):
    golden = ROOT / "tests" / "golden" / f"{name}.py"
    ruff = [sys.executable, "-m", "ruff"]
    for args in (["check", "--line-length", "120", "--select", "E,F,W,I,B,UP"], ["format", "--check",
                                                                                  "--line-length", "120"]):
        result = subprocess.run(ruff + args + [str(golden)], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr


def test_build_is_deterministic_and_free_of_absolute_paths(in_root):
    first = build_source(load_spec("specs/llama.yaml", ["vars.n_layers=3"]))
    second = build_source(load_spec("specs/llama.yaml", ["vars.n_layers=3"]))
    assert first == second
    assert str(ROOT) not in first
    assert "# overrides: vars.n_layers=3" in first


def test_file_length_does_not_grow_with_depth(in_root):
    short = build_source(load_spec("specs/llama.yaml", ["vars.n_layers=2"]))
    deep = build_source(load_spec("specs/llama.yaml", ["vars.n_layers=96"]))
    assert short.count("\n") == deep.count("\n")
    assert "for _ in range(96)" in deep


def test_generated_file_imports_only_torch_and_stdlib(in_root):
    tree = ast.parse(build_source(load_spec("specs/llama.yaml")))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            roots.add((node.module or "").split(".")[0])
    assert roots <= {"torch", "math", "dataclasses", "__future__"}, roots


@pytest.mark.parametrize("name", CATALOG)
def test_verify_matches_ir(name, in_root):
    from archc.codegen.verify import verify

    spec = load_spec(f"specs/{name}.yaml", TINY.get(name, []))
    message = verify(spec, build_source(spec))
    assert message.startswith("verified:")


def test_state_dict_keys_are_scopes(in_root):
    spec = load_spec("specs/llama.yaml", TINY["llama"])
    model = archc.build_module(spec)
    keys = set(model.state_dict())
    assert "layers.1.attn.qkv.weight" in keys
    assert "layers.0.mlp.down.weight" in keys
    expected = {f"{n.key}.{p}" for n in spec.ir.nodes() for p in n.meta["params"]}
    assert keys == expected


def test_forward_by_position_and_by_name_and_dtype_moves(in_root):
    torch.manual_seed(0)
    model = archc.build_module(load_spec("specs/gpt2.yaml", TINY["gpt2"])).eval()
    tokens = torch.randint(0, 101, (2, 9))
    by_position = model(tokens)
    assert by_position.shape == (2, 9, 101)
    torch.testing.assert_close(model(tokens=tokens), by_position, rtol=0, atol=0)
    model64 = model.to(torch.float64)
    assert model64(tokens).dtype == torch.float64
    assert model64.head.weight is model64.wte.weight  # the tie survives .to()


def test_initialisation_follows_the_spec(in_root):
    torch.manual_seed(0)
    model = archc.build_module(load_spec("specs/gpt2.yaml", ["vars.n_layers=4", "vars.d_model=256",
                                                             "vars.n_heads=4", "vars.vocab_size=4000"]))
    # normal(0, 0.02) in general; GPT-2's residual projections 0.02 / sqrt(2 * 4) = 0.00707
    assert abs(model.wte.weight.std().item() - 0.02) < 0.001
    assert abs(model.h[0].attn.o_proj.weight.std().item() - 0.02 / 8 ** 0.5) < 0.0005
    assert abs(model.h[3].mlp.down.weight.std().item() - 0.02 / 8 ** 0.5) < 0.0005
    assert model.h[0].attn.qkv.bias.abs().max().item() == 0.0
    assert model.ln_f.weight.min().item() == 1.0


def test_zero_init_and_rezero_scale(tmp_path, in_root):
    spec = tmp_path / "rezero.yaml"
    spec.write_text(textwrap.dedent("""
        vars: {d: 16}
        inputs: {x: {shape: [B, T, 16]}}
        blocks:
          layer:
            nodes:
              f: {op: linear, in: x, out_features: 16}
              act: {op: relu}
              alpha: {op: scale, init: {value: 0.0}}
              res: {op: add, in: [x, alpha]}
        nodes:
          body: {block: layer, in: x, repeat: 3}
          out: {op: linear, out_features: 4, init: zeros}
    """))
    model = archc.build_module(load_spec(spec))
    assert all(layer.alpha.weight.item() == 0.0 for layer in model.body)
    assert model.out.weight.abs().max().item() == 0.0 and model.out.bias.abs().max().item() == 0.0
    x = torch.randn(2, 5, 16)
    torch.testing.assert_close(model(x), torch.zeros(2, 5, 4))  # ReZero: identity at init, then zero head


@pytest.mark.slow
@pytest.mark.parametrize("name", CATALOG)
def test_compiles_without_graph_breaks(name, in_root):
    torch.manual_seed(0)
    model = archc.build_module(load_spec(f"specs/{name}.yaml", TINY.get(name, []))).eval()
    compiled = torch.compile(model, fullgraph=True, backend="aot_eager")
    tokens = torch.randint(0, 101, (2, 11))
    eager = model(tokens)
    got = compiled(tokens)
    torch.testing.assert_close(got, eager, rtol=1e-5, atol=1e-5)
    if isinstance(got, dict):  # primary output first (mixtral: logits, then aux_loss)
        got = next(iter(got.values()))
    got.pow(2).mean().backward()


def test_multiple_outputs_return_a_dict_primary_first(tmp_path):
    spec = tmp_path / "two.yaml"
    spec.write_text(textwrap.dedent("""
        inputs: {x: {shape: [B, 8]}}
        nodes:
          h: {op: linear, in: x, out_features: 6}
          parts: {op: split, sizes: [2, 4]}
          act: {op: tanh, in: parts.1}
        outputs: {main: act, side: parts.0}
    """))
    model = archc.build_module(load_spec(spec))
    out = model(torch.randn(3, 8))
    assert list(out) == ["main", "side"]
    assert out["main"].shape == (3, 4) and out["side"].shape == (3, 2)


HOSTILE = """
vars:
  note: "x\\"\\"\\" ; import os ; os.system('echo pwned') #"
inputs: {x: {shape: [B, 4]}}
blocks:
  return:
    doc: "\\"\\"\\"\\nimport os\\nos.system('echo pwned')\\n\\"\\"\\""
    nodes:
      class: {op: linear, in: x, out_features: 4}
      forward: {op: tanh}
      self: {op: add, in: [class, forward]}
nodes:
  def: {block: return, in: x}
  lambda: {block: return, in: def}
  torch: {op: linear, out_features: 3}
"""


def test_hostile_names_and_strings_cannot_inject_code(tmp_path):
    spec = tmp_path / "hostile.yaml"
    spec.write_text(HOSTILE)
    source = build_source(load_spec(spec, ["+vars.x2='a\"b\\nimport os'"]))
    tree = ast.parse(source)  # valid Python
    top_imports = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert all((getattr(n, "module", None) or n.names[0].name).split(".")[0] in
               ("torch", "math", "dataclasses", "__future__") for n in top_imports)
    assert not any(isinstance(n, ast.Expr) and isinstance(n.value, ast.Call) for n in tree.body)
    model = load_source(source).Model()
    assert model(torch.randn(2, 4)).shape == (2, 3)
    names = {name for name, _ in model.named_children()}
    assert {"def_", "lambda_", "torch"} <= names


@pytest.mark.parametrize("name", ["a'b", "x\ny", "__import__", "a b", "1x"])
def test_names_that_are_not_identifiers_are_refused(tmp_path, name):
    spec = tmp_path / "bad.yaml"
    spec.write_text(f"inputs: {{x: {{shape: [B, 4]}}}}\nnodes:\n  {name!r}: {{op: tanh, in: x}}\n".replace(
        "'", '"') if "'" not in name else "inputs: {x: {shape: [B, 4]}}\nnodes:\n  \"a'b\": {op: tanh, in: x}\n")
    with pytest.raises(SpecError, match=r"not a valid name") as err:
        load_spec(spec)
    assert err.value.loc.line == 3


def test_op_without_template_fails_at_build_with_location(tmp_path, monkeypatch):
    import archc.codegen.pytorch as pytorch

    real = pytorch.op_templates
    monkeypatch.setattr(pytorch, "op_templates", lambda: {k: v for k, v in real().items() if k != "tanh"})
    spec = tmp_path / "t.yaml"
    spec.write_text("inputs: {x: {shape: [B, 4]}}\nnodes:\n  h: {op: linear, in: x, out_features: 4}\n"
                    "  act: {op: tanh}\n")
    with pytest.raises(SpecError, match=r"op 'tanh' has no PyTorch template") as err:
        build_source(load_spec(spec))
    assert (err.value.loc.line, err.value.loc.col) == (4, 3)


def test_cli_build_refuses_to_overwrite_an_edited_file(tmp_path, in_root):
    out = tmp_path / "model.py"
    cmd = archc_cmd() + ["build", "specs/gpt2.yaml", "vars.n_layers=1", "-o", str(out)]
    assert subprocess.run(cmd, capture_output=True).returncode == 0
    assert not is_edited(out.read_text())
    assert subprocess.run(cmd, capture_output=True).returncode == 0  # unchanged file: fine to rewrite
    out.write_text(out.read_text() + "# my change\n")
    refused = subprocess.run(cmd, capture_output=True, text=True)
    assert refused.returncode == 2
    assert "refusing to overwrite" in refused.stderr and refused.stderr.count("\n") == 1
    assert out.read_text().endswith("# my change\n")
    forced = subprocess.run(cmd + ["--force"], capture_output=True)
    assert forced.returncode == 0 and not is_edited(out.read_text())


def test_cli_build_to_stdout_with_verify(in_root):
    result = subprocess.run(archc_cmd() + ["build", "specs/llama.yaml", *TINY["llama"], "--verify"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("# Generated by archc")
    assert "verified:" in result.stderr


def test_third_piece_of_a_split_builds_and_runs(tmp_path):
    spec = tmp_path / "split3.yaml"
    spec.write_text(textwrap.dedent("""
        inputs: {x: {shape: [B, T, 72]}}
        nodes:
          parts: {op: split, in: x, sizes: [24, 24, 24]}
          n: {op: linear, in: parts.2, out_features: 4}
          joined: {op: concat, in: [parts.2, parts.0, n]}
        outputs: {y: joined, third: parts.2}
    """))
    loaded = load_spec(spec)
    from archc.codegen.verify import verify

    assert verify(loaded, build_source(loaded)).startswith("verified:")
    x = torch.randn(2, 3, 72)
    out = archc.build_module(loaded)(x)
    torch.testing.assert_close(out["third"], x[..., 48:])
    assert out["y"].shape == (2, 3, 52)


def test_names_that_shadow_module_attributes_are_renamed_and_verify_knows(tmp_path):
    from archc.codegen.pytorch import state_dict_names
    from archc.codegen.verify import verify

    spec = tmp_path / "shadow.yaml"
    spec.write_text(textwrap.dedent("""
        inputs: {x: {shape: [B, 4]}}
        blocks:
          class: {nodes: {forward: {op: linear, out_features: 4}, training: {op: linear, out_features: 4}}}
        nodes:
          forward: {op: linear, in: x, out_features: 4}
          def: {block: class, repeat: 2}
    """))
    loaded = load_spec(spec)
    names = state_dict_names(loaded)
    assert names["def.1.training.weight"] == "def_.1.training_.weight"
    assert set(names.values()) == set(archc.build_module(loaded).state_dict())
    assert verify(loaded, build_source(loaded)).startswith("verified:")


def test_multi_output_spec_without_vars_passes_ruff(tmp_path):
    spec = tmp_path / "mo.yaml"
    spec.write_text("inputs: {x: {shape: [B, 4]}, y: {shape: [B, 4]}}\nnodes:\n"
                    "  a: {op: linear, in: x, out_features: 3}\n  b: {op: tanh, in: y}\n"
                    "outputs: {first: a, second: b}\n")
    out = tmp_path / "mo.py"
    out.write_text(build_source(load_spec(spec)))
    for args in (["check", "--isolated", "--line-length", "120"], ["format", "--check", "--line-length", "120"]):
        result = subprocess.run([sys.executable, "-m", "ruff", *args, str(out)], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", CATALOG)
def test_meta_device_then_to_empty_then_reset_gives_a_working_model(name, in_root):
    """The way large models are built: no allocation until to_empty(); tables and ties come back."""
    torch.manual_seed(0)
    spec = load_spec(f"specs/{name}.yaml", TINY[name])
    module = load_source(build_source(spec))
    reference = module.Model().eval()
    with torch.device("meta"):
        model = module.Model()
    model.to_empty(device="cpu")
    if hasattr(model, "tie_weights"):
        model.tie_weights()
    model.reset_parameters()
    model.load_state_dict(reference.state_dict())
    tokens = torch.randint(0, 101, (2, 9))
    torch.testing.assert_close(model.eval()(tokens), reference(tokens), rtol=0, atol=0)
    if name == "gpt2":
        assert model.head.weight is model.wte.weight


def test_sequence_longer_than_the_rope_table_says_so(in_root):
    model = archc.build_module(load_spec("specs/llama.yaml", TINY["llama"]))
    with pytest.raises(ValueError, match=r"40 positions, but the rotary tables have 32"):
        model(torch.randint(0, 101, (1, 40)))


def test_reset_without_a_spec_default_initialises_everything(in_root):
    """No spec-wide init but per-node ones: after to_empty() every parameter must still be set."""
    torch.manual_seed(0)
    spec = load_spec("specs/gpt2.yaml", TINY["gpt2"] + ["~init"])
    with torch.device("meta"):
        model = load_source(build_source(spec)).Model()
    model.to_empty(device="cpu")
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(float("nan"))
    model.tie_weights()
    model.reset_parameters()
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert model.head.weight is model.wte.weight
    assert abs(model.wte.weight.std().item() - 1.0) < 0.1  # nn.Embedding's N(0, 1), not nn.Linear's init
