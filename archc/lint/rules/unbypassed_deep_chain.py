from __future__ import annotations

from dataclasses import dataclass

from archc.lint.framework import Rule, Violation
from archc.lint.paths import is_layer


@dataclass
class UnbypassedDeepChain(Rule):
    """A long run of layers in a row with no skip path around them: a plain deep network.

    ## What it does
    Counts, for every layer (``linear``, ``attention``, ``mlp``), the fewest layers a gradient crosses from
    the model's outputs back to it, itself included: the run of layers no residual shortcut lets the gradient
    go around. Flags a run longer than `max_layers`, at its first layer, naming its last. The count follows
    the graph, not the spec's text, so a plain stack is the same stack whether it is one ``repeat``, two
    repeats one after the other, or block uses written out one by one.

    ## Why is this bad?
    Each layer multiplies the backward signal by its Jacobian; with no identity path the product over the
    run vanishes or explodes, and even when it does not, deeper plain networks optimise worse. He et al.
    (2016) found a plain 34-layer network reaches a higher training error than a plain 18-layer one
    (the degradation problem), while the same networks with identity shortcuts train better the deeper
    they are.

    ## Example
    ```yaml
    blocks:
      plain:
        nodes:
          fc: {op: linear, out_features: 512}
          act: {op: relu}
    nodes:
      body: {block: plain, in: x, repeat: 32}
    ```

    ## Use instead
    A residual block, so every layer has a shortcut around it:
    ```yaml
    blocks:
      residual:
        nodes:
          fc: {op: linear, in: x, out_features: 512}
          act: {op: relu}
          res: {op: add, in: [x, act]}
    nodes:
      body: {block: residual, in: x, repeat: 32}
    ```

    ## Options
    - `max_layers` (20): the longest run allowed. He et al. (2016) train plain networks of 18 layers as
      well as residual ones and see plain ones degrade at 34.

    ## Principle
    Gradient flow preservation: keep an identity or low-impedance path for gradients through depth.

    ## Evidence
    He, Zhang, Ren, Sun 2016 (arXiv:1512.03385), table 2 and figure 4: plain-34 has a higher training error
    than plain-18 on ImageNet (top-1 validation error 28.54% against 27.94%), ResNet-34 a lower one than
    ResNet-18 (25.03% against 27.88%). Srivastava, Greff, Schmidhuber 2015 (arXiv:1507.06228): plain
    networks get harder to optimise as they deepen, while gated shortcuts train 100 layers.

    ## References
    - He, Zhang, Ren, Sun 2016, "Deep Residual Learning for Image Recognition", CVPR, arXiv:1512.03385.
    - Srivastava, Greff, Schmidhuber 2015, "Training Very Deep Networks", NeurIPS, arXiv:1507.06228.
    """

    name = "unbypassed-deep-chain"
    principle = "gradient-flow"
    anti_pattern = "gradient-collapse"
    severity = "warning"

    max_layers: int = 20

    def check(self, ctx):
        paths = ctx.gradient

        def layer(key):
            return is_layer(ctx, key)

        long = {key for key, depth in paths.depth.items() if depth + 1 > self.max_layers and layer(key)}
        covered = set()  # layers that a longer run reported elsewhere already starts before
        for key in long:
            nxt = paths.toward.get(key)
            while nxt is not None and not layer(nxt):
                nxt = paths.toward.get(nxt)
            if nxt is not None:
                covered.add(nxt)
        for key in sorted(long - covered, key=ctx.index.__getitem__):
            chain = paths.chain(key, layer)
            last = chain[-1]
            yield Violation(
                key, ctx.where(ctx.node(key)),
                f"{len(chain)} layers in a row with no skip path around them, from '{key}' to '{last}' "
                f"(max_layers {self.max_layers}); the gradient reaches '{key}' only through all of them",
                "add residual connections around groups of layers, x + f(x), so every layer has a shortcut; or "
                "make the stack shallower")
