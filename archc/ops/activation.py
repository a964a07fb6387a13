"""Shared shape for elementwise activations; each activation op is its own module."""

from archc.ops.base import Op


class Activation(Op):
    elementwise = True
    flops_per_element = 1.0

    def flops(self, n, out):
        shape = out[0]
        width = shape[-1] if shape and isinstance(shape[-1], int) else 1
        return (self.flops_per_element * width, 0.0)
