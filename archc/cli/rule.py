"""``archc rule``: a lint rule's documentation page, or the table of every rule (ruff's ``rule`` command)."""

from __future__ import annotations

import click

from archc.cli.lint import _echo, rule_page, rule_table


@click.command()
@click.argument("rule", required=False)
@click.option("--all", "all_", is_flag=True, help="List every rule: code, name, severity, principle, anti-pattern.")
def rule(rule, all_):
    """Print the documentation page of RULE (a code such as GF001, or a name such as post-norm-deep-stack).

    \\b
    Examples:
      archc rule GF001
      archc rule post-norm-deep-stack
      archc rule --all
    """
    from archc.lint.registry import RULES

    if all_:
        _echo(rule_table(RULES))
        return
    if rule is None:
        raise click.UsageError("name a rule (archc rule GF001) or list them all (archc rule --all)")
    _echo(rule_page(RULES, rule, "RULE"))
