from archc.ops.reduce import Reduction


class Mean(Reduction):
    """Mean over one axis (``dim``: a number or a size name such as ``T``): mean pooling over tokens."""

    name = "mean"
