"""expand: graphs of any shape in linear time without recursion, ties to the owner, references into block uses,
and names and numbers checked where the spec writes them.

Error fixtures for the same defects are in tests/error_specs/ (tie_cycle, int_beyond_int64,
node_name_trailing_newline, output_inside_repeat_typo).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from archc.errors import SpecError, did_you_mean
from archc.passes.expand import MAX_DEPTH
from archc.pipeline import load_spec
from tests.conftest import ROOT

INPUT = "inputs: {x: {shape: [B, 4]}}\n"


def load(tmp_path, text: str, name: str = "spec.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return load_spec(path)


def error(tmp_path, text: str) -> SpecError:
    with pytest.raises(SpecError) as info:
        load(tmp_path, text)
    assert "\n" not in str(info.value)
    return info.value


def where(err: SpecError) -> tuple[int, int]:
    return err.loc.line, err.loc.col


# -- graphs of any shape ----------------------------------------------------------------------------------

def chain_last_first(n: int) -> str:
    lines = [f"  n{i}: {{op: relu, in: {'x' if i == 0 else f'n{i - 1}'}}}\n" for i in reversed(range(n))]
    return INPUT + "nodes:\n" + "".join(lines) + f"outputs: [n{n - 1}]\n"


def nested_blocks(depth: int) -> str:
    blocks = "  b0: {nodes: {r: {op: relu}}}\n" + "".join(
        f"  b{i}: {{nodes: {{u: {{block: b{i - 1}}}}}}}\n" for i in range(1, depth))
    return INPUT + "blocks:\n" + blocks + f"nodes:\n  top: {{block: b{depth - 1}}}\n"


def test_a_chain_listed_last_first_is_ordered_without_recursion(tmp_path):
    # 3,000 is three times Python's recursion limit: the old recursive order ended in a RecursionError
    ir = load(tmp_path, chain_last_first(3000)).ir
    keys = [n.key for n in ir.nodes()]
    assert keys == ["x", *(f"n{i}" for i in range(3000))]


def test_400_sequential_uses_of_a_block(tmp_path):
    text = INPUT + "blocks:\n  b: {nodes: {r: {op: relu}, t: {op: tanh}}}\nnodes:\n" + "".join(
        f"  u{i}: {{block: b}}\n" for i in range(400))
    ir = load(tmp_path, text).ir
    assert len(ir) == 1 + 400 * 2
    assert ir.node("u399.t").inputs == [("x", "u399.r", "out")]
    assert ir.node("u1.r").inputs == [("x", "u0.t", "out")]


def test_blocks_nested_to_the_limit_load(tmp_path):
    ir = load(tmp_path, nested_blocks(MAX_DEPTH)).ir
    assert [n.key for n in ir.nodes()][-1] == "top" + ".u" * (MAX_DEPTH - 1)


def test_blocks_nested_beyond_the_limit_are_one_clean_error_at_the_use(tmp_path):
    # line 4 is block b1's `{nodes: {u: {block: b0}}}`: its use of b0 is the 65th level
    err = error(tmp_path, nested_blocks(MAX_DEPTH + 1))
    assert where(err) == (4, 20)
    assert f"nested more than {MAX_DEPTH} deep" in err.message and "b0" in err.message


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["flat", "repeat"])
def test_wide_scopes_and_long_repeats_load(tmp_path, kind):
    # The cases: 40,000 nodes in one scope, a 99,990-iteration repeat of a one-node block (each took
    # over 20 s in `show`; expansion now takes a few seconds of CPU for each). The timeout only guards
    # against a hang: how fast is for the benchmark, not for a test on a shared machine.
    path = tmp_path / "big.yaml"
    if kind == "flat":
        path.write_text(INPUT + "nodes:\n" + "".join(f"  n{i}: {{op: relu}}\n" for i in range(40_000)))
        expect = 40_001
    else:
        path.write_text(INPUT + "blocks:\n  b: {nodes: {r: {op: relu}}}\nnodes:\n  l: {block: b, repeat: 99990}\n")
        expect = 99_991
    code = f"from archc.pipeline import load_spec; print(len(load_spec({str(path)!r}).ir))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == str(expect)


# -- ties ---------------------------------------------------------------------------------------------------

TIES = """\
    inputs: {x: {shape: [B, 4]}}
    blocks:
      layer:
        nodes:
          p: {op: linear, out_features: 4}
          q: {op: linear, out_features: 4, tie: p}
      shared:
        nodes:
          cell: {op: linear, out_features: 4, tie: s0.cell}
          act: {op: tanh}
      one:
        nodes:
          attn: {op: linear, out_features: 4, tie: steps.0.attn}
    nodes:
      a: {op: linear, out_features: 4, tie: b}
      b: {op: linear, out_features: 4, tie: c}
      c: {op: linear, out_features: 4}
      layers: {block: layer, repeat: 3}
      s0: {block: shared}
      s1: {block: shared}
      steps: {block: one, repeat: 3}
      h: {op: linear, out_features: 4, tie: steps.0.attn}
    """


def test_ties_resolve_to_the_node_that_owns_the_weight(tmp_path):
    ir = load(tmp_path, TIES).ir
    tie = {n.key: n.tie for n in ir.nodes() if n.op == "linear"}
    assert tie["a"] == tie["b"] == "c" and tie["c"] is None  # a chain resolves to its root
    # inside a repeated block, each iteration ties to its own node
    assert [tie[f"layers.{i}.q"] for i in range(3)] == ["layers.0.p", "layers.1.p", "layers.2.p"]
    assert all(tie[f"layers.{i}.p"] is None for i in range(3))
    # one weight across uses of a block: the use named in the tie owns it
    assert (tie["s0.cell"], tie["s1.cell"]) == (None, "s0.cell")
    # a single-node block's node is its use: steps.0.attn is steps.0
    assert [tie["steps.0"], tie["steps.1"], tie["steps.2"], tie["h"]] == [None, "steps.0", "steps.0", "steps.0"]
    # tied weights count once: 9 owners of a 4x4 weight plus a bias each, 7 tied nodes with their own bias
    owners = [k for k, v in tie.items() if v is None]
    assert sum(n.meta["n_params"] for n in ir.nodes()) == len(owners) * 20 + (len(tie) - len(owners)) * 4


@pytest.mark.parametrize("nodes, message, at", [
    ("  a: {op: linear, out_features: 4, tie: b}\n  b: {op: linear, out_features: 4, tie: a}\n",
     "tie cycle: a -> b -> a: one of these nodes must own the weight", (3, 36)),
    ("  a: {op: linear, out_features: 4, tie: zz}\n", "tie refers to 'zz', which does not exist", (3, 36)),
    ("  a: {op: linear, out_features: 4, tie: [b]}\n", "tie takes a node name, got ['b']", (3, 36)),
])
def test_bad_ties_are_refused_at_the_tie(tmp_path, nodes, message, at):
    err = error(tmp_path, INPUT + "nodes:\n" + nodes)
    assert (err.message, where(err)) == (message, at)


# -- references into block uses ------------------------------------------------------------------------------

NESTED = """\
    inputs: {x: {shape: [B, 4]}}
    blocks:
      moe: {nodes: {gate: {op: linear, out_features: 2}, probs: {op: softmax}}}
      layer: {nodes: {moe: {block: moe}, o: {op: linear, out_features: 4, in: x}}}
      norm: {nodes: {ln: {op: layernorm}}}
    nodes:
      layers: {block: layer, repeat: 2}
      enc: {block: moe}
      n: {block: norm, in: x}
      t: {op: tanh, in: layers.1.moe.gate}
    """


def test_outputs_and_inputs_name_values_inside_block_uses_by_key(tmp_path):
    ir = load(tmp_path, NESTED + "outputs: [t, layers.0.moe.probs, layers.1.moe.probs, enc.gate, n.ln]\n").ir
    assert ir.info["outputs"] == {"t": ["t", "out"], "layers_0_moe_probs": ["layers.0.moe.probs", "out"],
                                  "layers_1_moe_probs": ["layers.1.moe.probs", "out"],
                                  "enc": ["enc.gate", "out"], "n": ["n", "out"]}
    assert ir.node("t").inputs == [("x", "layers.1.moe.gate", "out")]
    assert ir.node("layers.1.moe.probs").meta["shapes"] == {"out": ["B", 2]}


def test_a_list_of_outputs_that_would_share_a_name_keeps_both(tmp_path):
    text = INPUT + "nodes:\n  s: {op: split, sizes: [1, 3]}\noutputs: [s.0, s.1]\n"
    assert load(tmp_path, text).ir.info["outputs"] == {"s_0": ["s", "0"], "s_1": ["s", "1"]}


@pytest.mark.parametrize("outputs, message, at", [
    ("[enc.gatez]", "output 'enc': 'enc' has no output 'gatez' (it has out) and holds nothing named 'enc.gatez' "
                    "(did you mean 'enc.gate'?)", (11, 11)),
    ("[enc.gate.outt]", "output 'enc_gate_outt': 'enc.gate' has no output 'outt'; it has out", (11, 11)),
    ("{a: t.foo}", "output 'a': 't' has no output 'foo'; it has out", (11, 11)),
    ("[t, t]", "'outputs' lists 't' twice", (11, 1)),
])
def test_references_that_do_not_exist_say_where_and_what_is_there(tmp_path, outputs, message, at):
    err = error(tmp_path, NESTED + f"outputs: {outputs}\n")
    assert (err.message, where(err)) == (message, at)


# -- keys the schema allows -----------------------------------------------------------------------------------

def test_docs_are_accepted_where_the_schema_allows_them(tmp_path):
    text = """\
        name: tiny
        doc: a note
        inputs: {x: {shape: [B, 4], doc: the features}}
        blocks: {b: {doc: a block, nodes: {r: {op: relu, doc: a node}}}}
        nodes:
          u: {block: b, doc: a use}
        """
    assert load(tmp_path, text).ir.info["inputs"] == {"x": {"shape": ["B", 4], "dtype": "float32"}}


def test_a_doc_that_is_not_a_string_is_refused(tmp_path):
    err = error(tmp_path, "inputs: {x: {shape: [B, 4], doc: [1]}}\nnodes:\n  r: {op: relu}\n")
    assert (err.message, where(err)) == ("'doc' of input 'x' must be a string, got [1]", (1, 29))


def test_an_unknown_input_key_is_not_suggested_as_itself(tmp_path):
    err = error(tmp_path, "inputs: {x: {shape: [B, 4], dtyp: int64}}\nnodes:\n  r: {op: relu}\n")
    assert "did you mean 'dtype'?" in err.message and where(err) == (1, 29)


def test_a_suggestion_is_never_the_rejected_name():
    assert did_you_mean("doc", ["doc"]) == ""
    assert did_you_mean("doc", ["doc", "docs"]) == " (did you mean 'docs'?)"


def test_an_init_on_a_block_use_is_the_default_of_its_nodes(tmp_path):
    text = """\
        inputs: {x: {shape: [B, 4]}}
        blocks: {b: {nodes: {p: {op: linear, out_features: 4}, q: {op: linear, out_features: 4, init: ones}}}}
        nodes:
          u: {block: b, init: zeros}
          v: {block: b}
        """
    ir = load(tmp_path, text).ir
    assert ir.node("u.p").init == {"*": {"kind": "zeros"}}
    assert ir.node("u.q").init == ir.node("v.q").init == {"*": {"kind": "ones"}}
    assert ir.node("v.p").init == {}


def test_an_init_on_a_block_use_that_names_parameters_is_refused(tmp_path):
    text = INPUT + "blocks: {b: {nodes: {p: {op: linear, out_features: 4}}}}\nnodes:\n" \
                   "  u: {block: b, init: {weight: zeros}}\n"
    err = error(tmp_path, text)
    assert err.message.startswith("'init' of block use 'u' takes one rule") and where(err) == (4, 17)


# -- names and numbers ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, what, at", [
    ('inputs: {"x\\n": {shape: [B, 4]}}\nnodes:\n  r: {op: relu}\n', "input name 'x\\n'", (1, 10)),
    ('vars: {"v\\n": 1}\n' + INPUT + "nodes:\n  r: {op: relu}\n", "var name 'v\\n'", (1, 8)),
    (INPUT + 'blocks: {"b\\n": {nodes: {r: {op: relu}}}}\nnodes:\n  r: {op: relu}\n', "block name 'b\\n'", (2, 10)),
    (INPUT + 'blocks: {b: {inputs: ["p\\n"], nodes: {r: {op: relu}}}}\nnodes:\n  u: {block: b}\n',
     "input port 'p\\n'", (2, 23)),
    (INPUT + 'nodes:\n  r: {op: relu}\noutputs: {"o\\n": r}\n', "output name 'o\\n'", (4, 11)),
])
def test_names_ending_in_a_newline_are_refused(tmp_path, text, what, at):
    err = error(tmp_path, text)
    assert err.message.startswith(f"{what} is not a valid name") and where(err) == at, str(err)


def test_a_shape_symbol_ending_in_a_newline_is_refused(tmp_path):
    err = error(tmp_path, 'inputs: {x: {shape: ["B\\n", 4]}}\nnodes:\n  r: {op: relu}\n')
    assert err.message == "input 'x': axis 0 must be a positive int or a name like B, got 'B\\n'"
    assert where(err) == (1, 22)


@pytest.mark.parametrize("value, shown", [
    ("-9223372036854775809", "-9223372036854775809"),
    ("[1, 9223372036854775808]", "9223372036854775808"),
    ("1" * 400, "an integer of 400 digits"),
])
def test_ints_beyond_int64_are_refused_in_attributes(tmp_path, value, shown):
    err = error(tmp_path, INPUT + f"nodes:\n  s: {{op: split, sizes: {value}}}\n")
    assert err.message == f"attribute 'sizes' of op 'split': {shown} does not fit in a 64-bit integer"
    assert where(err) == (3, 18)


def test_a_huge_int_for_a_float_attribute_is_a_clean_error(tmp_path):
    # float(10**400) raises OverflowError: the int64 check comes first
    err = error(tmp_path, INPUT + f"nodes:\n  d: {{op: dropout, p: {'9' * 400}}}\n")
    assert "does not fit in a 64-bit integer" in err.message and where(err) == (3, 20)


def test_largest_int64_is_accepted_where_an_int_is_expected(tmp_path):
    # the attribute check is the int64 range, not something tighter (later passes refuse what no tensor can
    # hold: a linear that wide by the size of its weight, a slice end past its axis)
    from archc.errors import Loc
    from archc.ops.registry import OPS
    from archc.passes.expand import check_attr

    spec = OPS["linear"].attrs["out_features"]
    assert check_attr("linear", "out_features", spec, 2**63 - 1, Loc("x.yaml")) == 2**63 - 1
    with pytest.raises(SpecError):
        check_attr("linear", "out_features", spec, 2**63, Loc("x.yaml"))


def test_a_repeat_count_of_hundreds_of_digits_is_a_clean_error(tmp_path):
    # formatting an int of over 4,300 digits raises ValueError in Python: messages never print one whole
    err = error(tmp_path, INPUT + "blocks: {b: {nodes: {r: {op: relu}}}}\nnodes:\n"
                                  f"  l: {{block: b, repeat: {'9' * 4000}}}\n")
    assert err.message == "repeat (an integer of 4,000 digits) is above archc's limit of 100,000 nodes"
    assert where(err) == (4, 17)


def test_true_is_not_an_int(tmp_path):
    err = error(tmp_path, INPUT + "nodes:\n  a: {op: linear, out_features: true}\n")
    assert err.message == "attribute 'out_features' of op 'linear' expects an int, got True"


# -- node bodies with nothing to resolve skip OmegaConf (archc/passes/literal.py) ----------------------------

@pytest.mark.parametrize("width", ["${nodes.a.out_features}", "${..a.out_features}", "${${vars.k}.a.out_features}",
                                   "${vars.d}"])
def test_interpolations_still_reach_every_node(tmp_path, width):
    text = ('vars: {d: 6, k: nodes}\n' + INPUT + "nodes:\n  a: {op: linear, out_features: 6}\n"
            f"  b: {{op: linear, out_features: '{width}'}}\n  c: {{op: relu}}\n")
    ir = load(tmp_path, text).ir
    assert ir.node("b").attrs["out_features"] == 6
    assert [n.key for n in ir.nodes()] == ["x", "a", "b", "c"]
    assert ir.node("c").inputs == [("x", "b", "out")]


def test_expansion_leaves_the_composed_spec_as_it_was(tmp_path):
    from archc.pipeline import analyse
    from archc.spec.compose import compose

    path = tmp_path / "spec.yaml"
    path.write_text(INPUT + "nodes:\n  a: {op: relu}\n  b: {op: tanh}\n")
    composed = compose(path, [])
    analyse(composed)
    assert composed.data["nodes"] == {"a": {"op": "relu"}, "b": {"op": "tanh"}}  # no implicit `in:` filled in
    assert load_spec(path).ir.node("b").inputs == [("x", "a", "out")]


def test_a_missing_value_in_a_node_is_still_refused(tmp_path):
    err = error(tmp_path, INPUT + "nodes:\n  a: {op: linear, out_features: '???'}\n")
    assert err.message == "missing value '???': set it in the spec or with an override" and where(err) == (3, 19)


def test_the_schema_accepts_references_into_block_uses():
    import re

    from archc.schema import spec_schema

    pattern = spec_schema()["$defs"]["reference"]["anyOf"][0]["pattern"]
    assert all(re.search(pattern, r) for r in ("head", "split.0", "layers.0.moe.probs"))
    assert not any(re.search(pattern, r) for r in ("0head", "a..b", "a."))


def test_block_classes_never_share_a_name_with_another_block(tmp_path):
    text = """\
        inputs: {x: {shape: [B, 4]}}
        blocks:
          b: {params: {w: 4}, nodes: {l: {op: linear, out_features: "${params.w}"}, t: {op: tanh}}}
          b_1: {nodes: {r: {op: relu}, s: {op: sigmoid}}}
        nodes:
          u: {block: b}
          v: {block: b, w: 4}
          z: {block: b, w: 8}
          y: {block: b_1}
        """
    scopes = load(tmp_path, text).ir.scopes
    keys = {k: i.class_key for k, i in scopes.instances.items()}
    assert len({keys["u"], keys["v"], keys["z"], keys["y"]}) == 4
    assert {k: c.block for k, c in scopes.classes.items()} == {keys["u"]: "b", keys["v"]: "b", keys["z"]: "b",
                                                                keys["y"]: "b_1"}
