from __future__ import annotations

from dataclasses import dataclass

from archc.lint.framework import Rule, Violation
from archc.lint.values import axis_of, batch_symbols, reaches_output, sequence_symbols


@dataclass
class SoftmaxWrongAxis(Rule):
    """A softmax over the batch axis, or over the sequence axis of per-token scores returned as an output.

    ## What it does
    Reads the axis a ``softmax`` normalises from its ``dim`` and its input's shape. Flags:

    * an axis whose size is the batch symbol of the declared inputs (their first axis, ``B``): the
      distribution mixes examples;
    * an axis whose size is the sequence symbol (their second axis, ``T``) when the feature (last) axis is
      another one and the result is a declared output: per-token class scores normalised across tokens.

    A softmax over tokens inside the model (attention weights, attention pooling) is left alone.

    ## Why is this bad?
    A softmax over the batch makes each example's prediction depend on the others in its batch: the model
    behaves differently at batch size 1, and the loss leaks information across examples. Over the sequence,
    each token's "distribution" over the vocabulary is instead a distribution of one class over positions:
    the values do not sum to one over the classes, and a loss or a sampler reads them wrongly. PyTorch's
    ``nn.Softmax`` requires ``dim`` precisely because the implicit choice was wrong for such inputs.

    ## Example
    ```yaml
    nodes:
      head: {op: linear, out_features: 1000}       # [B, T, 1000]
      probs: {op: softmax, dim: 1}                 # over T
    outputs: [probs]
    ```

    ## Use instead
    ```yaml
      probs: {op: softmax, dim: -1}                # over the 1000 classes
    ```

    ## Principle
    Representational alignment: a distribution must be over the axis its consumer reads as the classes.

    ## Evidence
    PyTorch ``nn.functional.softmax`` documentation (https://pytorch.org/docs/stable/generated/torch.nn.functional.softmax.html):
    the implicit dim choice is deprecated and ``dim`` must name "a dimension along which softmax will be
    computed (so every slice along dim will sum to 1)". Vaswani et al. 2017 (arXiv:1706.03762), equation 1:
    the attention softmax is over keys, the output softmax over the vocabulary.

    ## References
    - PyTorch, "torch.nn.functional.softmax", https://pytorch.org/docs/stable/generated/torch.nn.functional.softmax.html
    - Vaswani et al. 2017, "Attention Is All You Need", NeurIPS, arXiv:1706.03762.
    """

    name = "softmax-wrong-axis"
    principle = "alignment"
    anti_pattern = "semantic-drift"
    severity = "error"

    def check(self, ctx):
        batch, seq = batch_symbols(ctx), sequence_symbols(ctx)
        for node in ctx.by_op("softmax"):
            shape = ctx.shape(node.key)
            axis = axis_of(shape, node.attrs.get("dim", -1))
            if axis is None:
                continue
            size = shape[axis]
            if size in batch and axis == 0:
                yield Violation(node.key, ctx.loc(node, "dim"),
                                f"softmax '{node.key}' normalises over axis {axis}, the batch ({size}): each "
                                "example's output depends on the others in its batch",
                                "normalise over the classes, dim: -1")
            elif size in seq and axis != len(shape) - 1 and (output := reaches_output(ctx, node.key)):
                yield Violation(node.key, ctx.loc(node, "dim"),
                                f"softmax '{node.key}' normalises over axis {axis}, the sequence ({size}), and is "
                                f"returned as '{output}': its values sum to 1 over positions, not over the "
                                f"{shape[-1]} classes",
                                "normalise over the classes, dim: -1")
