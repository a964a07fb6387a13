from __future__ import annotations

from dataclasses import dataclass

from archc.lint.framework import Rule, Violation


@dataclass
class UnreachableParameters(Rule):
    """A node with parameters whose value reaches no declared output: its parameters never get a gradient.

    ## What it does
    Flags every node that owns parameters (or shares them through ``tie``) when no path leads from it to an
    output of the spec. Nodes inside a block are reported once for all its uses.

    ## Why is this bad?
    A layer that nothing reads is computed in every forward pass, counted in the model's size, saved in
    every checkpoint, and never trained: no loss depends on it, so its gradient is always zero (``None`` in
    PyTorch). Under ``DistributedDataParallel`` such parameters stop training with an error unless
    ``find_unused_parameters=True``, which costs an extra traversal per step. Usually an edge was forgotten:
    a branch that was meant to be added back, or an output that was not declared.

    ## Example
    ```yaml
    nodes:
      attn: {op: attention, in: x, n_heads: 12}
      gate: {op: linear, in: x, out_features: 768}    # meant to gate attn, never used
      res: {op: add, in: [x, attn]}
    ```

    ## Use instead
    ```yaml
      gate: {op: linear, in: x, out_features: 768}
      act: {op: sigmoid}
      gated: {op: mul, in: [act, attn]}
      res: {op: add, in: [x, gated]}
    ```

    ## Principle
    Gradient flow preservation: every parameter needs a path its gradient can flow along.

    ## Evidence
    PyTorch, ``DistributedDataParallel``
    (https://pytorch.org/docs/stable/generated/torch.nn.parallel.DistributedDataParallel.html):
    parameters that do not take part in producing the loss must be declared with
    ``find_unused_parameters=True``, which traverses the autograd graph after every forward pass to find
    them. NeuraLint (Nikanjam et al. 2022, arXiv:2105.08095) reports disconnected layers as a
    structural fault.

    ## References
    - PyTorch, "DistributedDataParallel", https://pytorch.org/docs/stable/generated/torch.nn.parallel.DistributedDataParallel.html
    - Nikanjam, Ben Braiek, Morovati, Khomh 2022, "Automatic Fault Detection for Deep Learning Programs Using
      Graph Transformations", TOSEM, arXiv:2105.08095.
    """

    name = "unreachable-parameters"
    principle = "gradient-flow"
    anti_pattern = "gradient-collapse"
    severity = "warning"

    def check(self, ctx):
        reached = ctx.gradient.depth  # every node with a path to an output
        for node in ctx.nodes():
            if node.key in reached or not (node.meta.get("n_params") or node.tie):
                continue
            yield Violation(node.key, ctx.where(node),
                            f"'{node.key}' has parameters but its value reaches no output: they never get a "
                            "gradient",
                            f"use '{node.key}' in the computation of an output, declare it as an output, or "
                            "remove it")
