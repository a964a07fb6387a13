"""``archc ir``: the analysed IR as JSON (see :mod:`archc.ir.serialize` for the layout)."""

from __future__ import annotations

import json

import click

from archc.cli.common import load, overrides_argument, spec_argument


@click.command()
@spec_argument
@overrides_argument
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write the JSON to this file instead of standard output.")
def ir(spec, overrides, output):
    """Write the IR (nodes, attributes, wiring, shapes, parameters, FLOPs, block structure) as JSON.

    `archc.ir.serialize.from_json` reads it back into an equal IR.

    \b
    Examples:
      archc ir specs/gpt2.yaml -o gpt2.ir.json
      archc ir specs/llama.yaml size=7b | jq '.nodes | length'
      archc ir specs/gpt2.yaml | jq '.nodes[] | select(.op == "attention") | .key'
    """
    from archc.ir.serialize import to_json

    text = json.dumps(to_json(load(spec, overrides).ir), indent=1, allow_nan=False) + "\n"
    if output is None:
        click.echo(text, nl=False)
    else:
        with open(output, "w", encoding="utf-8") as f:
            f.write(text)
