from __future__ import annotations

from dataclasses import dataclass

from archc.lint.framework import Rule, Violation


@dataclass
class OrderBlindAttention(Rule):
    """A bidirectional attention that no position information reaches: it sees its input as a set.

    ## What it does
    Flags a non-causal ``attention`` when nothing that carries position information reaches it: no
    ``learned_position``, ``sinusoidal_position`` or ``rope`` upstream of its input, no rotary tables on its
    ``rope`` port, and no causal attention before it. A causal attention counts as a source of position: each
    token sees a different prefix, and decoders without position encodings learn positions from it.

    ## Why is this bad?
    Attention without positions is permutation-equivariant: shuffle the tokens and the outputs shuffle the same
    way. "The cat sat on the mat" and "the mat sat on the cat" get the same representations up to order, so
    the model is a bag of words, and image patches lose where they came from. Vaswani et al. (2017) add
    positional encodings for this reason; ViT adds learned position embeddings to its patch tokens.

    ## Example
    ```yaml
    nodes:
      embed: {op: embedding, in: tokens, num_embeddings: 30522, dim: 768}
      enc: {op: attention, n_heads: 12, causal: false}
    ```

    ## Use instead
    ```yaml
    nodes:
      tok: {op: embedding, in: tokens, num_embeddings: 30522, dim: 768}
      pos: {op: learned_position, in: tokens, max_len: 512, dim: 768}
      embed: {op: add, in: [tok, pos]}
      enc: {op: attention, n_heads: 12, causal: false}
    ```

    ## What it does not see
    An input that already carries positions (features computed outside the model) looks order-blind, and
    set models (Set Transformer, Lee et al. 2019, arXiv:1810.00825) are order-blind on purpose; suppress
    the finding there with its reason.

    ## Principle
    Representational alignment: the representation must carry what the task depends on, here token order.

    ## Evidence
    Vaswani et al. 2017 (arXiv:1706.03762), section 3.5: "Since our model contains no recurrence and no
    convolution, in order for the model to make use of the order of the sequence, we must inject some
    information about the relative or absolute position of the tokens". Dosovitskiy et al. 2021 (ViT,
    arXiv:2010.11929), appendix D.4, table 8: without position embeddings ImageNet 5-shot linear accuracy
    drops from 64.2% to 61.4%. Kazemnejad et al. 2023 (arXiv:2305.19466): causal decoders without position
    encodings (NoPE) train well, which is why causal attention counts as a position source.

    ## References
    - Vaswani et al. 2017, "Attention Is All You Need", NeurIPS, arXiv:1706.03762.
    - Dosovitskiy et al. 2021, "An Image is Worth 16x16 Words", ICLR, arXiv:2010.11929.
    - Kazemnejad, Padhi, Natesan Ramamurthy, Das, Reddy 2023, "The Impact of Positional Encoding on Length
      Generalization in Transformers", NeurIPS, arXiv:2305.19466.
    """

    name = "order-blind-attention"
    principle = "alignment"
    anti_pattern = "semantic-drift"
    severity = "warning"

    def check(self, ctx):
        positioned = ctx.positioned
        for node in ctx.by_op("attention"):
            if node.attrs.get("causal"):
                continue
            if any(src in positioned for _, src, _ in node.inputs):
                continue
            yield Violation(node.key, ctx.loc(node, "causal"),
                            f"bidirectional attention '{node.key}' gets no position information: permuting its "
                            "tokens permutes its outputs, so word order (or patch layout) is lost",
                            "add a position encoding before it (learned_position or sinusoidal_position added to "
                            "the embeddings, or rope tables on its rope port)")
