from __future__ import annotations

from dataclasses import dataclass

from archc.lint import inits
from archc.lint.framework import Rule, Violation

#: ops that map a zero input to a zero output and have no parameters: zeros pass through them unchanged
ZERO_PRESERVING = frozenset({"dropout", "reshape", "transpose", "slice", "pad", "split", "relu", "gelu", "silu",
                             "tanh", "scale"})


@dataclass
class ZeroInitDeadPair(Rule):
    """Two projections in a row that both start at zero: no gradient ever reaches either of them.

    ## What it does
    Flags a ``linear`` (or ``mlp``) whose weights all start at zero (``init: zeros``, ``{value: 0.0}``,
    ``{std: 0.0}``) when the layer that produces its input, through ops that keep zeros at zero (dropout,
    reshapes, ``relu``, ``gelu``, ``silu``, ``tanh``, ``scale``), starts at zero too; and an ``mlp`` op whose
    projections all start at zero.

    ## Why is this bad?
    With ``h = W1 x`` and ``y = W2 h``, the gradients are ``dL/dW2 = g h^T`` and ``dL/dW1 = W2^T g x^T``.
    With both ``W1 = 0`` and ``W2 = 0`` at the start, ``h = 0`` makes the first zero and ``W2 = 0`` the
    second: neither weight ever moves, and the pair stays a constant (its bias) for the whole of training.
    Zero-initialising *one* side is the well-known trick (LoRA's ``B = 0``, Fixup's last layer of each branch,
    ReZero's alpha): the branch starts as the identity and the other side keeps it trainable.

    ## Example
    ```yaml
    nodes:
      lora_a: {op: linear, in: x, out_features: 8, bias: false, init: zeros}
      lora_b: {op: linear, out_features: 768, bias: false, init: zeros}
    ```

    ## Use instead
    ```yaml
    nodes:
      lora_a: {op: linear, in: x, out_features: 8, bias: false, init: {std: 0.02}}
      lora_b: {op: linear, out_features: 768, bias: false, init: zeros}   # LoRA's B = 0
    ```

    ## Principle
    Gradient flow preservation: every parameter needs a path its gradient can flow along.

    ## Evidence
    Hu et al. 2021 (arXiv:2106.09685), section 4.1: "We use a random Gaussian initialization for A and zero
    for B, so ΔW = BA is zero at the beginning of training": one factor is zero, never both. Zhang, Dauphin,
    Ma 2019 (Fixup, arXiv:1901.09321), section 3: initialise the last layer of each residual branch at zero
    and the others with a scaled standard init.

    ## References
    - Hu, Shen, Wallis, Allen-Zhu, Li, Wang, Wang, Chen 2021, "LoRA: Low-Rank Adaptation of Large Language
      Models", arXiv:2106.09685.
    - Zhang, Dauphin, Ma 2019, "Fixup Initialization: Residual Learning Without Normalization", ICLR,
      arXiv:1901.09321.
    """

    name = "zero-init-dead-pair"
    principle = "gradient-flow"
    anti_pattern = "gradient-collapse"
    severity = "error"

    def check(self, ctx):
        for node in ctx.by_op("linear", "mlp"):
            if not self._zero(ctx, node):
                continue
            if node.op == "mlp":
                yield Violation(node.key, ctx.where(node),
                                f"every projection of '{node.key}' starts at zero, so none of them gets a gradient",
                                "initialise the up (and gate) projections randomly, e.g. init: {down.weight: zeros}")
                continue
            src = next((s for p, s, _ in node.inputs if p == "x"), None)
            while src is not None and ctx.node(src).op in ZERO_PRESERVING:
                src = ctx.node(src).inputs[0][1]
            before = ctx.node(src) if src is not None else None
            if before is not None and before.op in ("linear", "mlp") and self._zero(ctx, before):
                yield Violation(
                    node.key, ctx.where(node),
                    f"'{node.key}' and '{before.key}' before it both start at zero: the gradient of each is "
                    "multiplied by the other, so neither ever changes",
                    f"initialise '{before.key}' randomly, e.g. init: {{std: 0.02}}, and keep '{node.key}' at zero "
                    "(LoRA's B = 0)")

    @staticmethod
    def _zero(ctx, node) -> bool:
        mats = inits.weights(node)
        return bool(mats) and all(inits.starts_at_zero(inits.rule_of(ctx, node, p)) for p in mats)
