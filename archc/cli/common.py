"""Options and helpers shared by the commands."""

from __future__ import annotations

import click

spec_argument = click.argument("spec", type=click.Path())  # archc itself says "is a directory", on one line
overrides_argument = click.argument("overrides", nargs=-1)


def load(spec: str, overrides) -> archc.pipeline.Spec:  # noqa: F821
    from archc.pipeline import load_spec

    return load_spec(spec, list(overrides))


def context_length(ir, ctx: int | None) -> int:
    """The T at which attention's T-dependent FLOPs are stated: --ctx, else the spec's longest sequence."""
    if ctx:
        return ctx
    variables = ir.info["vars"]
    for name in ("seq_len", "n_ctx", "max_seq_len", "context_length"):
        value = variables.get(name)
        if isinstance(value, int) and value > 0:
            return value
    return 2048


def exit_with(code: int):
    raise click.exceptions.Exit(code)
