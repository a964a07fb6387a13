"""Residual joins: which ``add`` nodes are ``x + f(x)``, and which operand is the shortcut.

An ``add`` is a residual join when one operand, the *shortcut*, starts from a value (its *source*) that
another operand, the *branch*, was computed from. The shortcut may reach the add through parameter-free
single-input ops (dropout, pad, slice, a split output, reshape): ResNet's option-A shortcut ``pad(x) + F(x)`` is
a residual join whose shortcut changes width. GPT-2's ``wte + wpe`` is not one: the position table is not an
activation (see :mod:`archc.lint.context`).

The branch must be computed inside the add's block instance (anywhere, for a top-level add): a layer that
adds the embeddings back in, ``x_i + embed``, is not a residual join of that layer even though ``embed`` is
an ancestor of ``x_i``. So the search walks back from the branch operand only through nodes of that instance
that come later (in topological order) than the source, and a join costs about the size of its branch: a
1,000-layer model costs 1,000 blocks' worth.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from archc.ops.registry import OPS

if TYPE_CHECKING:
    from archc.ir.graph import Node
    from archc.lint.context import Context

Value = tuple[str, str]  # (node key, output port)


@dataclass(frozen=True, slots=True)
class Residual:
    join: str  # key of the add
    shortcut: Value  # the operand that carries the stream
    source: Value  # where the shortcut starts; the branch was computed from it
    steps: tuple[Value, ...]  # parameter-free values on the shortcut, from the source to the join
    branches: tuple[Value, ...]  # the other operands
    branch_nodes: frozenset[str]  # nodes computed on the way from the source to the branch operands


def find_residual(ctx: Context, node: Node) -> Residual | None:
    """The residual join ``node`` makes, or None. Prefers the shortcut with the fewest steps."""
    if node.op != "add":
        return None
    operands = [(src, port) for _, src, port in ctx.activation_inputs(node)]
    if len(operands) < 2:
        return None
    region = ctx.region(node)
    best = None
    for operand in operands:
        others = tuple(o for o in operands if o != operand)  # add(x, x) doubles x: no branch
        if not others:
            continue
        chain = _shortcut_chain(ctx, operand)
        for n_steps, source in enumerate(chain[:len(best.steps) if best else None]):
            reached = [r for r in (_branch(ctx, source[0], key, region) for key, _ in others) if r is not None]
            if reached:
                best = Residual(node.key, operand, source, tuple(reversed(chain[:n_steps])), others,
                                frozenset().union(*reached))
                break
    return best


def _shortcut_chain(ctx: Context, value: Value) -> list[Value]:
    """``value`` and the values before it through parameter-free ops with one activation source, nearest first."""
    chain = [value]
    while True:
        node = ctx.node(chain[-1][0])
        sources = ctx.activation_inputs(node)
        if not _passes(node) or len({src for _, src, _ in sources}) != 1:
            return chain
        _, key, port = sources[0]
        chain.append((key, port))


def _passes(node: Node) -> bool:
    """A node a shortcut can pass through: no parameters of its own or shared, not a norm or a model part."""
    return OPS[node.op].category == "other" and not node.meta.get("n_params") and node.tie is None


def _branch(ctx: Context, source: str, target: str, region: str) -> frozenset[str] | None:
    """The nodes between ``source`` and ``target`` when ``target`` was computed from ``source``, else None."""
    low = ctx.index[source]
    if target == source or ctx.index[target] <= low:
        return None
    seen = {target}
    todo = [target]
    found = False
    while todo:
        for _, src, _ in ctx.node(todo.pop()).inputs:
            if src == source:
                found = True
            elif src not in seen and ctx.index[src] > low and ctx.within(src, region):
                seen.add(src)
                todo.append(src)
    return frozenset(seen) if found else None
