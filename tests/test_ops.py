"""Generic op tests: every op in the registry, from its own ``example``, without per-op test code.

For each op: the example expands and infers shapes; the generated module's output has the IR's shape;
parameter shapes match the IR; outputs and gradients (inputs and parameters) match an independent
reference in tests/op_references.py on fresh random inputs; and for every dtype the op's first port takes,
the spec loads, the generated module runs, and its outputs have the dtypes the IR declares.
"""

from __future__ import annotations

import textwrap

import pytest
import torch

import archc
from archc.ops.base import NON_TENSOR, TAKES
from archc.ops.registry import OPS
from archc.pipeline import load_spec
from tests.op_references import REFERENCES

SIZES = {"B": 2, "T": 5}
# Position tables are fp32 buffers (as in HF), computed once; in a float64 model they carry fp32 rounding
# (about 6e-8 absolute on values of magnitude 1), so they get an fp32 tolerance; everything else is float64.
TOLERANCE = {"rope": 1e-6, "sinusoidal_position": 1e-6}
OP_NAMES = [name for name in OPS if name != "input"]
#: the dtype an example input gets for each kind of port (Port.takes)
#: ops defined only for positive inputs (log, sqrt): their example inputs are |x| + 0.5, away from nan and 0
POSITIVE = {"log", "sqrt"}
EXAMPLE_DTYPE = {"float": "float32", "float32": "float32", "index": "int64", "mask": "bool", "any": "float32"}


def _wire(op_name: str, ex: dict, inputs: dict, prefix: str, dtype: str | None) -> dict:
    """Declare spec inputs for an example's input shapes; the wiring of its ports to them."""
    op = OPS[op_name]
    takes = {p.name: p.takes for p in op.inputs}
    wiring = {}
    if not op.inputs:  # a spec needs an input: param and constant have none, so declare one they ignore
        inputs[prefix + "unused"] = {"shape": ["B", 2], "dtype": "float32"}
    for port, shape in ex["inputs"].items():
        assert takes[port] in EXAMPLE_DTYPE, f"op {op_name}: example input '{port}' must be a tensor port"
        shapes = shape if shape and isinstance(shape[0], list) else [shape]
        names = []
        for i, s in enumerate(shapes):
            input_name = prefix + (f"{port}{i}" if len(shapes) > 1 else port)
            # the dtype under test goes to every port of the first port's kind (matmul's x and y alike)
            first = takes[port] == op.inputs[0].takes
            inputs[input_name] = {"shape": s, "dtype": dtype if dtype and first else EXAMPLE_DTYPE[takes[port]]}
            names.append(input_name)
        wiring[port] = names if len(shapes) > 1 else names[0]
    return wiring


def example_spec(tmp_path, name: str, dtype: str | None = None):
    """A spec of one node, ``node``, running ``name``'s example; ``dtype`` overrides the first port's input
    dtype. An op whose output is not a tensor (rope's tables) feeds its example's ``consumer``, ``use``."""
    ex = OPS[name].example
    inputs: dict = {}
    nodes = {"node": {"op": name, "in": _wire(name, ex, inputs, "", dtype), **ex["attrs"]}}
    if "consumer" in ex:
        use = ex["consumer"]
        wiring = {**_wire(use["op"], use, inputs, "use_", None), use["port"]: "node"}
        nodes["use"] = {"op": use["op"], "in": wiring, **use["attrs"]}
    import yaml

    path = tmp_path / f"{name}.yaml"
    spec = {"inputs": inputs, "nodes": nodes}
    if "use" in nodes:
        spec["outputs"] = ["use"]
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def node_outputs(spec, model, feed: dict) -> tuple:
    """The outputs of node ``node``: the model's, or, when it feeds a consumer, its submodule's own."""
    node = spec.ir.node("node")
    if "use" in spec.ir:
        out = model.get_submodule("node")(*(feed[src] for _, src, _ in node.inputs))
    else:
        out = model(*feed.values())
    return tuple(out.values()) if isinstance(out, dict) else out if isinstance(out, tuple) else (out,)


def random_input(decl: dict, dtype=None) -> torch.Tensor:
    shape = [SIZES.get(d, d) for d in decl["shape"]]
    name = decl["dtype"]
    if name in ("int64", "int32"):
        return torch.randint(0, 7, shape, dtype=getattr(torch, name))
    if name == "bool":
        return torch.randint(0, 2, shape).bool()
    return torch.randn(shape, dtype=dtype or getattr(torch, name), requires_grad=dtype is not None)


def test_every_op_has_an_example_and_a_reference():
    for name in OP_NAMES:
        assert OPS[name].example, f"op {name} has no example"
        assert name in REFERENCES, f"op {name} has no reference in tests/op_references.py"
        assert OPS[name].__doc__ and len(OPS[name].__doc__) > 20, f"op {name} has no docstring"
        assert all(p.takes in TAKES for p in OPS[name].inputs), f"op {name}: a port takes an unknown kind"


