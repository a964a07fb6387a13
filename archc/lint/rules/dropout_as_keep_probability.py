from __future__ import annotations

from dataclasses import dataclass

from archc.lint.framework import Rule, Violation


@dataclass
class DropoutAsKeepProbability(Rule):
    """A dropout rate above one half: most likely a keep probability written where the drop rate goes.

    ## What it does
    Flags a ``dropout`` node whose ``p``, or an ``attention`` whose ``dropout``, is above `max_rate`.

    ## Why is this bad?
    In archc, as in PyTorch's ``nn.Dropout``, ``p`` is the probability of *zeroing* an element. TensorFlow 1's
    ``tf.nn.dropout`` took ``keep_prob``, the opposite, and papers often quote the retention probability
    (Srivastava et al. 2014 retain 0.5 to 0.8 of hidden units). Written as ``p: 0.9``, a keep
    probability of 0.9 drops 90% of the activations in training, and the survivors are scaled by 10: the
    model trains on noise and behaves differently at evaluation.

    ## Example
    ```yaml
      drop: {op: dropout, p: 0.9}
    ```

    ## Use instead
    ```yaml
      drop: {op: dropout, p: 0.1}        # GPT-2's rate: zero 10% of the activations
    ```

    ## Options
    - `max_rate` (0.5): the largest drop rate taken at face value; Srivastava et al. (2014) drop at most half
      of the hidden units.

    ## Principle
    Differentiable control: a regulariser's strength must be the one intended, within the range that trains.

    ## Evidence
    Srivastava, Hinton, Krizhevsky, Sutskever, Salakhutdinov 2014 (https://jmlr.org/papers/v15/srivastava14a.html),
    appendix A.4: "Typical values of p for hidden units are in the range 0.5 to 0.8", p being the
    probability of retaining a unit, and 0.8 for real-valued inputs: drop rates of 0.2 to 0.5. PyTorch's ``nn.Dropout`` (https://pytorch.org/docs/stable/generated/torch.nn.Dropout.html):
    "p: probability of an element to be zeroed". Radford et al. 2019 (GPT-2) and Devlin et al. 2019 (BERT,
    arXiv:1810.04805) drop 0.1.

    ## References
    - Srivastava et al. 2014, "Dropout: A Simple Way to Prevent Neural Networks from Overfitting", JMLR,
      https://jmlr.org/papers/v15/srivastava14a.html
    - PyTorch, "Dropout", https://pytorch.org/docs/stable/generated/torch.nn.Dropout.html
    - Devlin, Chang, Lee, Toutanova 2019, "BERT", NAACL, arXiv:1810.04805.
    """

    name = "dropout-as-keep-probability"
    principle = "control"
    anti_pattern = "underconstrained-dynamics"
    severity = "warning"

    max_rate: float = 0.5

    def check(self, ctx):
        for node in ctx.by_op("dropout", "attention"):
            attr = "p" if node.op == "dropout" else "dropout"
            rate = node.attrs.get(attr)
            if isinstance(rate, (int, float)) and rate > self.max_rate:
                yield Violation(node.key, ctx.loc(node, attr),
                                f"'{node.key}' drops {rate:g} of its activations (max_rate {self.max_rate:g}); "
                                f"{attr} is the probability of zeroing, not of keeping",
                                f"if {rate:g} is the keep probability, write {attr}: {1 - rate:.2g}")
