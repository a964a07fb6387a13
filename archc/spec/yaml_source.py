"""YAML to plain Python data, remembering where every key and value came from.

PyYAML's composer gives each node a start mark; we build the Python objects ourselves so that every
path (a tuple of keys and list indices) maps to a :class:`~archc.errors.Loc`, duplicate keys are refused
(PyYAML silently keeps the last), and only plain data comes out: the safe constructor refuses any tag that
would build a Python object.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from archc.errors import Loc, SpecError

try:  # the C loader composes about 5x faster; fall back where libyaml is missing
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover
    from yaml import SafeLoader as _Loader

_PLAIN_TAGS = {"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"}
_SCALAR_TAGS = {f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null")}
_UNSUPPORTED_TAGS = {"tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:binary"}
_MERGE_TAG = "tag:yaml.org,2002:merge"
_VALUE_TAG = "tag:yaml.org,2002:value"  # a plain '=' (YAML 1.1's "default value" key): just a string

# Limits that keep hostile input from exhausting the stack or memory. The catalog's specs nest 7 levels deep
# and hold about 300 values; libyaml's composer recurses in C and crashes the process near 100,000 levels,
# and a chain of aliases (the "billion laughs") expands exponentially, so both are bounded before building.
MAX_DEPTH = 64
# A node written inline holds about 3 values ({op: relu} is a key, a mapping and a scalar), so 400,000 values
# hold a flat scope of 100,000 nodes (MAX_NODES) while an alias bomb still stops within a few hundred MB.
MAX_VALUES = 400_000
# The catalog's specs are under 4 KB and a 40,000-node spec written out is about 1 MB. The cap is checked on the
# bytes before anything is parsed, and only MAX_BYTES + 1 bytes are ever read (/dev/zero is endless).
MAX_BYTES = 4 * 1024 * 1024


class Located:
    """Plain data from one YAML file plus the location of every path in it."""

    def __init__(self, data: dict, locs: dict[tuple, Loc], file: str, package: str | None):
        self.data = data
        self.locs = locs
        self.file = file
        self.package = package  # from a '# @package x' header line, as in Hydra


def _loc(file: str, node) -> Loc:
    mark = node.start_mark
    return Loc(file, mark.line + 1, mark.column + 1)


class _Budget:
    """What one file may still build: values left, and the collections being built (to catch alias cycles)."""

    def __init__(self):
        self.values = MAX_VALUES
        self.open: set[int] = set()


def _build(node, path: tuple, file: str, locs: dict, constructor, budget: _Budget):
    locs.setdefault(path, _loc(file, node))
    budget.values -= 1
    if budget.values < 0:  # reported at the top-level key being built: an aliased node's mark is elsewhere
        raise SpecError(f"too many values (over {MAX_VALUES:,}): YAML aliases expand to more than a spec holds",
                        locs.get(path[:1], _loc(file, node)))
    if len(path) > MAX_DEPTH:
        raise SpecError(f"nested deeper than {MAX_DEPTH} levels", _loc(file, node))
    if isinstance(node, yaml.ScalarNode):
        return _scalar(node, file, constructor)
    if node.tag not in _PLAIN_TAGS:
        raise SpecError(f"YAML tag {node.tag!r} refused: a spec is data, tags that build objects are not "
                        "allowed", _loc(file, node))
    if id(node) in budget.open:
        raise SpecError("a YAML alias refers to a collection that contains it", _loc(file, node))
    budget.open.add(id(node))
    try:
        return _collection(node, path, file, locs, constructor, budget)
    finally:
        budget.open.discard(id(node))


def _collection(node, path: tuple, file: str, locs: dict, constructor, budget: _Budget):
    if isinstance(node, yaml.MappingNode):
        own = sum(1 for key_node, _ in node.value if key_node.tag != _MERGE_TAG)
        constructor.flatten_mapping(node)  # YAML merge keys (<<) become plain entries, placed first
        n_merged = len(node.value) - own
        out: dict = {}
        merged: set = set()  # keys taken from a merge: a later merge or the mapping's own key replaces them
        for i, (key_node, value_node) in enumerate(node.value):
            if not isinstance(key_node, yaml.ScalarNode):
                raise SpecError("a mapping key must be a plain scalar", _loc(file, key_node))
            key = _scalar(key_node, file, constructor)
            if not isinstance(key, (str, int, bool)) or key is None:
                raise SpecError(f"a mapping key must be a name, not {key!r}", _loc(file, key_node))
            key = str(key) if not isinstance(key, str) else key
            if key in out and key not in merged:
                first = locs[path + (key,)]
                raise SpecError(f"duplicate key '{key}' (first defined at line {first.line})",
                                _loc(file, key_node))
            if key in out:
                forget_below(locs, path + (key,), out[key])
            (merged.add if i < n_merged else merged.discard)(key)
            locs[path + (key,)] = _loc(file, key_node)
            out[key] = _build(value_node, path + (key,), file, locs, constructor, budget)
        return out
    return [_build(v, path + (i,), file, locs, constructor, budget) for i, v in enumerate(node.value)]


def forget_below(table: dict, path: tuple, old) -> None:
    """Drop the entries of ``table`` (locations or origins, keyed by path) recorded under ``path``, whose value
    ``old`` is being replaced. Walks ``old`` rather than every recorded path: scanning all of them for each of
    20,000 merges or overrides ran for minutes."""
    stack = [(path, old)]
    while stack:
        p, value = stack.pop()
        items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        for k, v in items:
            table.pop(p + (k,), None)
            stack.append((p + (k,), v))


def _scalar(node, file: str, constructor):
    """A plain scalar: str, int, float, bool or None. Dates, binary and Python tags are refused."""
    if node.tag in _UNSUPPORTED_TAGS:
        raise SpecError(f"unsupported YAML value {_short(node.value)}: use a number, a string or a boolean",
                        _loc(file, node))
    if node.tag == _VALUE_TAG:
        return node.value
    if node.tag not in _SCALAR_TAGS:
        raise SpecError(f"YAML tag {node.tag!r} refused: a spec is data, tags that build objects are not "
                        "allowed", _loc(file, node))
    try:
        return constructor.construct_object(node)
    except (ValueError, KeyError, IndexError):  # '!!int abc', '!!bool maybe', an empty '!!int', 5,000 digits
        kind = node.tag.rsplit(":", 1)[-1]
        problem = "is too long for a number" if len(node.value) > 1000 else f"is not a valid {kind}"
        raise SpecError(f"{_short(node.value)} {problem}", _loc(file, node)) from None


def _short(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:37] + "...")


def _check_depth(text: str, file: str) -> None:
    """Refuse nesting beyond MAX_DEPTH from libyaml's event stream (iterative) before composing (recursive)."""
    depth = 0
    events = 0
    for event in yaml.parse(text, Loader=_Loader):
        events += 1
        if events > 2 * MAX_VALUES + 8:  # one event per scalar, two per collection: stop before composing
            raise SpecError(f"too many values (over {MAX_VALUES:,}): a spec holds far fewer", _loc(file, event))
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                raise SpecError(f"nested deeper than {MAX_DEPTH} levels", _loc(file, event))
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1


