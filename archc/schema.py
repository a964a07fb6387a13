"""A JSON Schema (draft 2020-12) of the spec language, generated from the op registry.

Editors complete and check specs with it through the YAML language server: put
``# yaml-language-server: $schema=archc.schema.json`` at the top of a spec (``archc schema -o
archc.schema.json`` writes the file). A config group file that holds a block (``specs/ffn/*.yaml``) can point
at ``archc.schema.json#/$defs/block``.

The schema checks one file as written, before composition, so it is looser than archc itself: a node may
leave out ``op`` (a config group merged later can supply it), any value may be an interpolation
(``${vars.d_model}``), and references are checked for their form, not for existing. What it does check: the
top-level, block and node keys; for a node with ``op``, that the op exists, that its attributes exist (a typo
is an error, never a silent default), their types, choices and lower bounds, and that required ones are set.
"""

from __future__ import annotations

from archc.ir.dims import INT64_MAX
from archc.ops.base import Attr, Op
from archc.ops.registry import OPS
from archc.passes.expand import BLOCK_KEYS, NODE_KEYS, ROLES, TOP_KEYS

DIALECT = "https://json-schema.org/draft/2020-12/schema"
NAME = r"^(?!__)[A-Za-z_][A-Za-z0-9_]*$"  # archc.passes.expand.check_name
REFERENCE = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$"  # node, node.port, or a key into a block use
_JSON_TYPES = {int: "integer", float: "number", bool: "boolean", str: "string", list: "array"}


def _ref(name: str) -> dict:
    return {"$ref": f"#/$defs/{name}"}


def _or_interpolation(schema: dict) -> dict:
    return {"anyOf": [schema, _ref("interpolation")]}


def attr_schema(attr: Attr) -> dict:
    """One op attribute: its JSON type, null when nullable, choices, lower bound, default and doc."""
    types = attr.type if isinstance(attr.type, tuple) else (attr.type,)
    names = [_JSON_TYPES[t] for t in types]
    if attr.nullable:
        names.append("null")
    schema: dict = {"type": names[0] if len(names) == 1 else names}
    if attr.choices is not None:
        schema["enum"] = [*attr.choices, *([None] if attr.nullable else [])]
    if attr.min is not None:
        schema["minimum"] = attr.min
    if int in types:  # torch's sizes and indices are int64
        schema.setdefault("minimum", -INT64_MAX - 1)
        schema["maximum"] = INT64_MAX
    if attr.item is not None:
        schema["items"] = _item_schema(attr.item)
    out = _or_interpolation(schema)
    if attr.doc:
        out["description"] = attr.doc
    if not attr.required:
        out["default"] = attr.default
    return out


def _item_schema(item) -> dict:
    """A list attribute's elements: their JSON types (a bool is not an integer in JSON Schema either)."""
    types = item if isinstance(item, tuple) else (item,)
    names = [_JSON_TYPES[t] for t in types]
    schema: dict = {"type": names[0] if len(names) == 1 else names}
    if int in types:
        schema.update({"minimum": -INT64_MAX - 1, "maximum": INT64_MAX})
    return schema if "string" in names else _or_interpolation(schema)


def op_schema(op: Op) -> dict:
    """A node with ``op: <name>``: the node keys an op node takes plus the op's attributes, nothing else."""
    properties = {"op": {"const": op.name}, **_node_keys(("in", "tie", "init", "doc"))}
    properties.update({name: attr_schema(attr) for name, attr in op.attrs.items()})
    schema = {"description": _first_paragraph(op.doc or type(op).__doc__ or op.name), "type": "object",
              "properties": properties, "additionalProperties": False}
    required = [name for name, attr in op.attrs.items() if attr.required]
    if required:
        schema["required"] = required
    return schema


def _first_paragraph(doc: str) -> str:
    return " ".join(doc.strip().split("\n\n")[0].split())


def _node_keys(keys) -> dict:
    every = {
        "op": {"description": "the op this node applies", "anyOf": [{"enum": _op_names()}, _ref("interpolation")]},
        "block": {"description": "the block this node instantiates", "type": "string"},
        "in": {"description": "inputs: a node, a list of nodes, or {port: node}; default the previous node",
               **_ref("inputs")},
        "repeat": {"description": "instantiate the block this many times in a chain",
                   **_or_interpolation({"type": "integer", "minimum": 1})},
        "tie": {"description": "share this node's weight with another node's", **_ref("reference")},
        "init": _ref("init"),
        "doc": {"description": "a note for readers", "type": "string"},
    }
    assert set(every) == set(NODE_KEYS)
    return {k: every[k] for k in keys}


def _op_names() -> list[str]:
    return [name for name in OPS if name != "input"]


