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
    Representational alignment, dimensional facet: the two sides of a join carry the same features in the
    same shape, and where they differ an explicit projection says how, rather than an implicit broadcast.

    ## Evidence
    Every residual add in ResNet and the Transformer joins equal shapes. He et al. 2016 (arXiv:1512.03385),
    eq. 1, y = F(x) + x: "the dimensions of x and F must be equal"; where they are not, a linear projection
    W_s x matches them (eq. 2). Vaswani et al. 2017 (arXiv:1706.03762), section 3.1: "to facilitate these
    residual connections, all sub-layers in the model, as well as the embedding layers, produce outputs of
    dimension d_model = 512". Broadcasting itself is legal in NumPy, PyTorch and ONNX (whose Add broadcasts
    NumPy-style), so shape inference accepts these adds: only a rule that knows the add is a residual join
    can see the problem.

    ## References
    - He, Zhang, Ren, Sun 2016, "Deep Residual Learning for Image Recognition", CVPR, arXiv:1512.03385.
    - Vaswani et al. 2017, "Attention Is All You Need", NeurIPS, arXiv:1706.03762.
    - ONNX operator Add (multidirectional broadcasting): https://onnx.ai/onnx/operators/onnx__Add.html
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
