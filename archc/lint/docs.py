"""``docs/rules.md``: every rule's page, generated from the rule docstrings (``python -m archc.lint.docs``).

``tests/lint/test_lint_docs.py`` fails when the file and the pages differ, so the file is regenerated with the
rules, never edited by hand.
"""

from __future__ import annotations

import inspect
import re

from archc.lint.framework import PRINCIPLES


def render(rules: dict) -> str:
    """The Markdown of ``docs/rules.md`` for ``rules`` ({code: rule class})."""
    out = ["# Lint rules", "",
           "Generated from the rule pages by `python -m archc.lint.docs > docs/rules.md`; do not edit by hand.",
           "`archc rule CODE` prints one page, `archc rule --all` the table below.", "",
           "| Code | Name | Principle | Severity | Anti-pattern |", "| --- | --- | --- | --- | --- |"]
    for code, cls in rules.items():
        anchor = f"{code.lower()}-{cls.name}"
        out.append(f"| [{code}](#{anchor}) | {cls.name} | {cls.principle} | {cls.severity} | "
                   f"{cls.anti_pattern or '-'} |")
    for principle, prefix in PRINCIPLES.items():
        codes = [c for c, cls in rules.items() if cls.principle == principle]
        if not codes:
            continue
        out += ["", f"## {prefix}: {principle}"]
        for code in codes:
            cls = rules[code]
            doc = inspect.cleandoc(cls.__doc__ or "")
            summary, _, body = doc.partition("\n")
            options = ", ".join(f"`{k}` = {v!r}" for k, v in cls.options().items()) or "none"
            out += ["", f"### {code} {cls.name}", "", summary, "",
                    f"Severity: {cls.severity}. Anti-pattern: {cls.anti_pattern or 'none'}. Options: {options}.", "",
                    re.sub(r"^## ", "#### ", body.strip(), flags=re.M)]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    from archc.lint.registry import RULES

    print(render(RULES), end="")
