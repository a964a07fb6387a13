from __future__ import annotations

import re
from dataclasses import dataclass

from archc.lint.fix import value_at, value_of_var
from archc.lint.framework import Edit, Rule, Violation


@dataclass
class VocabNotPadded(Rule):
    """A vocabulary size that is not a multiple of 64: the largest matrix multiplication runs off the tile.

    ## What it does
    Flags an ``embedding`` whose ``num_embeddings`` is at least `min_vocab` and not a multiple of `multiple`.
    The output head of a language model has the same size, so the one finding covers both.

    ## Why is this bad?
    The output head is usually the model's largest single GEMM (GPT-2 small: 50257 x 768, 27% of its FLOPs per token
    at T = 1024), and a size off the tile leaves part of every tile idle; an odd size like 50,257 also misses the
    alignment that the fastest tensor-core kernels need. Padding the vocabulary with a few unused rows costs almost
    nothing: nanoGPT pads GPT-2's 50,257 to 50,304 (a multiple of 64) for efficiency; Megatron-LM pads to a multiple
    of 128 by default.

    ``archc lint --fix`` pads it: the var the table's size interpolates (which a tied head shares), or the
    number on the node when no head is tied to it.

    ## Example
    ```yaml
      wte: {op: embedding, in: tokens, num_embeddings: 50257, dim: 768}
    ```

    ## Use instead
    ```yaml
      wte: {op: embedding, in: tokens, num_embeddings: 50304, dim: 768}   # 47 rows never looked up
    ```

    ## Options
    - `multiple` (64): nanoGPT's padding; Megatron-LM uses 128.
    - `min_vocab` (1000): smaller tables are left alone.

    ## Principle
    Systems: shapes that the hardware's fast paths accept.

    ## Evidence
    Karpathy, nanoGPT (https://github.com/karpathy/nanoGPT, model.py): "GPT-2 vocab_size of 50257, padded up to
    nearest multiple of 64 for efficiency". Shoeybi et al. 2019 (Megatron-LM, arXiv:1909.08053) and its
    ``--make-vocab-size-divisible-by`` (default 128). NVIDIA's matrix multiplication guide
    (https://docs.nvidia.com/deeplearning/performance/dl-performance-matrix-multiplication/index.html).

    ## References
    - Karpathy, nanoGPT, https://github.com/karpathy/nanoGPT
    - Shoeybi et al. 2019, "Megatron-LM: Training Multi-Billion Parameter Language Models Using Model
      Parallelism", arXiv:1909.08053.
    """

    name = "vocab-not-padded"
    principle = "systems"
    severity = "info"

    multiple: int = 64
    min_vocab: int = 1000

    def check(self, ctx):
        attr = "num_embeddings"
        for node in ctx.by_op("embedding"):
            size = node.attrs[attr]
            if size >= self.min_vocab and size % self.multiple:
                up = -(-size // self.multiple) * self.multiple
                yield Violation(node.key, ctx.loc(node, attr),
                                f"'{node.key}' has {size} rows, not a multiple of {self.multiple}: the vocabulary "
                                "GEMM runs off the tensor-core tile",
                                f"pad {attr} to {up} ({up - size} unused rows); the tokenizer never emits them",
                                _edit(ctx, node, attr, size, up))


def _edit(ctx, node, attr: str, size: int, up: int) -> Edit | None:
    """The literal, or the var it interpolates, rewritten to the padded size."""
    loc = ctx.loc(node, attr)
    text = value_at(loc)
    if text.startswith(str(size)):  # a number on the node: only when no head repeats it through a tie
        tied = any(n.tie == node.key for n in ctx.by_op("linear"))
        return None if tied else Edit(loc, str(size), str(up))
    match = re.match(r"""["']?\$\{vars\.(\w+)\}""", text)
    found = value_of_var(ctx.info["spec"].get("file", loc.file), match.group(1)) if match else None
    if found is not None and found[1] == str(size):
        return Edit(found[0], found[1], str(up))
    return None

