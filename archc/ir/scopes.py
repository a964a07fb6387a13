"""The scope tree: block instances and repeat groups as typed records, and the one place that answers
questions about scopes (which repeat a key is in, which iteration, the key shared by all iterations, the chain
of enclosing blocks).

Keys are dotted scopes. A part of a key is a *repeat index* when the parts before it name a repeat group:
``layers.3.attn`` is node ``attn`` of iteration 3 of the group ``layers``. Names in a spec are identifiers, so
a digit part is always an index. Every consumer (show, graph, lint, lowering, explain) asks this module
instead of splitting keys itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from archc.errors import Loc

Ref = tuple  # (node key, output port)


@dataclass(slots=True)
class Instance:
    """One use of a block: ``layers.3`` (an iteration of a repeat) or ``enc`` (a single use).

    ``alias``: the block has a single node and that node's key *is* the instance scope (no wrapper scope).
    """

    scope: str
    block: str
    class_key: str  # the distinct (block, parameter binding) it instantiates; see BlockClass
    parent: str  # the enclosing instance scope, '' at top level
    repeat: str | None  # the repeat group scope when this is an iteration
    index: int  # the iteration (0 for a single use)
    params: dict
    role: str
    alias: bool
    loc: Loc  # where the spec uses the block
    ports_in: dict[str, Ref] = field(default_factory=dict)
    ports_out: dict[str, Ref] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The local name: the group's for an iteration (``layers``), else the instance's."""
        return (self.repeat or self.scope).rsplit(".", 1)[-1]


@dataclass(slots=True)
class Repeat:
    """A ``repeat: N`` group: instances ``scope.0`` .. ``scope.N-1``, the first input carried through."""

    scope: str
    block: str
    class_key: str
    count: int
    parent: str
    loc: Loc
    ports_out: dict[str, Ref] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.scope.rsplit(".", 1)[-1]

    def iteration(self, i: int) -> str:
        return f"{self.scope}.{i}"


@dataclass(slots=True)
class BlockClass:
    """A distinct (block, parameter binding): one generated class."""

    key: str
    block: str
    params: dict
    role: str
    doc: str | None
    loc: Loc


class Scopes:
    """Instances, repeats and block classes of one IR, with the queries every consumer shares."""

    def __init__(self):
        self.instances: dict[str, Instance] = {}
        self.repeats: dict[str, Repeat] = {}
        self.classes: dict[str, BlockClass] = {}

    # -- the chain of enclosing blocks ------------------------------------------------------------------

    def chain(self, scope: str) -> Iterator[Instance]:
        """The instance ``scope`` and every instance enclosing it, innermost first ('' yields nothing)."""
        while scope:
            inst = self.instances[scope]
            yield inst
            scope = inst.parent

    def owner(self, node) -> str:
        """The innermost instance a node belongs to: its own key for a single-node block's node."""
        return node.key if node.key in self.instances else node.parent

    def region(self, node) -> str:
        """The instance whose body holds ``node`` ('' at top level); an alias node lives in its use's parent."""
        scope = node.parent
        if scope and scope == node.key:
            scope = self.instances[scope].parent
        return scope

    def role_of(self, scope: str) -> str:
        """The role of the nearest enclosing block that declares one ('other' if none does)."""
        for inst in self.chain(scope):
            if inst.role != "other":
                return inst.role
        return "other"

    # -- repeat indices in keys -------------------------------------------------------------------------

    def indices(self, key: str) -> list[tuple[str, int, int]]:
        """[(group scope, index, position of the index in the key's parts)] for every repeat index in ``key``."""
        parts = key.split(".")
        found = []
        prefix = parts[0]
        for i in range(1, len(parts)):
            if parts[i].isdigit() and prefix in self.repeats:
                found.append((prefix, int(parts[i]), i))
            prefix = f"{prefix}.{parts[i]}"
        return found

    def _replace_indices(self, key: str, text) -> str:
        found = self.indices(key)
        if not found:
            return key
        parts = key.split(".")
        for _, index, pos in found:
            parts[pos] = text(index)
        return ".".join(parts)

    def template_key(self, key: str, wildcard: str = "*") -> str:
        """``h.3.attn`` -> ``h.*.attn``: one key for all iterations of every enclosing repeat."""
        return self._replace_indices(key, lambda _: wildcard)

    def collapse(self, key: str) -> str:
        """``h.7.attn`` -> ``h.[i].attn``: how show and lint name something for all iterations."""
        return self.template_key(key, "[i]")

    def first_iteration(self, key: str) -> str:
        """``h.11.res_2`` -> ``h.0.res_2``: the iteration that is lowered and drawn."""
        return self._replace_indices(key, lambda _: "0")

    def iteration_state(self, key: str) -> int | None:
        """None outside any repeat, 0 when every index is 0 (the iteration shown), else 1."""
        found = self.indices(key)
        if not found:
            return None
        return 0 if all(index == 0 for _, index, _ in found) else 1

    def later_iteration(self, scope: str) -> bool:
        """True inside a repeat's second or later iteration."""
        return any(inst.repeat and inst.index > 0 for inst in self.chain(scope))

    # -- (de)serialisation ------------------------------------------------------------------------------

    def to_json(self) -> dict:
        def loc(value: Loc) -> list:
            return [value.file, value.line, value.col]

        def refs(ports: dict) -> dict:
            return {p: list(r) for p, r in ports.items()}

        return {
            "instances": {k: {"block": i.block, "class_key": i.class_key, "parent": i.parent, "repeat": i.repeat,
                              "index": i.index, "params": i.params, "role": i.role, "alias": i.alias,
                              "loc": loc(i.loc), "ports_in": refs(i.ports_in), "ports_out": refs(i.ports_out)}
                          for k, i in self.instances.items()},
            "repeats": {k: {"block": r.block, "class_key": r.class_key, "count": r.count, "parent": r.parent,
                            "loc": loc(r.loc), "ports_out": refs(r.ports_out)} for k, r in self.repeats.items()},
            "classes": {k: {"block": c.block, "params": c.params, "role": c.role, "doc": c.doc, "loc": loc(c.loc)}
                        for k, c in self.classes.items()},
        }

    @classmethod
    def from_json(cls, data: dict) -> Scopes:
        def refs(ports: dict) -> dict:
            return {p: tuple(r) for p, r in ports.items()}

        out = cls()
        for k, d in data.get("instances", {}).items():
            out.instances[k] = Instance(k, d["block"], d["class_key"], d["parent"], d["repeat"], d["index"],
                                        d["params"], d["role"], d["alias"], Loc(*d["loc"]), refs(d["ports_in"]),
                                        refs(d["ports_out"]))
        for k, d in data.get("repeats", {}).items():
            out.repeats[k] = Repeat(k, d["block"], d["class_key"], d["count"], d["parent"], Loc(*d["loc"]),
                                    refs(d["ports_out"]))
        for k, d in data.get("classes", {}).items():
            out.classes[k] = BlockClass(k, d["block"], d["params"], d["role"], d["doc"], Loc(*d["loc"]))
        return out
