from __future__ import annotations

from dataclasses import dataclass

from archc.lint.framework import Rule, Violation


@dataclass
class WidthNotTileMultiple(Rule):
    """A model width (d_model, d_ff, a projection) that is not a multiple of the tensor-core tile.

    ## What it does
    Collects the widths the model's matrix multiplications run over: every ``linear``'s ``out_features``,
    every ``mlp``'s ``d_ff``, every ``embedding``'s ``dim`` and every ``attention``'s input width. Flags each
    distinct width of at least `min_width` that is not a multiple of `multiple`, once, at the first node that
    uses it, with the number of others. Vocabulary-sized widths are `vocab-not-padded`'s (SY003).

    ## Why is this bad?
    GPUs multiply matrices in tiles: a dimension that is not a multiple of the tile leaves part of the last
    tile idle, and below the alignment tensor cores cannot be used at all. NVIDIA's guide measures the same
    GEMM several times slower when a dimension goes from a multiple of 64 to one short of it.

    ## Example
    ```yaml
    vars: {d_model: 1000, d_ff: 4000}
    ```

    ## Use instead
    ```yaml
    vars: {d_model: 1024, d_ff: 4096}
    ```

    ## Options
    - `multiple` (64): the width a dimension should be a multiple of; NVIDIA recommends multiples of 64 for
      16-bit GEMMs on A100-class GPUs (8 is the hard minimum for tensor cores).
    - `min_width` (256): widths below this are left alone: a model that small is not bound by GEMM throughput.

    ## Principle
    Systems: shapes that the hardware's fast paths accept.

    ## Evidence
    NVIDIA, "Matrix Multiplication Background User's Guide"
    (https://docs.nvidia.com/deeplearning/performance/dl-performance-matrix-multiplication/index.html):
    tensor cores are used most efficiently when dimensions are multiples of 64 (16-bit, A100) and need
    multiples of 8; the guide's figures show the throughput drop for other sizes.

    ## References
    - NVIDIA, "Matrix Multiplication Background User's Guide",
      https://docs.nvidia.com/deeplearning/performance/dl-performance-matrix-multiplication/index.html
    """

    name = "width-not-tile-multiple"
    principle = "systems"
    severity = "info"

    multiple: int = 64
    min_width: int = 256

    def check(self, ctx):
        vocab = {n.attrs["num_embeddings"] for n in ctx.by_op("embedding")}
        uses: dict[int, list] = {}
        for node in ctx.by_op("linear", "mlp", "embedding", "attention"):
            for attr, width in _widths(ctx, node):
                if isinstance(width, int) and width >= self.min_width and width % self.multiple \
                        and width not in vocab and node.meta.get("category") != "head":
                    uses.setdefault(width, []).append((node, attr))
        for width, found in uses.items():
            node, attr = found[0]
            others = len({n.key for n, _ in found}) - 1
            more = f"; {others} more layer{'s use' if others > 1 else ' uses'} it" if others else ""
            up = -(-width // self.multiple) * self.multiple
            yield Violation(node.key, ctx.loc(node, attr) if attr else ctx.where(node),
                            f"width {width} ('{node.key}') is not a multiple of {self.multiple}{more}",
                            f"round it to {up} (or {up - self.multiple})")


def _widths(ctx, node):
    if node.op == "linear":
        yield "out_features", node.attrs["out_features"]
    elif node.op == "mlp":
        yield "d_ff", node.attrs["d_ff"]
    elif node.op == "embedding":
        yield "dim", node.attrs["dim"]
    elif node.op == "attention":
        src = next((s for p, s, _ in node.inputs if p == "x"), None)
        if src is not None:
            yield None, ctx.width(src)
