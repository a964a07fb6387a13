"""The shape pass checks what the generated code needs: a spec it accepts builds a model that runs.

Each case below passed ``archc show`` before and failed later (in ``build --verify``, in torch, or in the
loader itself with a traceback); now each is one line at the attribute or node that causes it. Cases that
load are run in torch, so "accepted" is checked to mean "runs" with the shapes and dtypes the IR states.
"""

from __future__ import annotations

import json
import math
import subprocess
import textwrap

import pytest
import torch

import archc
from archc.errors import SpecError
from archc.ir.dims import INT64_MAX, add, evaluate, offset
from archc.ir.serialize import to_json
from archc.ops.base import TAKES, Op, Port, promote
from archc.ops.registry import OPS
from archc.pipeline import load_spec
from tests.conftest import archc_cmd

HEAD = "inputs: {x: {shape: [B, T, 8]}}\nnodes:\n"


def write(tmp_path, text: str):
    path = tmp_path / "spec.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def refused(tmp_path, text: str, line: int, col: int | None, *words: str) -> str:
    """The spec is refused with one line at line:col (any column for None) whose message says each of ``words``."""
    path = write(tmp_path, text)
    with pytest.raises(SpecError) as info:
        load_spec(path)
    err = info.value
    assert (err.loc.file, err.loc.line, err.loc.col if col else None) == (str(path), line, col), str(err)
    assert "\n" not in str(err)
    for word in words:
        assert word in err.message, str(err)
    return err.message


def run(spec, sizes: dict, dtypes: dict | None = None):
    """Run the generated model on random inputs; the outputs and the symbol sizes used."""
    model = archc.build_module(spec).eval()
    args = []
    for name, decl in spec.ir.info["inputs"].items():
        shape = [sizes.get(d, d) for d in decl["shape"]]
        dtype = getattr(torch, (dtypes or {}).get(name, decl["dtype"]))
        args.append(torch.randint(0, 2, shape).to(dtype) if not dtype.is_floating_point else
                    torch.randn(shape).to(dtype))
    with torch.no_grad():
        return model(*args), args


# -- values that passed show and failed in torch ---------------------------------------------------------------

def test_split_sizes_refuse_a_bool(tmp_path):
    refused(tmp_path, HEAD + "  s: {op: split, sizes: [true, 7]}\noutputs: [s.0]\n", 3, 18, "sizes[0]", "true")


@pytest.mark.parametrize("sizes", ["[]", "[8]"])
def test_split_with_fewer_than_two_sizes_blames_sizes(tmp_path, sizes):
    # found by tests/test_op_fuzz.py: `sizes: []` was reported as "'outputs' must name nodes"
    refused(tmp_path, HEAD + f"  s: {{op: split, sizes: {sizes}}}\n", 3, 18, "sizes must list two or more")


def test_reshape_to_rank_0_runs(tmp_path):
    # found by tests/test_op_fuzz.py: the template printed x.reshape(), a TypeError
    spec = load_spec(write(tmp_path, "inputs: {x: {shape: [1, 1]}}\nnodes:\n  r: {op: reshape, shape: []}\n"))
    out, _ = run(spec, {})
    assert out.shape == torch.Size([])


@pytest.mark.parametrize("axis", ["-1.0", "2.0", "true"])
def test_reshape_refuses_floats_and_bools(tmp_path, axis):
    refused(tmp_path, HEAD + f"  r: {{op: reshape, shape: [B, T, {axis}, 4]}}\n", 3, 20, "shape[2]")


def test_slice_dim_out_of_range(tmp_path):
    refused(tmp_path, HEAD + "  s: {op: slice, end: 2, dim: 5}\n", 3, 26, "dim 5", "-3 .. 2")


def test_attention_needs_rank_3(tmp_path):
    refused(tmp_path, "inputs: {x: {shape: [T, 8]}}\nnodes:\n  a: {op: attention, n_heads: 2}\n", 3, 3,
            "rank 2", "rank 3")


