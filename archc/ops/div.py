from archc.ops.mathops import Binary


class Div(Binary):
    """``x / y`` with broadcasting (ports ``x`` and ``y``, or ``in: [x, y]``), true division as torch's
    ``/``: dividing logits by a temperature, normalising by a sum."""

    name = "div"
    verb = "divide"
