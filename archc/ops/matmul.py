from archc.ir.dims import broadcast, fmt
from archc.ops.base import Op, Port
from archc.ops.mathops import same_dtype


class Matmul(Op):
    """``x @ y`` between two activations (attention scores ``q @ k^T``, ``scores @ v``, CLIP's similarity).

    Both inputs have two axes or more: ``x [..., n, k] @ y [..., k, m] -> [..., n, m]``, the leading
    (batch) axes broadcast as in torch; the inner sizes ``k`` must be the same number or the same size name,
    and both inputs one dtype (torch.matmul does not promote).
    FLOPs: ``2 k`` per output element of a token; an output with a size name twice (``[B, H, T, T]``) or a
    contraction over a size name (``T``) is counted per context position, as attention's.
    """

    name = "matmul"
    inputs = (Port("x", doc="left operand, [..., n, k]"), Port("y", doc="right operand, [..., k, m]"))
    example = {"attrs": {}, "inputs": {"x": ["B", "T", 4, 6], "y": ["B", "T", 6, 3]}}

    def infer(self, n):
        x = tuple(n.need_rank("x", at_least=2, what=" ([..., n, k])"))
        y = tuple(n.need_rank("y", at_least=2, what=" ([..., k, m])"))
        if x[-1] != y[-2]:
            n.fail(f"cannot multiply {fmt(x)} by {fmt(y)}: the inner sizes {x[-1]} and {y[-2]} differ")
        batch = broadcast(x[:-2], y[:-2])
        if batch is None:
            n.fail(f"the batch axes of {fmt(x)} and {fmt(y)} do not broadcast")
        return [batch + (x[-2], y[-1])]

    def dtypes(self, n):
        return [same_dtype(n, [n.dtypes["x"], n.dtypes["y"]], "matmul")]

    def flops(self, n, out):
        k = n.shape("x")[-1]
        known = [d for d in out[0] if isinstance(d, int)]
        total = 2.0 * (k if isinstance(k, int) else 1)
        for d in known:
            total *= d
        symbols = [d for d in out[0] if not isinstance(d, int)]
        per_ctx = not isinstance(k, int) or len(set(symbols)) < len(symbols)
        return (0.0, total) if per_ctx else (total, 0.0)
