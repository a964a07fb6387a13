import re

from archc.ir.dims import broadcast, fmt
from archc.ops.base import Attr, Op, Port
from archc.ops.mathops import same_dtype

# letters per operand, with at most one '...'; then an optional '->' and the output's letters. Nothing else
# (no spaces, digits or quotes), so the equation is data that reaches generated code only as this string.
_TERM = r"[A-Za-z]*(?:\.\.\.)?[A-Za-z]*"
EQUATION = re.compile(rf"({_TERM})((?:,{_TERM})*)(?:->({_TERM}))?")


def parse(equation: str):
    """(operand terms, output term or None), or None when the equation is not strict einsum grammar."""
    match = EQUATION.fullmatch(equation)
    if not match:
        return None
    terms = [match.group(1)] + [t for t in match.group(2).split(",")[1:]]
    return terms, match.group(3)


class Einsum(Op):
    """``torch.einsum(equation, *x)``: contractions between activations named by letters
    (``bhqd,bhkd->bhqk``).

    The equation is checked as strict einsum grammar (letters, commas, one ``->``, ``...`` for broadcast
    batch axes), never run as code. Each operand has one letter per axis (``...`` stands for the rest); a
    letter has one size everywhere it occurs (a number or a size name); the output's letters occur in the
    operands, once each, and ``...`` is in the output when an operand uses it. Without ``->`` the output is
    the letters that occur once, in alphabetical order, after ``...`` (NumPy's rule). FLOPs: the product of
    every letter's size (and of ``...``), times 2 for two operands or more, per token; a contraction over a
    size name (``T``) counts per context position. The operands have one dtype (torch.einsum does not promote).
    """

    name = "einsum"
    inputs = (Port("x", variadic=True, doc="the operands, in the equation's order"),)
    attrs = {"equation": Attr(str, doc="einsum equation, e.g. 'bik,bkj->bij' or '...d,ed->...e'")}
    example = {"attrs": {"equation": "btd,bsd->bts"}, "inputs": {"x": [["B", "T", 6], ["B", 5, 6]]}}

    def _sizes(self, n):
        """(letter -> size, the broadcast '...' axes, output term) after every check."""
        eq = n["equation"]
        parsed = parse(eq)
        if parsed is None:
            n.fail(f"equation '{eq}' is not an einsum equation: letters per operand, separated by commas, at "
                   "most one '...' each, an optional '->' and the output's letters", "equation")
        terms, output = parsed
        shapes = [tuple(s) for s in n.shapes["x"]]
        if len(terms) != len(shapes):
            n.fail(f"equation '{eq}' has {len(terms)} operand(s), but the node has {len(shapes)} input(s)",
                   "equation")
        sizes, ellipsis = {}, ()
        for i, (term, shape) in enumerate(zip(terms, shapes, strict=True)):
            letters = term.replace("...", "")
            if "..." in term:
                if len(shape) < len(letters):
                    n.fail(f"operand {i} '{term}' needs {len(letters)} axes or more, got {fmt(shape)}",
                           "equation")
                head, tail = term.split("...")
                rest = shape[len(head):len(shape) - len(tail)]
                shape = shape[:len(head)] + shape[len(shape) - len(tail):]
                joined = broadcast(ellipsis, rest)
                if joined is None:
                    n.fail(f"the '...' axes {fmt(ellipsis)} and {fmt(rest)} do not broadcast", "equation")
                ellipsis = joined
            elif len(shape) != len(letters):
                n.fail(f"operand {i} '{term}' names {len(letters)} axes, but input {i} is {fmt(shape)}",
                       "equation")
            for letter, size in zip(letters, shape, strict=True):
                if sizes.setdefault(letter, size) != size:
                    n.fail(f"letter '{letter}' is {sizes[letter]} in one place and {size} in another",
                           "equation")
        uses_ellipsis = any("..." in t for t in terms)
        if output is None:
            once = sorted(c for c in sizes if sum(t.count(c) for t in terms) == 1)
            output = ("..." if uses_ellipsis else "") + "".join(once)
        out_letters = output.replace("...", "")
        for c in out_letters:
            if c not in sizes:
                n.fail(f"output letter '{c}' occurs in no operand", "equation")
            if out_letters.count(c) > 1:
                n.fail(f"output letter '{c}' occurs twice", "equation")
        if uses_ellipsis and "..." not in output:
            n.fail("an operand uses '...' but the output does not: write '...' in the output", "equation")
        if "..." in output and not uses_ellipsis:
            n.fail("the output uses '...' but no operand does", "equation")
        return sizes, ellipsis, output

    def infer(self, n):
        sizes, ellipsis, output = self._sizes(n)
        head, _, tail = output.partition("...")
        if "..." not in output:
            return [tuple(sizes[c] for c in output)]
        return [tuple(sizes[c] for c in head) + ellipsis + tuple(sizes[c] for c in tail)]

    def dtypes(self, n):
        return [same_dtype(n, list(n.dtypes["x"]), "einsum")]

    def flops(self, n, out):
        sizes, ellipsis, output = self._sizes(n)
        total = 2.0 if len(n.shapes["x"]) > 1 else 1.0
        for d in list(sizes.values()) + list(ellipsis):
            total *= d if isinstance(d, int) else 1
        contracted = [c for c, d in sizes.items() if not isinstance(d, int) and c not in output]
        return (0.0, total) if contracted else (total, 0.0)
