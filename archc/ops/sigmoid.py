from archc.ops.activation import Activation


class Sigmoid(Activation):
    """Sigmoid: 1 / (1 + exp(-x))."""

    name = "sigmoid"
    flops_per_element = 4.0
    example = {"attrs": {}, "inputs": {"x": ["B", "T", 4]}}
