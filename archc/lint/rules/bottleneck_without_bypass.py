from __future__ import annotations

from dataclasses import dataclass

from archc.lint.framework import Rule, Violation
from archc.lint.values import ACTIVATION_FUNCTIONS, TRANSPARENT
from archc.ops.registry import OPS

#: ops a narrow value passes through on its way to being widened again, keeping its width
_PASS = TRANSPARENT | ACTIVATION_FUNCTIONS | {"scale"}


@dataclass
class BottleneckWithoutBypass(Rule):
    """A projection that narrows the representation many-fold and is widened again, with no skip path around it.

    ## What it does
    Flags a ``linear`` (or an ``mlp`` with a narrow ``out_features``) whose output is at least `min_ratio`
    times narrower than its input, when a later layer widens the value back to at least the input width and
    nothing carries the full-width representation around the narrow part: no path from the value it reads
    (or the stream that value was normalised from) joins the widened value again without passing through it.
    A residual skip (adapters) or a parallel path (LoRA's frozen layer) is such a path.
    Narrowing that is never undone (a classifier, a head) is left alone.

    ## Why is this bad?
    Everything after the bottleneck sees only what fits through it: a rank-r linear map loses the rest of its
    input for good, and the widening layer cannot bring it back. Bottlenecks that work keep an identity path
    around the narrow part: ResNet's bottleneck blocks (256 to 64 and back, inside a residual), adapters
    (768 to 64 and back, added to their input), LoRA (rank 8, added to the frozen layer's output).

    ## Example
    ```yaml
    nodes:
      down: {op: linear, in: x, out_features: 64}     # 768 -> 64
      act: {op: gelu}
      up: {op: linear, out_features: 768}
    ```

    ## Use instead
    ```yaml
    nodes:
      down: {op: linear, in: x, out_features: 64}
      act: {op: gelu}
      up: {op: linear, out_features: 768}
      out: {op: add, in: [x, up]}                      # the adapter's skip (Houlsby et al. 2019)
    ```

    ## Options
    - `min_ratio` (4): how many times narrower the output must be to count as a bottleneck; ResNet's
      bottleneck blocks narrow 4-fold (256 to 64), inside a residual.

    ## What it does not see
    An autoencoder's latent is a bottleneck on purpose: suppress the finding there with its reason.

    ## Principle
    Representational alignment, and the information-choking anti-pattern: a narrow path with no bypass
    discards what later layers would need.

    ## Evidence
    He et al. 2016 (arXiv:1512.03385), section 4.1 and figure 5: the bottleneck block (1x1 to 64, 3x3,
    1x1 back to 256) sits inside an identity shortcut. Houlsby et al. 2019 (arXiv:1902.00751), section 2.1:
    adapters project d to m (m much smaller than d) and back, "with a skip-connection". Sandler et al. 2018
    (MobileNetV2, arXiv:1801.04381): inverted residuals keep shortcuts between the narrow layers.

    ## References
    - He, Zhang, Ren, Sun 2016, "Deep Residual Learning for Image Recognition", CVPR, arXiv:1512.03385.
    - Houlsby et al. 2019, "Parameter-Efficient Transfer Learning for NLP", ICML, arXiv:1902.00751.
    - Sandler, Howard, Zhu, Zhmoginov, Chen 2018, "MobileNetV2: Inverted Residuals and Linear Bottlenecks",
      CVPR, arXiv:1801.04381.
    """

    name = "bottleneck-without-bypass"
    principle = "alignment"
    anti_pattern = "information-choking"
    severity = "warning"

    min_ratio: int = 4

    def check(self, ctx):
        for node in ctx.by_op("linear", "mlp"):
            src = next((s for p, s, _ in node.inputs if p == "x"), None)
            d_in, narrow = (ctx.width(src) if src else None), ctx.width(node.key)
            if not (isinstance(d_in, int) and isinstance(narrow, int)) or d_in < self.min_ratio * narrow:
                continue
            widened = self._widened(ctx, node.key, d_in)
            if widened is None or _bypassed(ctx, node, src, widened):
                continue
            yield Violation(node.key, ctx.where(node),
                            f"'{node.key}' narrows {d_in} features to {narrow} and '{widened}' widens them back, "
                            f"with no path around the {narrow}-wide part",
                            f"add the input back after '{widened}' (a residual add, as adapters do), or keep the "
                            "width")

    @staticmethod
    def _widened(ctx, key: str, width: int) -> str | None:
        todo, seen = [key], {key}
        while todo:
            for succ in ctx.successors(todo.pop()):
                if succ in seen:
                    continue
                seen.add(succ)
                node = ctx.node(succ)
                if node.op in _PASS or OPS[node.op].category == "norm":
                    todo.append(succ)
                elif node.op in ("linear", "mlp") and isinstance(w := ctx.width(succ), int) and w >= width:
                    return succ
        return None


def _bypassed(ctx, node, src: str, widened: str) -> bool:
    """Whether the value the bottleneck reads (or the stream it was normalised from) reaches something the
    widened value also reaches, without going through the bottleneck: a skip (adapters) or a parallel path
    (LoRA's frozen layer). Both searches stay inside the bottleneck's block instance."""
    region = ctx.region(node)
    starts = [src]
    while (prev := ctx.node(starts[-1])).inputs and (prev.op in TRANSPARENT or OPS[prev.op].category == "norm"):
        starts.append(prev.inputs[0][1])
    around = _reach(ctx, starts, region, avoid=node.key)
    return bool(around & _reach(ctx, [widened], region, avoid=None))


def _reach(ctx, starts: list[str], region: str, avoid: str | None) -> set[str]:
    seen: set[str] = set()
    todo = list(starts)
    while todo:
        for succ in ctx.successors(todo.pop()):
            if succ != avoid and succ not in seen and ctx.within(succ, region):
                seen.add(succ)
                todo.append(succ)
    return seen