def _package_header(text: str) -> str | None:
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        if not stripped.startswith("#"):
            return None
        body = stripped.lstrip("#").strip()
        if body.startswith("@package"):
            return body[len("@package"):].strip()
    return None


def parse_yaml_text(text: str, file: str) -> Located:
    """Parse YAML text into a :class:`Located`; every failure is a one-line :class:`SpecError`."""
    if "\x00" in text:
        raise SpecError("not a YAML file (binary content)", Loc(file, 1, 1))
    try:
        _check_depth(text, file)
        loader = _Loader(text)
        try:
            root = loader.get_single_node()
            if root is None:
                raise SpecError("empty spec: expected a YAML mapping", Loc(file, 1, 1))
            if not isinstance(root, yaml.MappingNode):
                kind = "a list" if isinstance(root, yaml.SequenceNode) else "a single value"
                raise SpecError(f"a spec must be a YAML mapping, not {kind}", _loc(file, root))
            locs: dict[tuple, Loc] = {}
            data = _build(root, (), file, locs, loader, _Budget())
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Loc(file, mark.line + 1, mark.column + 1) if mark else Loc(file)
        problem = exc.problem or exc.context or "malformed YAML"
        if "nesting depth" in str(problem):  # newer libyaml (PyYAML >= 6.0.3) has its own limit, met first
            raise SpecError(f"nested deeper than {MAX_DEPTH} levels", where) from None
        if isinstance(exc, yaml.constructor.ConstructorError) and "tag" in str(problem):
            problem = f"{problem}: a spec is data, YAML tags that build objects are refused"
        raise SpecError(f"malformed YAML: {problem}", where) from None
    except yaml.YAMLError as exc:  # reader errors: control characters and the like
        mark = getattr(exc, "problem_mark", None)
        pos = getattr(exc, "position", None)
        where = Loc(file, mark.line + 1, mark.column + 1) if mark else Loc(file)
        reason = getattr(exc, "reason", None) or str(exc).splitlines()[0]
        if pos is not None and not mark:
            line = text.count("\n", 0, pos) + 1
            where = Loc(file, line, pos - (text.rfind("\n", 0, pos) + 1) + 1)
        raise SpecError(f"malformed YAML: {reason}", where) from None
    return Located(data, locs, file, _package_header(text))


def _read_capped(path: Path, file: str, cited_at: Loc | None) -> bytes:
    """The file's bytes, refused when it is not a regular file (a FIFO would block, /dev/zero never ends) or
    holds more than MAX_BYTES; at most MAX_BYTES + 1 bytes are read whatever the file claims."""
    import os
    import stat

    where = cited_at or Loc(file, 1, 1)
    if path.is_dir():
        raise IsADirectoryError(file)
    if not stat.S_ISREG(os.stat(path).st_mode):  # stat, not open: opening a FIFO blocks until a writer comes
        raise SpecError(f"not a regular file: {file} (a spec is a YAML file)", where)
    with open(path, "rb") as f:
        raw = f.read(MAX_BYTES + 1)
    if len(raw) > MAX_BYTES:
        raise SpecError(f"spec file larger than {MAX_BYTES // 2**20} MiB: {file}", where)
    return raw


def load_yaml_file(path: str | Path, cited_at: Loc | None = None) -> Located:
    """Read and parse one YAML file; a missing or undecodable file is a :class:`SpecError`."""
    file = str(path)
    try:
        raw = _read_capped(Path(path), file, cited_at)
    except FileNotFoundError:
        raise SpecError(f"no such file: {file}", cited_at or Loc(file, 1, 1)) from None
    except IsADirectoryError:
        raise SpecError(f"is a directory, not a spec file: {file}", cited_at or Loc(file, 1, 1)) from None
    except OSError as exc:
        raise SpecError(f"cannot read {file}: {exc.strerror}", cited_at or Loc(file, 1, 1)) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise SpecError(f"not UTF-8 text (byte 0x{raw[exc.start]:02x})", Loc(file, line, col)) from None
    return parse_yaml_text(text.lstrip("\ufeff"), file)
