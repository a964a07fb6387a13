from archc.ops.reduce import Reduction


class Sum(Reduction):
    """Sum over one axis (``dim``: a number or a size name such as ``T``): pooling, totals of a loss."""

    name = "sum"
