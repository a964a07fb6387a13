"""infer_shapes: output shapes of every node, into ``meta["shapes"]`` ({output port: shape}).

Needs: an expanded IR in topological order. Guarantees: every op's ``check`` and shape rule passed; integer
tensors reach only ops that index with them; every repeated block maps its input shape to itself.
"""

from __future__ import annotations

from archc.errors import SpecError
from archc.ir.dims import fmt
from archc.ir.graph import IR, Node
from archc.ops.base import NodeView
from archc.ops.registry import OPS, output_names

INT_DTYPES = ("int64", "int32", "bool")


def node_view(ir: IR, node: Node) -> NodeView:
    op = OPS[node.op]
    shapes: dict = {p.name: ([] if p.variadic else None) for p in op.inputs}
    sources: dict = {}
    for port, src, src_port in node.inputs:
        src_node = ir.node(src)
        shape = src_node.meta["shapes"][src_port]
        if isinstance(shapes.get(port), list):
            shapes[port].append(tuple(shape))
            sources.setdefault(port, []).append(f"{src} {fmt(shape)}")
        else:
            shapes[port] = tuple(shape)
            sources[port] = src

    def fail(message: str, attr: str | None = None):
        loc = node.attr_locs.get(attr, node.loc) if attr else node.loc
        if "cannot add" in message or "cannot multiply" in message or "cannot concat" in message:
            message += f" (inputs: {', '.join(sources.get('x', []))})"
        raise SpecError(f"{node.key}: {message}", loc)

    return NodeView(node.key, node.attrs, shapes, fail)


def _check_dtype(ir: IR, node: Node, view: NodeView):
    op = OPS[node.op]
    index_port = getattr(op, "index_input", False)
    for port, src, _ in node.inputs:
        is_int = ir.node(src).meta.get("integer", False)
        reads_values = op.category != "position"
        if is_int and reads_values and not index_port:
            view.fail(f"input '{port}' comes from '{src}', an integer tensor; op '{node.op}' needs floats "
                      "(embed the ids first)")
        if index_port and port == "x" and not is_int:
            view.fail(f"op '{node.op}' looks up integer ids, but '{src}' gives floats")


def infer_shapes(ir: IR) -> IR:
    for node in ir.nodes():
        op = OPS[node.op]
        view = node_view(ir, node)
        if node.op == "input":
            node.meta["integer"] = node.attrs["dtype"] in INT_DTYPES
        else:
            _check_dtype(ir, node, view)
        op.check(view)
        shapes = op.infer(view)
        node.meta["shapes"] = {port: list(s) for port, s in zip(output_names(op, node.attrs), shapes, strict=True)}
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
