from __future__ import annotations

from dataclasses import dataclass

from archc.lint.framework import Rule, Violation

#: ops between two linear maps that keep their composition linear over the same axis
_LINEAR_GLUE = frozenset({"dropout", "scale"})


@dataclass
class CollapsibleLinearPair(Rule):
    """Two linear maps in a row with no nonlinearity between them, not a low-rank factorisation.

    ## What it does
    Flags a ``linear`` whose input comes from another ``linear`` (or the output projection of an
    ``attention`` or ``mlp``) through nothing but ``dropout`` or ``scale``, when the width between them is at
    least the smaller of the outer widths and nothing else reads the value between them: the pair is a
    product that one layer computes.
    A narrower middle is a low-rank factorisation (ALBERT's embedding, LoRA), and is left alone.

    ## Why is this bad?
    ``W2 (W1 x + b1) + b2 = (W2 W1) x + (W2 b1 + b2)``: the two layers compute exactly what one ``linear``
    computes, with more parameters, more FLOPs and a worse-conditioned optimisation. Usually a nonlinearity
    was forgotten between them.

    ## Example
    ```yaml
      up: {op: linear, in: x, out_features: 3072}
      down: {op: linear, out_features: 768}          # no activation between
    ```

    ## Use instead
    ```yaml
      up: {op: linear, in: x, out_features: 3072}
      act: {op: gelu}
      down: {op: linear, out_features: 768}
    ```

    ## Principle
    Parameter efficiency: every parameter should add expressiveness.

    ## Evidence
    Goodfellow, Bengio, Courville 2016, section 6.1 (https://www.deeplearningbook.org/contents/mlp.html): a
    composition of linear functions is linear, which is why hidden layers need a nonlinearity. NeuraLint
    (Nikanjam et al. 2022, arXiv:2105.08095) checks for a missing activation between layers among its 23
    rules.

    ## References
    - Goodfellow, Bengio, Courville 2016, "Deep Learning", MIT Press, https://www.deeplearningbook.org/contents/mlp.html
    - Nikanjam, Ben Braiek, Morovati, Khomh 2022, "Automatic Fault Detection for Deep Learning Programs Using
      Graph Transformations", TOSEM, arXiv:2105.08095.
    """

    name = "collapsible-linear-pair"
    principle = "efficiency"
    severity = "warning"

    def check(self, ctx):
        for node in ctx.by_op("linear"):
            src = next((s for p, s, _ in node.inputs if p == "x"), None)
            while src is not None and ctx.node(src).op in _LINEAR_GLUE and _only_reader(ctx, src):
                src = ctx.node(src).inputs[0][1]
            before = ctx.node(src) if src is not None and _only_reader(ctx, src) else None
            if before is None or before.op not in ("linear", "attention", "mlp"):
                continue
            first_in = next((s for p, s, _ in before.inputs if p == "x"), None)
            d_in, middle, d_out = ctx.width(first_in), ctx.width(before.key), ctx.width(node.key)
            if all(isinstance(w, int) for w in (d_in, middle, d_out)) and middle >= min(d_in, d_out):
                yield Violation(node.key, ctx.where(node),
                                f"'{before.key}' ({d_in} -> {middle}) and '{node.key}' ({middle} -> {d_out}) have no "
                                "nonlinearity between them: together they are one linear map",
                                f"add an activation between '{before.key}' and '{node.key}', or merge them into one "
                                f"linear with out_features {d_out}")


def _only_reader(ctx, key: str) -> bool:
    """Whether ``key``'s value has one consumer (a value read elsewhere too, say by a skip, must stay)."""
    return len(list(ctx.successors(key))) == 1 and key not in ctx.outputs
