"""``archc import-hf``: a HuggingFace ``config.json`` of a family in archc.interop.registry -> an archc spec."""

from __future__ import annotations

from pathlib import Path

import click

from archc.errors import COMMAND_LINE, Loc, SpecError


@click.command("import-hf")
@click.argument("config", type=click.Path())
@click.option("-o", "--output", type=click.Path(), default=None,
              help="Write the spec to this regular file, atomically (default: standard output).")
def import_hf(config, output):
    """Turn a HuggingFace CONFIG.json (model_type {families}) into a spec extending the catalog's.

    Every key of the config must be understood: a key or value that would change the model in a way archc
    cannot express (RoPE scaling, sliding windows, cross-attention...) is refused with exit code 2 and
    the key's line. Weights: archc.interop.hf.load_hf_weights(model, state_dict).

    \b
    Examples:
      archc import-hf config.json -o tiny_llama.yaml
      archc import-hf gpt2/config.json | archc show /dev/stdin
    """
    from archc.cli import output as output_file
    from archc.interop.import_hf import import_config

    if output is not None:
        output_file.target(output)
        _check_output(Path(output), config)
    imported = import_config(config)
    if output is None:
        click.echo(imported.text, nl=False)
        return
    output_file.write(*output_file.target(output), imported.text)
    v = imported.draft.vars
    sizes = "".join(f", {form.format(v[k])}" for k, form in (("n_layers", "{} layers"), ("d_model", "d_model {}"))
                    if k in v)
    click.echo(f"wrote {output}: {imported.model_type}{sizes}, {imported.params:,} parameters", err=True)


def _check_output(path: Path, config: str):
    """The spec extends its family's catalog spec, found beside it first: refuse a folder that would shadow it."""
    from archc.interop.registry import FAMILIES
    from archc.paths import catalog_dir

    catalog = catalog_dir().resolve()
    for family in FAMILIES.values():
        name = f"{family.base}.yaml"
        beside = path.parent / name
        if path.name == name or (beside.exists() and beside.resolve() != catalog / name):
            raise SpecError(f"cannot write {path}: a spec named {name} there would take the place of the "
                            f"catalog's {name}, which imported specs extend; choose another folder or name",
                            Loc(COMMAND_LINE))


def _families() -> str:
    from archc.interop.registry import FAMILIES

    return " or ".join(FAMILIES)


import_hf.help = import_hf.help.replace("{families}", _families())
