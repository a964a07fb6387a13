from archc.ops.mathops import Elementwise


class Exp(Elementwise):
    """Elementwise ``e^x``: a learned log-temperature made positive (CLIP's ``logit_scale.exp()``)."""

    name = "exp"
