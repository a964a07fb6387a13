from archc.ops.mathops import Elementwise


class Sqrt(Elementwise):
    """Elementwise square root (``nan`` below 0, as torch.sqrt): RMS statistics, distance scales."""

    name = "sqrt"
