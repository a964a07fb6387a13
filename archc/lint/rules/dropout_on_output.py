from __future__ import annotations

from dataclasses import dataclass

from archc.lint.framework import Rule, Violation
from archc.lint.values import reaches_output


@dataclass
class DropoutOnOutput(Rule):
    """Dropout on a model output: the logits themselves are randomly zeroed in training.

    ## What it does
    Flags a ``dropout`` whose value reaches a declared output through nothing but ops that do not change
    its meaning (reshapes, slices): nothing after it learns to compensate.

    ## Why is this bad?
    Dropout regularises by making the *next* layer robust to missing inputs. On the outputs there is no next
    layer: zeroed logits become a probability of exp(0) for random classes, the surviving logits are scaled
    by 1 / (1 - p), so the training loss is computed on corrupted predictions that evaluation never makes.
    Published models place dropout on hidden activations and residual branches, never on the logits.

    ## Example
    ```yaml
      head: {op: linear, out_features: 10}
      drop: {op: dropout, p: 0.1}
    outputs:
      logits: drop
    ```

    ## Use instead
    ```yaml
      drop: {op: dropout, p: 0.1}
      head: {op: linear, out_features: 10}
    outputs:
      logits: head
    ```

    ## What it does not see
    Whether an output is consumed by another model that is trained with this one (features for a downstream
    head); there dropout on the output is the head's input dropout, and the finding can be suppressed.

    ## Principle
    Differentiable control: a regulariser must act where something downstream adapts to it.

    ## Evidence
    Srivastava et al. 2014 (https://jmlr.org/papers/v15/srivastava14a.html), section 4: dropout is applied to
    input and hidden units, and the output layer's units are kept. Vaswani et al. 2017
    (arXiv:1706.03762), section 5.4: residual dropout on each sub-layer's output before the add, and on the
    embedding sums; none on the output logits.

    ## References
    - Srivastava et al. 2014, "Dropout: A Simple Way to Prevent Neural Networks from Overfitting", JMLR,
      https://jmlr.org/papers/v15/srivastava14a.html
    - Vaswani et al. 2017, "Attention Is All You Need", NeurIPS, arXiv:1706.03762.
    """

    name = "dropout-on-output"
    principle = "control"
    anti_pattern = "underconstrained-dynamics"
    severity = "warning"

    def check(self, ctx):
        for node in ctx.by_op("dropout"):
            output = reaches_output(ctx, node.key)
            if output is not None:
                yield Violation(node.key, ctx.where(node),
                                f"dropout '{node.key}' zeroes values of output '{output}' itself: nothing after "
                                "it can adapt",
                                f"move '{node.key}' before the last layer, or remove it")

