from __future__ import annotations

from dataclasses import dataclass

from archc.lint.framework import Rule, Violation


@dataclass
class AttentionWidthMismatch(Rule):
    """Attention heads that do not tile the model width: ``n_heads * head_dim`` differs from the width of ``x``.

    ## What it does
    Flags an ``attention`` node with an explicit ``head_dim`` whose inner width ``n_heads * head_dim`` is not
    the feature width of its input ``x``: 10 heads of 64 on a 768-wide stream (640), or 12 heads of 80
    (960). Without ``head_dim`` shape inference already refuses a width that ``n_heads`` does not divide, and a
    ``n_heads`` that ``n_kv_heads`` does not divide; this rule covers the ``head_dim`` escape hatch. With
    `allow_wider` a wider inner width (Gemma's style) passes.

    ## Why is this bad?
    Narrower, the q, k and v projections squeeze d features into n_heads * head_dim, and ``o_proj`` writes
    the branch back into a subspace of that rank: every layer's attention can touch only part of the
    stream. Wider, attention costs (n_heads * head_dim) / d times the parameters and FLOPs of the usual
    split. Either way it is more often a head count edited without its ``head_dim`` than a design: the
    Transformer and its descendants use d_k = d_model / h (512 / 8 = 64; GPT-2 small 768 / 12 = 64; LLaMA 7B
    4096 / 32 = 128).

    ## Example
    ```yaml
    vars: {d_model: 768, n_heads: 10}
    nodes:
      attn: {op: attention, n_heads: "${vars.n_heads}", head_dim: 64}    # 640 != 768
    ```

    ## Use instead
    ```yaml
    vars: {d_model: 768, n_heads: 12}
    nodes:
      attn: {op: attention, n_heads: "${vars.n_heads}"}                  # head_dim 768 / 12 = 64
    ```

    ## Options
    - `allow_wider` (false): accept n_heads * head_dim > width, as in Gemma 7B (16 heads of 256 on a
      3072-wide stream, 4096).

    ## Principle
    Representational alignment, dimensional facet: the interface between two modules is a contract on shape,
    stated where it is made. Here the contract is that the heads tile the width they read and write.

    ## Evidence
    Vaswani et al. 2017 (arXiv:1706.03762), section 3.2.2: h = 8 heads with d_k = d_v = d_model / h = 64,
    "due to the reduced dimension of each head, the total computational cost is similar to that of
    single-head attention with full dimensionality". LLaMA 7B (Touvron et al. 2023, arXiv:2302.13971,
    table 2): dimension 4096, 32 heads. GPT-2 small's released config: n_embd 768, n_head 12. Gemma 7B
    (Gemma Team 2024, arXiv:2403.08295, table 1: d_model 3072, 16 heads of size 256) is the known
    deliberate exception, wider by 4096 / 3072 = 4/3.

    ## References
    - Vaswani, Shazeer, Parmar, Uszkoreit, Jones, Gomez, Kaiser, Polosukhin 2017, "Attention Is All You
      Need", NeurIPS, arXiv:1706.03762.
    - Touvron et al. 2023, "LLaMA: Open and Efficient Foundation Language Models", arXiv:2302.13971.
    - Gemma Team 2024, "Gemma: Open Models Based on Gemini Research and Technology", arXiv:2403.08295.
    - GPT-2 small configuration: https://huggingface.co/openai-community/gpt2/blob/main/config.json
    """

    name = "attention-width-mismatch"
    principle = "alignment"
    anti_pattern = "information-choking"
    severity = "warning"

    allow_wider: bool = False

    def check(self, ctx):
        for node in ctx.nodes():
            if node.op != "attention" or node.attrs["head_dim"] is None:
                continue
            _, src, port = next(i for i in node.inputs if i[0] == "x")
            width = ctx.width(src, port)
            heads, head_dim = node.attrs["n_heads"], node.attrs["head_dim"]
            inner = heads * head_dim
            if not isinstance(width, int) or inner == width or (inner > width and self.allow_wider):
                continue
            yield Violation(
                node.key, ctx.loc(node, "head_dim"),
                f"{heads} heads x head_dim {head_dim} = {inner}, {'narrower' if inner < width else 'wider'} than "
                f"the {width}-wide input",
                _fix(width, heads))


def _fix(width: int, heads: int) -> str:
    if width % heads == 0:
        return f"drop head_dim (the default is {width} / {heads} = {width // heads}) or set it to {width // heads}"
    below = max(d for d in range(1, heads) if width % d == 0)  # 1 always divides
    above = next((d for d in range(heads + 1, width + 1) if width % d == 0), None)
    choices = f"{below} or {above}" if above else str(below)
    return f"use a head count that divides {width}, such as {choices}, and drop head_dim"
