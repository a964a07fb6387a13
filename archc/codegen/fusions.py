"""Peephole fusions applied while lowering: patterns in the IR that print as one fused call.

Each entry is data: the producer op, the consumer op, and the template in ``templates/fused/`` that
prints the pair. A pair fuses only when the producer's output feeds nothing but that one consumer (so no
other code needs the intermediate) and the consumer's operands have equal shapes (no broadcasting to
undo in the backward). The generated code says so in a comment; the state dict is unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

from archc.ir.graph import IR, Node


@dataclass(frozen=True)
class Fusion:
    producer: str
    consumer: str
    template: str
    why: str


FUSIONS = (
    # SwiGLU's silu(gate) * up: the backward recomputes silu from gate instead of keeping silu(gate),
    # one d_ff-wide activation per token fewer (Liger-Kernel's SwiGLU: same speed, lower peak memory)
    Fusion("silu", "mul", "silu_mul", "silu(gate) * up without storing silu(gate) for backward"),
)


def find_fusions(ir: IR) -> dict[str, tuple[Fusion, Node]]:
    """consumer key -> (fusion, producer node) for every pair that may fuse."""
    exported = {tuple(ref)[0] for ref in ir.info["outputs"].values()}
    for table in (ir.scopes.instances, ir.scopes.repeats):
        for entry in table.values():
            exported.update(ref[0] for ref in entry.ports_out.values())
    found = {}
    for node in ir.nodes():
        for fusion in FUSIONS:
            if node.op != fusion.consumer or len(node.inputs) != 2:
                continue
            shapes = [ir.shape_of(src, port) for _, src, port in node.inputs]
            if shapes[0] != shapes[1]:
                continue
            for _, src, _ in node.inputs:
                producer = ir.node(src)
                if (producer.op == fusion.producer and src not in exported and producer.parent == node.parent
                        and list(ir.graph.successors(src)) == [node.key]
                        and sum(s == src for _, s, _ in node.inputs) == 1):
                    found[node.key] = (fusion, producer)
                    break
    return found
