from archc.ops.activation import Activation
from archc.ops.base import Attr


class GELU(Activation):
    """GELU (Hendrycks and Gimpel 2016); ``approximate: tanh`` is GPT-2's ``gelu_new``."""

    name = "gelu"
    flops_per_element = 8.0
    attrs = {"approximate": Attr(str, "none", choices=("none", "tanh"), doc="exact erf or the tanh form")}
    example = {"attrs": {"approximate": "tanh"}, "inputs": {"x": ["B", "T", 4]}}
