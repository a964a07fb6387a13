"""archc's interpolation resolvers: arithmetic on ``vars`` without Python ``eval``.

``${mul:${vars.d_model},4}``, ``${div:...}`` (exact, refuses a remainder), ``${floordiv:...}``,
``${ceildiv:...}``, ``${add:...}``, ``${sub:...}``, ``${min:...}``, ``${max:...}``,
``${round_up:x,multiple}`` (LLaMA's ``multiple_of``), and ``${expr:'2 * ${vars.d} // 3'}``, a small
arithmetic language parsed with :mod:`ast` and evaluated by walking the tree: numbers, + - * / // % **,
parentheses, and the functions min, max, round, ceil, floor, int. Nothing else is reachable.

OmegaConf's own resolvers read the environment (``oc.env``) or build objects (``oc.create``,
``oc.decode``): a spec may not use them, and :func:`refuse_foreign_resolvers` says so before resolution.
"""

from __future__ import annotations

import ast
import math
import operator
import re

from archc.errors import SpecError

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
            return _BINARY[type(node.op)](left, right)
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            return _UNARY[type(node.op)](walk(node.operand))
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCS
                and not node.keywords):
            return _FUNCS[node.func.id](*[walk(a) for a in node.args])
        raise ValueError(f"'{ast.unparse(node)}' is not allowed in an expression "
                         f"(numbers, + - * / // % **, {', '.join(sorted(_FUNCS))})")

    try:
        return _tidy(walk(tree))
    except ZeroDivisionError:
        raise ValueError("division by zero") from None


def _div(a, b):
    a, b = _number(a), _number(b)
    if b == 0:
        raise ValueError("division by zero")
    if isinstance(a, int) and isinstance(b, int) and a % b:
        raise ValueError(f"{a} is not divisible by {b}; use floordiv or ceildiv")
    return _tidy(a / b)


def _variadic(fn):
    return lambda *xs: _tidy(fn([_number(x) for x in xs]))


def _round_up(x, multiple):
    x, multiple = _number(x), _number(multiple)
    return int(multiple * math.ceil(x / multiple))


RESOLVERS = {
    "mul": _variadic(math.prod),
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

_registered = False


def register() -> None:
    """Register archc's resolvers with OmegaConf once per process."""
    global _registered
    if _registered:
        return
    from omegaconf import OmegaConf

    for name, fn in RESOLVERS.items():
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn)
    _registered = True


_RESOLVER_CALL = re.compile(r"\$\{\s*([A-Za-z_][\w.]*)\s*:")


def refuse_foreign_resolvers(value: str, loc) -> None:
    """Raise if ``value`` calls a resolver that is not archc's (``oc.env`` and friends included)."""
    for match in _RESOLVER_CALL.finditer(value):
        name = match.group(1)
        if name not in RESOLVERS:
            from archc.errors import did_you_mean

            hint = did_you_mean(name, RESOLVERS)
            raise SpecError(f"resolver '{name}' is not allowed in a spec{hint}; archc's resolvers are "
                            f"{', '.join(RESOLVERS)}", loc)
