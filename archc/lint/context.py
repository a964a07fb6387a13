"""What rules see of a model: the analysed IR plus the structural facts several rules share, computed once.

Every analysis here is linear in the size of the graph (a 1,000-layer LLaMA has about 10,000 nodes), and
lazy: a run that selects one rule pays for what that rule asks.

Terms used by the rules:

activation
    a value that depends on the model's inputs through something other than a position op; a position
    table (``learned_position``, ``sinusoidal_position``, ``rope``) is not one, so adding it to ``[B, T, d]``
    embeddings is not a residual join.
region
    the block instance a node belongs to, the one that is not the node itself: an alias (a single-node block,
    ``ln_1: {block: norm}``) is keyed by its instance scope ``h.0.ln_1`` and belongs to ``h.0``.
residual join
    an ``add`` in which one operand (the shortcut) carries a value another operand (the branch) was computed
    from: ``x + f(x)``; see :mod:`archc.lint.residual`.
stack
    a chain of residual blocks with norms, classified Pre-Norm or Post-Norm, however it is written (one
    ``repeat``, several, block uses written out); see :mod:`archc.lint.stacks`.
gradient depth
    the fewest layers a gradient crosses from the outputs to a node; see :mod:`archc.lint.paths`.
origin, readers, transparent op
    a value's producer and consumers once ops that do not change its meaning are skipped; see
    :mod:`archc.lint.values`.
"""

from __future__ import annotations

from functools import cached_property

from archc.errors import Loc
from archc.ir.graph import IR, Node
from archc.lint import values
from archc.lint.paths import GradientPaths, gradient_paths
from archc.lint.residual import Residual, find_residual
from archc.lint.stacks import Stack, find_stacks
from archc.ops.registry import OPS