def test_attention_kv_needs_rank_3(tmp_path):
    refused(tmp_path, HEAD.replace("}}\n", "}, m: {shape: [B, 8]}}\n") +
            "  a: {op: attention, in: {x: x, kv: m}, n_heads: 2}\n", 3, 3, "'kv'", "rank 2")


def test_rope_with_cross_attention_needs_equal_lengths(tmp_path):
    # apply_rope rotates k (length S) by tables of length T: broadcasting fails in torch when S != T
    text = ("inputs: {x: {shape: [B, T, 8]}, m: {shape: [B, M, 8]}, t: {shape: [B, T], dtype: int64}}\nnodes:\n"
            "  r: {op: rope, in: t, head_dim: 4, max_len: 16}\n"
            "  a: {op: attention, in: {x: x, kv: MEM, rope: r}, n_heads: 2}\n")
    refused(tmp_path, text.replace("MEM", "m"), 4, 3, "rope", "kv has M")
    spec = load_spec(write(tmp_path, text.replace("MEM", "x")))
    out, _ = run(spec, {"B": 2, "T": 5, "M": 3})
    assert list(out.shape) == [2, 5, 8]


def test_embedding_refuses_a_bool_tensor(tmp_path):
    refused(tmp_path, "inputs: {x: {shape: [B, T], dtype: bool}}\nnodes:\n"
            "  e: {op: embedding, num_embeddings: 4, dim: 8}\n", 3, 3, "bool mask", "integer ids")


def test_rope_tables_are_not_a_model_output(tmp_path):
    # the node's line: the IR does not keep where `outputs:` names it
    refused(tmp_path, "inputs: {x: {shape: [B, T], dtype: int64}}\nnodes:\n"
            "  r: {op: rope, head_dim: 8, max_len: 16}\noutputs: [r]\n", 3, 3, "output 'r'", "not a tensor",
            "attention's 'rope'")


def test_rope_tables_feed_only_attention(tmp_path):
    refused(tmp_path, "inputs: {x: {shape: [B, T, 8]}, t: {shape: [B, T], dtype: int64}}\nnodes:\n"
            "  r: {op: rope, in: t, head_dim: 8, max_len: 16}\n  a: {op: add, in: [x, r]}\n", 4, 3,
            "'r' is rope's (cos, sin) tables", "op 'add' needs floats")


@pytest.mark.parametrize("text, line, col, words", [
    # the attribute's place; the words say only that the bound is 64 bits (the loader may refuse it first)
    (HEAD + "  l: {op: linear, out_features: 9223372036854775808}\n", 3, 19, ("out_features", "64")),
    # refused by the loader, whose wording names 2**63: the promise is the line
    ("inputs: {x: {shape: [B, T, 9223372036854775808]}}\nnodes:\n  r: {op: relu}\n", 1, None, ()),
    (HEAD + "  s: {op: slice, end: -9223372036854775809}\n", 3, 18, ("end", "64")),
    # each int fits, their product does not: torch's sizes are int64 too
    ("inputs: {x: {shape: [B, 4294967296]}}\nnodes:\n  l: {op: linear, out_features: 4294967296}\n", 3, 3,
     ("parameter weight", "int64")),
    (HEAD + "  r: {op: rope, head_dim: 4294967296, max_len: 4294967296}\n", 3, 39, ("max_len", "int64")),
    (HEAD + "  p: {op: pad, after: 9223372036854775800}\n", 3, 3, ("elements", "int64")),
])
def test_ints_beyond_int64_are_refused(tmp_path, text, line, col, words):
    refused(tmp_path, text, line, col, *words)


