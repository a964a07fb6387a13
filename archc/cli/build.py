"""``archc build``: standalone PyTorch source for a spec."""

from __future__ import annotations

import click

from archc.cli import output as output_file
from archc.cli.common import load, overrides_argument, spec_argument
from archc.errors import Loc, SpecError


@click.command()
@spec_argument
@overrides_argument
@click.option("-o", "--output", type=click.Path(), default=None,
              help="Regular file to write, atomically (default: standard output).")
@click.option("--force", is_flag=True, help="Overwrite the output even if it was edited since archc wrote it.")
@click.option("--verify", is_flag=True,
              help="Import torch, build the model on the meta device and check parameters and output shapes "
                   "against the IR.")
def build(spec, overrides, output, force, verify):
    """Generate one standalone PyTorch file (imports only torch) from SPEC.

    The file defines Config (the resolved vars) and Model (an nn.Module constructible with no
    arguments). It never overwrites a file you edited: the header records a hash of the whole file, and a
    mismatch (any line changed, header comments included) makes build refuse (exit 2) unless --force.
    It writes only regular files: a device, FIFO or directory is refused even with --force.

    \b
    Examples:
      archc build specs/llama.yaml -o llama.py
      archc build specs/gpt2.yaml vars.n_layers=2 --verify -o tiny_gpt2.py
      archc build specs/llama.yaml size=7b --verify > llama7b.py
    """
    from archc.codegen.pytorch import build_source, is_edited

    if output is not None:
        output_file.target(output)  # a device, FIFO or directory is refused before the work, and again below
    loaded = load(spec, overrides)
    source = build_source(loaded)
    if verify:
        from archc.codegen.verify import verify as run_verify

        message = run_verify(loaded, source)
        click.echo(message, err=True)
    if output is None:
        click.echo(source, nl=False)
        return
    path, info = output_file.target(output)
    if info is not None and not force:
        current = output_file.read_existing(path, info)
        if current != source and (current is None or is_edited(current)):
            raise SpecError(f"refusing to overwrite {output}: it was edited since archc wrote it (or archc did not "
                            "write it); use --force to replace it", Loc(output))
    output_file.write(path, info, source)
    click.echo(f"wrote {output} ({source.count(chr(10)):,} lines)", err=True)
