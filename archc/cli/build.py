"""``archc build``: standalone PyTorch source for a spec."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import click

from archc.cli.common import load, overrides_argument, spec_argument
from archc.errors import Loc, SpecError


@click.command()
@spec_argument
@overrides_argument
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="File to write (default: standard output).")
@click.option("--force", is_flag=True, help="Overwrite the output even if it was edited since archc wrote it.")
@click.option("--verify", is_flag=True,
              help="Import torch, build the model on the meta device and check parameters and output shapes "
                   "against the IR.")
def build(spec, overrides, output, force, verify):
    """Generate one standalone PyTorch file (imports only torch) from SPEC.

    The file defines Config (the resolved vars) and Model (an nn.Module constructible with no
    arguments). It never overwrites a file you edited: the header records a hash of the body, and a
    mismatch makes build refuse (exit 2) unless --force.

    \b
    Examples:
      archc build specs/llama.yaml -o llama.py
      archc build specs/gpt2.yaml vars.n_layers=2 --verify -o tiny_gpt2.py
      archc build specs/llama.yaml size=7b --verify > llama7b.py
    """
    from archc.codegen.pytorch import build_source, is_edited

    loaded = load(spec, overrides)
    source = build_source(loaded)
    if verify:
        from archc.codegen.verify import verify as run_verify

        message = run_verify(loaded, source)
        click.echo(message, err=True)
    if output is None:
        click.echo(source, nl=False)
        return
    target = Path(output)
    if target.exists() and not force:
        try:
            current = target.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            current = None
        if current != source and (current is None or is_edited(current)):
            raise SpecError(f"refusing to overwrite {output}: it was edited since archc wrote it (or archc did not "
                            "write it); use --force to replace it", Loc(str(target)))
    if not target.parent.is_dir():
        raise SpecError(f"cannot write {output}: no such directory {target.parent}", Loc(str(target)))
    # write beside the target and rename, so an interrupted build never leaves half a file; keep the
    # target's permissions (mkstemp's are 0600), or the umask's for a new file
    mode = target.stat().st_mode & 0o777 if target.exists() else 0o666 & ~_umask()
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=str(target.parent))
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(source)
    os.chmod(tmp, mode)
    os.replace(tmp, target)
    click.echo(f"wrote {output} ({source.count(chr(10)):,} lines)", err=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
