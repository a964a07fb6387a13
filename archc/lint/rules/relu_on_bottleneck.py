from __future__ import annotations

from dataclasses import dataclass

from archc.lint.framework import Rule, Violation


@dataclass
class ReluOnBottleneck(Rule):
    """A ReLU applied to the narrow output of a projection that is widened again: it destroys what the
    bottleneck kept.

    ## What it does
    Flags a ``relu`` whose input is a ``linear`` that narrows its input at least `min_ratio`-fold, when the
    ReLU's output is projected back to at least the input width: the nonlinearity sits on the narrowest
    tensor of a project-expand pair.

    ## Why is this bad?
    A narrow tensor holds a compressed copy of its input; ReLU zeroes every negative coordinate of it, about
    half of them at initialisation, and what it zeroes is lost for good. In a wide tensor the same
    information survives in other coordinates, in a narrow one it does not. MobileNetV2 measured the
    difference: keeping the bottleneck linear improved ImageNet accuracy, and put the nonlinearity on the
    wide, expanded tensor instead.

    ## Example
    ```yaml
      down: {op: linear, in: x, out_features: 64}     # 768 -> 64
      act: {op: relu}
      up: {op: linear, out_features: 768}
    ```

    ## Use instead
    Put the nonlinearity on the wide side, or use a smooth one (GELU, as adapters do):
    ```yaml
      down: {op: linear, in: x, out_features: 64}
      act: {op: gelu}
      up: {op: linear, out_features: 768}
    ```

    ## Options
    - `min_ratio` (4): how many times narrower the projection's output must be (MobileNetV2's expansion
      ratios are 6; ResNet's bottleneck narrows 4-fold).

    ## Principle
    Representational alignment, and the information-choking anti-pattern: the narrowest tensor must keep
    what passes through it.

    ## Evidence
    Sandler, Howard, Zhu, Zhmoginov, Chen 2018 (MobileNetV2, arXiv:1801.04381), section 3.2 and figure
    6a: "it is important to remove non-linearities in the narrow layers in order to maintain
    representational power"; linear bottlenecks gave better top-1 accuracy than ReLU6 ones in their
    ablation.

    ## References
    - Sandler, Howard, Zhu, Zhmoginov, Chen 2018, "MobileNetV2: Inverted Residuals and Linear Bottlenecks",
      CVPR, arXiv:1801.04381.
    """

    name = "relu-on-bottleneck"
    principle = "alignment"
    anti_pattern = "information-choking"
    severity = "info"

    min_ratio: int = 4

    def check(self, ctx):
        for node in ctx.by_op("relu"):
            before = ctx.input_origin(node)
            if before is None or before.op != "linear":
                continue
            src = next((s for p, s, _ in before.inputs if p == "x"), None)
            d_in, narrow = (ctx.width(src) if src else None), ctx.width(before.key)
            if not (isinstance(d_in, int) and isinstance(narrow, int)) or d_in < self.min_ratio * narrow:
                continue
            wide = next((r for r in ctx.readers(node.key) if r.op in ("linear", "mlp")
                         and isinstance(ctx.width(r.key), int) and ctx.width(r.key) >= d_in), None)
            if wide is not None:
                yield Violation(node.key, ctx.where(node),
                                f"ReLU '{node.key}' zeroes half of the {narrow}-wide bottleneck '{before.key}' "
                                f"(from {d_in}) before '{wide.key}' widens it again",
                                f"make '{node.key}' a gelu or silu, or move the ReLU to the wide side")
