"""archc's own interpolation engine: ``${vars.d_model}``, ``${mul:${vars.d},4}``, ``${.sibling}``.

The syntax is OmegaConf's (what Hydra users write), the evaluation is archc's, so that it is safe and bounded
by construction rather than by inspecting text:

* **Only archc's resolvers exist.** A resolver name is looked up in :data:`archc.spec.resolvers.RESOLVERS`,
  a plain dict, after the name is assembled (``${oc.${vars.e}:X}``, ``${${vars.r}:X}``); nothing registered
  with OmegaConf, ``oc.env`` included, is reachable, whatever the text.
* **A resolved value is never resolved again.** Evaluation produces values, not text to parse: a var that
  resolves to the characters ``${oc.env:X}`` stays those characters, and values a caller already resolved
  are passed in wrapped in :class:`Resolved` and taken as they are.
* **Bounded.** Every node is resolved once (memoized), so references cost what they produce, not what a
  chain of them would recompute; what resolution produces is capped (:data:`MAX_UNITS`), and interpolations
  nest at most :data:`MAX_NESTING` deep (syntax and chains of references alike), with no Python recursion
  beyond that.

Errors are :class:`Failure` (a message and the path of the value that failed); :mod:`archc.spec.resolve`
turns them into one-line spec errors.
"""

from __future__ import annotations

import functools
import re

# OmegaConf needed 0.7 s for a chain of 50 references and overflowed Python's stack at 100; real specs chain
# 2 or 3 and nest resolvers 2 deep. 64 leaves every real spec far inside and keeps the stack below ~400 frames.
MAX_NESTING = 64
# Values and characters that resolution may create. The catalog's specs create about 400; a 50,000-element
# list referenced by 200 vars (10 million) or strings doubled 40 times (10**12 characters) are refused instead
# of taking minutes and gigabytes. At about a microsecond a unit, the cap is a second of work.
MAX_UNITS = 1_000_000
# Mappings nest MAX_DEPTH (64) deep in a YAML file and interpolations MAX_NESTING deep, so evaluation may be
# about 128 levels deep plus chains of references; each level is at most 5 Python frames, and resolve.py lets
# the stack reach 4,000 frames while resolving (3.11's Python-to-Python calls do not use the C stack).
MAX_LEVELS = 3 * MAX_NESTING
MISSING = "???"


class Failure(Exception):
    """A value that cannot be resolved; ``path`` is where (a tuple of keys), ``raw`` the text that failed."""

    def __init__(self, message, path: tuple, raw=None, kind: str = "error"):
        super().__init__(message)
        self.message, self.path, self.raw, self.kind = message, path, raw, kind