def _defs() -> dict:
    references = {"anyOf": [{"type": "string", "pattern": REFERENCE}, _ref("interpolation")]}
    rule = {"anyOf": [
        {"enum": ["default", "zeros", "ones"]},
        {"type": "object", "minProperties": 1, "additionalProperties": False,
         "properties": {"std": _or_interpolation({"type": "number", "minimum": 0}),
                        "depth": _or_interpolation({"type": "integer", "minimum": 1}),
                        "value": _or_interpolation({"type": "number"})}},
        _ref("interpolation")]}
    node = {"type": "object", "properties": _node_keys(NODE_KEYS), "propertyNames": _ref("name"),
            "not": {"required": ["op", "block"]},
            "allOf": [{"if": {"required": ["op"], "properties": {"op": {"const": name}}},
                       "then": _ref(f"op_{name}")} for name in _op_names()]}
    block_keys = {
        "params": {"description": "parameters with their defaults, read as ${params.name}", "type": "object",
                   "propertyNames": _ref("name")},
        "inputs": {"description": "input port names; default [x]",
                   "anyOf": [_ref("name"), {"type": "array", "items": _ref("name"), "minItems": 1}]},
        "outputs": _ref("outputs"),
        "nodes": _ref("nodes"),
        "role": {"description": "what the block is, for FLOP shares and lint", "enum": list(ROLES)},
        "doc": {"type": "string"},
    }
    assert set(block_keys) == set(BLOCK_KEYS)
    defs = {
        "name": {"description": "letters, digits and '_', not starting with a digit or '__'", "type": "string",
                 "pattern": NAME},
        "interpolation": {"description": "an OmegaConf interpolation, e.g. ${vars.d_model} or ${mul:...}",
                          "type": "string", "pattern": r"\$\{"},
        "reference": references,
        "inputs": {"anyOf": [references, {"type": "array", "items": references, "minItems": 1},
                             {"type": "object", "additionalProperties": {"anyOf": [
                                 references, {"type": "array", "items": references}]}}]},
        "outputs": {"description": "the nodes whose values leave: a node, a list, or {name: node}",
                    "anyOf": [references, {"type": "array", "items": references, "minItems": 1},
                              {"type": "object", "propertyNames": _ref("name"), "additionalProperties": references}]},
        "init": {"description": "zeros, ones, default, {std: 0.02}, {std: 0.02, depth: N}, {value: 0.0}, or "
                                "{parameter name: one of these}",
                 "anyOf": [rule, {"type": "object", "additionalProperties": rule}]},
        "input": _input_schema(),
        "node": node,
        "nodes": {"type": "object", "propertyNames": _ref("name"), "additionalProperties": _ref("node")},
        "block": {"type": "object", "properties": block_keys, "additionalProperties": False},
    }
    defs.update({f"op_{name}": op_schema(OPS[name]) for name in _op_names()})
    return defs


def _input_schema() -> dict:
    op = OPS["input"]
    dim = {"anyOf": [{"type": "integer", "minimum": 1}, _ref("name"), _ref("interpolation")]}
    shape = {"description": op.attrs["shape"].doc, "type": "array", "items": dim}
    return {"description": op.doc, "type": "object", "required": ["shape"], "additionalProperties": False,
            "properties": {"shape": _or_interpolation(shape), "dtype": attr_schema(op.attrs["dtype"]),
                           "doc": {"type": "string"}}}


def spec_schema() -> dict:
    """The JSON Schema of an archc spec file."""
    top = {
        "defaults": {"description": "config groups and specs merged into this one (Hydra's defaults list)",
                     "type": "array", "items": {"anyOf": [
                         {"type": "string"},
                         {"type": "object", "minProperties": 1, "maxProperties": 1,
                          "additionalProperties": {"type": ["string", "null"]}}]}},
        "name": {"type": "string"},
        "doc": {"type": "string"},
        "vars": {"description": "named values, read as ${vars.name}", "type": "object",
                 "propertyNames": _ref("name")},
        "init": _ref("init"),
        "inputs": {"type": "object", "propertyNames": _ref("name"), "additionalProperties": _ref("input")},
        "outputs": _ref("outputs"),
        "blocks": {"type": "object", "propertyNames": _ref("name"), "additionalProperties": _ref("block")},
        "nodes": _ref("nodes"),
    }
    assert set(top) == set(TOP_KEYS) | {"defaults"}
    return {"$schema": DIALECT, "title": "archc spec",
            "description": "A neural architecture for archc: vars, inputs, blocks, nodes and outputs.",
            "type": "object", "properties": top, "additionalProperties": False, "$defs": _defs()}
