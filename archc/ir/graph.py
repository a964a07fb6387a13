"""The IR: a :class:`networkx.DiGraph` whose nodes are named by scope and carry a :class:`Node`.

Node keys are scopes (``layers.7.attn``). Edges run from producer to consumer; the ordered inputs of a
node are in :attr:`Node.inputs` (an edge cannot say ``mul(x, x)`` twice). The block hierarchy (instances,
repeat groups, block classes) is the typed scope tree :attr:`IR.scopes` (archc/ir/scopes.py), which also
answers every question about repeat indices in keys. ``graph.graph`` (:attr:`IR.info`) holds plain data:

``inputs`` / ``outputs``
    the spec's declared inputs (name -> {shape, dtype}) and outputs (name -> [key, port]).
``vars``, ``spec``, ``default_init``
    the resolved ``vars``, {file, overrides, hash, choices} and the spec-wide init rule.
``rewrites``
    the rewrites applied before lowering (archc/passes/rewrite.py), one record per match.

Analysis passes write their results to ``Node.meta`` under these keys:

=================  =======================================================================
``shapes``         {output port: shape} (``infer_shapes``)
``dtypes``         {output port: dtype name} (``infer_shapes``)
``params``         {param name: shape} owned by the node (``count``); tied params are excluded
``n_params``       number of parameters the node owns (``count``)
``flops``          [fixed, per_ctx] forward FLOPs per token (``count``)
``category``       attention | mlp | embedding | norm | position | head | other (``count``)
``tied``           {param: key of the parameter it shares} (``count``)
=================  =======================================================================

The IR knows nothing about particular ops: it never imports the op registry.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx

from archc.errors import Loc
from archc.ir.scopes import Scopes


@dataclass(slots=True)
class Node:
    key: str  # the scope: 'layers.7.attn'
    op: str
    attrs: dict
    inputs: list  # [(port, source key, source port)]
    loc: Loc
    parent: str = ""  # scope of the enclosing (non-alias) block instance, '' at top level
    attr_locs: dict = field(default_factory=dict)
    # key of the node that owns the weights this node shares, never a tied node itself (archc/passes/ties.py)
    tie: str | None = None
    init: dict = field(default_factory=dict)  # param name ('*' for all) -> rule, see archc.ir.init
    meta: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The last part of the scope: the name in the spec."""
        return self.key.rsplit(".", 1)[-1]

    def to_json(self) -> dict:
        return {"key": self.key, "op": self.op, "attrs": self.attrs,
                "inputs": [list(i) for i in self.inputs], "loc": [self.loc.file, self.loc.line, self.loc.col],
                "parent": self.parent,
                "attr_locs": {k: [v.file, v.line, v.col] for k, v in self.attr_locs.items()},
                "tie": self.tie, "init": self.init, "meta": self.meta}

    @classmethod
    def from_json(cls, d: dict) -> Node:
        return cls(key=d["key"], op=d["op"], attrs=d["attrs"], inputs=[tuple(i) for i in d["inputs"]],
                   loc=Loc(*d["loc"]), parent=d["parent"],
                   attr_locs={k: Loc(*v) for k, v in d["attr_locs"].items()}, tie=d["tie"], init=d["init"],
                   meta=d["meta"])


class IR:
    """A thin wrapper over the graph with the few queries every pass needs."""

    def __init__(self, graph: nx.DiGraph | None = None):
        self.graph = graph if graph is not None else nx.DiGraph()
        for key in ("inputs", "outputs", "vars", "spec"):
            self.graph.graph.setdefault(key, {})
        self.scopes = Scopes()

    @property
    def info(self) -> dict:
        return self.graph.graph

    def add(self, node: Node) -> None:
        self.graph.add_node(node.key, node=node)
        for _, src, _ in node.inputs:
            self.graph.add_edge(src, node.key)

    def node(self, key: str) -> Node:
        return self.graph.nodes[key]["node"]

    def __contains__(self, key: str) -> bool:
        return key in self.graph

    def __len__(self) -> int:
        return self.graph.number_of_nodes()

    def nodes(self):
        """Nodes in insertion order, which expansion keeps topological."""
        for _, node in self.graph.nodes(data="node"):  # one view for the walk, not one per node
            yield node

    def consumers(self, key: str) -> list[Node]:
        return [self.node(k) for k in self.graph.successors(key)]

    def producers(self, node: Node) -> list[Node]:
        return [self.node(src) for _, src, _ in node.inputs]

    def shape_of(self, key: str, port: str = "out"):
        """The shape of output ``port`` of node ``key`` (after ``infer_shapes``)."""
        return self.node(key).meta["shapes"][port]
