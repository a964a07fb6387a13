"""Shared rule for position ops: they read only the sequence axis (axis 1) of their input."""

from archc.ops.base import PARAM_DTYPE, Op, Port


class PositionOp(Op):
    category = "position"
    inputs = (Port("x", takes="any", doc="anything whose axis 1 is the sequence: the token ids"),)
    out_dtype = PARAM_DTYPE  # tables and parameters of the model

    def seq_len(self, n):
        return n.need_rank(at_least=2, what=", a sequence axis: [B, T, ...]")[1]

    def check_len(self, n, limit_attr):
        t = self.seq_len(n)
        if isinstance(t, int) and t > n[limit_attr]:
            n.fail(f"sequence length {t} exceeds {limit_attr}={n[limit_attr]}", limit_attr)
        return t

    def check_table(self, n, width_attr):
        """A precomputed table of max_len rows must have an int64 element count, as torch's sizes are."""
        n.fits_int64(n["max_len"] * n[width_attr], f"the table's size max_len * {width_attr}", "max_len")
