from __future__ import annotations

import math
from dataclasses import dataclass

from archc.lint import inits
from archc.lint.framework import Rule, Violation
from archc.lint.values import LAYERS


@dataclass
class InitGainTooLarge(Rule):
    """Layer weights initialised with a standard deviation far too large for their fan-in (``init: {std: 1.0}``).

    ## What it does
    For every weight matrix of a ``linear``, ``attention`` or ``mlp`` initialised from a normal distribution,
    computes its gain, ``std * sqrt(fan_in)``: the factor by which it multiplies the scale of its input at
    initialisation. Flags a gain above `max_gain`. When the spec-wide ``init`` causes it, one finding, at the
    first layer it affects, counts the rest. Embedding tables are left alone: they are looked up, not
    multiplied.

    ## Why is this bad?
    A layer with gain g multiplies the variance of its output by g squared; through L layers the activations
    grow like g^L, and the gradients with them. With ``{std: 1.0}`` on a 768-wide layer the gain is 27.7: one
    attention layer's logits are hundreds of times too large and its softmax saturates to one-hot, so its
    gradient vanishes. Variance-preserving inits keep the gain near 1 (Glorot and Bengio 2010) or sqrt(2)
    under ReLU (He et al. 2015); GPT-2 and LLaMA use std 0.02, a gain of 0.55 at width 768 and 3.4 at the
    widest published LLaMA-2 projection (fan-in 28,672).

    ## Example
    ```yaml
    init: {std: 1.0}
    ```

    ## Use instead
    ```yaml
    init: {std: 0.02}            # GPT-2, LLaMA; or leave init out for PyTorch's defaults
    ```

    ## Options
    - `max_gain` (8.0): the largest std * sqrt(fan_in) allowed. Published settings stay below 3.5 (std 0.02
      up to fan-in 28,672); a unit std exceeds 8 from fan-in 65 up.

    ## Principle
    Gradient flow preservation: initial scales along the stream keep the signal and its gradient at a
    constant size through depth.

    ## Evidence
    He, Zhang, Ren, Sun 2015 (arXiv:1502.01852), equation 10: std = sqrt(2 / fan_in) keeps the variance of
    ReLU networks constant, a gain of sqrt(2); figure 3: a 30-layer network converges with it and stalls
    with Xavier's init, which differs from it by a constant factor per layer.
    Glorot and Bengio 2010 (https://proceedings.mlr.press/v9/glorot10a.html): variance 2 / (fan_in + fan_out).
    Radford et al. 2019 (GPT-2) and Touvron et al. 2023 (LLaMA, arXiv:2302.13971) use std 0.02.

    ## References
    - He, Zhang, Ren, Sun 2015, "Delving Deep into Rectifiers", ICCV, arXiv:1502.01852.
    - Glorot, Bengio 2010, "Understanding the difficulty of training deep feedforward neural networks",
      AISTATS, https://proceedings.mlr.press/v9/glorot10a.html
    - Touvron et al. 2023, "LLaMA: Open and Efficient Foundation Language Models", arXiv:2302.13971.
    """

    name = "init-gain-too-large"
    principle = "gradient-flow"
    anti_pattern = "gradient-collapse"
    severity = "warning"

    max_gain: float = 8.0

    def check(self, ctx):
        spec_wide = []  # (node, param, std, gain) caused by the spec-wide init
        for node in ctx.by_op(*LAYERS):
            for param, shape in inits.weights(node).items():
                std = inits.weight_std(inits.rule_of(ctx, node, param))
                if std is None or not isinstance(shape[-1], int):
                    continue
                gain = std * math.sqrt(shape[-1])
                if gain <= self.max_gain:
                    continue
                if inits.from_spec_wide(ctx, node, param):
                    spec_wide.append((node, param, std, gain))
                    continue
                yield Violation(node.key, ctx.loc(node, "init"), self._message(param, std, shape[-1], gain),
                                f"use init: {{{param}: {{std: {self._suggest(shape[-1])}}}}} or leave init out")
        if spec_wide:
            node, param, std, gain = spec_wide[0]
            fan_in = inits.weights(node)[param][-1]
            more = len({n.key for n, *_ in spec_wide}) - 1
            others = f"; the spec-wide init does the same to {more} more layer{'s' * (more > 1)}" if more else ""
            message = "the spec-wide init: " + self._message(param, std, fan_in, gain) + others
            yield Violation(node.key, ctx.where(node), message,
                            "use init: {std: 0.02} (GPT-2, LLaMA) at the top of the spec, or leave init out")

    def _message(self, param, std, fan_in, gain) -> str:
        return (f"{param} starts with std {std:g} over a fan-in of {fan_in}: a gain of {gain:.1f} (max_gain "
                f"{self.max_gain:g}), so activations and gradients grow about {gain:.0f}-fold per layer")

    @staticmethod
    def _suggest(fan_in: int) -> str:
        return f"{1 / math.sqrt(fan_in):.3g}"
