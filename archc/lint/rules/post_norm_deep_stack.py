from __future__ import annotations

from dataclasses import dataclass

from archc.lint.framework import Rule, Violation
from archc.lint.stacks import POST


@dataclass
class PostNormDeepStack(Rule):
    """A deep stack of Post-Norm blocks, ``x = norm(x + f(x))``, with nothing taming its residual branches.

    ## What it does
    Flags a ``repeat`` of at least `min_layers` residual blocks whose carried stream crosses a norm on every
    path from the block's input to its output: the norm comes after the residual add, the placement of the
    original Transformer and BERT. A stack is left alone when every residual branch of its block is tamed at
    initialisation: a ``scale`` node initialised to at most `max_branch_scale` (ReZero's 0, LayerScale's
    0.1), or a parameter initialised to zero or with a depth-scaled init (``init: zeros``,
    ``init: {std: 0.02, depth: N}``, the spec-wide ``init`` included).

    The finding points at the repeat and names the norm on the stream.

    ## Why is this bad?
    With the norm on the stream there is no identity path: every block rescales the gradient that flows back
    along the residual stream. Xiong et al. (2020, theorem 1) show that at initialisation the gradient of
    the last layer's weights is O(d sqrt(ln d)) in a Post-LN Transformer, independent of the depth L, but
    O(d sqrt(ln d / L)) in a Pre-LN one: Post-LN needs a learning-rate warm-up and is sensitive to its length.
    Liu et al. (2020) trace the instability to each Post-LN layer's heavy dependence on its residual branch,
    which amplifies small parameter updates into large changes of the output. Takase et al. (2022) sum up
    the practice: training Post-LN with deep Transformers, "e.g., ten or more layers, often becomes unstable".

    ## Example
    ```yaml
    blocks:
      layer:
        nodes:
          attn: {op: attention, n_heads: 12}
          res_1: {op: add, in: [x, attn]}
          ln_1: {block: norm}              # the stream goes through the norm
          mlp: {block: ffn}
          res_2: {op: add, in: [ln_1, mlp]}
          ln_2: {block: norm}
    nodes:
      h: {block: layer, repeat: 24}
    ```

    ## Use instead
    Pre-Norm, with a final norm after the stack (GPT-2, LLaMA):
    ```yaml
    blocks:
      layer:
        nodes:
          ln_1: {block: norm, in: x}
          attn: {op: attention, n_heads: 12}
          res_1: {op: add, in: [x, attn]}
          ln_2: {block: norm}
          mlp: {block: ffn}
          res_2: {op: add, in: [res_1, mlp]}
    nodes:
      h: {block: layer, repeat: 24}
      ln_f: {block: norm}
    ```
    or keep Post-Norm and start every branch at zero (ReZero):
    ```yaml
          attn: {op: attention, n_heads: 12}
          alpha_1: {op: scale, init: {value: 0.0}}
          res_1: {op: add, in: [x, alpha_1]}
    ```

    ## Options
    - `min_layers` (10): the depth from which a Post-Norm stack is flagged ("ten or more layers", Takase et
      al. 2022).
    - `max_branch_scale` (0.1): the largest initial value of a ``scale`` node that counts as taming its
      branch. ReZero uses 0; CaiT's LayerScale uses 0.1 up to 18 layers and 1e-5 at 24.

    ## What it does not see
    Depth is the iteration count of one ``repeat``: two consecutive groups of 6 are not added up, and layers
    written out one by one are not a stack. A depth-scaled init counts whatever its ``depth``, and the
    learning-rate warm-up that also makes Post-Norm trainable is not part of the spec.

    ## Principle
    Gradient flow preservation: keep an identity path for gradients through depth. With identity skips the
    signal of any block reaches any earlier block directly, forward and backward (He et al. 2016b); a norm on
    the stream takes that path away, and Post-Norm then trains only with careful initialisation or warm-up.

    ## Evidence
    Xiong et al. 2020 (arXiv:2002.04745), theorem 1 and the warm-up experiments; Liu et al. 2020
    (arXiv:2004.08249), the amplification effect; Takase et al. 2022 (arXiv:2206.00330, abstract: "ten
    or more layers"). What tames it: ReZero trains 120-layer Transformers with the branch weight alpha
    initialised to 0 (Bachlechner et al. 2020, arXiv:2003.04887); CaiT's LayerScale starts each branch at
    0.1 up to depth 18, 1e-5 at 24 and 1e-6 deeper (Touvron et al. 2021, arXiv:2103.17239, section 2);
    DeepNet scales Post-LN to 1,000 layers with alpha = (2N)^(1/4) on the stream and branch init
    beta = (8N)^(-1/4) for an N-layer decoder-only or encoder-only stack (Wang et al. 2022, arXiv:2203.00555;
    as implemented in https://github.com/microsoft/torchscale, torchscale/architecture/decoder.py).

    ## References
    - Xiong, Yang, He, Zheng, Zheng, Xing, Zhang, Lan, Wang, Liu 2020, "On Layer Normalization in the
      Transformer Architecture", ICML, arXiv:2002.04745.
    - Liu, Liu, Gao, Chen, Han 2020, "Understanding the Difficulty of Training Transformers", EMNLP,
      arXiv:2004.08249.
    - Takase, Kiyono, Kobayashi, Suzuki 2022, "On Layer Normalizations and Residual Connections in
      Transformers", arXiv:2206.00330.
    - Bachlechner, Majumder, Mao, Cottrell, McAuley 2020, "ReZero is All You Need: Fast Convergence at Large
      Depth", arXiv:2003.04887.
    - Wang, Ma, Dong, Huang, Zhang, Wei 2022, "DeepNet: Scaling Transformers to 1,000 Layers",
      arXiv:2203.00555.
    - Touvron, Cord, Sablayrolles, Synnaeve, Jegou 2021, "Going deeper with Image Transformers" (CaiT,
      LayerScale), ICCV, arXiv:2103.17239.
    - He, Zhang, Ren, Sun 2016b, "Identity Mappings in Deep Residual Networks", ECCV, arXiv:1603.05027.
    """

    name = "post-norm-deep-stack"
    principle = "gradient-flow"
    anti_pattern = "gradient-collapse"
    severity = "warning"

    min_layers: int = 10
    max_branch_scale: float = 0.1

    def check(self, ctx):
        for stack in ctx.stacks.values():
            if stack.kind != POST or stack.depth < self.min_layers:
                continue
            if all(self._tamed(ctx, join) for join in stack.residuals):
                continue
            norm = stack.stream_norms[0][len(stack.first) + 1:]  # 'h.0.ln_1' -> 'ln_1'
            yield Violation(
                stack.group, stack.loc,
                f"{stack.depth} Post-Norm blocks: the residual stream passes through '{norm}', so it has no "
                "identity path; stacks this deep need warm-up or diverge",
                "move the norm onto the branch, x = x + f(norm(x)), and add a final norm after the stack; or "
                "start each branch at zero: a scale node with init {value: 0.0} (ReZero) or a depth-scaled init "
                "on the branch's last projection, init: {std: 0.02, depth: N}")

    def _tamed(self, ctx, join) -> bool:
        """Whether a node on the residual branch starts it at or near zero."""
        return any(self._starts_small(ctx, ctx.node(key)) for key in join.branch_nodes)

    def _starts_small(self, ctx, node) -> bool:
        """ReZero / LayerScale (a small constant ``scale``), or a zero or depth-scaled weight init."""
        rules = {**ctx.info.get("default_init", {}), **node.init}
        for param in node.meta.get("params") or {}:
            rule = rules.get(param, rules.get("*"))
            if rule is None:
                continue
            kind, value = rule["kind"], rule.get("value")
            if node.op == "scale":
                if kind == "zeros" or (kind == "constant" and abs(value) <= self.max_branch_scale):
                    return True
            elif param.endswith("weight") and (kind == "zeros" or value == 0.0 or "depth" in rule):
                return True
        return False
