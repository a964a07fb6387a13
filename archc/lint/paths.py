"""Gradient paths: how many parameterised layers a gradient must cross from the outputs to each node.

The gradient of the loss reaches a node along every path to an output. Adds and transparent ops pass it on
unchanged; each layer (``linear``, ``attention``, ``mlp``; see :mod:`archc.lint.values`) multiplies it by a
Jacobian. A node's *gradient depth* is the fewest layers on any path from its output to a declared output:
a residual shortcut is a path that crosses none, so every layer of a Pre-Norm Transformer has depth 1 or 2
whatever the model's depth, while the first layer of a plain 30-layer MLP has depth 29.

The *unbypassed chain* of a layer is its depth plus itself: the longest run of layers that no skip path lets
the gradient go around. It depends only on the graph, so it is the same however the stack is written (one
``repeat``, several, or block uses written out one by one).

One pass over the nodes in reverse topological order: O(V + E).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from archc.lint.values import LAYERS

if TYPE_CHECKING:
    from archc.lint.context import Context


@dataclass(slots=True)
class GradientPaths:
    depth: dict[str, int]  # key -> fewest layers from its output to a declared output (absent: reaches none)
    toward: dict[str, str]  # key -> the consumer on that fewest-layer path (absent for an output)

    def chain(self, key: str, is_layer) -> list[str]:
        """The layers on ``key``'s fewest-layer path to the outputs, ``key`` first when it is one."""
        out = [key] if is_layer(key) else []
        while key in self.toward:
            key = self.toward[key]
            if is_layer(key):
                out.append(key)
        return out


def is_layer(ctx: Context, key: str) -> bool:
    return ctx.node(key).op in LAYERS


def gradient_paths(ctx: Context) -> GradientPaths:
    depth: dict[str, int] = {}
    toward: dict[str, str] = {}
    layer = {key: is_layer(ctx, key) for key in ctx.index}
    for key in reversed(list(ctx.index)):
        if key in ctx.outputs:
            depth[key] = 0
            continue
        best = None
        for succ in ctx.successors(key):
            if succ in depth:
                d = depth[succ] + layer[succ]
                if best is None or d < best:
                    best = d
                    toward[key] = succ
        if best is not None:
            depth[key] = best
    return GradientPaths(depth, toward)
