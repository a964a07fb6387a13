from __future__ import annotations

from dataclasses import dataclass

from archc.lint.framework import Rule, Violation
from archc.lint.rules.attention_scale_too_large import head_dim


@dataclass
class HeadDimUnfused(Rule):
    """An attention head width that fused attention kernels do not take: above 256, or not a multiple of 8.

    ## What it does
    Flags an ``attention`` whose width per head (``head_dim``, else the input width over ``n_heads``) is above
    `max_head_dim` or not a multiple of `multiple`.

    ## Why is this bad?
    PyTorch's ``scaled_dot_product_attention`` picks a fused kernel (FlashAttention, memory-efficient) only
    when the head dimension fits it; otherwise it falls back to the math kernel, which materialises the
    T x T score matrix: memory quadratic in the sequence length and several times slower. FlashAttention-2
    supports head dimensions up to 256, and 16-bit tensor-core kernels need rows aligned to 8 elements.

    ## Example
    ```yaml
      attn: {op: attention, n_heads: 12, head_dim: 100}
    ```

    ## Use instead
    ```yaml
      attn: {op: attention, n_heads: 12, head_dim: 96}     # or 64, 128
    ```

    ## Options
    - `max_head_dim` (256): the largest head dimension of FlashAttention-2 and of PyTorch's flash backend.
    - `multiple` (8): the alignment 16-bit fused kernels need (128 bits).

    ## Principle
    Systems: shapes that the hardware's fast paths accept.

    ## Evidence
    Dao 2023 (FlashAttention-2, arXiv:2307.08691): "support head dimensions up to 256". PyTorch's
    ``check_head_dim_size_flash`` (aten/src/ATen/native/transformers/cuda/sdp_utils.cpp,
    https://github.com/pytorch/pytorch/blob/main/aten/src/ATen/native/transformers/cuda/sdp_utils.cpp)
    refuses head dimensions above 256, and its ``minimum_gemm_alignment`` asks 16-bit tensor-core inputs for
    128 / 16 = 8-element alignment.

    ## References
    - Dao 2023, "FlashAttention-2: Faster Attention with Better Parallelism and Work Partitioning",
      arXiv:2307.08691.
    - PyTorch, sdp_utils.cpp, https://github.com/pytorch/pytorch/blob/main/aten/src/ATen/native/transformers/cuda/sdp_utils.cpp
    """

    name = "head-dim-unfused"
    principle = "systems"
    severity = "warning"

    max_head_dim: int = 256
    multiple: int = 8

    def check(self, ctx):
        for node in ctx.by_op("attention"):
            hd = head_dim(ctx, node)
            if hd is None or (hd <= self.max_head_dim and hd % self.multiple == 0):
                continue
            why = f"above {self.max_head_dim}" if hd > self.max_head_dim else f"not a multiple of {self.multiple}"
            yield Violation(node.key, ctx.loc(node, "head_dim") if node.attrs.get("head_dim") else ctx.where(node),
                            f"'{node.key}' has {hd}-wide heads, {why}: fused attention kernels refuse it and the "
                            "unfused fallback stores the full T x T scores",
                            f"use a head_dim that is a multiple of {self.multiple} and at most {self.max_head_dim} "
                            "(64 and 128 are the common ones)")
