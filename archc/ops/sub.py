from archc.ops.mathops import Binary


class Sub(Binary):
    """``x - y`` with broadcasting (ports ``x`` and ``y``, or ``in: [x, y]``): centring, differences."""

    name = "sub"
    verb = "subtract"
