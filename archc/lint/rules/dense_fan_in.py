from __future__ import annotations

from dataclasses import dataclass

from archc.lint.framework import Rule, Violation


@dataclass
class DenseFanIn(Rule):
    """A merge (``add``, ``concat``, ``mul``) of many activations at once: a dense mesh of connections.

    ## What it does
    Flags an ``add``, ``concat`` or ``mul`` with more than `max_inputs` operands that depend on the model's
    inputs (position tables and other constants do not count).

    ## Why is this bad?
    Each extra link is a path to keep in memory for the backward pass and a dependency that ties layers
    together: the graph stops being a hierarchy of stages. A merge of many earlier outputs often means
    connections were added wherever they might help rather than where the structure needs them. DenseNet
    makes dense connectivity work by confining it to declared dense blocks with transitions between them,
    and its concatenations cost memory that grows with the square of the block's depth.

    ## Example
    ```yaml
      merge: {op: concat, in: [l1, l2, l3, l4, l5, l6]}
    ```

    ## Use instead
    Merge in stages, or keep the last stage only, as FPN and U-Net do:
    ```yaml
      merge: {op: add, in: [l5, l6]}
    ```

    ## Options
    - `max_inputs` (4): the largest number of activation operands. No paper sets a threshold; 4 allows the
      merges of U-Net (2), FPN (2) and residual blocks (2) with room to spare.

    ## Principle
    Hierarchical reuse: structure that composes in stages rather than a mesh of ad-hoc links.

    ## Evidence
    Huang, Liu, van der Maaten, Weinberger 2017 (DenseNet, arXiv:1608.06993), section 3: dense connectivity
    within blocks of fixed size, joined by transition layers; Pleiss et al. 2017 (arXiv:1707.06990): a naive
    implementation's feature maps grow quadratically with depth. Lin et al. 2017 (FPN, arXiv:1612.03144)
    merge two maps at a time.

    ## References
    - Huang, Liu, van der Maaten, Weinberger 2017, "Densely Connected Convolutional Networks", CVPR,
      arXiv:1608.06993.
    - Pleiss et al. 2017, "Memory-Efficient Implementation of DenseNets", arXiv:1707.06990.
    - Lin et al. 2017, "Feature Pyramid Networks for Object Detection", CVPR, arXiv:1612.03144.
    """

    name = "dense-fan-in"
    principle = "hierarchy"
    anti_pattern = "overconnected-mesh"
    severity = "info"

    max_inputs: int = 4

    def check(self, ctx):
        for node in ctx.by_op("add", "concat", "mul"):
            n = len(ctx.activation_inputs(node))
            if n > self.max_inputs:
                yield Violation(node.key, ctx.where(node),
                                f"'{node.key}' merges {n} activations at once (max_inputs {self.max_inputs})",
                                "merge in stages (pairs, as FPN and U-Net do) or keep only the inputs the next "
                                "stage needs")
