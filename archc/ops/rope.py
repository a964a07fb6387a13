from archc.ops.base import Attr
from archc.ops.positions import PositionOp


class RoPE(PositionOp):
    """Rotary position tables (Su et al. 2021): cos and sin of t * theta^(-2i/head_dim), shape [T, head_dim].

    Computed once per model as buffers and fed to every ``attention`` node's ``rope`` port, which rotates
    queries and keys (the half-split layout of GPT-NeoX and HF LLaMA).
    """

    name = "rope"
    out_dtype = "rope_tables"  # a (cos, sin) pair of float32 tables, which only attention's rope input takes
    attrs = {"head_dim": Attr(int, min=2, doc="rotated width per head, even"),
             "theta": Attr(float, 10000.0, min=1.0, doc="base wavelength (500000 in LLaMA-3)"),
             "max_len": Attr(int, 4096, min=1, doc="rows of the precomputed table")}
    example = {"attrs": {"head_dim": 4, "max_len": 32}, "inputs": {"x": ["B", "T"]},
               "consumer": {"op": "attention", "port": "rope", "attrs": {"n_heads": 2}, "inputs": {"x": ["B", "T", 8]}}}

    def check(self, n):
        if n["head_dim"] % 2:
            n.fail("head_dim must be even (rotation pairs)", "head_dim")
        self.check_table(n, "head_dim")

    def infer(self, n):
        return [(self.check_len(n, "max_len"), n["head_dim"])]

    def flops(self, n, out):
        return (0.0, 0.0)
