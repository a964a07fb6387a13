"""docs/rules.md is the rule pages, generated: it must match them."""

from __future__ import annotations

from pathlib import Path

from archc.lint.docs import render
from archc.lint.registry import RULES

ROOT = Path(__file__).resolve().parents[2]


def test_docs_rules_md_is_generated_from_the_pages():
    text = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
    assert text == render(RULES), "docs/rules.md is stale: run python -m archc.lint.docs > docs/rules.md"


def test_every_rule_has_a_section_and_a_table_row():
    text = render(RULES)
    for code, cls in RULES.items():
        assert f"\n### {code} {cls.name}\n" in text
        assert f"| [{code}](#{code.lower()}-{cls.name}) | {cls.name} |" in text
