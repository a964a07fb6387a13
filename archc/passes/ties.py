"""Ties: which node owns the weight another node shares.

``tie: NAME`` on an op node makes it share its weight(s) with node ``NAME``. After this pass
``Node.tie`` is the key of the node that *owns* the shared parameters, never a node that is itself tied:

* ``NAME`` is looked up like a reference, innermost scope first: in the block instance that holds the node,
  then in each enclosing instance, then at the top level. It may be a dotted key into a block use or a repeat
  iteration (``layers.0.attn.q``); a single-node block's node is its use (``steps.0`` and ``steps.0.attn``
  name the same node).
* A chain ``a -> b -> c`` resolves to the root: ``a.tie == b.tie == 'c'``. A cycle is an error.
* Inside a block used several times, the tie resolves per use: ``q: {tie: p}`` ties each use's ``q`` to the
  same use's ``p`` (``layers.3.q -> layers.3.p``). To share one weight across uses, name one use by its key
  (``tie: layers.0.q``, or ``tie: enc1.q``): the use whose own node that is owns the weight, the others tie to
  it. Only a node naming itself by its own local name (``p: {tie: p}``) is an error.
"""

from __future__ import annotations

from dataclasses import dataclass

from archc.errors import Loc, SpecError, did_you_mean
from archc.ir.graph import IR, Node


@dataclass(slots=True)
class TieRequest:
    node: Node
    target: object  # as written in the spec
    name: str  # the node's local name in its block
    instance: str  # the instance scope it was written in, '' at top level
    loc: Loc


def _scopes(ir: IR, instance: str):
    yield from (inst.scope for inst in ir.scopes.chain(instance))
    yield ""


def _find(ir: IR, aliases: dict, request: TieRequest) -> str:
    target, loc = request.target, request.loc
    if not isinstance(target, str) or not target:
        raise SpecError(f"tie takes a node name, got {target!r}", loc)
    if target == request.name:
        raise SpecError(f"node '{request.name}' cannot tie its weights to itself", loc)
    fulls = [f"{s}.{target}" if s else target for s in _scopes(ir, request.instance)]
    for full in fulls:
        key = aliases.get(full, full)
        if key in ir:
            return key
    for full in fulls:
        if full in ir.scopes.instances or full in ir.scopes.repeats:
            raise SpecError(f"tie refers to '{target}', a block; tie to an op node that has the weight", loc)
    names = [k[len(request.instance) + 1:] for k in ir.graph if k.startswith(request.instance + ".")] \
        if request.instance else list(ir.graph)
    raise SpecError(f"tie refers to '{target}', which does not exist{did_you_mean(target, names)}", loc)


def resolve_ties(ir: IR, requests: list[TieRequest], aliases: dict[str, str]) -> None:
    """Set ``Node.tie`` to the owner's key for every request; ``aliases`` maps ``use.node`` to a single-node
    block use's key."""
    direct: dict[str, str] = {}
    where: dict[str, Loc] = {}
    for request in requests:
        key = _find(ir, aliases, request)
        if key == request.node.key:
            if not request.instance:  # a top-level node naming itself by its key (tie: x.y on x.y)
                raise SpecError(f"node '{request.name}' cannot tie its weights to itself", request.loc)
            continue  # this use owns the weight its other uses tie to
        direct[request.node.key] = key
        where[request.node.key] = request.loc
    root: dict[str, str] = {}
    for start in direct:
        path: list[str] = []
        on_path: set[str] = set()
        key = start
        while key in direct and key not in root:
            if key in on_path:
                cycle = path[path.index(key):] + [key]
                raise SpecError(f"tie cycle: {' -> '.join(cycle)}: one of these nodes must own the weight",
                                where[key])
            path.append(key)
            on_path.add(key)
            key = direct[key]
        owner = root.get(key, key)
        for k in path:
            root[k] = owner
    for key, owner in root.items():
        ir.node(key).tie = owner
