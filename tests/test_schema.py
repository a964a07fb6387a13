"""The JSON Schema of specs: the catalog validates, mistakes an editor should flag do not.

jsonschema is not a dependency of archc, so the check below is a small validator for exactly the keywords
archc's schema uses; a test makes sure the schema uses no keyword it does not know.
"""

from __future__ import annotations

import json
import re

import pytest
import yaml

from archc.ops.registry import OPS
from archc.schema import DIALECT, spec_schema
from tests.conftest import SPECS

ANNOTATIONS = {"$schema", "title", "description", "default", "$defs"}
_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}


def _is(value, name: str) -> bool:
    if name in ("integer", "number"):
        numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
        return numeric and (name == "number" or float(value).is_integer())
    return isinstance(value, _TYPES[name])


def errors(value, schema: dict, root: dict, where: str = "") -> list[str]:
    """Why ``value`` fails ``schema`` (empty when it validates): draft 2020-12, the subset archc uses."""
    out: list[str] = []
    if "$ref" in schema:
        target = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        out += errors(value, target, root, where)
    if "type" in schema:
        names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_is(value, n) for n in names):
            return out + [f"{where}: {value!r} is not {'/'.join(names)}"]
    if "enum" in schema and value not in schema["enum"]:
        out.append(f"{where}: {value!r} not in {schema['enum']}")
    if "const" in schema and value != schema["const"]:
        out.append(f"{where}: {value!r} is not {schema['const']!r}")
    if "pattern" in schema and isinstance(value, str) and not re.search(schema["pattern"], value):
        out.append(f"{where}: {value!r} does not match {schema['pattern']}")
    if "minimum" in schema and _is(value, "number") and value < schema["minimum"]:
        out.append(f"{where}: {value!r} is below {schema['minimum']}")
    if "maximum" in schema and _is(value, "number") and value > schema["maximum"]:
        out.append(f"{where}: {value!r} is above {schema['maximum']}")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            out.append(f"{where}: fewer than {schema['minItems']} items")
        for i, item in enumerate(value):
            out += errors(item, schema.get("items", {}), root, f"{where}[{i}]")
    if isinstance(value, dict):
        if not schema.get("minProperties", 0) <= len(value) <= schema.get("maxProperties", len(value)):
            out.append(f"{where}: wrong number of keys")
        out += [f"{where}: '{k}' is required" for k in schema.get("required", []) if k not in value]
        properties = schema.get("properties", {})
        for key, item in value.items():
            if "propertyNames" in schema:
                out += errors(key, schema["propertyNames"], root, f"{where}.{key} (name)")
            if key in properties:
                out += errors(item, properties[key], root, f"{where}.{key}")
            elif schema.get("additionalProperties") is False:
                out.append(f"{where}: unexpected key '{key}'")
            elif isinstance(schema.get("additionalProperties"), dict):
                out += errors(item, schema["additionalProperties"], root, f"{where}.{key}")
    for sub in schema.get("allOf", []):
        out += errors(value, sub, root, where)
    if "anyOf" in schema:
        results = [errors(value, sub, root, where) for sub in schema["anyOf"]]
        if all(results):
            out.append(f"{where}: no alternative matches ({min(results, key=len)[0]})")
    if "not" in schema and not errors(value, schema["not"], root, where):
        out.append(f"{where}: matches a schema it must not")
    if "if" in schema and not errors(value, schema["if"], root, where):
        out += errors(value, schema.get("then", {}), root, where)
    return out


def keywords(schema) -> set[str]:
    found: set[str] = set()
    if isinstance(schema, dict):
        for key, value in schema.items():
            found.add(key)
            if key in ("properties", "$defs"):
                for sub in value.values():
                    found |= keywords(sub)
            elif key not in ("enum", "const", "default", "required"):
                found |= keywords(value)
    elif isinstance(schema, list):
        for item in schema:
            found |= keywords(item)
    return found


KNOWN = {"$ref", "type", "enum", "const", "pattern", "minimum", "maximum", "minItems", "items", "minProperties",
         "maxProperties", "required", "properties", "propertyNames", "additionalProperties", "allOf", "anyOf",
         "not", "if", "then"}


@pytest.fixture(scope="module")
def schema():
    return json.loads(json.dumps(spec_schema()))  # as a file would hold it


def test_schema_uses_only_keywords_this_validator_knows(schema):
    assert schema["$schema"] == DIALECT
    assert keywords(schema) <= KNOWN | ANNOTATIONS


@pytest.mark.parametrize("name", ["gpt2.yaml", "llama.yaml"])
def test_catalog_validates(schema, name):
    assert errors(yaml.safe_load((SPECS / name).read_text()), schema, schema) == []


@pytest.mark.parametrize("group", sorted(p.relative_to(SPECS).as_posix() for p in (SPECS / "ffn").glob("*.yaml")))
def test_block_groups_validate_against_the_block_definition(schema, group):
    block = schema["$defs"]["block"]
    assert errors(yaml.safe_load((SPECS / group).read_text()), block, schema) == []


def spec_with(node: dict) -> dict:
    return {"inputs": {"x": {"shape": ["B", "T", 8]}}, "nodes": {"a": node}}


@pytest.mark.parametrize("node, fragment", [
    ({"op": "rellu"}, "'rellu' not in"),
    ({"op": "linear", "out_feature": 8}, "unexpected key 'out_feature'"),
    ({"op": "linear", "out_features": 8, "bais": False}, "unexpected key 'bais'"),
    ({"op": "linear"}, "'out_features' is required"),
    ({"op": "linear", "out_features": "eight"}, "no alternative matches"),
    ({"op": "linear", "out_features": 0}, "0 is below 1"),
    ({"op": "gelu", "approximate": "fast"}, "no alternative matches"),
    ({"op": "relu", "repeat": 2}, "unexpected key 'repeat'"),
    ({"op": "relu", "block": "layer"}, "matches a schema it must not"),
    ({"op": "relu", "in": "a b"}, "no alternative matches"),
    ({"op": "linear", "out_features": 2**63}, "is above 9223372036854775807"),
    ({"op": "split", "sizes": [True, 7]}, "no alternative matches"),
    ({"op": "reshape", "shape": ["B", "T", 1.5]}, "no alternative matches"),
])
def test_mistakes_are_rejected(schema, node, fragment):
    found = errors(spec_with(node), schema, schema)
    assert any(fragment in e for e in found), found


@pytest.mark.parametrize("spec, fragment", [
    ({"nodes": {"__import__": {"op": "relu"}}}, "does not match"),
    ({"vars": {"d model": 8}}, "does not match"),
    ({"node": {}}, "unexpected key 'node'"),
    ({"blocks": {"b": {"nodes": {}, "roles": "mlp"}}}, "unexpected key 'roles'"),
    ({"init": {"sdt": 0.02}}, "no alternative matches"),
])
def test_structural_mistakes_are_rejected(schema, spec, fragment):
    found = errors(spec, schema, schema)
    assert any(fragment in e for e in found), found


def test_interpolations_and_nulls_are_accepted(schema):
    node = {"op": "attention", "n_heads": "${vars.n_heads}", "n_kv_heads": None, "dropout": 0, "bias": True}
    assert errors(spec_with(node), schema, schema) == []


def test_every_op_and_attribute_is_described(schema):
    for name, op in OPS.items():
        if name == "input":
            continue
        definition = schema["$defs"][f"op_{name}"]
        assert definition["description"]
        for attr in op.attrs:
            assert attr in definition["properties"], (name, attr)
            assert definition["properties"][attr].get("description"), (name, attr)
