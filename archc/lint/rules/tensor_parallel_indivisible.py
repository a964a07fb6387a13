from __future__ import annotations

from dataclasses import dataclass

from archc.lint.framework import Rule, Violation

#: var names read as the tensor-parallel degree when the option is not set
TP_VARS = ("tensor_parallel", "tp_degree", "tp_size", "tensor_model_parallel_size")


@dataclass
class TensorParallelIndivisible(Rule):
    """A head count or width that a declared tensor-parallel degree does not divide.

    ## What it does
    With a tensor-parallel degree, from the option `tp_degree` or a var (``tensor_parallel``, ``tp_degree``,
    ``tp_size`` or ``tensor_model_parallel_size``), flags every ``attention`` whose ``n_heads`` (or
    ``n_kv_heads``, unless the degree is a multiple of it: then the key/value heads are replicated),
    ``linear`` whose ``out_features``, ``mlp`` whose ``d_ff`` and ``embedding`` whose ``num_embeddings`` it
    does not divide. Without a degree the rule stays silent.

    ## Why is this bad?
    Megatron-style tensor parallelism splits attention by heads and the MLP and the vocabulary by columns
    across the devices: each device must get a whole number of heads and an equal slice of each width.
    A model that does not divide cannot be sharded at that degree: it has to be padded or resized, which
    changes its parameter count and its trained weights' layout.

    ## Example
    ```yaml
    vars: {tensor_parallel: 8, n_heads: 12}
    ```

    ## Use instead
    ```yaml
    vars: {tensor_parallel: 4, n_heads: 12}     # or 16 heads at degree 8
    ```

    ## Options
    - `tp_degree` (0): the tensor-parallel degree; 0 reads it from the spec's vars, and without one the rule
      is silent.

    ## Principle
    Systems: shapes that the parallel layout the model is declared for can split.

    ## Evidence
    Shoeybi et al. 2019 (Megatron-LM, arXiv:1909.08053), section 3: the MLP's first GEMM is split by columns
    and attention by heads across the tensor-parallel group; the vocabulary is padded to a multiple of
    128 times the degree. Its argument checks require the number of attention heads and query groups to
    be divisible by the tensor-parallel size.

    ## References
    - Shoeybi et al. 2019, "Megatron-LM: Training Multi-Billion Parameter Language Models Using Model
      Parallelism", arXiv:1909.08053.
    - Narayanan et al. 2021, "Efficient Large-Scale Language Model Training on GPU Clusters Using
      Megatron-LM", SC, arXiv:2104.04473.
    """

    name = "tensor-parallel-indivisible"
    principle = "systems"
    severity = "error"

    tp_degree: int = 0

    def check(self, ctx):
        tp = self.tp_degree
        if tp <= 0:
            declared = ctx.declared_var(TP_VARS)
            tp = declared[1] if declared else 0
        if tp <= 1:
            return
        for node in ctx.by_op("attention", "linear", "mlp", "embedding"):
            for attr, value in _split_dims(node):
                if not isinstance(value, int) or value % tp == 0:
                    continue
                if attr == "n_kv_heads" and tp % value == 0:
                    continue  # fewer key/value heads than devices: replicated, as Megatron does
                yield Violation(node.key, ctx.loc(node, attr),
                                f"'{node.key}' has {attr} = {value}, which tensor parallelism of degree {tp} "
                                "cannot split evenly",
                                f"make {attr} a multiple of {tp} (or use a degree that divides {value})")


def _split_dims(node):
    if node.op == "attention":
        yield "n_heads", node.attrs["n_heads"]
        if node.attrs.get("n_kv_heads"):
            yield "n_kv_heads", node.attrs["n_kv_heads"]
    elif node.op == "linear":
        yield "out_features", node.attrs["out_features"]
    elif node.op == "mlp":
        yield "d_ff", node.attrs["d_ff"]
    elif node.op == "embedding":
        yield "num_embeddings", node.attrs["num_embeddings"]
