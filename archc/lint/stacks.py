"""Stacks: ``repeat`` groups of residual blocks with norms, classified by where the norm sits.

* **Pre-Norm** (GPT-2, LLaMA): ``x = x + f(norm(x))``. The carried stream has a path from the block's input to
  its output through adds and elementwise ops and no norm: an identity path.
* **Post-Norm** (the original Transformer, BERT): ``x = norm(x + f(x))``. Such a path exists only through norms.

A group whose stream does not reach the block output through adds and elementwise ops at all (a plain stack
of MLPs, a gated residual built with ``mul``) is neither, and :func:`classify` returns None. The first
iteration stands for the group: every iteration is one block class.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from archc.errors import Loc
from archc.lint.residual import Residual
from archc.ops.registry import OPS

if TYPE_CHECKING:
    from archc.lint.context import Context

PRE, POST = "pre", "post"


@dataclass(frozen=True, slots=True)
class Stack:
    group: str  # the repeat scope: 'h'
    first: str  # the first iteration's scope: 'h.0'
    depth: int  # iterations
    kind: str  # PRE or POST
    loc: Loc  # the repeat node in the spec
    entry: str  # key of the value carried into the first iteration
    output: str  # key of the value the last iteration gives
    residuals: tuple[Residual, ...]  # residual joins of the first iteration
    stream_norms: tuple[str, ...]  # norms on the stream's way through the first iteration (Post-Norm)


def classify(ctx: Context, group: str) -> Stack | None:
    repeat = ctx.ir.scopes.repeats[group]
    first = repeat.iteration(0)
    instance = ctx.ir.scopes.instances.get(first)
    if instance is None or not instance.ports_out or not repeat.ports_out:
        return None
    entry = next(iter(instance.ports_in.values()))[0]
    out = next(iter(instance.ports_out.values()))[0]
    members = ctx.members(first)
    if not any(ctx.is_norm(n) for n in members):
        return None
    residuals = tuple(r for r in (ctx.residual(n) for n in members) if r is not None)
    if not residuals:
        return None
    stream = _stream(ctx, entry, first, through_norms=True)
    if out not in stream:
        return None
    kind = PRE if out in _stream(ctx, entry, first, through_norms=False) else POST
    on_path = [k for k in stream if ctx.is_norm(k) and (k == out or any(s in stream for s in ctx.successors(k)))]
    return Stack(group, first, repeat.count, kind, repeat.loc, entry,
                 next(iter(repeat.ports_out.values()))[0], residuals,
                 tuple(sorted(on_path, key=ctx.index.__getitem__)))


def _stream(ctx: Context, entry: str, scope: str, through_norms: bool) -> set[str]:
    """Nodes of ``scope`` reached from ``entry`` through adds and elementwise ops (and norms, if allowed)."""
    seen: set[str] = set()
    todo = [entry]
    while todo:
        for key in ctx.successors(todo.pop()):
            if key in seen or not ctx.within(key, scope):
                continue
            node = ctx.node(key)
            op = OPS[node.op]
            if (node.op == "add" or op.elementwise) and (through_norms or op.category != "norm"):
                seen.add(key)
                todo.append(key)
    return seen
