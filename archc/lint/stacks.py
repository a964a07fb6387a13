"""Stacks: chains of residual blocks with norms, classified by where the norm sits.

* **Pre-Norm** (GPT-2, LLaMA): ``x = x + f(norm(x))``. The carried stream has a path from the block's input to
  its output through adds and elementwise ops and no norm: an identity path.
* **Post-Norm** (the original Transformer, BERT): ``x = norm(x + f(x))``. Such a path exists only through norms.

A block instance whose stream does not reach its output through adds and elementwise ops at all (a plain stack
of MLPs, a gated residual built with ``mul``) is neither.

A stack is a *chain* of sibling instances of one kind, each reading the value the previous one gives: the same
stack however it is written. ``h: {block: layer, repeat: 16}``, two repeats of eight one after the other, and
sixteen block uses written out are all one stack of depth 16. Each instance is classified once, so a stack
costs the size of its blocks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from archc.errors import Loc
from archc.lint.residual import Residual
from archc.ops.registry import OPS

if TYPE_CHECKING:
    from archc.ir.scopes import Instance
    from archc.lint.context import Context

PRE, POST = "pre", "post"


@dataclass(frozen=True, slots=True)
class Stack:
    group: str  # where the stack starts: its first repeat group ('h'), or its first block use ('l0')
    first: str  # the first instance's scope: 'h.0'
    depth: int  # blocks in the chain
    kind: str  # PRE or POST
    loc: Loc  # the first repeat (or block use) in the spec
    entry: str  # key of the value carried into the first block
    output: str  # key of the value the last block gives
    residuals: tuple[Residual, ...]  # residual joins of every block in the chain
    stream_norms: tuple[str, ...]  # norms on the stream's way through the first block (Post-Norm)
    last: str = ""  # where the stack ends: its last repeat group or block use
    last_loc: Loc | None = None


@dataclass(frozen=True, slots=True)
class _Block:
    inst: Instance
    kind: str
    entry: str
    output: str
    residuals: tuple[Residual, ...]
    stream_norms: tuple[str, ...]


def find_stacks(ctx: Context) -> dict[str, Stack]:
    """Stacks keyed by :attr:`Stack.group`; linear in the size of the blocks."""
    blocks = [b for b in (_classify(ctx, inst) for inst in ctx.ir.scopes.instances.values()) if b is not None]
    readers: dict[tuple, list[_Block]] = {}
    for b in blocks:
        readers.setdefault((b.inst.parent, b.kind, b.entry), []).append(b)

    def successor(b: _Block) -> _Block | None:
        """The one sibling block of the same kind that reads what ``b`` gives (none when two do: a fork)."""
        found = readers.get((b.inst.parent, b.kind, b.output), ())
        return found[0] if len(found) == 1 else None

    has_prev = {id(nxt) for nxt in map(successor, blocks) if nxt is not None}
    found: dict[str, Stack] = {}
    for head in blocks:
        if id(head) in has_prev:
            continue
        chain, seen = [head], {id(head)}
        while (nxt := successor(chain[-1])) is not None and id(nxt) not in seen:
            chain.append(nxt)
            seen.add(id(nxt))
        group, loc = _where(ctx, head.inst)
        last, last_loc = _where(ctx, chain[-1].inst)
        found[group] = Stack(group, head.inst.scope, len(chain), head.kind, loc, head.entry, chain[-1].output,
                             tuple(r for b in chain for r in b.residuals), head.stream_norms, last, last_loc)
    return found


def _where(ctx: Context, inst: Instance) -> tuple[str, Loc]:
    if inst.repeat:
        return inst.repeat, ctx.ir.scopes.repeats[inst.repeat].loc
    return inst.scope, inst.loc


def _classify(ctx: Context, inst: Instance) -> _Block | None:
    if not inst.ports_in or not inst.ports_out:
        return None
    entry = next(iter(inst.ports_in.values()))[0]
    out = next(iter(inst.ports_out.values()))[0]
    members = ctx.members(inst.scope)
    if not any(ctx.is_norm(n) for n in members):
        return None
    residuals = tuple(r for r in (ctx.residual(n) for n in members) if r is not None)
    if not residuals:
        return None
    stream = _stream(ctx, entry, inst.scope, through_norms=True)
    if out not in stream:
        return None
    kind = PRE if out in _stream(ctx, entry, inst.scope, through_norms=False) else POST
    on_path = [k for k in stream if ctx.is_norm(k) and (k == out or any(s in stream for s in ctx.successors(k)))]
    return _Block(inst, kind, entry, out, residuals, tuple(sorted(on_path, key=ctx.index.__getitem__)))


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
