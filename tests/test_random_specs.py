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

import re
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis.configuration import set_hypothesis_home_dir

from archc.errors import SpecError
from archc.pipeline import load_spec
from tests.random_specs import FEATURES, NOT_YET_DRAWN, OPS, STATS, check_spec, loaded_specs, specs

set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "archc-hypothesis")

REGRESSIONS = Path(__file__).resolve().parent / "regressions"

# regression spec (file stem) -> why it fails today, and where; remove the entry when the fix merges
KNOWN_FAILING: dict[str, str] = {
    "a-spec-file-name-long-enough-to-overflow-the-header":
        "E501: the header line naming a 50+ character spec file passes 120 columns (archc/codegen/pytorch.py:214)",
    "long-first-param-name":
        "E501: the docstring line naming the first state-dict key passes 120 columns (templates/model.py.j2:6)",
    "dead-node-unused-local":
        "F841: every node is lowered, read or not, so a dead node is an unused local (archc/codegen/lower.py:399)",
    "value-into-ignored-block-port":
        "F841: a value fed only to a port its block never reads is still computed (archc/codegen/lower.py:399)",
    "unfused-attention-unused-local":
        "F841: with fused_qkv: false kv_size is computed and not used (templates/support/attention.py.j2:79)",
    "slice-of-symbolic-axis":
        "verify sizes B as 2 whatever a slice needs (end: 8): build --verify fails (archc/codegen/verify.py:16)",
}

# generator feature -> the defect it finds today (issue 6); the bounded run leaves these out
FEATURES_BROKEN: dict[str, str] = {
    "dead_nodes": "dead-node-unused-local, value-into-ignored-block-port",
    "long_slices": "slice-of-symbolic-axis",
    "hostile_names": "a-spec-file-name-long-enough-to-overflow-the-header, long-first-param-name (E501)",
}

# (op, attribute, value) -> the defect it meets today; the bounded run never writes these values
VALUES_BROKEN: dict[tuple, str] = {
    ("attention", "fused_qkv", False): "unfused-attention-unused-local",
}

# no shrink phase: a failure is reported as drawn, within the time budget of make test (shrinking one took
# 6 minutes); scripts/fuzz_specs.py shrinks
BOUNDED = settings(max_examples=80, deadline=None, database=None, derandomize=True,
                   phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))


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
    if path.read_text(encoding="utf-8").startswith("# refused"):
        # the fix was to refuse the spec: one clean error at a line of the file, never a crash
        with pytest.raises(SpecError) as caught:
            load_spec(copy)
        assert re.match(rf"{re.escape(str(copy))}:\d+:\d+: \S", str(caught.value)), str(caught.value)
        return
    check_spec(copy)


def test_known_failing_entries_name_regression_specs():
    stems = {p.stem for p in REGRESSIONS.glob("*.yaml")}
    assert set(KNOWN_FAILING) <= stems, sorted(set(KNOWN_FAILING) - stems)
    assert set(FEATURES_BROKEN) <= set(FEATURES), sorted(set(FEATURES_BROKEN) - set(FEATURES))


def _ops_of(model) -> set:
    return {n.op for n in model.nodes + [n for b in model.blocks.values() for n in b.nodes] if n.op}


def test_ops_not_yet_drawn_are_registered_ops():
    """random_specs.NOT_YET_DRAWN names ops the generator has no strategy for yet (they are covered by test_ops
    and test_op_fuzz); the list holds only real ops, so it shrinks as strategies arrive."""
    assert NOT_YET_DRAWN <= set(OPS) - {"input"}


@pytest.mark.parametrize("op", [name for name in OPS if name != "input" and name not in NOT_YET_DRAWN])
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