class Resolved:
    """A value that was already resolved: taken as it is, its strings never parsed again."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


# -- syntax -------------------------------------------------------------------------------------------------
# A parsed string is a list of parts: str (literal text) or an interpolation, ('ref', parts) for ${key} or
# ('call', name_parts, args) for ${name:args}. An argument is ('quoted', parts), ('plain', parts),
# ('list', [args]) or ('dict', [(key_parts, arg)]).


class _Syntax(Exception):
    pass


_NUMBER_INT = re.compile(r"[+-]?\d+(?:_\d+)*")
_NUMBER_FLOAT = re.compile(r"[+-]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?|[+-]?(?:inf|nan)", re.IGNORECASE)


_TOP_SPECIAL = re.compile(r"[\\$]")
_SPECIALS: dict = {}


def _special(chars: str):
    """A pattern for the next character in ``chars`` or the next '$' (the start of '${')."""
    pattern = _SPECIALS.get(chars)
    if pattern is None:
        pattern = _SPECIALS[chars] = re.compile("[" + re.escape(chars + "$") + "]")
    return pattern


class _Parser:
    """Recursive descent over one string; nesting is counted and refused past MAX_NESTING."""

    def __init__(self, text: str):
        self.s = text
        self.i = 0
        self.depth = 0

    def fail(self, what: str):
        raise _Syntax(f"{what} at character {self.i + 1}")

    def top(self) -> list:
        parts, buf, s = [], [], self.s
        while self.i < len(s):
            c = s[self.i]
            if c == "\\":
                j = self.i
                while j < len(s) and s[j] == "\\":
                    j += 1
                run = j - self.i
                if s.startswith("${", j):  # 2k backslashes: k of them, then an interpolation; 2k+1: a literal ${
                    buf.append("\\" * (run // 2))
                    self.i = j
                    if run % 2:
                        buf.append("${")
                        self.i += 2
                    continue
                buf.append(s[self.i:j])
                self.i = j
            elif s.startswith("${", self.i):
                if buf:
                    parts.append("".join(buf))
                    buf = []
                parts.append(self.interpolation())
            else:
                found = _TOP_SPECIAL.search(s, self.i + 1)
                j = found.start() if found else len(s)
                buf.append(s[self.i:j])
                self.i = j
        if buf:
            parts.append("".join(buf))
        return parts

    def skip_space(self):
        while self.i < len(self.s) and self.s[self.i] in " \t":
            self.i += 1

    def interpolation(self):
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise _Syntax(f"interpolations nested more than {MAX_NESTING} deep")
        self.i += 2
        self.skip_space()
        head = self.pieces(stop=":} \t", forbid="'\"{},\\")  # [0] indexes a list
        self.skip_space()
        if self.i >= len(self.s):
            self.fail("unterminated '${'")
        if self.s[self.i] not in ":}":
            self.fail(f"unexpected {self.s[self.i]!r}")
        if not head:
            self.fail("an empty key or resolver name")
        if self.s[self.i] == "}":
            self.i += 1
            self.depth -= 1
            return ("ref", head)
        self.i += 1  # ':'
        args = []
        self.skip_space()
        if self.i < len(self.s) and self.s[self.i] == "}":
            self.i += 1
        else:
            while True:
                args.append(self.element(",}"))
                if self.i >= len(self.s):
                    self.fail("unterminated '${'")
                c = self.s[self.i]
                self.i += 1
                if c == "}":
                    break
        self.depth -= 1
        return ("call", head, args)

    def pieces(self, stop: str, forbid: str = "") -> list:
        """Text and interpolations up to (not including) a character in ``stop``."""
        parts, start, s = [], self.i, self.s
        special = _special(stop + forbid)
        while self.i < len(s):
            found = special.search(s, self.i)  # jump over plain text: a spec string may be megabytes
            if found is None:
                self.i = len(s)
                break
            self.i = found.start()
            if s[self.i] in stop:
                break
            if s.startswith("${", self.i):
                if self.i > start:
                    parts.append(s[start:self.i])
                parts.append(self.interpolation())
                start = self.i
            elif s[self.i] in forbid:
                self.fail(f"unexpected {s[self.i]!r}")
            else:  # a '$' not followed by '{'
                self.i += 1
        if self.i > start:
            parts.append(s[start:self.i])
        return parts

    def element(self, stop: str):
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise _Syntax(f"interpolations nested more than {MAX_NESTING} deep")
        self.skip_space()
        if self.i >= len(self.s):
            self.fail("unterminated '${'")
        c = self.s[self.i]
        if c in "'\"":
            out = self.quoted(c)
            self.skip_space()
        elif c == "[":
            self.i += 1
            items = []
            self.skip_space()
            if self.i < len(self.s) and self.s[self.i] == "]":
                self.i += 1
            else:
                while True:
                    items.append(self.element(",]"))
                    if self.i >= len(self.s):
                        self.fail("unterminated '['")
                    self.i += 1
                    if self.s[self.i - 1] == "]":
                        break
            out = ("list", items)
            self.skip_space()
        elif c == "{":
            self.i += 1
            pairs = []
            self.skip_space()
            if self.i < len(self.s) and self.s[self.i] == "}":
                self.i += 1
            else:
                while True:
                    self.skip_space()
                    key = self.pieces(stop=":,}", forbid="'\"[]{")
                    if self.i >= len(self.s) or self.s[self.i] != ":":
                        self.fail("expected ':' in a mapping")
                    self.i += 1
                    pairs.append((key, self.element(",}")))
                    if self.i >= len(self.s):
                        self.fail("unterminated '{'")
                    self.i += 1
                    if self.s[self.i - 1] == "}":
                        break
            out = ("dict", pairs)
            self.skip_space()
        else:
            parts = self.pieces(stop=stop, forbid="'\"[]{")
            if not parts:
                self.fail("an empty argument")
            out = ("plain", parts)
        if self.i >= len(self.s) or self.s[self.i] not in stop:
            self.fail("expected " + " or ".join(repr(c) for c in stop))
        self.depth -= 1
        return out

    def quoted(self, quote: str):
        self.i += 1
        parts, buf, s = [], [], self.s
        while True:
            if self.i >= len(s):
                self.fail("unterminated quoted string")
            c = s[self.i]
            if c == quote:
                self.i += 1
                break
            if c == "\\" and self.i + 1 < len(s) and s[self.i + 1] in (quote, "\\"):
                buf.append(s[self.i + 1])
                self.i += 2
            elif c == "\\" and s.startswith("${", self.i + 1):
                buf.append("${")
                self.i += 3
            elif s.startswith("${", self.i):
                if buf:
                    parts.append("".join(buf))
                    buf = []
                parts.append(self.interpolation())
            else:
                found = _special(quote + "\\").search(s, self.i + 1)
                j = found.start() if found else len(s)
                buf.append(s[self.i:j])
                self.i = j
        if buf:
            parts.append("".join(buf))
        return ("quoted", parts)


@functools.lru_cache(maxsize=4096)
def parse(text: str) -> list:
    """The parts of ``text`` (see above); cached, since check_strings and every distinct use of a block parse
    the same strings again. The result is shared: never modify it."""
    return _Parser(text).top()


def _primitive(text: str):
    """An unquoted argument as OmegaConf types it: int, float, bool, null, else the (trimmed) string."""
    t = text.strip()
    if _NUMBER_INT.fullmatch(t):
        if len(t) > 40:
            raise ValueError(f"number {t[:20]}... is too long")
        return int(t.replace("_", ""))
    if _NUMBER_FLOAT.fullmatch(t):
        return float(t)
    low = t.lower()
    if low in ("true", "false"):
        return low == "true"
    if low == "null":
        return None
    return t


# -- evaluation ---------------------------------------------------------------------------------------------


class Resolver:
    """Resolves one tree. ``functions`` is the only resolver table consulted."""

    def __init__(self, tree, functions: dict):
        self.tree = tree
        self.functions = functions
        self.memo: dict = {}
        self.active: list = []  # paths being resolved, innermost last (a cycle, and the chain's depth)
        self.units = 0
        self.level = 0  # nodes and interpolations being evaluated: each is a few Python frames

    def enter(self, path: tuple, raw):
        self.level += 1
        if self.level > MAX_LEVELS:
            raise Failure(f"interpolations nested more than {MAX_NESTING} deep (resolvers inside resolvers, or "
                          "values that refer to values that refer to ...)", path, raw, kind="limit")

    def spend(self, n: int, path: tuple):
        self.units += n
        if self.units > MAX_UNITS:
            raise Failure(f"interpolations create more than {MAX_UNITS:,} values and characters; a spec holds far "
                          "fewer (is a large list or string referenced many times?)", path, kind="limit")

    def resolve(self) -> object:
        return self.node(())

    def node(self, path: tuple):
        """The resolved value at ``path`` (resolved once, then remembered)."""
        if path in self.memo:
            return self.memo[path]
        if path in self.active:
            raw = _at(self.tree, path)
            raise Failure("the interpolation refers to itself", path, raw)
        raw = _at(self.tree, path)
        self.enter(path, raw)
        self.active.append(path)
        try:
            value = self.evaluate(raw, path)
        finally:
            self.active.pop()
            self.level -= 1
        self.memo[path] = value
        return value

    def evaluate(self, raw, path: tuple):
        if isinstance(raw, Resolved):
            return raw.value
        if isinstance(raw, dict):
            self.spend(len(raw), path)
            return {k: self.node(path + (k,)) for k in raw}
        if isinstance(raw, list):
            self.spend(len(raw), path)
            return [self.node(path + (i,)) for i in range(len(raw))]
        if isinstance(raw, str):
            if raw == MISSING:
                raise Failure("missing value", path, raw, kind="missing")
            if "${" in raw:
                self.spend(len(raw), path)  # parsing is paid for, by the character
                try:
                    parts = parse(raw)
                except _Syntax as exc:
                    raise Failure(f"bad interpolation syntax: {exc}", path, raw) from None
                return self.concat(parts, path, raw)
        return raw

    def concat(self, parts: list, path: tuple, raw: str):
        """A whole-string interpolation keeps its value's type; anything else is text."""
        if len(parts) == 1 and not isinstance(parts[0], str):
            return self.interpolation(parts[0], path, raw)
        if all(isinstance(p, str) for p in parts):  # a key written out: nothing new is made
            return "".join(parts)
        pieces = [p if isinstance(p, str) else _text(self.interpolation(p, path, raw)) for p in parts]
        text = "".join(pieces)
        self.spend(len(text), path)
        if "${" in text and not any("${" in p for p in pieces):
            # "$" joined to "{oc.env:X}": archc resolves a value once, so this would silently stay text; whoever
            # wrote it meant an interpolation that archc will not assemble from pieces
            raise Failure("the pieces join into an interpolation ('${...'), which is never resolved a second "
                          "time: write the interpolation itself, or '\\${' for a literal '${'", path, raw)
        return text

    def interpolation(self, item, path: tuple, raw: str):
        self.enter(path, raw)
        try:
            return self.interpolate(item, path, raw)
        finally:
            self.level -= 1

    def interpolate(self, item, path: tuple, raw: str):
        if item[0] == "ref":
            key = self.concat(item[1], path, raw)
            if not isinstance(key, str):
                key = _text(key)
            return self.copy(self.node(self.target(key, path, raw)), path)
        name = self.concat(item[1], path, raw)
        fn = self.functions.get(name) if isinstance(name, str) else None
        if fn is None:
            raise Failure(name, path, raw, kind="resolver")  # the message is the name: resolve.py words it
        args = [self.argument(a, path, raw) for a in item[2]]
        try:
            return fn(*args)
        except (ValueError, TypeError, ArithmeticError, RecursionError) as exc:
            raise Failure(str(exc) or type(exc).__name__, path, raw) from None

    def argument(self, arg, path: tuple, raw: str):
        kind = arg[0]
        if kind == "quoted":
            return "".join(p if isinstance(p, str) else _text(self.interpolation(p, path, raw)) for p in arg[1])
        if kind == "list":
            return [self.argument(a, path, raw) for a in arg[1]]
        if kind == "dict":
            return {_text(self.concat(k, path, raw)).strip(): self.argument(v, path, raw) for k, v in arg[1]}
        parts = arg[1]
        stripped = [p for p in parts if not (isinstance(p, str) and not p.strip())]
        if len(stripped) == 1 and not isinstance(stripped[0], str):
            return self.interpolation(stripped[0], path, raw)
        if all(isinstance(p, str) for p in parts):
            try:
                return _primitive("".join(parts))
            except ValueError as exc:
                raise Failure(str(exc), path, raw) from None
        return "".join(p if isinstance(p, str) else _text(self.interpolation(p, path, raw)) for p in parts).strip()

    def target(self, key: str, path: tuple, raw: str) -> tuple:
        """The path ``key`` names, seen from the value at ``path``: absolute, or relative with leading dots."""
        dots = len(key) - len(key.lstrip("."))
        rest = key[dots:]
        if dots:
            base = path[:-dots] if dots <= len(path) else None
            if base is None:
                raise Failure(f"interpolation key '{key}' not found", path, raw, kind="key")
        else:
            base = ()
        steps = list(base)
        node = _at(self.tree, base)
        for segment in re.split(r"\.|\[(\d+)\]", rest) if rest else []:
            if segment is None or segment == "":
                continue
            if isinstance(node, Resolved):
                node = node.value
            if isinstance(node, dict) and segment in node:
                step = segment
            elif isinstance(node, list) and segment.isdigit() and int(segment) < len(node):
                step = int(segment)
            else:
                raise Failure(f"interpolation key '{key}' not found", path, raw, kind="key")
            steps.append(step)
            node = node[step]
        return tuple(steps)

    def copy(self, value, path: tuple):
        """A container a reference reads is copied, and paid for: 200 references to a list are 200 lists."""
        if not isinstance(value, (dict, list)):
            return value
        stack, count = [value], 0
        while stack:
            item = stack.pop()
            count += len(item)
            stack.extend(v for v in (item.values() if isinstance(item, dict) else item) if isinstance(v, (dict, list)))
        self.spend(count, path)
        import copy

        return copy.deepcopy(value)


def _at(tree, path: tuple):
    """The raw value at ``path``; inside a :class:`Resolved` value, wrapped again so it is taken as it is."""
    done = False
    for step in path:
        if isinstance(tree, Resolved):
            tree, done = tree.value, True
        tree = tree[step]
    return Resolved(tree) if done and not isinstance(tree, Resolved) else tree


def _text(value) -> str:
    """A value inside a string, as OmegaConf writes it (True, None, 0.1)."""
    return value if isinstance(value, str) else str(value)
