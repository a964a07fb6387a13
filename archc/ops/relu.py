from archc.ops.activation import Activation


class ReLU(Activation):
    """ReLU (Nair and Hinton 2010): max(x, 0)."""

    name = "relu"
    flops_per_element = 1.0
    example = {"attrs": {}, "inputs": {"x": ["B", "T", 4]}}
