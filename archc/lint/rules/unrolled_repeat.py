from __future__ import annotations

from dataclasses import dataclass

from archc.lint.framework import Rule, Violation


@dataclass
class UnrolledRepeat(Rule):
    """The same block used several times in a row, written out one use at a time instead of with ``repeat``.

    ## What it does
    Flags a chain of at least `min_uses` consecutive uses of one block (with the same parameters), each
    reading what the previous one gives, written as separate nodes rather than one ``repeat``. The finding
    points at the first use. Uses that share parameters through ``tie`` (an unrolled recurrent step) are
    left alone: a ``repeat`` gives each iteration its own parameters.

    ## Why is this bad?
    The spec no longer says what the model is: a stack of N identical layers. Changing the depth means
    adding or deleting lines by hand, one of them is easily wired differently from the others, and every
    tool that reasons about the stack (depth-scaled init, ``archc show``'s summary, the generated
    ``nn.ModuleList`` loop) sees N unrelated blocks. ``repeat`` states the structure once; it is the
    reuse the hierarchy of a model is built from.

    ## Example
    ```yaml
    nodes:
      l0: {block: layer, in: embed}
      l1: {block: layer}
      l2: {block: layer}
      l3: {block: layer}
    ```

    ## Use instead
    ```yaml
    nodes:
      layers: {block: layer, in: embed, repeat: 4}
    ```

    ## Options
    - `min_uses` (3): the shortest chain of written-out uses that is flagged.

    ## Principle
    Hierarchical reuse: build the model from stages that are declared once and repeated.

    ## Evidence
    Vaswani et al. 2017 (arXiv:1706.03762), section 3.1: "The encoder is composed of a stack of N = 6
    identical layers"; every reference implementation builds it as one module repeated N times (PyTorch's
    ``nn.TransformerEncoder(encoder_layer, num_layers)``,
    https://pytorch.org/docs/stable/generated/torch.nn.TransformerEncoder.html).

    ## References
    - Vaswani et al. 2017, "Attention Is All You Need", NeurIPS, arXiv:1706.03762.
    - PyTorch, "TransformerEncoder", https://pytorch.org/docs/stable/generated/torch.nn.TransformerEncoder.html
    """

    name = "unrolled-repeat"
    principle = "hierarchy"
    severity = "info"

    min_uses: int = 3

    def check(self, ctx):
        # a use whose nodes share parameters (tie) is an unrolled recurrence: repeat would untie it
        uses = [i for i in ctx.ir.scopes.instances.values() if i.repeat is None and i.ports_in and i.ports_out
                and not any(n.tie for n in ctx.members(i.scope))]
        reading = {}
        for inst in uses:
            reading.setdefault((inst.parent, inst.class_key, next(iter(inst.ports_in.values()))[0]), []).append(inst)

        def successor(inst):
            found = reading.get((inst.parent, inst.class_key, next(iter(inst.ports_out.values()))[0]), ())
            return found[0] if len(found) == 1 else None

        has_prev = {id(s) for s in map(successor, uses) if s is not None}
        for head in uses:
            if id(head) in has_prev:
                continue
            chain = [head]
            while (nxt := successor(chain[-1])) is not None:
                chain.append(nxt)
            if len(chain) >= self.min_uses:
                yield Violation(head.scope, head.loc,
                                f"{len(chain)} uses of block '{head.block}' in a row, from '{head.scope}' to "
                                f"'{chain[-1].scope}', written out one by one",
                                f"write them as one node: {{block: {head.block}, repeat: {len(chain)}}}")