@pytest.mark.parametrize("name", OP_NAMES)
def test_op_matches_reference_forward_and_backward(name, tmp_path):
    torch.manual_seed(hash(name) % 1000)
    spec = load_spec(example_spec(tmp_path, name))
    ir = spec.ir
    node = ir.node("node")
    model = archc.build_module(spec).eval().double()
    # parameters: the IR's names and shapes, fresh random values (not the init) so zero-init hides nothing
    params = {k: v for k, v in model.named_parameters() if k.startswith("node.")}
    assert {k.removeprefix("node."): list(v.shape) for k, v in params.items()} == node.meta["params"]
    with torch.no_grad():
        for p in params.values():
            p.copy_(torch.randn_like(p))
    feed = {input_name: random_input(decl, torch.float64) for input_name, decl in ir.info["inputs"].items()}
    if name in POSITIVE:
        with torch.no_grad():
            for t in feed.values():
                t.abs_().add_(0.5)
    args = [feed[src] for _, src, _ in node.inputs]
    outs = node_outputs(spec, model, feed)
    port_inputs: dict = {}
    for port, src, _ in node.inputs:
        if isinstance(port_inputs.get(port), list) or sum(p == port for p, _, _ in node.inputs) > 1:
            port_inputs.setdefault(port, []).append(feed[src])
        else:
            port_inputs[port] = feed[src]
    ref_params = {k.removeprefix("node."): v for k, v in params.items()}
    ref = REFERENCES[name](port_inputs, ref_params, node.attrs)
    refs = ref if isinstance(ref, (tuple, list)) else (ref,)
    ir_shapes = []
    for port, shape in node.meta["shapes"].items():  # a non-tensor output holds several tensors of one shape
        kind = NON_TENSOR.get(node.meta["dtypes"][port])
        ir_shapes += [[SIZES.get(d, d) for d in shape]] * (len(kind.parts) if kind else 1)
    assert [list(o.shape) for o in outs] == ir_shapes
    tol = TOLERANCE.get(name, 1e-9)
    for got, want in zip(outs, refs, strict=True):
        torch.testing.assert_close(got, want.to(got.dtype), rtol=tol, atol=tol)
    leaves = [t for t in args if t.requires_grad] + list(params.values())
    if not leaves or not any(o.requires_grad for o in outs):
        return
    # integer outputs (topk's indices) carry no gradient: only float outputs enter the loss
    weights = [torch.randn_like(o) if o.is_floating_point() else torch.zeros(()) for o in outs]
    got_loss = sum((o * w).sum() for o, w in zip(outs, weights, strict=True) if o.is_floating_point())
    want_loss = sum((r.to(o.dtype) * w).sum() for r, o, w in zip(refs, outs, weights, strict=True)
                    if o.is_floating_point())
    got_grads = torch.autograd.grad(got_loss, leaves, allow_unused=True)
    want_grads = torch.autograd.grad(want_loss, leaves, allow_unused=True)
    for g, w in zip(got_grads, want_grads, strict=True):
        if w is None:
            assert g is None or g.abs().max() == 0
        else:
            torch.testing.assert_close(g, w, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name", OP_NAMES)
def test_op_flops_and_params_are_consistent(name, tmp_path):
    """FLOPs are non-negative and finite; a parameterised op reports the parameters it creates."""
    spec = load_spec(example_spec(tmp_path, name))
    node = spec.ir.node("node")
    fixed, per_ctx = node.meta["flops"]
    assert fixed >= 0 and per_ctx >= 0
    assert node.meta["n_params"] == sum(int(torch.tensor(s).prod()) for s in node.meta["params"].values())


def test_attention_variants_match_reference(tmp_path):
    """Unfused projections, biases, explicit head_dim and scale, non-causal, rope: beyond the example."""
    path = tmp_path / "attn.yaml"
    path.write_text(textwrap.dedent("""
        inputs: {x: {shape: [B, T, 12]}, tokens: {shape: [B, T], dtype: int64}}
        nodes:
          rope: {op: rope, in: tokens, head_dim: 8, theta: 500.0, max_len: 16}
          node: {op: attention, in: {x: x, rope: rope}, n_heads: 4, n_kv_heads: 2, head_dim: 8,
                 fused_qkv: false, bias: true, causal: false, scale: 0.3}
    """))
    torch.manual_seed(1)
    spec = load_spec(path)
    model = archc.build_module(spec).eval().double()
    x = torch.randn(2, 7, 12, dtype=torch.float64)
    tokens = torch.randint(0, 5, (2, 7))
    params = {k.removeprefix("node."): v for k, v in model.named_parameters()}
    cos, sin = (t.double() for t in __import__("tests.op_references", fromlist=["x"]).rope_tables(7, 8, 500.0))
    want = REFERENCES["attention"]({"x": x, "rope": (cos, sin)}, params, spec.ir.node("node").attrs)
    # the rotary tables are fp32 buffers: fp32 rounding of the angles, 1e-6 relative at most here
    torch.testing.assert_close(model(x, tokens), want, rtol=1e-6, atol=1e-7)


def _dtype_cases():
    for name in OP_NAMES:
        op = OPS[name]
        # an op with no input (param, constant) runs once, in the dtype its attributes give
        for dtype in TAKES[op.inputs[0].takes].dtypes if op.inputs else (None,):
            yield pytest.param(name, dtype, id=f"{name}-{dtype}")


@pytest.mark.parametrize("name, dtype", list(_dtype_cases()))
def test_declared_dtypes_are_what_torch_gives(name, dtype, tmp_path):
    """Every dtype a port takes runs in torch, and meta["dtypes"] names what comes out (rope: its parts)."""
    spec = load_spec(example_spec(tmp_path, name, dtype))
    node = spec.ir.node("node")
    model = archc.build_module(spec).eval()
    torch.manual_seed(0)
    with torch.no_grad():
        outs = node_outputs(spec, model, {k: random_input(v) for k, v in spec.ir.info["inputs"].items()})
    want = []
    for kind in node.meta["dtypes"].values():
        want += list(NON_TENSOR[kind].parts) if kind in NON_TENSOR else [kind]
    assert [str(o.dtype).removeprefix("torch.") for o in outs] == want


def test_ops_with_non_tensor_outputs_show_a_consumer():
    """A rope table cannot be a model output, so the generic tests need a node that takes it."""
    for name in OP_NAMES:
        op = OPS[name]
        if op.out_dtype in NON_TENSOR:
            use = op.example.get("consumer")
            assert use and any(p.name == use["port"] and p.takes == op.out_dtype for p in OPS[use["op"]].inputs)