def test_an_int_too_long_to_print_is_refused_by_its_size(tmp_path):
    # 250 factors of 10**18: 4,500 digits, past the 4,300 that Python converts to text; refused at the attribute
    # (by the resolver's 2**63 bound or the attribute's int64 check, whichever comes first)
    product = "${mul:" + ",".join(["${vars.a}"] * 250) + "}"
    message = refused(tmp_path, f"vars: {{a: {10**18}}}\n" + HEAD + f'  l: {{op: linear, out_features: "{product}"}}\n',
                      4, None)
    assert len(message) < 200


@pytest.mark.parametrize("rule, col", [("{std: .inf}", 36), ("{std: .nan}", 36), ("{value: .nan}", 36),
                                       ("{value: -.inf}", 36), ("{std: " + "9" * 400 + "}", 36)])
def test_init_refuses_non_finite_numbers(tmp_path, rule, col):
    refused(tmp_path, HEAD + f"  l: {{op: linear, out_features: 4, init: {rule}}}\n", 3, col, "finite")


def test_ir_json_is_standard_json(tmp_path):
    path = write(tmp_path, HEAD + "  l: {op: linear, out_features: 4, init: {std: 0.02}}\n")
    out = subprocess.run([*archc_cmd(), "ir", str(path)], capture_output=True, text=True, check=True).stdout

    def refuse(name):
        raise AssertionError(f"non-standard JSON constant {name}")
    assert json.loads(out, parse_constant=refuse)["nodes"][1]["meta"]["dtypes"] == {"out": "float32"}
    ir = load_spec(path).ir
    ir.node("l").meta["flops"][0] = math.nan  # what a buggy pass could leave: refused, never written
    with pytest.raises(TypeError, match="nodes"):
        to_json(ir)


@pytest.mark.parametrize("op", ["slice, end: 1", "pad, after: 1", "split, sizes: [1, 1]", "concat, in: [x, x]",
                                "transpose, dim0: 0, dim1: 1", "softmax", "scale", "linear, out_features: 2",
                                "layernorm", "learned_position, max_len: 4, dim: 2"])
def test_rank_0_inputs_are_refused_cleanly(tmp_path, op):
    # these crashed the loader with ZeroDivisionError / IndexError tracebacks
    refused(tmp_path, f"inputs: {{x: {{shape: []}}}}\nnodes:\n  n: {{op: {op}}}\n", 3, None, "'x'")


# -- errors that name the real cause -----------------------------------------------------------------------

def test_a_bool_mask_fed_to_mul_is_called_a_mask(tmp_path):
    message = refused(tmp_path, "inputs: {x: {shape: [B, T, 8]}, m: {shape: [B, T, 8], dtype: bool}}\nnodes:\n"
                      "  s: {op: mul, in: [x, m]}\n", 3, 3, "'m' is a bool mask", "op 'mul' needs floats")
    assert "embed" not in message and "integer" not in message


def test_ids_fed_to_a_linear_say_to_embed_them(tmp_path):
    refused(tmp_path, "inputs: {t: {shape: [B, T], dtype: int64}}\nnodes:\n  l: {op: linear, out_features: 4}\n",
            3, 3, "'t' is an int64 tensor of ids", "float32", "embed the ids first")


def test_float16_into_a_parameterised_op_is_refused(tmp_path):
    # torch: "mat1 and mat2 must have the same dtype" -- the parameters are float32
    refused(tmp_path, "inputs: {x: {shape: [B, T, 8], dtype: float16}}\nnodes:\n"
            "  l: {op: linear, out_features: 4}\n", 3, 3, "float16", "float32")


def test_an_int64_edge_index_can_be_sliced(tmp_path):
    spec = load_spec(write(tmp_path, "inputs: {e: {shape: [2, E], dtype: int64}}\nnodes:\n"
                                     "  s: {op: slice, end: 1, dim: 0}\n"))
    assert spec.ir.node("s").meta["dtypes"] == {"out": "int64"}
    out, _ = run(spec, {"E": 7})
    assert out.dtype == torch.int64 and list(out.shape) == [1, 7]


