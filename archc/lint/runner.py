"""Run the selected rules over one model and turn their violations into findings.

A problem in a repeated block shows up once per iteration; a 1,000-layer model would print it 1,000 times.
Violations whose scopes differ only in repeat indices (``h.0.res`` .. ``h.11.res``) and that point at the same
spec line are one finding, reported at the first iteration with ``(and 11 more iterations)``.

A finding whose line carries a ``# lint: ignore[CODE] reason`` comment is dropped (see
:mod:`archc.lint.suppress`).
"""

from __future__ import annotations

from pathlib import Path

from archc.errors import display_path
from archc.ir.graph import IR
from archc.lint.context import Context
from archc.lint.framework import Finding, Rule
from archc.lint.registry import RULES
from archc.lint.selection import selected
from archc.lint.suppress import Comments

UNUSED_SUPPRESSION = "LN001"  # runs last: it reports what the other rules' suppressions did not hide


def lint(spec_or_ir, select=None, ignore=None, options: dict | None = None) -> list[Finding]:
    """Lint a model; the findings, sorted by location.

    Args:
        spec_or_ir: an :class:`~archc.ir.graph.IR`, a loaded :class:`~archc.pipeline.Spec` or a spec path.
        select: selectors of the rules to run (codes, code prefixes, rule names, ``ALL``; a string may hold
            several, comma-separated); default all.
        ignore: selectors of rules not to run; the more specific of ``select`` and ``ignore`` wins.
        options: {code or rule name: {option: value}}, e.g. ``{"GF001": {"min_layers": 6}}``.

    Raises:
        ValueError: an unknown selector, rule or option.
        archc.errors.SpecError: ``spec_or_ir`` is a path to a bad spec.
    """
    rules = configured(select, ignore, options)
    return run(_ir_of(spec_or_ir), rules)


def run(ir: IR, rules: dict[str, Rule]) -> list[Finding]:
    """Findings of ``rules`` ({code: configured rule}, see :func:`configured`) on ``ir``, sorted by location."""
    ctx = Context(ir)
    comments = Comments()
    findings: list[Finding] = []
    for code, rule in rules.items():
        if code != UNUSED_SUPPRESSION:
            findings.extend(_once_per_repeat(ctx, code, rule, comments))
    if UNUSED_SUPPRESSION in rules:
        # whether a suppression is used depends on every rule, selected or not: run the others unreported
        for code, cls in RULES.items():
            if code not in rules and code != UNUSED_SUPPRESSION:
                _once_per_repeat(ctx, code, cls(), comments)
        ctx.suppressions = comments
        findings.extend(_once_per_repeat(ctx, UNUSED_SUPPRESSION, rules[UNUSED_SUPPRESSION], comments))
    return sorted(findings, key=lambda f: (display_path(f.loc.file), f.loc.line, f.loc.col, f.code, f.scope))


def configured(select=None, ignore=None, options: dict | None = None) -> dict[str, Rule]:
    """{code: rule instance} for the selected rules with ``options`` applied; ValueError on a bad name."""
    codes = selected(RULES, select, ignore)
    by_name = {cls.name: code for code, cls in RULES.items()}
    per_code: dict[str, dict] = {}
    for key, values in (options or {}).items():
        code = key if key in RULES else by_name.get(key)
        if code is None:
            raise ValueError(f"options for unknown rule '{key}'")
        per_code.setdefault(code, {}).update(values)
    return {code: RULES[code].configure(per_code.get(code)) for code in codes}


def _ir_of(spec_or_ir) -> IR:
    if isinstance(spec_or_ir, IR):
        return spec_or_ir
    if isinstance(spec_or_ir, (str, Path)):
        from archc.pipeline import load_spec

        return load_spec(spec_or_ir).ir
    ir = getattr(spec_or_ir, "ir", None)
    if isinstance(ir, IR):
        return ir
    raise TypeError(f"lint() takes an IR, a Spec or a spec path, got {type(spec_or_ir).__name__}")


def _once_per_repeat(ctx: Context, code: str, rule: Rule, comments: Comments) -> list[Finding]:
    first: dict[tuple, list] = {}  # (collapsed scope, location) -> [violation, count]
    for v in rule.check(ctx):
        entry = first.setdefault((ctx.collapse(v.scope), v.loc), [v, 0])
        entry[1] += 1
    out = []
    for v, count in first.values():
        more = f" (and {count - 1} more iteration{'s' if count > 2 else ''})" if count > 1 else ""
        suppressed = comments.at(v.loc.file, v.loc.line)
        if suppressed is not None and (code in suppressed.rules or rule.name in suppressed.rules):
            if suppressed.reason:
                comments.used.add((v.loc.file, v.loc.line, code))
                continue
            more += f"; the suppression on this line is not honoured without a reason: ignore[{code}] why"
        out.append(Finding(code, rule.name, rule.severity, rule.principle, rule.anti_pattern, v.scope, v.loc,
                           v.message + more, v.fix, v.edit))
    return out
