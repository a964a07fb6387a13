"""Random uses of every op: the loader accepts a node only if its generated code runs as the IR says.

For each op in the registry, hypothesis draws input ranks, sizes (small ints and symbols), dtypes, optional
and variadic ports, and attribute values from the op's schema and around its edges (negative axes, zero,
bools and floats where ints go, empty and mixed lists). ``load_spec`` must either refuse the spec with one
``SpecError`` line or accept it; an accepted spec is built, run in torch on concrete sizes, and its output
shapes and dtypes must be the IR's. Found by this test and fixed at the op: see tests/test_shapes.py.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import pytest
import torch
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

import archc
from archc.errors import SpecError
from archc.ir.dims import evaluate
from archc.ops.base import TAKES, TENSOR_DTYPES
from archc.ops.registry import OPS
from archc.pipeline import load_spec

set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "archc-hypothesis")

ONE_LINE = re.compile(r"^[^\n]+:\d+:\d+: [^\n]+$")
# above every bound drawn below (16), so a slice of a symbolic axis never runs past a real one
SIZES = {"B": 19, "T": 21, "S": 23}
OP_NAMES = [name for name in OPS if name != "input"]
# 60 per op in `make test` (about 1 s each), the same 60 every run so the acceptance floor below cannot flake;
# ARCHC_OP_FUZZ=2000 for a long random run offline (50,000 draws over the 25 ops found nothing, 2026-11-29)
LONG = "ARCHC_OP_FUZZ" in os.environ
FUZZ = settings(max_examples=int(os.environ.get("ARCHC_OP_FUZZ", "60")), deadline=None, database=None,
                derandomize=not LONG, suppress_health_check=list(HealthCheck))
ACCEPTED: dict[str, int] = {}

dims = st.one_of(st.integers(1, 6), st.sampled_from(["B", "T", "S"]))
shapes = st.lists(dims, min_size=0, max_size=4)
# mostly the small positive sizes and counts ops want, then the edges: negative axes, zero, 16
small_ints = st.one_of(st.integers(1, 4), st.integers(1, 4), st.integers(-5, 12), st.sampled_from([0, 6, 8, 16]))
odd = st.one_of(st.booleans(), st.floats(-4, 4, allow_nan=False), st.sampled_from(["B", "T", "x", -1, None]))


@st.composite
def attr_value(draw, name, attr):
    """Mostly a value of the attribute's type (the loader's type checks have their own tests), sometimes not."""
    if draw(st.integers(0, 9)) == 0:
        return draw(odd)
    if name == "max_len":  # a bound on the run-time length: mostly above SIZES, sometimes below
        return draw(st.integers(1, 64))
    types = attr.type if isinstance(attr.type, tuple) else (attr.type,)
    options = []
    if attr.choices:
        options.append(st.sampled_from(attr.choices))
    if int in types:
        options.append(small_ints)
    if float in types:
        options.append(st.one_of(st.floats(-2, 20, allow_nan=False), st.sampled_from([0.0, 0.5, 1.0, 1e4])))
    if bool in types:
        options.append(st.booleans())
    if list in types:
        item = st.one_of(small_ints, dims, odd) if attr.item else odd
        mixed = st.lists(st.one_of(st.integers(1, 4), dims) | item, min_size=0, max_size=4)
        options.append(mixed | st.lists(st.integers(1, 4), min_size=2, max_size=3))
    if attr.nullable:
        options.append(st.none())
    return draw(st.one_of(*options)) if options else draw(odd)


@st.composite
def op_use(draw, name):
    op = OPS[name]
    inputs, wiring = {}, {}
    if not op.inputs:  # a spec needs an input: param and constant take none, so declare one they ignore
        inputs["unused"] = {"shape": ["B", 2], "dtype": "float32"}
    # one draw in 8 is the example itself, so every op reaches its code (rope's consumer is wired below)
    if "consumer" not in op.example and draw(st.integers(0, 7)) == 0:
        return _example_use(op, inputs)
    tensor_ports = [p for p in op.inputs if set(TAKES[p.takes].dtypes) <= set(TENSOR_DTYPES)]
    # half the draws start from the op's example (its shape and attributes) and change some of it
    near = draw(st.booleans())
    example_shape = next(iter(op.example["inputs"].values()), [])
    example_shape = example_shape[0] if example_shape and isinstance(example_shape[0], list) else example_shape
    first_shape = list(example_shape) if near and draw(st.booleans()) else draw(shapes)
    for i, port in enumerate(tensor_ports):
        if port.optional and not draw(st.booleans()):
            continue
        count = draw(st.integers(1, 3)) if port.variadic else 1
        names = []
        for j in range(count):
            shape = first_shape if (i, j) == (0, 0) or draw(st.booleans()) else draw(shapes)
            taken = st.sampled_from(TAKES[port.takes].dtypes)
            dtype = draw(st.one_of(taken, taken, st.sampled_from(TENSOR_DTYPES)))
            input_name = f"{port.name}{j}"
            inputs[input_name] = {"shape": shape, "dtype": dtype}
            names.append(input_name)
        wiring[port.name] = names if port.variadic else names[0]
    attrs = {}
    for attr_name, attr in op.attrs.items():
        if near and attr_name in op.example["attrs"] and draw(st.booleans()):
            attrs[attr_name] = op.example["attrs"][attr_name]
        elif attr.required or draw(st.booleans()):
            attrs[attr_name] = draw(attr_value(attr_name, attr))
    for value in attrs.values():  # a list of sizes sometimes partitions the axis it splits
        fits = isinstance(value, list) and value and all(type(v) is int and v > 0 for v in value) and first_shape
        if fits and draw(st.booleans()):
            dim = attrs.get("dim", -1)
            if type(dim) is int and -len(first_shape) <= dim < len(first_shape):
                first_shape[dim] = sum(value)
    nodes = {"n": {"op": name, "in": wiring, **attrs}}
    if "consumer" in op.example:  # a non-tensor output (rope's tables) reaches the model's output through it
        use = op.example["consumer"]
        for port, shape in use["inputs"].items():
            inputs[f"use_{port}"] = {"shape": shape, "dtype": TAKES[next(
                p.takes for p in OPS[use["op"]].inputs if p.name == port)].dtypes[0]}
        nodes["use"] = {"op": use["op"], "in": {**{p: f"use_{p}" for p in use["inputs"]}, use["port"]: "n"},
                        **use["attrs"]}
    return {"inputs": inputs, "nodes": nodes}


def _example_use(op, inputs: dict) -> dict:
    """The op's example as a spec: its shapes and attributes, each port's first dtype."""
    wiring = {}
    for port in op.inputs:
        if port.name not in op.example["inputs"] or not set(TAKES[port.takes].dtypes) <= set(TENSOR_DTYPES):
            continue
        shape = op.example["inputs"][port.name]
        many = shape and isinstance(shape[0], list)
        names = []
        for j, s in enumerate(shape if many else [shape]):
            inputs[f"{port.name}{j}"] = {"shape": list(s), "dtype": TAKES[port.takes].dtypes[0]}
            names.append(f"{port.name}{j}")
        wiring[port.name] = names if many else names[0]
    return {"inputs": inputs, "nodes": {"n": {"op": op.name, "in": wiring, **op.example["attrs"]}}}


def concrete(shape) -> list[int]:
    return [evaluate(d, SIZES) for d in shape]


def make_input(decl) -> torch.Tensor:
    shape, dtype = concrete(decl["shape"]), getattr(torch, decl["dtype"])
    if dtype.is_floating_point:
        return torch.randn(shape).to(dtype)
    if dtype == torch.bool:
        return torch.randint(0, 2, shape).bool()
    return torch.zeros(shape, dtype=dtype)  # id 0: a table has at least one row


@pytest.mark.parametrize("name", OP_NAMES)
def test_an_accepted_node_runs_as_the_ir_says(name, tmp_path_factory):
    path = tmp_path_factory.mktemp(name) / "spec.yaml"

    @FUZZ
    @given(op_use(name))
    def check(spec_data):
        path.write_text(yaml.safe_dump(spec_data, sort_keys=False))
        try:
            spec = load_spec(path)
        except SpecError as err:
            assert ONE_LINE.match(str(err)), str(err)
            return
        node = spec.ir.node("use" if "use" in spec.ir else "n")
        # a table of max_len rows is a bound on the run-time length, which the spec's T cannot know
        max_len = spec.ir.node("n").attrs.get("max_len")
        assume(not isinstance(max_len, int) or max_len >= max(SIZES.values()))
        ACCEPTED[name] = ACCEPTED.get(name, 0) + 1
        model = archc.build_module(spec).eval()
        with torch.no_grad():
            out = model(*(make_input(d) for d in spec.ir.info["inputs"].values()))
        outs = list(out.values()) if isinstance(out, dict) else list(out) if isinstance(out, tuple) else [out]
        assert [list(o.shape) for o in outs] == [concrete(s) for s in node.meta["shapes"].values()], spec_data
        assert [str(o.dtype).removeprefix("torch.") for o in outs] == list(node.meta["dtypes"].values()), spec_data

    check()
    # the strategy must reach the generated code, not only the loader's refusals
    assert ACCEPTED.get(name, 0) >= max(1, FUZZ.max_examples // 50), f"op {name}: {ACCEPTED.get(name, 0)} accepted"
