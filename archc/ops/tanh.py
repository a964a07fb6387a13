from archc.ops.activation import Activation


class Tanh(Activation):
    """Tanh: the hyperbolic tangent, output in (-1, 1)."""

    name = "tanh"
    flops_per_element = 4.0
    example = {"attrs": {}, "inputs": {"x": ["B", "T", 4]}}
