from archc.ops.mathops import Elementwise


class Log(Elementwise):
    """Elementwise natural logarithm (``nan`` below 0, ``-inf`` at 0, as torch.log): log-probabilities."""

    name = "log"
