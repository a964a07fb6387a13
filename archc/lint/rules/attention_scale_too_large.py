from __future__ import annotations

import math
from dataclasses import dataclass

from archc.lint.framework import Rule, Violation


@dataclass
class AttentionScaleTooLarge(Rule):
    """An attention ``scale`` well above 1/sqrt(head_dim): the logits are too large and the softmax saturates.

    ## What it does
    Flags an ``attention`` whose ``scale`` is more than `max_ratio` times 1/sqrt(head_dim), the scale of
    scaled dot-product attention. A smaller scale (muP's 1/head_dim) is left alone.

    ## Why is this bad?
    With queries and keys of unit variance, a dot product over d_k features has variance d_k. The
    1/sqrt(d_k) factor brings the logits back to unit variance; without it (``scale: 1.0`` at d_k = 64) they
    are 8 times too large, the softmax puts nearly all its mass on one key, and its gradient vanishes
    (Vaswani et al. 2017). Large models whose logits grow anyway need QK-norm to stay trainable.

    ## Example
    ```yaml
      attn: {op: attention, n_heads: 12, scale: 1.0}
    ```

    ## Use instead
    ```yaml
      attn: {op: attention, n_heads: 12}       # scale defaults to 1/sqrt(head_dim)
    ```

    ## Options
    - `max_ratio` (2.0): how many times 1/sqrt(head_dim) a scale may be.

    ## Principle
    Differentiable control: a temperature must keep the softmax in its trainable range.

    ## Evidence
    Vaswani et al. 2017 (arXiv:1706.03762), section 3.2.1: "for large values of d_k, the dot products grow
    large in magnitude, pushing the softmax function into regions where it has extremely small gradients.
    To counteract this effect, we scale the dot products by 1/sqrt(d_k)". Yang et al. 2022 (muP,
    arXiv:2203.03466) use 1/d_k, smaller. Dehghani et al. 2023 (ViT-22B, arXiv:2302.05442): uncontrolled
    logit growth diverges training at scale.

    ## References
    - Vaswani et al. 2017, "Attention Is All You Need", NeurIPS, arXiv:1706.03762.
    - Yang et al. 2022, "Tensor Programs V: Tuning Large Neural Networks via Zero-Shot Hyperparameter
      Transfer", arXiv:2203.03466.
    - Dehghani et al. 2023, "Scaling Vision Transformers to 22 Billion Parameters", ICML, arXiv:2302.05442.
    """

    name = "attention-scale-too-large"
    principle = "control"
    anti_pattern = "underconstrained-dynamics"
    severity = "warning"

    max_ratio: float = 2.0

    def check(self, ctx):
        for node in ctx.by_op("attention"):
            scale = node.attrs.get("scale")
            if scale is None:
                continue
            hd = head_dim(ctx, node)
            if hd is None or scale <= self.max_ratio / math.sqrt(hd):
                continue
            yield Violation(node.key, ctx.loc(node, "scale"),
                            f"'{node.key}' scales its logits by {scale:g}, {scale * math.sqrt(hd):.1f} times "
                            f"1/sqrt({hd}) (max_ratio {self.max_ratio:g}): the softmax saturates and its gradient "
                            "vanishes",
                            f"remove scale (the default is 1/sqrt(head_dim) = {1 / math.sqrt(hd):.3g})")


def head_dim(ctx, node) -> int | None:
    """An attention node's width per head: its ``head_dim``, else its input width over ``n_heads``."""
    if node.attrs.get("head_dim"):
        return node.attrs["head_dim"]
    src = next((s for p, s, _ in node.inputs if p == "x"), None)
    width = ctx.width(src) if src else None
    return width // node.attrs["n_heads"] if isinstance(width, int) else None
