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


def _build(node, path: tuple, file: str, locs: dict, constructor):
    locs.setdefault(path, _loc(file, node))
    if not isinstance(node, yaml.ScalarNode) and node.tag not in _PLAIN_TAGS:
        raise SpecError(f"YAML tag {node.tag!r} refused: a spec is data, tags that build objects are not "
                        "allowed", _loc(file, node))
    if isinstance(node, yaml.MappingNode):
        constructor.flatten_mapping(node)  # YAML merge keys (<<) become plain entries
        out: dict = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise SpecError("a mapping key must be a plain scalar", _loc(file, key_node))
            key = constructor.construct_object(key_node)
            if not isinstance(key, (str, int, bool)) or key is None:
                raise SpecError(f"a mapping key must be a name, not {key!r}", _loc(file, key_node))
            key = str(key) if not isinstance(key, str) else key
            if key in out:
                first = locs[path + (key,)]
                raise SpecError(f"duplicate key '{key}' (first defined at line {first.line})",
                                _loc(file, key_node))
            locs[path + (key,)] = _loc(file, key_node)
            out[key] = _build(value_node, path + (key,), file, locs, constructor)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(v, path + (i,), file, locs, constructor) for i, v in enumerate(node.value)]
    value = constructor.construct_object(node)
    if isinstance(value, (bytes, bytearray)) or type(value).__module__ == "datetime":
        raise SpecError(f"unsupported YAML value {node.value!r}: use a number, a string or a boolean",
                        _loc(file, node))
    return value


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
        loader = _Loader(text)
        try:
            root = loader.get_single_node()
            if root is None:
                raise SpecError("empty spec: expected a YAML mapping", Loc(file, 1, 1))
            if not isinstance(root, yaml.MappingNode):
                kind = "a list" if isinstance(root, yaml.SequenceNode) else "a single value"
                raise SpecError(f"a spec must be a YAML mapping, not {kind}", _loc(file, root))
            locs: dict[tuple, Loc] = {}
            data = _build(root, (), file, locs, loader)
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Loc(file, mark.line + 1, mark.column + 1) if mark else Loc(file)
        problem = exc.problem or exc.context or "malformed YAML"
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


def load_yaml_file(path: str | Path, cited_at: Loc | None = None) -> Located:
    """Read and parse one YAML file; a missing or undecodable file is a :class:`SpecError`."""
    file = str(path)
    try:
        raw = Path(path).read_bytes()
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