@pytest.mark.parametrize("value, dtype, ok", [(0.5, "int64", False), (2.0, "int64", True), (2.0, "bool", False),
                                              (1.0, "bool", True), (1e5, "float16", False), (2.0**31, "int32", False),
                                              (2.0**63, "int64", False), (-(2.0**63), "int64", True)])
def test_pad_value_fits_the_dtype(tmp_path, value, dtype, ok):
    text = f"inputs: {{x: {{shape: [B, 4], dtype: {dtype}}}}}\nnodes:\n  p: {{op: pad, after: 1, value: {value!r}}}\n"
    if ok:
        out, _ = run(load_spec(write(tmp_path, text)), {"B": 2})
        assert out[0, -1].item() == value
    else:
        refused(tmp_path, text, 3, 26, "value")


# -- negative indices in slice --------------------------------------------------------------------------------

@pytest.mark.parametrize("attrs, dim, want", [
    ("start: 1, end: -1", -1, [3, "T", 6]),
    ("start: -3", -1, [3, "T", 3]),
    ("end: -2", -1, [3, "T", 6]),
    ("start: 1", 1, [3, "T-1", 8]),
    ("start: 2, end: -1", 1, [3, "T-3", 8]),
    ("start: -2", 1, [3, 2, 8]),
    ("start: -3, end: -1", 1, [3, 2, 8]),
    ("start: 0, end: 2", 1, [3, 2, 8]),
    ("start: -1, dim: 0", 0, [1, "T", 8]),
])
def test_slice_takes_negative_indices_like_python(tmp_path, attrs, dim, want):
    if "dim:" not in attrs:
        attrs += f", dim: {dim}"
    spec = load_spec(write(tmp_path, f"inputs: {{x: {{shape: [3, T, 8]}}}}\nnodes:\n  s: {{op: slice, {attrs}}}\n"))
    assert spec.ir.shape_of("s") == want
    node_attrs = spec.ir.node("s").attrs
    for t in (5, 9):
        out, (x,) = run(spec, {"T": t})
        index = [slice(None)] * 3
        index[dim] = slice(node_attrs["start"], node_attrs["end"])
        torch.testing.assert_close(out, x[tuple(index)])
        assert list(out.shape) == [evaluate(d, {"T": t}) for d in want]


def test_a_fixed_slice_of_a_symbolic_axis_says_what_it_needs_at_run_time(tmp_path):
    # proptest finding 5: `end: 8` on B is a bound on the run-time batch, which the spec cannot know; the
    # generated model says which axis is too short instead of torch's "start (0) + length (8) exceeds"
    spec = load_spec(write(tmp_path, "inputs: {x: {shape: [B, T, 4]}}\nnodes:\n  s: {op: slice, end: 8, dim: 0}\n"))
    assert spec.ir.shape_of("s") == [8, "T", 4]
    out, _ = run(spec, {"B": 9, "T": 2})
    assert list(out.shape) == [8, 2, 4]
    with pytest.raises(ValueError, match=r"axis 0 \(B\) has 2 entries; the slice needs 8"):
        run(spec, {"B": 2, "T": 2})


@pytest.mark.parametrize("attrs, words", [
    ("end: -1, start: 7", ("keep nothing",)),
    ("end: 9", ("end 9", "outside")),
    ("start: -9", ("start -9", "outside")),
    ("end: 0", ("keep nothing",)),
])
def test_slice_bounds_on_a_known_axis(tmp_path, attrs, words):
    text = HEAD + f"  s: {{op: slice, {attrs}}}\n"
    path = write(tmp_path, text)
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert info.value.loc.line == 3 and all(w in info.value.message for w in words), str(info.value)


def test_slice_refuses_ends_counting_from_opposite_sides_of_a_symbolic_axis(tmp_path):
    refused(tmp_path, HEAD + "  s: {op: slice, start: -3, end: 2, dim: 1}\n", 3, 29, "opposite ends", "T")


