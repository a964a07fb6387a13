from __future__ import annotations

from dataclasses import dataclass

from archc.lint.fix import final_norm_edit
from archc.lint.framework import Rule, Violation
from archc.lint.stacks import PRE


@dataclass
class MissingFinalNorm(Rule):
    """A stack of Pre-Norm blocks whose output reaches a model output with no norm after the last block.

    ## What it does
    Flags a ``repeat`` of Pre-Norm residual blocks (``x = x + f(norm(x))``) when some path from the last
    block's output to a declared output crosses no norm: the head reads the raw residual stream. A path that
    carries the stream into another Pre-Norm stack hands the duty over to that stack. Nested stacks that end
    on the same value are reported once, at the outermost.

    ## Why is this bad?
    In a Pre-Norm stack nothing normalises the stream itself: it is the embedding plus the sum of every
    branch's output, so its scale grows with depth. Xiong et al. (2020, lemma 2) bound the expected squared
    norm of the stream after l Pre-LN layers between (1 + l/2) d and (1 + 3l/2) d: after 48 layers, 25 to 73
    times that of the embeddings (d), and the head would read it as is. The Pre-LN Transformer they
    analyse ends with a final LayerNorm, and so does every published Pre-Norm model (GPT-2's ``ln_f``,
    LLaMA's ``norm``, T5's ``final_layer_norm``).

    ## Example
    ```yaml
    nodes:
      embed: {op: embedding, in: tokens, num_embeddings: 50257, dim: 768}
      h: {block: layer, repeat: 12}       # Pre-Norm blocks
      head: {op: linear, out_features: 50257, bias: false}
    ```

    ## Use instead
    ```yaml
    nodes:
      embed: {op: embedding, in: tokens, num_embeddings: 50257, dim: 768}
      h: {block: layer, repeat: 12}
      ln_f: {block: norm}
      head: {op: linear, out_features: 50257, bias: false}
    ```

    ## What it does not see
    Only stacks written as one ``repeat`` are checked. A stack whose output feeds only another model part,
    such as an encoder whose output reaches the decoder through cross-attention and then meets the decoder's
    final norm, counts as normalised.

    ## Principle
    Gradient flow preservation, normalisation placement: Pre-Norm keeps the residual stream an identity path
    and normalises only what each branch reads; the final norm is the other half of the design, the one that
    puts the head's input back at a fixed scale.

    ## Evidence
    Xiong et al. 2020 (arXiv:2002.04745): lemma 2 (the (1 + l/2) d to (1 + 3l/2) d bound above), and table 1,
    where the Pre-LN Transformer ends with a "Final LayerNorm" that the Post-LN one does not need. Radford
    et al. 2019 (GPT-2), section 2.3: "an additional layer normalization was added after the final
    self-attention block". LLaMA (Touvron et al. 2023, arXiv:2302.13971) and T5 (Raffel et al. 2020,
    arXiv:1910.10683) keep it too: ``norm`` and ``final_layer_norm`` in their Hugging Face implementations.

    ## References
    - Xiong, Yang, He, Zheng, Zheng, Xing, Zhang, Lan, Wang, Liu 2020, "On Layer Normalization in the
      Transformer Architecture", ICML, arXiv:2002.04745.
    - Radford, Wu, Child, Luan, Amodei, Sutskever 2019, "Language Models are Unsupervised Multitask
      Learners", https://cdn.openai.com/better-language-models/language_models_are_unsupervised_multitask_learners.pdf
    - Touvron et al. 2023, "LLaMA: Open and Efficient Foundation Language Models", arXiv:2302.13971.
    - Raffel et al. 2020, "Exploring the Limits of Transfer Learning with a Unified Text-to-Text
      Transformer", JMLR, arXiv:1910.10683.
    """

    name = "missing-final-norm"
    principle = "gradient-flow"
    anti_pattern = "gradient-collapse"
    severity = "warning"

    def check(self, ctx):
        stacks = [s for s in ctx.stacks.values() if s.kind == PRE]
        if not stacks:
            return
        reaches = _unnormalised_paths(ctx, stacks)
        reported = set()
        for stack in sorted(stacks, key=lambda s: s.group.count(".")):  # outermost first
            output = reaches.get(stack.output)
            if output is None or stack.output in reported:
                continue
            reported.add(stack.output)
            yield Violation(
                stack.last, stack.last_loc,
                f"{stack.depth} Pre-Norm blocks reach output '{output}' with no norm after the last block; the "
                "stream's scale grows with depth",
                f"add a final norm after the stack, e.g. ln_f: {{block: norm, in: {stack.last.rsplit('.', 1)[-1]}}}"
                ", as GPT-2 and LLaMA do", final_norm_edit(ctx, stack))


def _unnormalised_paths(ctx, stacks) -> dict[str, str]:
    """Key -> name of an output it reaches through no norm (and no hand-over to a Pre-Norm stack); O(V + E)."""
    handover: dict[str, list[str]] = {}
    for stack in stacks:
        handover.setdefault(stack.entry, []).append(stack.first)
    reaches: dict[str, str] = {}
    for key in reversed(list(ctx.index)):
        output = ctx.outputs.get(key)
        if output is None:
            for succ in ctx.successors(key):
                if ctx.is_norm(succ) or any(ctx.within(succ, first) for first in handover.get(key, ())):
                    continue
                output = reaches.get(succ)
                if output is not None:
                    break
        if output is not None:
            reaches[key] = output
    return reaches
