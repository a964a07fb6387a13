from __future__ import annotations

from dataclasses import dataclass

from archc.ir.dims import fmt
from archc.lint.framework import Rule, Violation


@dataclass
class BroadcastResidualAdd(Rule):
    """A residual add whose operands have different shapes and are joined only by broadcasting.

    ## What it does
    Flags an ``add`` that is a residual join (``x + f(x)``: one operand carries a value the other was
    computed from) when an operand that depends on the input has a shape other than the result's, such as
    ``[B, T, 768] + [B, T, 1]``. Shapes that do not broadcast at all are already a hard error of shape
    inference; this rule catches the ones that silently do.

    It does not flag adds that are not residual joins: a position table ``[T, d]`` added to ``[B, T, d]``
    embeddings, or a conditioning vector ``[B, 1, d]`` added to every position (a timestep embedding), where
    broadcasting is the intent.

    ## Why is this bad?
    A residual join is an interface contract: both sides carry the same features, position by position.
    Broadcasting breaks it without an error. A ``[B, T, 1]`` branch adds one number to all 768 features, so
    the block can only shift the stream along the all-ones direction; a ``[B, 1, d]`` branch adds the same
    vector at every position. Usually a wrong ``out_features`` (1 instead of d) or a reduction in the wrong
    place, and the model still trains, just worse.

    ## Example
    ```yaml
    blocks:
      layer:
        nodes:
          score: {op: linear, out_features: 1}
          res: {op: add, in: [x, score]}      # [B, T, 768] + [B, T, 1]
    ```

    ## Use instead
    ```yaml
    blocks:
      layer:
        nodes:
          proj: {op: linear, out_features: 768}
          res: {op: add, in: [x, proj]}       # [B, T, 768] + [B, T, 768]
    ```
    or, for a per-position gate, multiply instead of add: ``{op: mul, in: [x, gate]}``.

    ## Principle
    Representational alignment, dimensional facet: adjacent modules share compatible shapes; prefer explicit
    adapters over implicit assumptions (the seed, section 2.2).

    ## Evidence
    Every residual add in ResNet (He et al. 2016, eq. 1: "the dimensions of x and F must be equal") and the
    Transformer (Vaswani et al. 2017, section 3.1: all sub-layers produce outputs of dimension d_model = 512
    "to facilitate these residual connections") joins equal shapes; ONNX's strict shape inference treats
    such conflicts as errors.

    ## References
    - He et al. 2016, "Deep Residual Learning for Image Recognition", CVPR.
    - Vaswani et al. 2017, "Attention Is All You Need", NeurIPS.
    """

    name = "broadcast-residual-add"
    principle = "alignment"
    anti_pattern = "semantic-drift"
    severity = "error"

    def check(self, ctx):
        for node in ctx.nodes():
            if node.op != "add" or ctx.residual(node) is None:
                continue
            out = ctx.shape(node.key)
            operands = [(src, port) for _, src, port in ctx.activation_inputs(node)]
            odd = [src for src, port in operands if ctx.shape(src, port) != out]
            if not odd:
                continue
            shapes = " + ".join(fmt(ctx.shape(src, port)) for src, port in operands)
            names = ", ".join(f"'{src}'" for src in odd)
            if any(ctx.width(src, port) != out[-1] for src, port in operands):
                fix = (f"end the branch with a linear of out_features: {out[-1]} so both sides are {fmt(out)}; to "
                       "gate the stream per position, use mul instead of add")
            else:
                fix = (f"compute the branch for every position so both sides are {fmt(out)}; adding one vector "
                       "everywhere is conditioning, not a residual")
            yield Violation(
                node.key, ctx.loc(node),
                f"residual add of {shapes}: {names} {'is' if len(odd) == 1 else 'are'} broadcast to {fmt(out)}", fix)
