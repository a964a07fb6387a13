"""archc's interpolation resolvers: arithmetic on ``vars`` without Python ``eval``.

``${mul:${vars.d_model},4}``, ``${div:...}`` (exact, refuses a remainder), ``${floordiv:...}``,
``${ceildiv:...}``, ``${add:...}``, ``${sub:...}``, ``${min:...}``, ``${max:...}``,
``${round_up:x,multiple}`` (LLaMA's ``multiple_of``), and ``${expr:'2 * ${vars.d} // 3'}``, a small
arithmetic language parsed with :mod:`ast` and evaluated by walking the tree: numbers, + - * / // % **,
parentheses, and the functions min, max, round, ceil, floor, int. Nothing else is reachable.

:data:`RESOLVERS` is the whole table that :mod:`archc.spec.interpolation` consults: OmegaConf's resolvers,
which read the environment (``oc.env``) or build objects (``oc.create``, ``oc.decode``), are not in it.
"""

from __future__ import annotations

import ast
import math
import operator

_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
           ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos}
_FUNCS = {"min": min, "max": max, "round": round, "ceil": math.ceil, "floor": math.floor, "int": int,
          "abs": abs}


def _number(x):
    if isinstance(x, bool):
        raise ValueError(f"expected a number, got {x!r}")
    if isinstance(x, (int, float)):
        return x
    if isinstance(x, str):
        if len(x) > 100:  # int() of 4,301 digits raises, and float() of it is inf: no number is this long
            raise ValueError(f"expected a number, got {x[:20]!r}... ({len(x):,} characters)")
        try:
            return int(x)
        except ValueError:
            pass
        try:
            return float(x)
        except ValueError:
            raise ValueError(f"expected a number, got {x!r}") from None
    raise ValueError(f"expected a number, got {x!r}")


def _tidy(x):
    """Integral floats become ints, so ``${div:768,12}`` is 64, a valid width."""
    return int(x) if isinstance(x, float) and x.is_integer() and abs(x) < 2**62 else x


# Integers inside an expression stay below 2**4096 (a 1,234-digit number): 10**64 ** 64 or round(1, -10**9)
# (which asks Python for 10**(10**9)) would otherwise take minutes and gigabytes.
_MAX_BITS = 4096


def _bounded(x):
    if isinstance(x, int) and x.bit_length() > _MAX_BITS:
        raise ValueError(f"result above 2**{_MAX_BITS}")
    return x


def _round(x, ndigits=None):
    if ndigits is not None and (isinstance(ndigits, bool) or not isinstance(ndigits, int) or abs(ndigits) > 64):
        raise ValueError(f"round() takes between -64 and 64 digits, got {ndigits!r}")
    return round(x) if ndigits is None else round(x, ndigits)


_FUNCS["round"] = _round


def safe_eval(text: str):
    """Evaluate an arithmetic expression; raises ValueError on anything that is not arithmetic."""
    if len(text) > 500:
        raise ValueError("expression longer than 500 characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ValueError(f"not an arithmetic expression: {exc.msg}") from None

    def walk(node):
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(
                node.value, bool):
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            left, right = walk(node.left), walk(node.right)
            if isinstance(node.op, ast.Pow) and abs(right) > 64:
                raise ValueError("exponent above 64")
            if isinstance(node.op, ast.Pow) and isinstance(left, int) and left.bit_length() * abs(right) > 4096:
                raise ValueError("result above 2**4096")  # (10**64)**64**... would take all memory
            return _bounded(_BINARY[type(node.op)](left, right))
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            return _UNARY[type(node.op)](walk(node.operand))
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCS
                and not node.keywords):
            return _bounded(_FUNCS[node.func.id](*[walk(a) for a in node.args]))
        raise ValueError(f"'{ast.unparse(node)}' is not allowed in an expression "
                         f"(numbers, + - * / // % **, {', '.join(sorted(_FUNCS))})")

    try:
        return _tidy(walk(tree))
    except ZeroDivisionError:
        raise ValueError("division by zero") from None
    except OverflowError:  # 10.0 ** 400, int(1e308 * 10)
        raise ValueError("result out of range") from None


def _div(a, b):
    a, b = _number(a), _number(b)
    if b == 0:
        raise ValueError("division by zero")
    if isinstance(a, int) and isinstance(b, int) and a % b:
        raise ValueError(f"{a} is not divisible by {b}; use floordiv or ceildiv")
    return _tidy(a / b)


def _variadic(fn):
    return lambda *xs: _tidy(fn([_number(x) for x in xs]))


def _product(*xs):
    """``mul``: bounded at every step, so 100,000 factors of 2**62 stop at once instead of after minutes."""
    out = 1
    for x in xs:
        out = _bounded(out * _number(x))
    return _tidy(out)


def _round_up(x, multiple):
    x, multiple = _number(x), _number(multiple)
    return int(multiple * math.ceil(x / multiple))


RESOLVERS = {
    "mul": _product,
    "add": _variadic(sum),
    "sub": lambda a, b: _tidy(_number(a) - _number(b)),
    "div": _div,
    "floordiv": lambda a, b: _tidy(_number(a) // _number(b)),
    "ceildiv": lambda a, b: -(-_number(a) // _number(b)),
    "min": _variadic(min),
    "max": _variadic(max),
    "round_up": _round_up,
    "expr": lambda text: safe_eval(str(text)),
}

# Every integer archc keeps fits in 64 bits: torch sizes, counts and seeds are int64, and an int of 4,300 digits
# or more cannot even be printed (Python's int-to-string limit). Larger results are refused where they appear.
INT_LIMIT = 2**63


def check_number(value) -> str | None:
    """Why ``value`` cannot be a number in a spec, or None: integers must be below 2**63 in magnitude."""
    if isinstance(value, int) and not isinstance(value, bool) and not -INT_LIMIT < value < INT_LIMIT:
        digits = int(value.bit_length() * 0.30103) + 1
        return f"an integer of about {digits:,} digits is out of range: numbers in a spec are below 2**63"
    return None
