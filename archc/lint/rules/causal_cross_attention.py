from __future__ import annotations

from dataclasses import dataclass

from archc.lint.framework import Edit, Rule, Violation


@dataclass
class CausalCrossAttention(Rule):
    """A cross-attention with a causal mask: each decoder position sees only a prefix of the encoder's output.

    ## What it does
    Flags an ``attention`` that reads a memory on its ``kv`` port (cross-attention) while ``causal`` is true,
    which is the op's default. Where ``causal: true`` is written, ``archc lint --fix`` makes it false.

    ## Why is this bad?
    A causal mask says "position t may not look at positions after t" within one sequence. Between two
    sequences it means nothing sensible: with it, decoder position t attends to encoder positions 0..t only
    (the mask is aligned to the top-left corner), so the first target token sees one source token and a
    target longer than the source sees all of it. The decoder silently loses most of the input. Encoder-
    decoder attention lets every decoder position attend over the whole memory; only the decoder's
    self-attention is causal.

    ## Example
    ```yaml
      cross: {op: attention, in: {x: dec, kv: memory}, n_heads: 8}        # causal defaults to true
    ```

    ## Use instead
    ```yaml
      cross: {op: attention, in: {x: dec, kv: memory}, n_heads: 8, causal: false}
    ```

    ## Principle
    Representational alignment: a mask must mean the same thing for the sequences it relates.

    ## Evidence
    Vaswani et al. 2017 (arXiv:1706.03762), section 3.2.3: in encoder-decoder attention "every position in
    the decoder [attends] over all positions in the input sequence"; the decoder's self-attention alone
    is masked. PyTorch's ``nn.Transformer`` (https://pytorch.org/docs/stable/generated/torch.nn.Transformer.html)
    takes a causal ``tgt_mask`` and no ``memory_mask`` by default, and ``scaled_dot_product_attention``'s
    ``is_causal`` aligns its mask to the top-left corner when the lengths differ.

    ## References
    - Vaswani et al. 2017, "Attention Is All You Need", NeurIPS, arXiv:1706.03762.
    - PyTorch, "Transformer", https://pytorch.org/docs/stable/generated/torch.nn.Transformer.html
    """

    name = "causal-cross-attention"
    principle = "alignment"
    anti_pattern = "semantic-drift"
    severity = "error"

    def check(self, ctx):
        for node in ctx.by_op("attention"):
            if node.attrs.get("causal") and any(port == "kv" for port, _, _ in node.inputs):
                written = "causal" in node.attr_locs
                yield Violation(node.key, ctx.loc(node, "causal") if written else ctx.where(node),
                                f"cross-attention '{node.key}' is causal{'' if written else ' (the default)'}: "
                                "decoder position t sees only the first t+1 positions of the memory",
                                "set causal: false on the cross-attention; keep the decoder's self-attention causal",
                                Edit(ctx.loc(node, "causal"), "true", "false") if written else None)
