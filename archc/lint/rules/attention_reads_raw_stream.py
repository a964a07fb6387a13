from __future__ import annotations

from dataclasses import dataclass

from archc.lint.framework import Rule, Violation


@dataclass
class AttentionReadsRawStream(Rule):
    """An attention that reads the residual stream straight from a residual add, with no norm before it.

    ## What it does
    Flags an ``attention`` whose input ``x`` comes from a residual join (``x + f(x)``), through ops that do
    not change its meaning (dropout, reshapes) but no norm. Pre-Norm blocks read ``norm(x)`` and Post-Norm
    blocks read the output of a norm, so neither is flagged; a residual network with no norms at all is.

    ## Why is this bad?
    The residual stream is a sum of every branch before it, so its scale grows with depth (Xiong et al. 2020
    bound its squared norm after l layers by (1 + 3l/2) d). Queries and keys computed from it grow with it
    and their dot products grow with the square: the attention logits drift upward layer by layer until the
    softmax saturates. This attention-logit growth is a documented cause of divergence in large
    Transformers, cured by normalising the attention input (and, at scale, the queries and keys).

    ## Example
    ```yaml
    blocks:
      layer:
        nodes:
          attn: {op: attention, in: x, n_heads: 12}
          res: {op: add, in: [x, attn]}
    ```

    ## Use instead
    ```yaml
          ln: {block: norm, in: x}
          attn: {op: attention, n_heads: 12}
          res: {op: add, in: [x, attn]}
    ```

    ## Principle
    Differentiable control: what feeds a softmax must be kept at a bounded scale.

    ## Evidence
    Xiong et al. 2020 (arXiv:2002.04745), lemma 2: the stream's expected squared norm after l Pre-LN layers
    is between (1 + l/2) d and (1 + 3l/2) d. Dehghani et al. 2023 (arXiv:2302.05442), section 3.1: attention
    logits grew without bound and training diverged in an 8B-parameter ViT until queries and keys were
    normalised. Wortsman et al. 2023 (arXiv:2309.14322) reproduce attention-logit growth in small models.

    ## References
    - Xiong et al. 2020, "On Layer Normalization in the Transformer Architecture", ICML, arXiv:2002.04745.
    - Dehghani et al. 2023, "Scaling Vision Transformers to 22 Billion Parameters", ICML, arXiv:2302.05442.
    - Wortsman et al. 2023, "Small-scale proxies for large-scale Transformer training instabilities",
      arXiv:2309.14322.
    """

    name = "attention-reads-raw-stream"
    principle = "control"
    anti_pattern = "underconstrained-dynamics"
    severity = "warning"

    def check(self, ctx):
        for node in ctx.by_op("attention"):
            source = ctx.input_origin(node)
            if source is not None and source.op == "add" and ctx.residual(source) is not None:
                yield Violation(node.key, ctx.where(node),
                                f"'{node.key}' reads the residual stream '{source.key}' with no norm before it; "
                                "the stream grows with depth, and the attention logits with its square",
                                f"normalise what '{node.key}' reads: add a norm between '{source.key}' and it "
                                "(Pre-Norm)")
