from __future__ import annotations

from dataclasses import dataclass

from archc.lint.framework import Rule, Violation
from archc.lint.values import ACTIVATION_FUNCTIONS


@dataclass
class DoubleActivation(Rule):
    """An activation function applied directly to the output of another one.

    ## What it does
    Flags a ``gelu``, ``relu``, ``silu``, ``tanh`` or ``sigmoid`` whose input is the output of another
    activation function (through ``dropout`` at most).

    ## Why is this bad?
    ``relu(relu(x))`` is ``relu(x)``; ``relu(gelu(x))`` differs from ``gelu(x)`` only on its small negative
    lobe; ``sigmoid(tanh(x))`` squeezes values into [0.27, 0.73]. The second activation costs memory and
    time, narrows the range the next layer sees, and usually means a layer between them was forgotten or an
    activation was written both in a block and after it.

    ## Example
    ```yaml
      fc: {op: linear, in: x, out_features: 512}
      act: {op: relu}
      act2: {op: gelu}
    ```

    ## Use instead
    ```yaml
      fc: {op: linear, in: x, out_features: 512}
      act: {op: gelu}
    ```

    ## Principle
    Parameter efficiency: no computation that adds nothing.

    ## Evidence
    NeuraLint (Nikanjam et al. 2022, arXiv:2105.08095) lists redundant consecutive activations among the
    design inefficiencies its 23 rules detect (precision 100%, recall 70.5% on 34 real programs).
    Goodfellow, Bengio, Courville 2016, section 6.3 (https://www.deeplearningbook.org/contents/mlp.html):
    hidden units apply one nonlinearity to an affine transformation.

    ## References
    - Nikanjam, Ben Braiek, Morovati, Khomh 2022, "Automatic Fault Detection for Deep Learning Programs Using
      Graph Transformations", TOSEM, arXiv:2105.08095.
    - Goodfellow, Bengio, Courville 2016, "Deep Learning", MIT Press, https://www.deeplearningbook.org/contents/mlp.html
    """

    name = "double-activation"
    principle = "efficiency"
    severity = "warning"

    def check(self, ctx):
        for node in ctx.by_op(*ACTIVATION_FUNCTIONS):
            if not node.inputs:
                continue
            before = ctx.node(node.inputs[0][1])
            while before.op == "dropout":
                before = ctx.node(before.inputs[0][1])
            if before.op in ACTIVATION_FUNCTIONS:
                yield Violation(node.key, ctx.where(node),
                                f"'{node.key}' ({node.op}) is applied to the output of '{before.key}' ({before.op})",
                                "remove one of the two activations, or put the missing layer between them")
