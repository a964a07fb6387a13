from __future__ import annotations

from dataclasses import dataclass

from archc.lint.framework import Rule, Violation


@dataclass
class UnprojectedWidthChange(Rule):
    """A residual shortcut that changes width through a parameter-free op instead of a learned projection.

    ## What it does
    Flags the op on a residual shortcut that changes the feature width with no parameters: ``pad`` (zero
    channels), ``slice`` or a ``split`` output (dropped channels), ``concat`` of a value with itself, a
    ``reshape``. The shortcut is the operand of a residual join (``x + f(x)``) that reaches the add from ``x``
    through parameter-free ops only; this is ResNet's option-A shortcut. The finding points at the op.

    Joins whose operands still differ in shape are left to ``broadcast-residual-add``, so one problem gives
    one finding.

    ## Why is this bad?
    The padded channels carry zeros, so on them the block is a plain layer with no identity path: "the
    zero-padded dimensions in A indeed have no residual learning" (He et al. 2016). A slice drops features
    for good. With a projection shortcut where the width changes (option B), ResNet-34's ImageNet top-1
    error falls from 25.03% (A) to 24.52% (B), a gap the paper puts down to A's zero-padded channels.

    ## Example
    ```yaml
    blocks:
      widen:
        nodes:
          short: {op: pad, in: x, after: 64}                # 64 -> 128 features, no parameters
          conv: {op: linear, in: x, out_features: 128}
          res: {op: add, in: [short, conv]}
    ```

    ## Use instead
    ```yaml
    blocks:
      widen:
        nodes:
          short: {op: linear, in: x, out_features: 128, bias: false}   # projection shortcut
          conv: {op: linear, in: x, out_features: 128}
          res: {op: add, in: [short, conv]}
    ```

    ## Principle
    Representational alignment, dimensional facet: where a width changes, a learned projection matches it,
    so that every feature on both sides of the join keeps an identity path.

    ## Evidence
    He et al. 2016 (arXiv:1512.03385), section 4.1 and table 3: ResNet-34 top-1 error on ImageNet
    validation (10-crop) 25.03% with zero-padding shortcuts (A), 24.52% with projections where the width
    changes (B), 24.19% with projections everywhere (C).

    ## References
    - He, Zhang, Ren, Sun 2016, "Deep Residual Learning for Image Recognition", CVPR, arXiv:1512.03385,
      section 3.3 (options A and B), section 4.1 and table 3.
    """

    name = "unprojected-width-change"
    principle = "alignment"
    anti_pattern = "information-choking"
    severity = "warning"

    def check(self, ctx):
        for node in ctx.nodes():
            if node.op != "add":
                continue
            join = ctx.residual(node)
            if join is None or not join.steps:
                continue
            out = ctx.shape(node.key)
            if any(ctx.shape(src, port) != out for _, src, port in ctx.activation_inputs(node)):
                continue  # broadcast-residual-add reports it
            for key, port in join.steps:
                step = ctx.node(key)
                _, src, src_port = ctx.activation_inputs(step)[0]
                before, after = ctx.width(src, src_port), ctx.width(key, port)
                if before != after:
                    yield Violation(
                        key, ctx.loc(step),
                        f"the shortcut of residual '{node.key}' changes width {before} -> {after} with "
                        f"'{step.op}' and no learned projection",
                        f"replace '{step.name}' with a projection, {{op: linear, out_features: {after}, bias: false}}"
                        " (ResNet's projection shortcut)")
                    break
