from __future__ import annotations

from dataclasses import dataclass

from archc.lint.framework import Rule, Violation
from archc.lint.values import reaches_output


@dataclass
class SoftmaxOutputAsLogits(Rule):
    """Probabilities used where logits are expected: a softmax returned as ``logits``, or a softmax of a softmax.

    ## What it does
    Flags a ``softmax`` (or a ``sigmoid``) whose value reaches, through ops that do not change its meaning
    (dropout, reshapes, slices), a declared output whose name contains ``logit``; and a ``softmax`` whose input is
    already the output of a softmax.

    ## Why is this bad?
    Losses over classes take logits and apply log-softmax themselves: PyTorch's ``CrossEntropyLoss`` expects
    "unnormalized logits", and ``BCEWithLogitsLoss`` applies its own sigmoid. Fed probabilities, it computes the
    softmax of numbers in [0, 1], whose largest ratio between two classes is e = 2.72: a confident prediction (p =
    0.99) and a hesitant one look alike, the loss cannot fall below about log(V) - 1 for V classes, and the gradient
    is divided by about V. A softmax of a softmax has the same flattening effect inside the model.

    ## Example
    ```yaml
    nodes:
      head: {op: linear, out_features: 50257}
      probs: {op: softmax}
    outputs:
      logits: probs
    ```

    ## Use instead
    ```yaml
    outputs:
      logits: head          # the loss applies log-softmax; take a softmax at sampling time
    ```

    ## Principle
    Representational alignment: a value's meaning (logits or probabilities) must match what its consumer
    expects.

    ## Evidence
    PyTorch's ``CrossEntropyLoss`` documentation (https://pytorch.org/docs/stable/generated/torch.nn.CrossEntropyLoss.html):
    "The input is expected to contain the unnormalized logits for each class". Goodfellow, Bengio, Courville
    2016, section 6.2.2.3 (https://www.deeplearningbook.org/contents/mlp.html): the log-softmax of the logits
    is what keeps the gradient of a saturated softmax from vanishing.

    ## References
    - PyTorch, "CrossEntropyLoss", https://pytorch.org/docs/stable/generated/torch.nn.CrossEntropyLoss.html
    - Goodfellow, Bengio, Courville 2016, "Deep Learning", MIT Press, https://www.deeplearningbook.org/contents/mlp.html
    """

    name = "softmax-output-as-logits"
    principle = "alignment"
    anti_pattern = "semantic-drift"
    severity = "error"

    def check(self, ctx):
        for node in ctx.by_op("softmax", "sigmoid"):
            output = reaches_output(ctx, node.key)
            if output is not None and "logit" in output.lower():
                yield Violation(node.key, ctx.where(node),
                                f"output '{output}' promises logits but returns the probabilities of {node.op} "
                                f"'{node.key}'; a loss on logits would apply a second {node.op}",
                                "return the values before the softmax as the logits, and take the softmax when "
                                "sampling (or name the output probs)")
            before = ctx.input_origin(node)
            if node.op == "softmax" and before is not None and before.op == "softmax":
                yield Violation(node.key, ctx.where(node),
                                f"softmax '{node.key}' normalises the probabilities of softmax '{before.key}': "
                                "values in [0, 1] give a nearly uniform distribution",
                                f"remove one of the two softmaxes ('{node.key}' or '{before.key}')")
