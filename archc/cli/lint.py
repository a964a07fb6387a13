"""``archc lint``: check a spec against design principles; one finding per line, ruff-style."""

from __future__ import annotations

import json

import click

from archc.cli.common import exit_with, load, overrides_argument

SEVERITY_ORDER = ("error", "warning", "info")


@click.command()
@click.argument("spec", required=False, type=click.Path())
@overrides_argument
@click.option("--format", "fmt_", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Output format; json is a list of findings for scripts.")
@click.option("--select", multiple=True, metavar="RULES",
              help="Rules to run: codes (GF001), prefixes (GF), names or ALL, comma-separated. Default: ALL.")
@click.option("--ignore", multiple=True, metavar="RULES",
              help="Rules to skip, as for --select; the more specific of the two wins.")
@click.option("--option", "-o", "options", multiple=True, metavar="CODE.NAME=VALUE",
              help="Set a rule option, e.g. GF001.min_layers=6 (see --explain CODE).")
@click.option("--explain", metavar="RULE", help="Print a rule's documentation (code or name) and exit.")
@click.option("--list-rules", is_flag=True, help="List the rules and exit.")
def lint(spec, overrides, fmt_, select, ignore, options, explain, list_rules):
    """Check a spec against design principles and print what violates them.

    Findings print as file:line:col: CODE [name] message, then a summary line. Exit status: 0 when clean,
    1 when anything is found, 2 for a bad spec or a bad option.

    \b
    Examples:
      archc lint specs/gpt2.yaml
      archc lint specs/llama.yaml vars.n_layers=48 norm=layernorm
      archc lint model.yaml --select GF --ignore GF002
      archc lint model.yaml -o GF001.min_layers=6 --format json | jq '.[].code'
      archc lint --explain post-norm-deep-stack
    """
    from archc.lint.registry import RULES

    if list_rules:
        for code, cls in RULES.items():
            click.echo(f"{code}  {cls.name:<28} {cls.severity:<8} {cls.principle:<14} {cls.anti_pattern or '-'}")
        return
    if explain:
        click.echo(_explain(RULES, explain))
        return
    if spec is None:
        raise click.UsageError("Missing argument 'SPEC'.")
    from archc.lint.runner import configured, run

    try:  # before loading, so a typo in a rule name fails fast
        rules = configured(select or None, ignore, _parse_options(options))
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    from archc.errors import printable

    findings = run(load(spec, overrides).ir, rules)
    if fmt_ == "json":
        click.echo(json.dumps([f.to_json() for f in findings], indent=2))
    else:
        for finding in findings:
            click.echo(printable(str(finding)))  # a finding quotes the spec's names and values
        click.echo(_summary(findings))
    if findings:
        exit_with(1)


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


def _explain(rules, selector: str) -> str:
    import inspect

    by_name = {cls.name: code for code, cls in rules.items()}
    code = selector.upper() if selector.upper() in rules else by_name.get(selector)
    if code is None:
        raise click.BadParameter(f"no rule '{selector}'; see --list-rules", param_hint="--explain")
    cls = rules[code]
    options = ", ".join(f"{k}={v!r}" for k, v in cls.options().items()) or "none"
    head = (f"{code} {cls.name}\n\nseverity: {cls.severity}; principle: {cls.principle}; anti-pattern: "
            f"{cls.anti_pattern or 'none'}; options: {options}")
    return f"{head}\n\n{inspect.cleandoc(cls.__doc__)}"
