"""The labelled corpus (tests/lint/corpus/): recall on realistic mistakes, and no finding on their fixed twins."""

from __future__ import annotations

import re
from pathlib import Path

from archc.lint import lint
from archc.lint.framework import ANTI_PATTERNS, PRINCIPLES

CORPUS = Path(__file__).parent / "corpus"
EXPECT = re.compile(r"^# expect: (\S+)$", re.M)


def expected(path: Path) -> str:
    match = EXPECT.search(path.read_text())
    assert match, f"{path.name} has no '# expect:' line"
    return match.group(1)


def test_every_mistake_has_a_fixed_twin_and_a_label():
    bad = sorted(p.name[:-len(".bad.yaml")] for p in CORPUS.glob("*.bad.yaml"))
    fixed = sorted(p.name[:-len(".fixed.yaml")] for p in CORPUS.glob("*.fixed.yaml"))
    assert bad == fixed and len(bad) >= 40
    assert {expected(CORPUS / f"{name}.bad.yaml") for name in bad} <= set(PRINCIPLES)
    assert {expected(CORPUS / f"{name}.fixed.yaml") for name in fixed} == {"clean"}


def test_recall_and_false_alarms(capsys):
    missed, alarms, anti_patterns = [], [], set()
    bad = sorted(CORPUS.glob("*.bad.yaml"))
    for path in bad:
        principle = expected(path)
        found = [f for f in lint(path) if f.principle == principle]
        anti_patterns |= {f.anti_pattern for f in found}
        if not found:
            missed.append(path.name)
    fixed = sorted(CORPUS.glob("*.fixed.yaml"))
    for path in fixed:
        found = lint(path)
        if found:
            alarms.append(f"{path.name}: {', '.join(sorted({f.code for f in found}))}")
    recall = 1 - len(missed) / len(bad)
    with capsys.disabled():
        print(f"\nlint corpus: recall {recall:.0%} ({len(bad) - len(missed)}/{len(bad)}), "
              f"false alarms {len(alarms)}/{len(fixed)}; missed: {missed or 'none'}")
    assert alarms == []
    assert recall >= 0.9, f"missed {missed}"
    assert anti_patterns >= set(ANTI_PATTERNS), "every anti-pattern has a mistake in the corpus"


def test_the_corpus_covers_every_principle_today_s_ops_can_express():
    covered = {expected(p) for p in CORPUS.glob("*.bad.yaml")}
    # manifold rules wait for ops that tag manifolds (hyperbolic maps, constrained heads)
    assert covered == set(PRINCIPLES) - {"manifold", "lint-hygiene"}
