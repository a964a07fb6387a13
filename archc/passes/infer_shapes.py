"""infer_shapes: output shapes and dtypes of every node, into ``meta["shapes"]`` and ``meta["dtypes"]``
({output port: shape}, {output port: dtype}).

Needs: an expanded IR in topological order. Guarantees what the generated code needs, so that a spec this
pass accepts builds a model that runs: every input's dtype suits its port (:data:`archc.ops.base.TAKES`);
list attributes hold their declared element type (never a bool for an int); every int attribute, axis and
known element count fits torch's int64; every op's ``check`` and shape rule passed; no model output is a
non-tensor value (rope's tables); every repeated block maps its input shape to itself. It reads ops only
through their hooks (archc/ops/base.py).
"""

from __future__ import annotations

from archc.errors import SpecError
from archc.ir.dims import INT64_MAX, fmt, show_int
from archc.ir.graph import IR, Node
from archc.ops.base import FLOAT_DTYPES, INT_DTYPES, NON_TENSOR, TAKES, NodeView, Op, describe_dtype
from archc.ops.registry import OPS

_TYPE_NAMES = {int: "an int", float: "a number", bool: "true or false", str: "a name"}


def _ports(op: Op) -> tuple:
    """(port names, variadic port names) of an op, once per op: node_view runs twice per node."""
    found = _PORTS.get(op.name)
    if found is None:
        found = _PORTS[op.name] = (tuple(p.name for p in op.inputs), {p.name for p in op.inputs if p.variadic})
    return found


_PORTS: dict = {}


def node_view(ir: IR, node: Node) -> NodeView:
    op = OPS[node.op]
    names, variadic = _ports(op)
    shapes: dict = dict.fromkeys(names)
    dtypes: dict = dict.fromkeys(names)
    for port in variadic:
        shapes[port], dtypes[port] = [], []
    graph = ir.graph.nodes
    for port, src, src_port in node.inputs:
        meta = graph[src]["node"].meta
        shape, dtype = tuple(meta["shapes"][src_port]), meta["dtypes"][src_port]
        if port in variadic:
            shapes[port].append(shape)
            dtypes[port].append(dtype)
        else:
            shapes[port], dtypes[port] = shape, dtype

    def fail(message: str, attr: str | None = None):
        loc = node.attr_locs.get(attr, node.loc) if attr else node.loc
        if "cannot add" in message or "cannot multiply" in message or "cannot concat" in message:
            sources = [f"{src} {fmt(ir.shape_of(src, src_port))}" for port, src, src_port in node.inputs
                       if port == "x"]
            message += f" (inputs: {', '.join(sources)})"
        raise SpecError(f"{node.key}: {message}", loc)

    return NodeView(node.key, node.attrs, shapes, fail, dtypes)


def _check_inputs(ir: IR, node: Node, op: Op, view: NodeView) -> None:
    """Every input's dtype (or non-tensor kind) is one its port takes."""
    takes = _TAKES.get(op.name)
    if takes is None:
        takes = _TAKES[op.name] = {p.name: TAKES[p.takes] for p in op.inputs}
    graph = ir.graph.nodes
    for port, src, src_port in node.inputs:
        dtype = graph[src]["node"].meta["dtypes"][src_port]
        if dtype in takes[port].dtypes:
            continue
        ref = src if src_port == "out" else f"{src}.{src_port}"
        floats = set(takes[port].dtypes) <= set(FLOAT_DTYPES)
        hint = " (embed the ids first)" if dtype in INT_DTYPES and floats else ""
        view.fail(f"'{ref}' is {describe_dtype(dtype)}; op '{node.op}' needs {takes[port].says} on input "
                  f"'{port}'{hint}")


_TAKES: dict = {}


def _checked_attrs(op: Op) -> tuple:
    """The attributes that can hold ints or lists (the others need no check here), once per op."""
    found = _CHECKED.get(op.name)
    if found is None:
        found = _CHECKED[op.name] = tuple(
            (name, spec) for name, spec in op.attrs.items()
            if {int, list} & set(spec.type if isinstance(spec.type, tuple) else (spec.type,)))
    return found


_CHECKED: dict = {}


def _check_attr_values(op: Op, view: NodeView) -> None:
    """List elements of the declared type (a bool is not an int, 2.0 is not an int); ints fit int64."""
    for attr, spec in _checked_attrs(op):
        value = view.attrs.get(attr)
        items = value if isinstance(value, list) else (value,)
        if spec.item is not None and isinstance(value, list):
            types = spec.item if isinstance(spec.item, tuple) else (spec.item,)
            for i, item in enumerate(value):
                if isinstance(item, bool) or not isinstance(item, types):
                    want = " or ".join(_TYPE_NAMES.get(t, t.__name__) for t in types)
                    shown = str(item).lower() if isinstance(item, bool) else repr(item)
                    view.fail(f"{attr}[{i}] is {shown}; expected {want}", attr)
        for item in items:
            if type(item) is int and not -INT64_MAX - 1 <= item <= INT64_MAX:
                view.fail(f"{attr} holds {show_int(item)}, beyond torch's int64 range (at most {INT64_MAX:,})", attr)


def _check_sizes(view: NodeView, shapes: dict) -> None:
    for port, shape in shapes.items():
        count = 1
        for d in shape:
            if type(d) is int:
                count *= d
        if count > INT64_MAX:
            where = "" if port == "out" else f" {port}"
            view.fail(f"output{where} {fmt(shape)} has {show_int(count)} elements, more than torch's int64 sizes "
                      f"hold ({INT64_MAX:,})")


def _check_model_outputs(ir: IR) -> None:
    for name, (key, port) in ir.info["outputs"].items():
        node = ir.node(key)
        kind = node.meta["dtypes"][port]
        if kind in NON_TENSOR:
            takers = sorted(f"{op.name}'s '{p.name}'" for op in OPS.values() for p in op.inputs if p.takes == kind)
            raise SpecError(f"output '{name}': '{key}' gives {NON_TENSOR[kind].says}, not a tensor, so it cannot "
                            f"be a model output; {' and '.join(takers)} input takes it", node.loc)


def infer_shapes(ir: IR) -> IR:
    for node in ir.nodes():
        op = OPS[node.op]
        view = node_view(ir, node)
        _check_inputs(ir, node, op, view)
        _check_attr_values(op, view)
        op.check(view)
        names = op.output_names(node.attrs)
        shapes = dict(zip(names, (tuple(s) for s in op.infer(view)), strict=True))
        _check_sizes(view, shapes)
        node.meta["shapes"] = {port: list(s) for port, s in shapes.items()}
        node.meta["dtypes"] = dict(zip(names, op.dtypes(view), strict=True))
    _check_model_outputs(ir)
    for inst in ir.scopes.instances.values():
        if inst.repeat is None:
            continue
        src_in = next(iter(inst.ports_in.values()))
        (src_out,) = inst.ports_out.values()
        shape_in, shape_out = ir.shape_of(*src_in), ir.shape_of(*src_out)
        if list(shape_in) != list(shape_out):
            raise SpecError(f"{inst.repeat}: a repeated block must keep its shape, but '{inst.block}' maps "
                            f"{fmt(shape_in)} to {fmt(shape_out)}", ir.scopes.repeats[inst.repeat].loc)
    return ir
