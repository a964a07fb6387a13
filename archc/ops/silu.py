from archc.ops.activation import Activation


class SiLU(Activation):
    """SiLU: x * sigmoid(x), also called swish."""

    name = "silu"
    flops_per_element = 4.0
    example = {"attrs": {}, "inputs": {"x": ["B", "T", 4]}}
