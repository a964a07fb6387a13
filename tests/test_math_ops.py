"""The math and tensor ops of issue 7 beyond their generic tests: the rules each states, at the right line.

test_ops.py checks every op's example against tests/op_references.py; here: named axes, the strict einsum
grammar (a spec is data), conv2d's NCHW patch embedding and its exact tiling, free tensors (param's state-dict
key and init, constant as a non-persistent buffer), dtype rules (matmul does not promote, indices are int64),
and FLOPs per token (a multiply-add is 2).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import torch

import archc
from archc.errors import SpecError
from archc.pipeline import load_spec


def write(tmp_path, text: str):
    path = tmp_path / "spec.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def refused(tmp_path, text: str, line: int, at: str | None, *words: str) -> str:
    """The spec is refused with one line at ``line``, at attribute ``at`` (None: the node's name), whose message
    says each of ``words``."""
    path = write(tmp_path, text)
    source = path.read_text().splitlines()[line - 1]
    col = source.index(f"{at}:") + 1 if at else len(source) - len(source.lstrip()) + 1
    with pytest.raises(SpecError) as info:
        load_spec(path)
    message = str(info.value)
    assert message.startswith(f"{path}:{line}:{col}: ") and "\n" not in message, message
    for word in words:
        assert word in message, message
    return message


# --- named axes ---


def test_a_reduction_resolves_a_size_name_to_its_axis(tmp_path):
    spec = load_spec(write(tmp_path, """
        inputs: {x: {shape: [B, T, 8]}}
        nodes:
          s: {op: sum, in: x, dim: T}
          m: {op: mean, in: x, dim: T, keepdim: true}
          a: {op: argmax, in: x, dim: -1}
        outputs: [s, m, a]
    """))
    ir = spec.ir
    assert tuple(ir.node("s").meta["shapes"]["out"]) == ("B", 8)
    assert tuple(ir.node("m").meta["shapes"]["out"]) == ("B", 1, 8)
    assert ir.node("a").meta["dtypes"]["out"] == "int64"
    model = archc.build_module(spec).eval()
    x = torch.randn(2, 5, 8)
    out = model(x)
    s, m, a = out.values() if isinstance(out, dict) else out
    torch.testing.assert_close(s, x.sum(1))
    torch.testing.assert_close(m, x.mean(1, keepdim=True))
    assert torch.equal(a, x.argmax(-1))


def test_a_size_name_that_is_not_one_axis_is_refused_at_dim(tmp_path):
    refused(tmp_path, """
        inputs: {x: {shape: [B, T, T]}}
        nodes:
          s: {op: sum, in: x, dim: T}
    """, 4, "dim", "T", "2")
    refused(tmp_path, """
        inputs: {x: {shape: [B, T, 8]}}
        nodes:
          s: {op: max, in: x, dim: S}
    """, 4, "dim", "S")


# --- einsum: strict grammar, shapes from the equation ---


@pytest.mark.parametrize("equation", [
    "__import__('os').system('id')", "bij, bjk->bik", "bij,bjk->bik->b", "b1,b1->b", "....,b->b",
    "bi j", "bij;bjk", "bij,bjk->bik\n",
])
def test_einsum_refuses_anything_but_einsum_grammar(tmp_path, equation):
    path = write(tmp_path, """
        inputs: {x: {shape: [B, 4, 4]}}
        nodes:
          e: {op: einsum, in: [x, x], equation: EQ}
    """.replace("EQ", repr(equation).replace("\\n", "\\\\n").replace('"', '\\"').join('""')
                if "'" in equation or "\n" in equation else f"'{equation}'"))
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert f"{path}:4:" in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("equation, shapes, out", [
    ("bij,bjk->bik", [["B", 3, 4], ["B", 4, 5]], ("B", 3, 5)),
    ("bij,bjk", [["B", 3, 4], ["B", 4, 5]], (3, 5)),  # NumPy's implicit output: the letters once, sorted
    ("...d,ed->...e", [["B", "T", 4], [6, 4]], ("B", "T", 6)),
    ("bhqd,bhkd->bhqk", [["B", 2, "T", 4], ["B", 2, "T", 4]], ("B", 2, "T", "T")),
    ("btd->bd", [["B", "T", 4]], ("B", 4)),
])
def test_einsum_infers_shapes_that_torch_gives(tmp_path, equation, shapes, out):
    inputs = ", ".join(f"x{i}: {{shape: {s}}}".replace("'", "") for i, s in enumerate(shapes))
    spec = load_spec(write(tmp_path, f"""
        inputs: {{{inputs}}}
        nodes:
          e: {{op: einsum, in: [{", ".join(f"x{i}" for i in range(len(shapes)))}], equation: '{equation}'}}
    """))
    assert tuple(spec.ir.node("e").meta["shapes"]["out"]) == out
    sizes = {"B": 2, "T": 3}
    xs = [torch.randn([sizes.get(d, d) for d in s]) for s in shapes]
    got = archc.build_module(spec)(*xs)
    got = next(iter(got.values())) if isinstance(got, dict) else got
    torch.testing.assert_close(got, torch.einsum(equation, *xs))


def test_einsum_sizes_that_disagree_are_refused(tmp_path):
    refused(tmp_path, """
        inputs: {x: {shape: [B, 3, 4]}, y: {shape: [B, 5, 6]}}
        nodes:
          e: {op: einsum, in: [x, y], equation: 'bij,bjk->bik'}
    """, 4, "equation", "'j'", "4", "5")
    refused(tmp_path, """
        inputs: {x: {shape: [B, 3, 4]}}
        nodes:
          e: {op: einsum, in: [x, x], equation: 'bij,bkj->biz'}
    """, 4, "equation", "'z'")


# --- conv2d: NCHW patches ---

VIT = """
    inputs: {pixels: {shape: [B, 3, SIZE, SIZE]}}
    nodes:
      patch: {op: conv2d, in: pixels, out_channels: 8, kernel_size: 4, stride: 4, exact: true}
      flat: {op: reshape, in: patch, shape: [B, 8, 16]}
      tokens: {op: transpose, in: flat, dim0: 1, dim1: 2}
      cls: {op: param, in: [], shape: [1, 1, 8], init: {std: 0.02}}
"""


def test_conv2d_patches_reach_tokens_with_features_last(tmp_path):
    spec = load_spec(write(tmp_path, VIT.replace("SIZE", "16")))
    assert tuple(spec.ir.node("patch").meta["shapes"]["out"]) == ("B", 8, 4, 4)
    assert tuple(spec.ir.node("tokens").meta["shapes"]["out"]) == ("B", 16, 8)
    # 2 C k^2 FLOPs per output element, per image: 2 * 3 * 16 * 8 * 16
    assert tuple(spec.ir.node("patch").meta["flops"]) == (2.0 * 3 * 16 * 8 * 16, 0.0)
    assert spec.ir.node("patch").meta["n_params"] == 8 * 3 * 4 * 4 + 8


def test_conv2d_refuses_an_image_the_patches_do_not_tile(tmp_path):
    refused(tmp_path, VIT.replace("SIZE", "18"), 4, "kernel_size", "kernel_size 4", "stride 4", "18")


def test_conv2d_needs_known_channels_and_image_size(tmp_path):
    refused(tmp_path, """
        inputs: {x: {shape: [B, 3, T, 8]}}
        nodes:
          c: {op: conv2d, in: x, out_channels: 4, kernel_size: 2}
    """, 4, None, "height")


# --- free tensors ---


def test_param_is_a_trained_tensor_under_node_key_weight(tmp_path):
    spec = load_spec(write(tmp_path, """
        inputs: {x: {shape: [B, T, 8]}}
        nodes:
          gamma: {op: param, in: [], shape: [8], init: {value: 0.1}}
          y: {op: mul, in: [x, gamma]}
          pos: {op: constant, in: [], shape: [1, 4], fill: arange, dtype: int64}
        outputs: [y, pos]
    """))
    model = archc.build_module(spec)
    state = model.state_dict()
    assert list(state) == ["gamma.weight"]  # the constant is a non-persistent buffer
    assert torch.equal(state["gamma.weight"], torch.full((8,), 0.1))
    assert [n for n, p in model.named_parameters() if p.requires_grad] == ["gamma.weight"]
    out = model(torch.ones(2, 3, 8))
    y, pos = out.values() if isinstance(out, dict) else out
    assert torch.equal(pos, torch.arange(4).unsqueeze(0)) and pos.dtype == torch.int64
    assert spec.ir.node("gamma").meta["n_params"] == 8
    # built on the meta device, both come back from reset_parameters(), as the README's recipe says
    with torch.device("meta"):
        empty = archc.build_module(spec)
    empty.to_empty(device="cpu")
    empty.reset_parameters()
    assert torch.equal(empty.state_dict()["gamma.weight"], torch.full((8,), 0.1))
    assert torch.equal(empty.get_submodule("pos")(), torch.arange(4).unsqueeze(0))


def test_free_tensors_refuse_sizes_known_only_at_run_time(tmp_path):
    refused(tmp_path, """
        inputs: {x: {shape: [B, T, 8]}}
        nodes:
          p: {op: param, in: [], shape: [T, 8]}
    """, 4, "shape", "T")
    refused(tmp_path, """
        inputs: {x: {shape: [B, T, 8]}}
        nodes:
          c: {op: constant, in: [], shape: [2], value: 0.5, dtype: int64}
    """, 4, "value", "integer")
    refused(tmp_path, """
        inputs: {x: {shape: [B, T, 8]}}
        nodes:
          c: {op: constant, in: [], shape: [2], value: .inf, dtype: int64}
    """, 4, "value", "finite")


def test_a_free_tensor_needs_no_in(tmp_path):
    spec = load_spec(write(tmp_path, """
        inputs: {x: {shape: [B, T, 8]}}
        nodes:
          y: {op: linear, in: x, out_features: 4}
          cls: {op: param, shape: [1, 1, 4]}
        outputs: [y, cls]
    """))
    assert spec.ir.node("cls").inputs == []


def test_a_node_after_a_free_tensor_takes_the_value_before_it(tmp_path):
    # a free tensor reads nothing and is no one's implicit input: 'act' (no in:) reads 'y', not 'gamma'
    spec = load_spec(write(tmp_path, """
        inputs: {x: {shape: [B, T, 8]}}
        nodes:
          y: {op: linear, in: x, out_features: 4}
          gamma: {op: param, shape: [4]}
          act: {op: relu}
          scaled: {op: mul, in: [act, gamma]}
    """))
    assert spec.ir.node("act").inputs == [("x", "y", "out")]


def test_constants_come_back_after_to_empty_with_a_spec_wide_init(tmp_path):
    spec = load_spec(write(tmp_path, """
        init: {std: 0.02}
        inputs: {x: {shape: [B, 5, 4]}}
        nodes:
          pos: {op: constant, shape: [5], fill: arange, dtype: int64}
          y: {op: linear, in: x, out_features: 4}
        outputs: [y, pos]
    """))
    model = archc.build_module(spec)
    with torch.device("meta"):
        empty = type(model)()
    empty.to_empty(device="cpu")
    empty.reset_parameters()
    out = empty(torch.zeros(2, 5, 4))
    assert torch.equal(out["pos"], torch.arange(5))


# --- dtypes ---


def test_matmul_refuses_mixed_dtypes_as_torch_does(tmp_path):
    refused(tmp_path, """
        inputs: {x: {shape: [B, 3, 4], dtype: float16}, y: {shape: [B, 4, 5]}}
        nodes:
          m: {op: matmul, in: [x, y]}
    """, 4, None, "float16", "float32")


def test_gather_takes_integer_indices_and_topk_gives_int64(tmp_path):
    refused(tmp_path, """
        inputs: {x: {shape: [B, T, 8]}, i: {shape: [B, T, 2]}}
        nodes:
          g: {op: gather, in: {x: x, index: i}}
    """, 4, None, "float32")
    spec = load_spec(write(tmp_path, """
        inputs: {x: {shape: [B, T, 8]}}
        nodes:
          top: {op: topk, in: x, k: 2}
          g: {op: gather, in: {x: x, index: top.indices}}
        outputs: [g, top.indices]
    """))
    assert spec.ir.node("top").meta["dtypes"] == {"values": "float32", "indices": "int64"}
    x = torch.randn(2, 5, 8)
    out = archc.build_module(spec)(x)
    g, idx = out.values() if isinstance(out, dict) else out
    torch.testing.assert_close(g, x.topk(2).values)


def test_matmul_flops_count_context_for_attention_scores(tmp_path):
    spec = load_spec(write(tmp_path, """
        inputs: {q: {shape: [B, 2, T, 4]}, k: {shape: [B, 2, 4, T]}, w: {shape: [B, T, 4]}, v: {shape: [4, 6]}}
        nodes:
          scores: {op: matmul, in: [q, k]}
          proj: {op: matmul, in: [w, v]}
        outputs: [scores, proj]
    """))
    assert tuple(spec.ir.node("scores").meta["flops"]) == (0.0, 2.0 * 4 * 2)  # per token, per context position
    assert tuple(spec.ir.node("proj").meta["flops"]) == (2.0 * 4 * 6, 0.0)


@pytest.mark.parametrize("command", ["show", "lint"])
def test_lint_and_show_of_the_new_ops_do_not_import_torch(tmp_path, command):
    path = write(tmp_path, VIT.replace("SIZE", "16") + "    outputs: [tokens, cls]\n")
    code = ("import sys, contextlib, io\nfrom archc.cli.main import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            f"    rc = main([{command!r}, {str(path)!r}])\n"
            "assert rc in (0, 1), rc\n"  # lint exits 1 when it finds something
            "print(sorted(m for m in ('torch', 'jinja2') if m in sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr
