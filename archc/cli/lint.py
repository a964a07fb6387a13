"""``archc lint``: check a spec against design principles; one finding per line, ruff-style."""

from __future__ import annotations

import click

from archc.cli.common import exit_with, load, overrides_argument

SEVERITY_ORDER = ("error", "warning", "info")


@click.command()
@click.argument("spec", required=False, type=click.Path())
@overrides_argument
@click.option("--format", "fmt_", type=click.Choice(["text", "json", "sarif", "github"]), default="text",
              show_default=True, help="Output format: json (a list of findings for scripts), sarif (SARIF 2.1.0 for "
              "code scanning), github (workflow annotations).")
@click.option("--fail-on", type=click.Choice(SEVERITY_ORDER), default=None,
              help="Exit 1 only for findings of this severity or worse. Default: info (any finding).")
@click.option("--statistics", is_flag=True, help="Print how many findings each rule has instead of the findings.")
@click.option("--fix", "fix_", is_flag=True,
              help="Apply the mechanical fixes (pad the vocabulary, ...) to the YAML, keeping comments and layout; "
              "then report what is left.")
@click.option("--select", multiple=True, metavar="RULES",
              help="Rules to run: codes (GF001), prefixes (GF), names or ALL, comma-separated. Default: ALL.")
@click.option("--ignore", multiple=True, metavar="RULES",
              help="Rules to skip, as for --select; the more specific of the two wins.")
@click.option("--option", "-o", "options", multiple=True, metavar="CODE.NAME=VALUE",
              help="Set a rule option, e.g. GF001.min_layers=6 (see --explain CODE).")
@click.option("--explain", metavar="RULE", help="Print a rule's documentation (code or name) and exit.")
@click.option("--list-rules", is_flag=True, help="List the rules and exit.")
def lint(spec, overrides, fmt_, fail_on, statistics, fix_, select, ignore, options, explain, list_rules):
    """Check a spec against design principles and print what violates them.

    Findings print as file:line:col: CODE [name] message, each with a help: line saying what to do, then a
    summary line. A finding is suppressed by a comment on its line naming the rule and the reason:
    # lint: ignore[SY003] the vocabulary as released. Settings (select, ignore, fail-on, options) can live in
    the nearest pyproject.toml under [tool.archc.lint]; the command line wins. Exit status: 0 when clean
    (at --fail-on's level), 1 when something is found, 2 for a bad spec or a bad option. Several spec paths
    may be given (as pre-commit does); the overrides apply to each.

    \b
    Examples:
      archc lint specs/gpt2.yaml
      archc lint specs/llama.yaml vars.n_layers=48 norm=layernorm
      archc lint model.yaml --select GF --ignore GF002
      archc lint model.yaml -o GF001.min_layers=6 --format json | jq '.[].code'
      archc lint model.yaml --format sarif > lint.sarif
      archc lint model.yaml --fail-on warning --statistics
      archc lint specs/*.yaml
      archc lint model.yaml --fix
      archc rule post-norm-deep-stack
    """
    from archc.lint.registry import RULES

    if list_rules:
        _echo(rule_table(RULES))
        return
    if explain:
        _echo(rule_page(RULES, explain, "--explain"))
        return
    if spec is None:
        raise click.UsageError("Missing argument 'SPEC'.")
    from archc import __version__
    from archc.lint import formats

    # more spec paths may follow the first (pre-commit passes every changed file): an override has an '=' or
    # starts with ~ or +, a path ends in .yaml or .yml
    specs = [spec] + [o for o in overrides if _is_spec_path(o)]
    overrides = [o for o in overrides if not _is_spec_path(o)]
    findings, selected, failing, fixed = [], {}, False, 0
    for path in specs:
        rules, level = _settings(path, select, ignore, options, fail_on)
        found = _run(path, overrides, rules)
        if fix_ and any(f.edit for f in found):
            from archc.lint.fix import apply

            fixed += apply(found)
            found = _run(path, overrides, rules)  # what is left, at the lines the edits may have moved
        findings += found
        selected.update(rules)
        worst = SEVERITY_ORDER.index(level)
        failing |= any(SEVERITY_ORDER.index(f.severity) <= worst for f in found)
    if statistics:
        if findings:
            _echo(formats.statistics(findings))
        _echo(_summary(findings))
    elif fmt_ == "json":
        _echo(formats.to_json(findings))
    elif fmt_ == "sarif":
        _echo(formats.to_sarif(findings, {c: RULES[c] for c in RULES if c in selected}, __version__))
    elif fmt_ == "github":
        if findings:
            _echo(formats.to_github(findings))
    else:
        for finding in findings:
            _echo(str(finding) + (f"\n  help: {finding.fix}" if finding.fix else ""))
        if fix_:
            _echo(f"Fixed {fixed} finding{'s' * (fixed != 1)}.")
        _echo(_summary(findings))
    if failing:
        exit_with(1)


def _is_spec_path(text: str) -> bool:
    return "=" not in text and not text.startswith(("~", "+")) and text.endswith((".yaml", ".yml"))


def _settings(spec: str, select, ignore, options, fail_on) -> tuple[dict, str]:
    """The configured rules and the --fail-on level for ``spec``: its pyproject.toml's [tool.archc.lint],
    the command line winning."""
    from archc.lint import config
    from archc.lint.runner import configured

    settings = config.for_spec(spec)
    try:  # before loading, so a typo in a rule name fails fast
        merged = {rule: dict(values) for rule, values in settings.options.items()}
        for rule, values in _parse_options(options).items():
            merged.setdefault(rule, {}).update(values)
        rules = configured(list(select) or settings.select, list(ignore) or settings.ignore, merged)
    except ValueError as exc:
        if settings.file and not (select or ignore or options):
            from archc.errors import Loc, SpecError

            raise SpecError(f"[tool.archc.lint]: {exc}", Loc(settings.file)) from None
        raise click.BadParameter(str(exc)) from None
    return rules, fail_on or settings.fail_on or "info"


def _run(spec: str, overrides, rules) -> list:
    from archc.lint.runner import run

    return run(load(spec, overrides).ir, rules)


def _echo(text: str) -> None:
    """Every line ``archc lint`` and ``archc rule`` print goes through here: findings quote the spec's names and
    values, so control characters are escaped line by line (a spec cannot erase its own file:line:col)."""
    from archc.errors import printable

    click.echo("\n".join(printable(line) for line in text.split("\n")))


def _parse_options(texts) -> dict:
    """['GF001.min_layers=6'] -> {'GF001': {'min_layers': 6}}; values are YAML scalars."""
    import yaml

    out: dict = {}
    for text in texts:
        target, eq, value = text.partition("=")
        rule, dot, name = target.partition(".")
        if not (eq and dot and rule and name):
            raise ValueError(f"bad --option '{text}': expected CODE.NAME=VALUE, e.g. GF001.min_layers=6")
        out.setdefault(rule, {})[name] = yaml.safe_load(value)
    return out


def _summary(findings) -> str:
    if not findings:
        return "All checks passed."
    counts = {s: sum(f.severity == s for f in findings) for s in SEVERITY_ORDER}
    parts = ", ".join(f"{n} {s}{'s' if n > 1 else ''}" for s, n in counts.items() if n)
    return f"Found {len(findings)} finding{'s' if len(findings) > 1 else ''} ({parts})."


def rule_table(rules) -> str:
    """One line per rule: code, name, severity, principle, anti-pattern."""
    return "\n".join(f"{code}  {cls.name:<28} {cls.severity:<8} {cls.principle:<14} {cls.anti_pattern or '-'}"
                     for code, cls in rules.items())


def rule_page(rules, selector: str, param_hint: str) -> str:
    """A rule's documentation page, found by code or name; a usage error (exit 2) for an unknown rule."""
    import inspect

    by_name = {cls.name: code for code, cls in rules.items()}
    code = selector.upper() if selector.upper() in rules else by_name.get(selector)
    if code is None:
        raise click.BadParameter(f"no rule '{selector}'; see archc rule --all", param_hint=param_hint)
    cls = rules[code]
    options = ", ".join(f"{k}={v!r}" for k, v in cls.options().items()) or "none"
    head = (f"{code} {cls.name}\n\nseverity: {cls.severity}; principle: {cls.principle}; anti-pattern: "
            f"{cls.anti_pattern or 'none'}; options: {options}")
    return f"{head}\n\n{inspect.cleandoc(cls.__doc__)}"
