"""`archc build --backend triton`: kernel rows of the rewrite table, the info/error lines, the generated file
(standalone, deterministic, ruff-clean, PyTorch's state dict), its CPU fallback, and whole-model equivalence
with the PyTorch backend in Triton's interpreter (subprocess: tests/triton_equivalence.py)."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import textwrap

import pytest
import torch

from archc.codegen.pytorch import build_source, load_source
from archc.passes.rewrite import KERNELS, RULES, relower, select
from archc.pipeline import load_spec
from tests.conftest import ROOT, archc_cmd

LLAMA = ["vars.n_layers=2", "vars.d_model=48", "vars.n_heads=3", "vars.n_kv_heads=1", "vars.d_ff=40",
         "vars.vocab_size=37", "vars.max_seq_len=32"]  # head dim 16 (the kernel's smallest), 3 q heads per KV head
GPT2 = ["vars.n_layers=2", "vars.d_model=32", "vars.n_heads=2", "vars.vocab_size=37", "vars.n_ctx=32",
        "vars.attn_dropout=0.0"]  # attention dropout off: the kernel has none


def _run(*args, cwd=ROOT):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(archc_cmd() + list(args), capture_output=True, text=True, cwd=cwd, env=env)


def _uses_attention_kernel(source: str) -> bool:
    return re.search(r"kernel=True[,)]", source) is not None  # Attention(..., kernel=True), maybe wrapped


def _triton_source(spec, overrides=(), kernels=None, backend="triton") -> str:
    loaded = load_spec(spec, list(overrides))
    relower(loaded.ir, backend, kernels)
    return build_source(loaded)


def test_every_kernel_but_moe_is_one_row_of_the_rewrite_table():
    rows = {r.kernel: r for r in RULES if r.backend == "triton"}
    assert set(rows) == set(KERNELS) - {"moe"}  # moe: no MoE op in the catalog yet
    for name, row in rows.items():
        assert row.name == name and row.lowers_to == f"kernels/{name}"
        assert (ROOT / "templates" / f"{row.lowers_to}.j2").is_file()
    assert select("pytorch")[0] == tuple(r for r in RULES if r.backend == "pytorch")
    rows_on, force = select("pytorch", {"rmsnorm": "triton"})
    assert {r.name for r in rows_on if r.backend == "triton"} == {"rmsnorm"} and force == {"rmsnorm"}
    rows_off, force = select("triton", {"swiglu": "pytorch"})
    assert "swiglu" not in {r.name for r in rows_off} and not force


def test_llama_lowers_every_norm_attention_and_swiglu(in_root):
    source = _triton_source("specs/llama.yaml", LLAMA)
    assert source.count("= TritonRMSNorm(") == 3  # two per layer (one class, printed once) and the final norm
    assert _uses_attention_kernel(source) and "swiglu_op(gate, up)" in source
    assert "silu_mul" not in source  # the kernel row comes first and takes the pair


def test_a_node_outside_the_conditions_stays_pytorch_with_an_info_line_at_its_location(in_root):
    result = _run("build", "specs/gpt2.yaml", "--backend", "triton")
    assert result.returncode == 0, result.stderr
    (info,) = [line for line in result.stderr.splitlines() if "stays PyTorch" in line]  # one for both layers
    assert re.match(r"specs/gpt2\.yaml:\d+:\d+: info: attn stays PyTorch", info) and "dropout" in info
    assert not _uses_attention_kernel(result.stdout) and "TritonLayerNorm(" in result.stdout
    small = _run("build", "specs/llama.yaml", "vars.d_model=48", "vars.n_heads=6", "vars.n_kv_heads=2",
                 "--backend", "triton")
    assert re.search(r"info: attn stays PyTorch.*head dim 8", small.stderr)


def test_a_forced_kernel_that_cannot_take_a_node_is_an_error_at_its_line(in_root):
    result = _run("build", "specs/gpt2.yaml", "--kernel", "attention=triton")
    assert result.returncode == 2 and not result.stdout
    line = next(i for i, text in enumerate((ROOT / "specs/gpt2.yaml").read_text().splitlines(), 1)
                if text.strip() == "attn:")
    assert re.match(rf"specs/gpt2\.yaml:{line}:\d+: .*attention", result.stderr), result.stderr
    assert "Traceback" not in result.stderr
    bad = _run("build", "specs/gpt2.yaml", "--kernel", "attention=cuda")
    assert bad.returncode == 2 and "NAME=triton" in bad.stderr


def test_build_says_what_it_lowered_and_verify_runs_without_a_fallback_warning(in_root, tmp_path):
    result = _run("build", "specs/llama.yaml", *LLAMA, "--backend", "triton", "--verify", "-o", str(tmp_path / "m.py"))
    assert result.returncode == 0, result.stderr
    assert "info: Triton kernels: rmsnorm x5, attention x2, swiglu x2" in result.stderr  # 2 layers
    assert "verified:" in result.stderr and "Warning" not in result.stderr  # meta tensors: shapes only


def test_kernel_option_turns_one_kernel_on_or_off(in_root):
    only_norm = _run("build", "specs/llama.yaml", *LLAMA, "--kernel", "rmsnorm=triton").stdout
    assert "TritonRMSNorm(" in only_norm and not _uses_attention_kernel(only_norm) and "silu_mul(" in only_norm
    no_swiglu = _run("build", "specs/llama.yaml", *LLAMA, "--backend", "triton", "--kernel", "swiglu=pytorch").stdout
    assert "silu_mul(" in no_swiglu and "swiglu_op" not in no_swiglu and _uses_attention_kernel(no_swiglu)


def test_nothing_to_lower_says_so_and_emits_the_pytorch_model(tmp_path):
    spec = tmp_path / "plain.yaml"
    spec.write_text("inputs: {x: {shape: [B, 8]}}\nnodes:\n  a: {op: linear, in: x, out_features: 4}\n")
    triton = _run("build", str(spec), "--backend", "triton")
    assert triton.returncode == 0 and "nothing" in triton.stderr and "Triton kernel" in triton.stderr
    assert triton.stdout == _run("build", str(spec)).stdout


def test_show_marks_each_node_with_its_kernel(in_root):
    result = _run("show", "specs/llama.yaml", "--backend", "triton")
    assert result.returncode == 0, result.stderr
    assert re.search(r"attn\s+attention > triton:attention", result.stdout)
    assert re.search(r"attn_norm\s+rmsnorm > triton:rmsnorm", result.stdout)
    assert re.search(r"gated\s+mul > triton:swiglu", result.stdout)
    plain = _run("show", "specs/llama.yaml")
    assert "triton" not in plain.stdout
    gpt2 = json.loads(_run("show", "specs/gpt2.yaml", "--backend", "triton", "--format", "json").stdout)
    assert any("attn stays PyTorch" in note for note in gpt2["notes"])


def test_generated_file_is_standalone_deterministic_and_carries_each_kernel_once(in_root):
    first = _triton_source("specs/llama.yaml")
    assert first == _triton_source("specs/llama.yaml")
    assert str(ROOT) not in first
    roots = set()
    for node in ast.walk(ast.parse(first)):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            roots.add(node.module.split(".")[0])
    assert roots <= {"math", "os", "warnings", "dataclasses", "torch", "triton"}, roots
    for entry in ("def flash_attention(", "def rms_norm(", "def swiglu(", "class FlashAttention("):
        assert first.count(entry) == 1, entry
    assert "def layer_norm(" not in first  # only the kernels it uses
    kernel_body = (ROOT / "kernels" / "rmsnorm.py").read_text()
    start = kernel_body.index("@triton.jit")
    assert kernel_body[start:].rstrip() in first  # verbatim: one source per kernel


def test_golden_triton_file_is_current_and_passes_ruff(in_root):
    golden = ROOT / "tests" / "golden" / "triton" / "llama.py"
    assert golden.read_text() == _triton_source("specs/llama.yaml"), \
        "generated --backend triton code for specs/llama.yaml changed: review and run `make golden`"
    # ruff check like the PyTorch golden files; not `ruff format`: the kernels keep kernels/'s own layout
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--line-length", "120", "--select",
                             "E,F,W,I,B,UP", str(golden)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.filterwarnings("ignore:no CUDA GPU")
def test_spec_names_do_not_shadow_kernel_names(tmp_path):
    spec = tmp_path / "names.yaml"
    spec.write_text(textwrap.dedent("""
        inputs: {x: {shape: [B, T, 32]}}
        blocks:
          flash_attention:
            nodes:
              rms_norm: {op: rmsnorm, in: x}
        nodes:
          use_kernels: {block: flash_attention, in: x}
    """))
    source = _triton_source(spec)
    defined = [n.name for n in ast.parse(source).body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
    assert len(defined) == len(set(defined)), sorted(n for n in defined if defined.count(n) > 1)
    assert "def flash_attention(" in _triton_source("specs/llama.yaml")  # the names in question are kernels'
    load_source(source).Model()(torch.zeros(1, 2, 32))  # builds and runs (PyTorch fallback, or interpreter)


@pytest.mark.parametrize("name, overrides", [("llama", LLAMA), ("gpt2", GPT2)])
def test_state_dict_keys_and_shapes_match_the_pytorch_backend(name, overrides, in_root):
    plain = load_source(build_source(load_spec(f"specs/{name}.yaml", overrides))).Model().state_dict()
    kernel = load_source(_triton_source(f"specs/{name}.yaml", overrides)).Model().state_dict()
    assert {k: v.shape for k, v in plain.items()} == {k: v.shape for k, v in kernel.items()}


@pytest.mark.skipif(torch.cuda.is_available(), reason="the fallback is for machines without a CUDA GPU")
def test_without_gpu_or_interpreter_the_model_falls_back_to_pytorch_with_one_warning(tmp_path):
    script = textwrap.dedent(f"""
        import warnings, torch
        from archc.codegen.pytorch import build_source, load_source
        from archc.pipeline import load_spec
        from archc.passes.rewrite import relower
        overrides = {LLAMA!r}
        plain = load_source(build_source(load_spec("specs/llama.yaml", overrides))).Model().eval()
        loaded = load_spec("specs/llama.yaml", overrides)
        relower(loaded.ir, "triton")
        model = load_source(build_source(loaded)).Model().eval()
        model.load_state_dict(plain.state_dict())
        tokens = torch.randint(0, 37, (2, 7))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            same = all(torch.equal(model(tokens), plain(tokens)) for _ in range(2))
        print(same, len(caught), caught[0].message if caught else "")
    """)
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["PYTHONPATH"] = str(ROOT)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, env=env)
    assert result.returncode == 0, result.stderr
    same, count, message = result.stdout.split(" ", 2)
    assert same == "True" and count == "1" and "TRITON_INTERPRET" in message


# Whole-model equivalence, in Triton's interpreter. fp32 throughout (the kernels' dots use
# input_precision="ieee"). The kernels only reorder sums: online softmax over 16-key blocks, per-row norm
# reductions, partial-row weight gradients summed once. Each sum of n <= 48 terms changes by at most about
# n * 2^-24 ~ 3e-6 of its magnitude, a few of them compound through two layers and the backward, so the
# bound is 1e-5 of the largest logit / gradient entry (plus 1e-7 absolute for gradients that are ~0).
# Measured: logits <= 1.2e-7 (scale 0.5), gradients <= 2.7e-7 relative: a 40x margin.
REL = 1e-5
CASES = {
    "llama": ["specs/llama.yaml", LLAMA, 37, 19],  # attention (GQA 3:1, RoPE, causal), rmsnorm, swiglu
    "gpt2": ["specs/gpt2.yaml", GPT2, 37, 19],  # attention (MHA, no RoPE, biases), layernorm
    "llama_geglu_layernorm": ["specs/llama.yaml", ["ffn=geglu", "norm=layernorm", "vars.n_layers=1",
                                                   "vars.d_model=40", "vars.n_heads=2", "vars.n_kv_heads=2",
                                                   "vars.d_ff=24", "vars.vocab_size=37", "vars.max_seq_len=32"],
                              37, 17],  # head dim 20 (not a power of two), geglu
}


@pytest.fixture(scope="module")
def equivalence():
    """One interpreter subprocess for every case (about 15 s on one core: 13 s of it the interpreter)."""
    env = {**os.environ, "TRITON_INTERPRET": "1", "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, str(ROOT / "tests" / "triton_equivalence.py"), json.dumps(CASES)],
                            capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_triton_model_matches_pytorch_model_logits_and_every_gradient(case, equivalence):
    r = equivalence[case]
    expected = {"llama": {"flash_attention", "rms_norm", "swiglu"}, "gpt2": {"flash_attention", "layer_norm"},
                "llama_geglu_layernorm": {"flash_attention", "layer_norm", "geglu"}}[case]
    assert {k for k, n in r["calls"].items() if n} == expected, r["calls"]  # the kernels ran, not the fallback
    assert r["logit_err"] <= REL * r["logit_scale"], r
    for name, (err, scale) in r["grads"].items():
        assert err <= REL * scale + 1e-7, (name, err, scale)
