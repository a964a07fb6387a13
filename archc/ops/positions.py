"""Shared rule for position ops: they read only the sequence axis (axis 1) of their input."""

from archc.ops.base import Op


class PositionOp(Op):
    category = "position"

    def seq_len(self, n):
        shape = n.shape()
        if len(shape) < 2:
            n.fail("expects an input with a sequence axis: [B, T, ...]")
        return shape[1]

    def check_len(self, n, limit_attr):
        t = self.seq_len(n)
        if isinstance(t, int) and t > n[limit_attr]:
            n.fail(f"sequence length {t} exceeds {limit_attr}={n[limit_attr]}", limit_attr)
        return t
