"""``archc schema``: the JSON Schema of the spec language, for editors (see :mod:`archc.schema`)."""

from __future__ import annotations

import json

import click


@click.command()
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write the schema to this file instead of standard output.")
def schema(output):
    """Write a JSON Schema (draft 2020-12) of specs: ops, their attributes with types, defaults and docs.

    With the YAML language server (VS Code's YAML extension, and others), a spec whose first line is
    `# yaml-language-server: $schema=archc.schema.json` gets completion and checking as you type.

    \b
    Examples:
      archc schema -o archc.schema.json
      archc schema | jq '.["$defs"].op_attention.properties | keys'
    """
    from archc.schema import spec_schema

    text = json.dumps(spec_schema(), indent=2) + "\n"
    if output is None:
        click.echo(text, nl=False)
    else:
        with open(output, "w", encoding="utf-8") as f:
            f.write(text)
