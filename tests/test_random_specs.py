"""The property: every spec the loader accepts builds a file that compiles and passes ruff, verifies, has the
state dict ``state_dict_names()`` promises, and runs forward and backward (tests/random_specs.py).

``test_random_specs`` is the bounded run for ``make test``: derandomized (the same examples on every run,
no example database), 80 examples (about 25 s on one core). scripts/fuzz_specs.py runs the same strategy
and checks offline for as long as wanted and shrinks what fails; each kind of failure it found is a spec in
tests/regressions/ (line 1 says what failed) and runs here as ``test_regression[name]``.

Today several of issue 6's defects are open, so:

* KNOWN_FAILING names the regression specs that fail now, with the reason; each is a strict xfail, so a fix
  that makes one pass turns it red until its entry is removed.
* FEATURES_BROKEN names the generator features (tests/random_specs.py FEATURES) that produce those failures,
  and VALUES_BROKEN the attribute values; the bounded run leaves them out. Remove an entry once the
  regressions it stands for pass.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis.configuration import set_hypothesis_home_dir

from tests.random_specs import FEATURES, OPS, STATS, check_spec, loaded_specs, specs

set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "archc-hypothesis")

REGRESSIONS = Path(__file__).resolve().parent / "regressions"

# regression spec (file stem) -> why it fails today; remove the entry when the fix merges
KNOWN_FAILING: dict[str, str] = {
    "a-spec-file-name-long-enough-to-overflow-the-header": "header and Config docstring exceed 120 columns (E501)",
    "attention-on-position-table": "attention accepts a rank-2 input; the forward unpacks B, T, _",
    "concat-along-sequence-axis": "build --verify compares the output with the unevaluated 'T+T'",
    "dead-node-unused-local": "a node nothing reads is an unused local (F841)",
    "half-precision-input": "a bfloat16 input meets float32 weights",
    "multi-node-block-used-twice": "the second use of a multi-node block gets wrong parameter paths",
    "rope-table-into-elementwise-op": "rope's (cos, sin) pair is a [T, d] tensor to the shape pass",
    "slice-dim-out-of-range": "slice wraps an out-of-range dim instead of refusing it",
    "slice-of-symbolic-axis": "a fixed slice of a symbolic axis passes show and fails in torch",
    "unfused-attention-unused-local": "unfused attention leaves kv_size unused (F841)",
    "value-into-ignored-block-port": "a value fed only to an unused block port is an unused local (F841)",
    "tie-in-repeat": "a tie inside a repeated block: the block class has no reset_parameters",
    "tie-chain": "a tie chain c -> b -> a: KeyError 'weight' in verify",
    "tie-cycle": "the loader accepts a tie cycle a -> b -> a",
    "tie-between-uses": "a tie into the second use of a multi-node block resolves to the block",
    "repeat-of-alias-to-block": "a repeat of a block whose one node is a block use: KeyError in lowering",
    "rotary-tables-block": "a block named rotary_tables redefines the RotaryTables support class",
    "block-named-scale": "a block named scale redefines the Scale support class",
    "node-named-f": "'F.' is searched for in the text: a node named F keeps an unused import",
    "long-first-param-name": "the docstring naming the first parameter key overflows 120 columns",
    "bool-ids-into-embedding": "bool ids pass the shape pass, torch's embedding refuses them",
    "block-on-two-widths": "one class for a block applied to two widths",
    "rope-table-as-output": "a rope table as a model output is a (cos, sin) pair",
    "same-value-on-two-ports": "a block first used with one value on two ports reads the wrong port later",
    "node-named-tie-weights": "a node named tie_weights shadows Model.tie_weights",
}

# generator feature -> the defect it finds today (issue 6); the bounded run leaves these out
FEATURES_BROKEN: dict[str, str] = {
    "dead_nodes": "dead-node-unused-local, value-into-ignored-block-port",
    "odd_ranks": "attention-on-position-table",
    "typed_anywhere": "rope-table-into-elementwise-op",
    "wild_axes": "slice-dim-out-of-range",
    "symbolic_arith": "concat-along-sequence-axis, slice-of-symbolic-axis",
    "exotic_dtypes": "half-precision-input",
    "table_outputs": "rope-table-into-elementwise-op (a table as a model output)",
    "reuse": "multi-node-block-used-twice, same-value-on-two-ports",
    "reuse_other_width": "multi-node-block-used-twice, block-on-two-widths",
    "ties": "tie-chain, tie-cycle, tie-in-repeat, tie-between-uses",
    "tie_chains": "tie-chain, tie-cycle",
    "hostile_names": "rotary-tables-block, block-named-scale, node-named-f, long-first-param-name, "
                     "node-named-tie-weights",
    "nested_blocks": "repeat-of-alias-to-block",
}

# (op, attribute, value) -> the defect it meets today; the bounded run never writes these values
VALUES_BROKEN: dict[tuple, str] = {
    ("attention", "fused_qkv", False): "unfused-attention-unused-local",
}

BOUNDED = settings(max_examples=80, deadline=None, database=None, derandomize=True,
                   suppress_health_check=list(HealthCheck))


@BOUNDED
@given(drawn=loaded_specs(frozenset(FEATURES) - set(FEATURES_BROKEN), avoid=frozenset(VALUES_BROKEN)))
def test_random_specs(drawn):
    path, text = drawn
    try:
        check_spec(path)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n--- spec ---\n{text}") from exc


def _regressions() -> list:
    cases = []
    for path in sorted(REGRESSIONS.glob("*.yaml")):
        marks = [pytest.mark.xfail(strict=True, reason=KNOWN_FAILING[path.stem])] if path.stem in KNOWN_FAILING else []
        cases.append(pytest.param(path, id=path.stem, marks=marks))
    return cases


@pytest.mark.parametrize("path", _regressions())
def test_regression(path, tmp_path):
    # checked from a temporary folder, as the random specs are, so the file's folder (which the generated
    # header names) is not part of the case; the file name is, and one case is about it
    copy = tmp_path / path.name
    shutil.copy(path, copy)
    check_spec(copy)


def test_known_failing_entries_name_regression_specs():
    stems = {p.stem for p in REGRESSIONS.glob("*.yaml")}
    assert set(KNOWN_FAILING) <= stems, sorted(set(KNOWN_FAILING) - stems)
    assert set(FEATURES_BROKEN) <= set(FEATURES), sorted(set(FEATURES_BROKEN) - set(FEATURES))


def _ops_of(model) -> set:
    return {n.op for n in model.nodes + [n for b in model.blocks.values() for n in b.nodes] if n.op}


@pytest.mark.parametrize("op", [name for name in OPS if name != "input"])
def test_generator_reaches_every_op(op):
    """A new op in the registry is generated without new test code (no op is named in random_specs.py):
    asked to favour it, the generator puts it in a spec within a few draws."""
    found = find(specs(focus=op), lambda model: op in _ops_of(model),
                 settings=settings(max_examples=100, database=None, derandomize=True, phases=[Phase.generate],
                                   suppress_health_check=list(HealthCheck)))
    assert op in _ops_of(found)


@settings(max_examples=60, deadline=None, database=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
@given(drawn=loaded_specs())
def _draw_loaded(drawn):
    pass


def test_generator_specs_mostly_load():
    """The generator checks each node with its op's rules, so the loader should accept nearly every spec:
    a high refusal rate means the property test is testing the loader's refusals, not code generation."""
    before = dict(STATS, refusals=None)
    _draw_loaded()
    drawn = STATS["drawn"] - before["drawn"]
    refused = STATS["refused"] + STATS["tie_refused"] - before["refused"] - before["tie_refused"]
    assert drawn >= 60
    assert refused <= 0.2 * drawn, f"{refused} of {drawn} refused: {STATS['refusals'].most_common(3)}"
