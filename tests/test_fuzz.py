"""Fuzzing the loader: whatever the input, ``load_spec`` succeeds or raises a one-line ``SpecError``.

Inputs: random YAML-ish text, random bytes, byte-level mutations and truncations of the catalog's specs, and
structural mutations (a value replaced, a key added or removed) of their parsed YAML. Crashes found while
writing these (by them or by the cases they suggested), each fixed at its root: recursive and exponential
YAML aliases, nesting deep enough to crash libyaml, 5,000-digit ints, tagged scalars (``!!int abc``, an
empty ``!!int``), invalid dates, a block that contains itself, ``repeat: 1e9``, and ``${expr:...}`` powers
too large to compute. Each has a regression test in test_errors.py or a fixture in tests/error_specs/.

The hypothesis database is off and its other caches live in the temporary folder, so the checkout stays
clean; the specs are written to a temporary folder too (config groups still resolve through the catalog).
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from archc.errors import SpecError
from archc.pipeline import load_spec
from tests.conftest import SPECS

# hypothesis keeps caches besides its example database; neither belongs in the checkout
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "archc-hypothesis")

ONE_LINE = re.compile(r"^[^\n]+:\d+:\d+: [^\n]+$")
CATALOG = {name: (SPECS / name).read_bytes() for name in ("gpt2.yaml", "llama.yaml")}
FUZZ = settings(max_examples=200, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# fragments that reach the parser, the resolver and expansion in interesting ways
TOKENS = ["${", "}", ":", "\n", "  ", "- ", "[", "]", "{", "}", "'", '"', "${vars.", "${params.", "${mul:",
          "${expr:'", "${oc.env:HOME}", "0", "-1", "1e999", ".nan", ".inf", "null", "~", "&a ", "*a", "<<: *a",
          "!!python/name:os.system", "!!int ", "%YAML 1.1\n", "---\n", "...\n", "#", "\t", "\x00", "\ufeff",
          "op: ", "block: ", "repeat: ", "in: ", "tie: ", "init: ", "defaults:\n  - ", "ffn: ", "_self_",
          "__import__", "2024-02-30", "? ", "9" * 40]
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 10**6) | st.floats(allow_nan=True) | st.sampled_from(
        ["", "x", "B", "T", "h", "wte", "embed", "layers", "rope", "x.0", "attention", "linear", "split", "add",
         "layer", "norm", "ffn", "${vars.d_model}", "${vars.nope}", "${params.d_ff}", "${div:3,0}",
         "${expr:'2**99'}", "${mul:a,b}", "${", "???", "a b", "__x", "${oc.env:HOME}", "${.x}", "${..y}"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["op", "block", "in", "repeat", "tie", "init", "params", "nodes", "inputs", "outputs",
                         "shape", "dtype", "x", "n_heads", "sizes", "std", "vars", "role", "_self_"]),
        inner, max_size=3),
    max_leaves=6)


@pytest.fixture(scope="module")
def spec_file(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz") / "spec.yaml"


def check_load(path) -> None:
    """The property: success, or a SpecError whose text is a single ``file:line:col: message`` line."""
    try:
        load_spec(path)
    except SpecError as exc:
        assert ONE_LINE.match(str(exc)), repr(str(exc))


@FUZZ
@given(text=st.lists(st.sampled_from(TOKENS) | st.characters(), max_size=80).map("".join))
def test_random_yamlish_text(spec_file, text):
    spec_file.write_text(text, encoding="utf-8", errors="surrogatepass")
    check_load(spec_file)


@FUZZ
@given(data=st.binary(max_size=300))
def test_random_bytes(spec_file, data):
    spec_file.write_bytes(data)
    check_load(spec_file)


@st.composite
def mutated_spec(draw) -> bytes:
    """A catalog spec with a few bytes deleted, tokens inserted, lines duplicated or numbers changed."""
    text = bytearray(CATALOG[draw(st.sampled_from(sorted(CATALOG)))])
    for _ in range(draw(st.integers(1, 5))):
        at = draw(st.integers(0, len(text)))
        kind = draw(st.sampled_from(["delete", "insert", "duplicate_line", "number"]))
        if kind == "delete":
            del text[at:at + draw(st.integers(1, 20))]
        elif kind == "insert":
            text[at:at] = draw(st.sampled_from(TOKENS)).encode("utf-8")
        elif kind == "duplicate_line":
            lines = bytes(text).split(b"\n")
            lines.insert(draw(st.integers(0, len(lines))), lines[at % len(lines)])
            text = bytearray(b"\n".join(lines))
        else:  # the next number after 'at'
            number = draw(st.sampled_from([b"0", b"-3", b"7", b"1.5", b"99999999999"]))
            text = bytearray(bytes(text[:at]) + re.sub(rb"\d+", number, bytes(text[at:]), count=1))
    if draw(st.booleans()):
        text = text[: draw(st.integers(0, len(text)))]
    return bytes(text)


@FUZZ
@given(data=mutated_spec())
def test_mutated_catalog_specs(spec_file, data):
    spec_file.write_bytes(data)
    check_load(spec_file)


def _paths(tree, path=()):
    yield path
    children = tree.items() if isinstance(tree, dict) else enumerate(tree) if isinstance(tree, list) else ()
    for key, value in children:
        yield from _paths(value, path + (key,))


@st.composite
def restructured_spec(draw) -> str:
    """A catalog spec, parsed, with values replaced, keys removed or added, and dumped back to YAML."""
    tree = yaml.safe_load(CATALOG[draw(st.sampled_from(sorted(CATALOG)))])
    for _ in range(draw(st.integers(1, 4))):
        *parent_path, key = draw(st.sampled_from(list(_paths(tree))[1:]))
        parent = tree
        for part in parent_path:
            parent = parent[part]
        kind = draw(st.sampled_from(["replace", "remove", "add"]))
        if kind == "replace" or not isinstance(parent, dict):
            parent[key] = draw(VALUES)
        elif kind == "remove":
            del parent[key]
        else:
            parent[draw(st.sampled_from(["op", "in", "repeat", "tie", "init", "x", "n_heads", "extra"]))] = draw(VALUES)
    return yaml.safe_dump(tree, sort_keys=False, allow_unicode=True)


@FUZZ
@given(text=restructured_spec())
def test_restructured_catalog_specs(spec_file, text):
    spec_file.write_text(text, encoding="utf-8")
    check_load(spec_file)
