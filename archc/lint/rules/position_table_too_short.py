from __future__ import annotations

from dataclasses import dataclass

from archc.lint.framework import Edit, Rule, Violation

#: var names read as the declared context length, in order
CONTEXT_VARS = ("n_ctx", "max_seq_len", "max_position_embeddings", "context_length", "block_size", "seq_len")


@dataclass
class PositionTableTooShort(Rule):
    """A position table (learned, sinusoidal or rotary) with fewer rows than the context the spec declares.

    ## What it does
    Reads the context length the spec declares in a var (the first of ``n_ctx``, ``max_seq_len``,
    ``max_position_embeddings``, ``context_length``, ``block_size``, ``seq_len`` set to an int: the names
    GPT-2, LLaMA, Hugging Face configs and nanoGPT use) and flags every ``learned_position``,
    ``sinusoidal_position`` and ``rope`` node whose ``max_len`` is smaller. Where the spec declares no
    context length the rule stays silent. ``archc lint --fix`` writes ``max_len: "${vars.<name>}"`` in place
    of a number.

    ## Why is this bad?
    The generated model refuses (or, indexing the table, crashes on) any sequence longer than ``max_len``, so
    the declared context is never reachable; with a learned table the rows past ``max_len`` do not exist at
    all, and extending it later means training new rows. A rotary table computed for fewer positions than the
    model serves is the same limit in another form.

    ## Example
    ```yaml
    vars: {n_ctx: 2048}
    nodes:
      wpe: {op: learned_position, in: tokens, max_len: 1024, dim: 768}
    ```

    ## Use instead
    ```yaml
      wpe: {op: learned_position, in: tokens, max_len: "${vars.n_ctx}", dim: 768}
    ```

    ## Principle
    Representational alignment: every position the model is declared to serve must have a representation.

    ## Evidence
    Radford et al. 2019 (GPT-2): ``n_ctx`` = 1024 and a 1024-row ``wpe``. Press, Smith, Lewis 2022 (ALiBi,
    arXiv:2108.12409): learned and sinusoidal encodings do not extrapolate past the training length; Chen et
    al. 2023 (arXiv:2306.15595) extend rotary models by interpolating positions, not by reading past the
    table.

    ## References
    - Press, Smith, Lewis 2022, "Train Short, Test Long: Attention with Linear Biases Enables Input Length
      Extrapolation", ICLR, arXiv:2108.12409.
    - Chen, Wong, Chen, Tian 2023, "Extending Context Window of Large Language Models via Positional
      Interpolation", arXiv:2306.15595.
    """

    name = "position-table-too-short"
    principle = "alignment"
    anti_pattern = "semantic-drift"
    severity = "error"

    def check(self, ctx):
        declared = ctx.declared_var(CONTEXT_VARS)
        if declared is None:
            return
        var, length = declared
        for node in ctx.by_op("learned_position", "sinusoidal_position", "rope"):
            rows = node.attrs.get("max_len")
            if isinstance(rows, int) and rows < length:
                yield Violation(node.key, ctx.loc(node, "max_len"),
                                f"'{node.key}' has {rows} positions but vars.{var} declares a context of {length}: "
                                f"sequences longer than {rows} cannot run",
                                f'set max_len: "${{vars.{var}}}"',
                                Edit(ctx.loc(node, "max_len"), str(rows), f'"${{vars.{var}}}"')
                                if "max_len" in node.attr_locs else None)