class Context:
    def __init__(self, ir: IR):
        self.ir = ir
        self.info = ir.info
        self.index = {key: i for i, key in enumerate(ir.graph.nodes)}  # topological order
        self.outputs = {key: name for name, (key, _port) in ir.info["outputs"].items()}
        self._residuals: dict[str, Residual | None] = {}
        self.suppressions = None  # the run's suppression comments and their use, for unused-suppression
        self._nodes = list(ir.nodes())  # rules walk the nodes many times: one list, one dict, one index by op
        self._by_key = {n.key: n for n in self._nodes}
        self._succ: dict[str, list[str]] = {}
        self._by_op: dict[str, list[Node]] = {}
        for n in self._nodes:
            self._by_op.setdefault(n.op, []).append(n)

    # -- nodes -------------------------------------------------------------------------------------------

    def node(self, key: str) -> Node:
        return self._by_key[key]

    def nodes(self) -> list[Node]:
        """Every node, in topological order."""
        return self._nodes

    def by_op(self, *ops: str) -> list[Node]:
        """The nodes of the given ops, in topological order."""
        if len(ops) == 1:
            return self._by_op.get(ops[0], [])
        return sorted((n for op in ops for n in self._by_op.get(op, ())), key=lambda n: self.index[n.key])

    def successors(self, key: str) -> list[str]:
        """Keys of the nodes that read ``key`` (each once, in graph order)."""
        found = self._succ.get(key)
        if found is None:
            found = self._succ[key] = list(self.ir.graph.successors(key))
        return found

    def is_norm(self, node: Node | str) -> bool:
        node = self.node(node) if isinstance(node, str) else node
        return OPS[node.op].category == "norm"

    def shape(self, key: str, port: str = "out") -> tuple:
        return tuple(self._by_key[key].meta["shapes"][port])

    def width(self, key: str, port: str = "out"):
        """The feature (last) axis of a value, an int or a symbol; None for a scalar."""
        shape = self.shape(key, port)
        return shape[-1] if shape else None

    def where(self, node: Node) -> Loc:
        """Where a finding about ``node`` points: the use of a single-node block (``ln_f: {block: norm}``), not
        the node inside the block's file that every use shares; else the node itself."""
        inst = self.ir.scopes.instances.get(node.key)
        return inst.loc if inst is not None and inst.alias else node.loc

    def loc(self, node: Node, attr: str | None = None) -> Loc:
        """Where the spec writes ``node`` (or its attribute ``attr`` when it is written out)."""
        return node.attr_locs.get(attr, node.loc) if attr else node.loc

    # -- data dependence ---------------------------------------------------------------------------------

    @cached_property
    def activations(self) -> frozenset[str]:
        """Keys of the nodes whose values depend on the model's inputs (see the module docstring)."""
        found: set[str] = set()
        for node in self.nodes():
            op = OPS[node.op]
            if node.op == "input" or (op.category != "position" and any(s in found for _, s, _ in node.inputs)):
                found.add(node.key)
        return frozenset(found)

    def activation_inputs(self, node: Node) -> list[tuple[str, str, str]]:
        """``node.inputs`` that are activations: [(port, source key, source port)]."""
        acts = self.activations
        return [i for i in node.inputs if i[1] in acts]

    # -- block structure ---------------------------------------------------------------------------------

    def region(self, node: Node) -> str:
        """The instance scope ``node`` lives in ('' at top level); an alias node lives in its instance's parent."""
        return self.ir.scopes.region(node)

    @staticmethod
    def within(key: str, scope: str) -> bool:
        """Whether the node ``key`` is inside the instance ``scope`` (itself included)."""
        return not scope or key == scope or key.startswith(scope + ".")

    @cached_property
    def _members(self) -> dict[str, list[Node]]:
        members: dict[str, list[Node]] = {}
        for node in self.nodes():
            for inst in self.ir.scopes.chain(node.parent):
                members.setdefault(inst.scope, []).append(node)
        return members

    def members(self, scope: str) -> list[Node]:
        """The nodes inside the instance ``scope``, nested instances included, in topological order."""
        return self._members.get(scope, [])

    def collapse(self, scope: str) -> str:
        """``h.7.attn`` -> ``h.[i].attn`` for every repeat index in ``scope``: one name for all iterations."""
        return self.ir.scopes.collapse(scope)

    # -- shared analyses ---------------------------------------------------------------------------------

    def residual(self, node: Node) -> Residual | None:
        """The residual join ``node`` makes, or None when it is not one (memoised)."""
        if node.key not in self._residuals:
            self._residuals[node.key] = find_residual(self, node)
        return self._residuals[node.key]

    @cached_property
    def stacks(self) -> dict[str, Stack]:
        """Where a stack starts (its first repeat group or block use) -> its :class:`~archc.lint.stacks.Stack`."""
        return find_stacks(self)

    @cached_property
    def residuals(self) -> list[Residual]:
        """Every residual join of the model, in topological order."""
        return [r for r in (self.residual(n) for n in self.nodes() if n.op == "add") if r is not None]

    @cached_property
    def on_branch(self) -> frozenset[str]:
        """Keys of the nodes on some residual branch: a skip path goes around them."""
        return frozenset().union(*(r.branch_nodes for r in self.residuals))

    @cached_property
    def gradient(self) -> GradientPaths:
        """Gradient depth of every node that reaches an output; see :mod:`archc.lint.paths`."""
        return gradient_paths(self)

    @cached_property
    def positioned(self) -> frozenset[str]:
        """Keys of the nodes whose value carries position information; see :mod:`archc.lint.values`."""
        return values.positioned(self)

    def origin(self, key: str) -> Node:
        """The producer of ``key``'s value, transparent ops (dropout, reshape...) walked back through."""
        return self.node(values.origin(self, key))

    def readers(self, key: str) -> list[Node]:
        """The consumers of ``key``'s value, transparent ops walked forward through."""
        return values.readers(self, key)

    def input_origin(self, node: Node, port: str = "x") -> Node | None:
        """The origin of what ``node`` reads on ``port`` (the first source of a variadic port), or None."""
        src = next((s for p, s, _ in node.inputs if p == port), None)
        return None if src is None else self.origin(src)

    def declared_var(self, names) -> tuple[str, int] | None:
        """(name, value) of the first of ``names`` that the spec's ``vars`` sets to an int, or None."""
        vars_ = self.info.get("vars") or {}
        for name in names:
            value = vars_.get(name)
            if isinstance(value, int) and not isinstance(value, bool):
                return name, value
        return None
