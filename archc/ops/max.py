from archc.ops.reduce import Reduction


class Max(Reduction):
    """Maximum over one axis (``dim``: a number or a size name such as ``T``), the values only (``argmax``
    gives the positions); the gradient goes to the maximal entry, as torch.amax's."""

    name = "max"
