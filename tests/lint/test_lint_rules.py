"""Every rule in the registry: its metadata, its documentation page and its fixture.

A fixture ``fixtures/<rule_name>.yaml`` marks the line each finding must point at with
``# expect: CODE scope[, CODE scope]`` and clean cases with ``# ok``; the rule's findings on it must be exactly
the marked ones. A new rule gets these tests by being in the registry.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from archc.lint import lint
from archc.lint.framework import ANTI_PATTERNS, DOC_SECTIONS, PRINCIPLES, SEVERITIES
from archc.lint.registry import RULES

FIXTURES = Path(__file__).parent / "fixtures"
EXPECT = re.compile(r"(?:^|\s)# expect: (.*)$")
ENTRY = re.compile(r"^([A-Z]+[0-9]+) (\S+)$")


def fixture_of(code: str) -> Path:
    return FIXTURES / (RULES[code].name.replace("-", "_") + ".yaml")


def expectations(path: Path) -> list[tuple[str, str, int]]:
    """[(code, scope, line)] from the fixture's ``# expect:`` comments."""
    out = []
    for line_no, line in enumerate(path.read_text().splitlines(), start=1):
        match = EXPECT.search(line)
        if not match:
            continue
        for entry in match.group(1).split(","):
            parsed = ENTRY.match(entry.strip())
            assert parsed, f"{path.name}:{line_no}: bad expectation {entry!r}"
            out.append((parsed.group(1), parsed.group(2), line_no))
    return sorted(out)


@pytest.mark.parametrize("code", RULES)
def test_fixture_findings_are_exactly_the_marked_ones(code):
    path = fixture_of(code)
    assert path.is_file(), f"rule {code} needs a fixture {path.name}"
    want = expectations(path)
    assert {c for c, _, _ in want} == {code}, "a fixture marks findings of its own rule, at least one"
    assert re.search(r"# ok\b", path.read_text()), "a fixture needs clean cases marked '# ok'"
    found = sorted((f.code, f.scope, f.loc.line) for f in lint(path, select=[code]))
    assert found == want
    assert all(Path(f.loc.file).resolve() == path.resolve() for f in lint(path, select=[code]))


@pytest.mark.parametrize("code", RULES)
def test_metadata(code):
    cls = RULES[code]
    assert re.fullmatch(r"[A-Z]+[0-9]{3}", code)
    assert cls.principle in PRINCIPLES
    assert code.startswith(PRINCIPLES[cls.principle]), f"{code}: principle {cls.principle} has prefix " \
                                                       f"{PRINCIPLES[cls.principle]}"
    assert re.fullmatch(r"[a-z]+(-[a-z0-9]+)+", cls.name)
    assert cls.severity in SEVERITIES
    assert cls.anti_pattern is None or cls.anti_pattern in ANTI_PATTERNS


@pytest.mark.parametrize("code", RULES)
def test_rule_lives_in_a_module_named_after_it(code):
    cls = RULES[code]
    assert cls.__module__ == "archc.lint.rules." + cls.name.replace("-", "_")
    assert getattr(importlib.import_module(cls.__module__), cls.__name__) is cls


@pytest.mark.parametrize("code", RULES)
def test_docstring_is_a_documentation_page(code):
    cls = RULES[code]
    doc = cls.__doc__ or ""
    headings = re.findall(r"^\s*## (.+)$", doc, flags=re.M)
    required = [h for h in headings if h in DOC_SECTIONS]
    assert required == list(DOC_SECTIONS), f"{code}: sections {headings}, need {DOC_SECTIONS} in that order"
    first_line = doc.strip().splitlines()[0]
    assert first_line and not first_line.startswith("#"), "the page starts with a one-line summary"
    options = cls.options()
    if options:
        section = doc.split("## Options", 1)[1].split("##", 1)[0] if "## Options" in doc else ""
        for name, default in options.items():
            assert f"`{name}`" in section, f"{code}: option {name} is not documented under ## Options"
            assert str(default).lower() in section.lower(), f"{code}: the page does not state {name}'s default"


@pytest.mark.parametrize("code", RULES)
def test_options_are_checked(code):
    cls = RULES[code]
    rule = cls.configure(cls.options())
    assert all(getattr(rule, k) == v for k, v in cls.options().items())
    with pytest.raises(ValueError, match="has no option 'no_such_option'"):
        cls.configure({"no_such_option": 1})
    for name, default in cls.options().items():
        with pytest.raises(ValueError, match=name):
            cls.configure({name: "not a " + type(default).__name__})


def test_codes_and_names_are_unique():
    names = [cls.name for cls in RULES.values()]
    assert len(set(names)) == len(names)
    assert len(set(RULES.values())) == len(RULES)