# -- dtypes ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("a, b", [("int64", "float32"), ("int32", "int64"), ("bool", "int32"),
                                  ("float16", "bfloat16"), ("float16", "float32"), ("bool", "float16")])
@pytest.mark.parametrize("rank_a, rank_b", [(1, 1), (0, 1), (1, 0)])
def test_promotion_is_torchs(a, b, rank_a, rank_b):
    x = torch.zeros([2] * rank_a, dtype=getattr(torch, a))
    y = torch.zeros([2] * rank_b, dtype=getattr(torch, b))
    assert promote([a, b], [rank_a, rank_b]) == str((x + y).dtype).removeprefix("torch.")


def test_concat_of_ids_and_floats_gives_floats(tmp_path):
    spec = load_spec(write(tmp_path, "inputs: {i: {shape: [B, 2], dtype: int64}, x: {shape: [B, 3]}}\n"
                                     "nodes:\n  c: {op: concat, in: [i, x]}\n"))
    assert spec.ir.node("c").meta["dtypes"] == {"out": "float32"}
    out, _ = run(spec, {"B": 2})
    assert out.dtype == torch.float32 and list(out.shape) == [2, 5]


def test_every_port_takes_a_known_kind():
    for op in OPS.values():
        for port in op.inputs:
            assert port.takes in TAKES, (op.name, port.name)


def test_a_mask_port_takes_only_bool(tmp_path, monkeypatch):
    class Where(Op):
        """An op with a mask port, as a masked fill would declare it."""

        name = "where_test"
        inputs = (Port("x"), Port("mask", takes="mask"))

    monkeypatch.setitem(OPS, "where_test", Where())
    base = ("inputs: {x: {shape: [B, 4]}, m: {shape: [B, 4], dtype: DT}}\nnodes:\n"
            "  w: {op: where_test, in: {x: x, mask: m}}\n")
    node = load_spec(write(tmp_path, base.replace("DT", "bool"))).ir.node("w")
    assert node.meta["dtypes"] == {"out": "float32"}
    refused(tmp_path, base.replace("DT", "int64"), 3, 3, "'m' is an int64 tensor", "a bool mask", "'mask'")


# -- hooks read by count ------------------------------------------------------------------------------------

def test_a_linear_feeding_an_output_counts_as_the_head(tmp_path):
    spec = load_spec(write(tmp_path, HEAD + "  a: {op: linear, out_features: 8}\n  b: {op: linear, out_features: 4}\n"
                                            "outputs: [b]\n"))
    assert [spec.ir.node(k).meta["category"] for k in ("a", "b")] == ["other", "head"]


@pytest.mark.parametrize("use", ["{block: ffn}", "{block: pair, repeat: 3}"])
def test_a_block_ending_the_spec_keeps_its_category(tmp_path, use):
    # the down projection of an mlp block, or the last iteration of a repeat, is not the model's head
    blocks = ("blocks:\n"
              "  ffn: {role: mlp, nodes: {up: {op: linear, out_features: 16}, down: {op: linear, out_features: 8}}}\n"
              "  pair: {nodes: {p: {op: linear, out_features: 8}, q: {op: linear, out_features: 8}}}\n")
    spec = load_spec(write(tmp_path, blocks + HEAD + f"  b: {use}\n"))
    categories = {n.meta["category"] for n in spec.ir.nodes() if n.op == "linear"}
    assert categories == ({"mlp"} if "ffn" in use else {"other"})


# -- symbolic sizes -------------------------------------------------------------------------------------------

def test_size_arithmetic_is_canonical():
    assert offset("T", -1) == "T-1" and offset("T-1", 1) == "T" and offset("T2", 3) == "T2+3"
    assert add("T", 1) == "T+1" and add(0, "T") == "T" and add("T+1", "S-1") == "T+S"
    assert evaluate("T+S-2", {"T": 5, "S": 3}) == 6 and evaluate("T", {}) is None
    assert INT64_MAX == torch.iinfo(torch.int64).max
