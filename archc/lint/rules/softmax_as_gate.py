from __future__ import annotations

from dataclasses import dataclass

from archc.lint.framework import Rule, Violation
from archc.lint.values import axis_of


@dataclass
class SoftmaxAsGate(Rule):
    """A softmax over the features used as an elementwise gate: the gates sum to one, so the gated value shrinks.

    ## What it does
    Flags a ``mul`` that multiplies a value by the output of a ``softmax`` taken over the feature axis, when
    the other operand has that same feature width: a per-feature gate. Softmax weights over a different axis
    or width (mixture weights over experts, attention over tokens) are left alone.

    ## Why is this bad?
    A gate decides, feature by feature, how much to let through: each gate should range over [0, 1] on its
    own. Softmax gates over d features are coupled and sum to 1, so they average 1/d: at d = 512 the gated
    value is about 500 times smaller than its input at initialisation, and opening one gate closes the others.
    Gated units (LSTM, GLU, SwiGLU) use an independent sigmoid, or another activation, per feature.

    ## Example
    ```yaml
    nodes:
      gate: {op: linear, in: x, out_features: 512}
      weights: {op: softmax}
      gated: {op: mul, in: [weights, up]}
    ```

    ## Use instead
    ```yaml
      weights: {op: sigmoid}           # GLU; or silu for SwiGLU
    ```

    ## Principle
    Representational alignment: a gate's values must mean "how much of this feature", not a share of a whole.

    ## Evidence
    Dauphin, Fan, Auli, Grangier 2017 (arXiv:1612.08083): gated linear units multiply by a sigmoid, one per
    feature. Shazeer 2020 (arXiv:2002.05202) compares GLU variants (sigmoid, GELU, Swish, ReLU, linear
    gates); none normalises across features. Hochreiter and Schmidhuber 1997: LSTM gates are sigmoids
    (https://doi.org/10.1162/neco.1997.9.8.1735).

    ## References
    - Dauphin, Fan, Auli, Grangier 2017, "Language Modeling with Gated Convolutional Networks", ICML,
      arXiv:1612.08083.
    - Shazeer 2020, "GLU Variants Improve Transformer", arXiv:2002.05202.
    - Hochreiter, Schmidhuber 1997, "Long Short-Term Memory", Neural Computation, https://doi.org/10.1162/neco.1997.9.8.1735
    """

    name = "softmax-as-gate"
    principle = "alignment"
    anti_pattern = "semantic-drift"
    severity = "warning"

    def check(self, ctx):
        for node in ctx.by_op("mul"):
            operands = [(src, port) for _, src, port in ctx.activation_inputs(node)]
            for src, _port in operands:
                gate = ctx.origin(src)
                if gate.op != "softmax":
                    continue
                shape = ctx.shape(gate.key)
                if axis_of(shape, gate.attrs.get("dim", -1)) != len(shape) - 1 or shape[-1] == 1:
                    continue
                if any(ctx.width(other, p) == shape[-1] for other, p in operands if other != src):
                    yield Violation(node.key, ctx.where(node),
                                    f"'{node.key}' gates a value with softmax '{gate.key}' over its {shape[-1]} "
                                    f"features: the gates sum to 1, about 1/{shape[-1]} each",
                                    f"use a sigmoid for '{gate.key}' (GLU), or silu (SwiGLU)")
                    break
