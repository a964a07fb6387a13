"""What values mean: which ops pass a value on unchanged in meaning, where a value really comes from, who
really reads it, which values are probabilities and which carry position information.

Terms used by the rules:

transparent op
    one that moves or masks a value without changing what its numbers mean: ``dropout``, ``reshape``,
    ``transpose``, ``slice``, ``pad``, ``split``. A softmax output stays a probability through them.
origin
    the producer of a value once transparent ops are walked back through: the origin of
    ``dropout(softmax(x))`` is the softmax.
readers
    the consumers of a value once transparent ops are walked forward through.
layer
    a parameterised transform a gradient has to cross: ``linear``, ``attention``, ``mlp``.
activation function
    ``gelu``, ``relu``, ``silu``, ``tanh``, ``sigmoid``.

Every walk here stops at the first non-transparent op, and the closures are one pass in topological order,
so each costs O(V + E).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from archc.ops.registry import OPS

if TYPE_CHECKING:
    from archc.ir.graph import Node
    from archc.lint.context import Context

TRANSPARENT = frozenset({"dropout", "reshape", "transpose", "slice", "pad", "split"})
LAYERS = frozenset({"linear", "attention", "mlp"})
ACTIVATION_FUNCTIONS = frozenset({"gelu", "relu", "silu", "tanh", "sigmoid"})


def origin(ctx: Context, key: str) -> str:
    """The producer of ``key``'s value with transparent ops walked back through."""
    node = ctx.node(key)
    while node.op in TRANSPARENT and node.inputs:
        node = ctx.node(node.inputs[0][1])
    return node.key


def readers(ctx: Context, key: str) -> list[Node]:
    """The consumers of ``key``'s value with transparent ops walked forward through (each once)."""
    out, seen, todo = [], {key}, [key]
    while todo:
        for succ in ctx.successors(todo.pop()):
            if succ in seen:
                continue
            seen.add(succ)
            node = ctx.node(succ)
            if node.op in TRANSPARENT:
                todo.append(succ)
            else:
                out.append(node)
    return out


def reaches_output(ctx: Context, key: str) -> str | None:
    """The name of a declared output that ``key``'s value reaches through transparent ops only, or None."""
    todo, seen = [key], {key}
    while todo:
        cur = todo.pop()
        if cur in ctx.outputs:
            return ctx.outputs[cur]
        for succ in ctx.successors(cur):
            if succ not in seen and ctx.node(succ).op in TRANSPARENT:
                seen.add(succ)
                todo.append(succ)
    return None


def positioned(ctx: Context) -> frozenset[str]:
    """Keys of the nodes whose value carries position information: a position op or anything computed from one.

    A causal attention's output depends on the order of its inputs too (each position sees a different
    prefix), so it counts as positioned: decoders without position encodings learn positions this way.
    """
    found: set[str] = set()
    for node in ctx.nodes():
        op = OPS[node.op]
        if op.category == "position" or (node.op == "attention" and node.attrs.get("causal")):
            found.add(node.key)
        elif any(src in found for _, src, _ in node.inputs):
            found.add(node.key)
    return frozenset(found)


def axis_of(shape, dim: int) -> int | None:
    """``dim`` as a non-negative axis of ``shape``, or None when out of range."""
    rank = len(shape)
    return dim % rank if rank and -rank <= dim < rank else None


def batch_symbols(ctx: Context) -> frozenset:
    """The symbols the declared inputs use for their first axis (``B``): an axis of that size is the batch."""
    return frozenset(spec["shape"][0] for spec in ctx.info.get("inputs", {}).values()
                     if spec.get("shape") and isinstance(spec["shape"][0], str))


def sequence_symbols(ctx: Context) -> frozenset:
    """The symbols the declared inputs use for their second axis (``T``) when it is not a number."""
    return frozenset(spec["shape"][1] for spec in ctx.info.get("inputs", {}).values()
                     if len(spec.get("shape") or ()) > 1 and isinstance(spec["shape"][1], str))
