"""The IR as JSON data, and back, without loss.

``to_json(ir)`` gives a dict of plain JSON data (dicts with string keys, lists, strings, numbers, booleans,
null); ``from_json(data)`` rebuilds an equal IR: the same nodes in the same (topological) order with their
attributes, inputs, locations, parent scopes, ties, init rules and ``meta``, the same edges, and all of
``ir.info`` (inputs, outputs, vars, spec, default_init) and the scope tree (instances, repeats, classes).

Layout::

    {"format": "archc-ir", "version": 1,
     "info": {...ir.info...}, "scopes": {"instances", "repeats", "classes"},
     "nodes": [{"key", "op", "attrs", "inputs": [[port, source key, source port]], "loc": [file, line, col],
                "parent", "attr_locs": {attr: [file, line, col]}, "tie", "init", "meta"}, ...]}

JSON has no tuples: the IR keeps its own data JSON-shaped (lists, string keys) except ``Node.inputs`` and
``Node.loc``, which :meth:`archc.ir.graph.Node.to_json` converts. Anything else that JSON cannot hold is a
bug in a pass and raises ``TypeError`` naming where it is, rather than coming back changed. That includes
non-finite floats: standard JSON has no ``NaN`` or ``Infinity`` (Python's ``json`` would write them, and
other readers refuse the file); archc refuses them in vars, attributes and init, so none reach the IR.
"""

from __future__ import annotations

import copy
import math

from archc.ir.graph import IR, Node
from archc.ir.scopes import Scopes

FORMAT = "archc-ir"
VERSION = 2  # 2: the scope tree moved out of info; meta["shapes"] keyed by port


def to_json(ir: IR) -> dict:
    """The IR as plain JSON data (a deep copy: editing it does not change ``ir``)."""
    data = {"format": FORMAT, "version": VERSION, "info": ir.info, "scopes": ir.scopes.to_json(),
            "nodes": [node.to_json() for node in ir.nodes()]}
    return _copy_checked(data, "")


def from_json(data: dict) -> IR:
    """An IR equal to the one ``data`` was made from by :func:`to_json`."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"not an archc IR: expected {{'format': '{FORMAT}', ...}}")
    if data.get("version") != VERSION:
        raise ValueError(f"archc IR version {data.get('version')!r}; this archc reads version {VERSION}")
    data = copy.deepcopy(data)
    ir = IR()
    ir.info.update(data["info"])
    ir.scopes = Scopes.from_json(data.get("scopes", {}))
    for node in data["nodes"]:
        ir.add(Node.from_json(node))
    return ir


def _copy_checked(value, where: str):
    """A deep copy of ``value``, refusing what JSON would change (tuples, non-string keys, objects)."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"IR data at '{where}' has a non-string key {key!r}; JSON keys are strings")
            out[key] = _copy_checked(item, f"{where}.{key}" if where else key)
        return out
    if isinstance(value, list):
        return [_copy_checked(item, f"{where}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, float) and not math.isfinite(value):
        raise TypeError(f"IR data at '{where}' is {value}, which standard JSON cannot hold")
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    raise TypeError(f"IR data at '{where}' is a {type(value).__name__}, which JSON cannot hold without loss")
