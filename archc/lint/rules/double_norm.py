from __future__ import annotations

from dataclasses import dataclass

from archc.lint.framework import Rule, Violation
from archc.ops.registry import OPS


@dataclass
class DoubleNorm(Rule):
    """A norm applied directly to the output of another norm.

    ## What it does
    Flags a ``layernorm`` or ``rmsnorm`` whose input comes from another norm through nothing but
    ``dropout`` or reshapes.

    ## Why is this bad?
    A normalised vector is already at unit scale with zero mean (LayerNorm) or unit RMS (RMSNorm): the second
    norm only re-applies an elementwise gain and bias, parameters and a kernel launch that add nothing the
    first norm's own gain could not express. It usually means a final norm was added both at the end of the
    stack and at the start of the head, or a Pre-Norm block's norm was kept after converting a Post-Norm
    stack.

    ## Example
    ```yaml
      h: {block: layer, repeat: 12}
      ln_f: {block: norm}
      head_norm: {block: norm}
      head: {op: linear, out_features: 32000}
    ```

    ## Use instead
    ```yaml
      h: {block: layer, repeat: 12}
      ln_f: {block: norm}
      head: {op: linear, out_features: 32000}
    ```

    ## Principle
    Parameter efficiency: no computation that adds nothing.

    ## Evidence
    Ba, Kiros, Hinton 2016 (LayerNorm, arXiv:1607.06450), section 3: the output of a LayerNorm has zero mean
    and unit variance over the features, so normalising it again changes it only through the learned
    gain and bias; Zhang and Sennrich 2019 (RMSNorm, arXiv:1910.07467) likewise for the root mean square.

    ## References
    - Ba, Kiros, Hinton 2016, "Layer Normalization", arXiv:1607.06450.
    - Zhang, Sennrich 2019, "Root Mean Square Layer Normalization", NeurIPS, arXiv:1910.07467.
    """

    name = "double-norm"
    principle = "efficiency"
    severity = "warning"

    def check(self, ctx):
        for node in ctx.by_op("layernorm", "rmsnorm"):
            before = ctx.input_origin(node)
            if before is not None and OPS[before.op].category == "norm":
                yield Violation(node.key, ctx.where(node),
                                f"norm '{node.key}' normalises the output of norm '{before.key}' again",
                                f"remove '{node.key}' (or '{before.key}')")
