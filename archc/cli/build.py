"""``archc build``: standalone PyTorch source for a spec."""

from __future__ import annotations

import click

from archc.cli import output as output_file
from archc.cli.common import load, overrides_argument, spec_argument
from archc.errors import Loc, SpecError
from archc.passes.rewrite import BACKENDS, KERNELS


def _kernel_choices(ctx, param, values) -> dict[str, str]:
    choices: dict[str, str] = {}
    for value in values:
        name, sep, choice = value.partition("=")
        if not sep or name not in KERNELS or choice not in BACKENDS:
            raise click.BadParameter(f"{value!r}: expected NAME=triton or NAME=pytorch, NAME one of "
                                     f"{', '.join(KERNELS)}", ctx, param)
        choices[name] = choice
    return choices


def lower_kernels(loaded, backend: str, kernels: dict[str, str]) -> list[str]:
    """Re-run the rewrite pass with the kernel rows chosen; the ``info:`` lines saying what stays PyTorch
    and why (one per spec location: a repeated layer is one line, not one per iteration)."""
    from archc.codegen.pytorch import source_name, spec_root
    from archc.passes.rewrite import RULES_BY_NAME, relower

    if backend == "pytorch" and not kernels:
        return []
    ir = relower(loaded.ir, backend, kernels)
    root = spec_root(loaded.path)
    lines: list[str] = []
    for miss in ir.info["rewrite_misses"]:
        rule = RULES_BY_NAME[miss["rule"]]
        if rule.backend != "triton":
            continue
        node = ir.node(miss["root"])
        where = f"{source_name(node.loc, '', root)}:{node.loc.col}"
        line = f"{where}: info: {node.name} stays PyTorch, not the {rule.kernel} kernel: {miss['reason']}"
        if line not in lines:
            lines.append(line)
    lowered = [r for r in ir.info["rewrites"] if r["backend"] == "triton"]
    counts: dict[str, int] = {}
    for record in lowered:
        counts[record["rule"]] = counts.get(record["rule"], 0) + 1
    if counts:
        lines.append("info: Triton kernels: " + ", ".join(f"{k} x{n:,}" for k, n in counts.items()) +
                     " (archc show --backend triton marks the nodes)")
    if not lowered:
        lines.append(f"info: nothing in {loaded.path} lowers to a Triton kernel; the file is the PyTorch model")
    for name, choice in kernels.items():
        if choice == "triton" and not any(RULES_BY_NAME[r["rule"]].kernel == name for r in lowered):
            lines.append(f"info: --kernel {name}=triton: no node of the spec matches the {name} kernel")
    return lines


@click.command()
@spec_argument
@overrides_argument
@click.option("-o", "--output", type=click.Path(), default=None,
              help="Regular file to write, atomically (default: standard output).")
@click.option("--force", is_flag=True, help="Overwrite the output even if it was edited since archc wrote it.")
@click.option("--backend", type=click.Choice(BACKENDS), default="pytorch", show_default=True,
              help="pytorch: plain PyTorch modules; triton: also the fused Triton kernels of kernels/ wherever a "
                   "node meets a kernel's conditions (the others stay PyTorch, with an info: line saying why).")
@click.option("--kernel", "kernel_choices", multiple=True, metavar="NAME=triton|pytorch", callback=_kernel_choices,
              help=f"Force one kernel on or off (repeatable; NAME one of {', '.join(KERNELS)}). Forced on, a node "
                   "that cannot take the kernel is an error at its line.")
@click.option("--verify", is_flag=True,
              help="Import torch, build the model on the meta device and check parameters and output shapes "
                   "against the IR.")
def build(spec, overrides, output, force, backend, kernel_choices, verify):
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
      archc build specs/llama.yaml --backend triton -o llama_triton.py
      archc build specs/gpt2.yaml --backend triton --kernel layernorm=pytorch -o gpt2.py
    """
    from archc.codegen.pytorch import build_source, is_edited

    if output is not None:
        output_file.target(output)  # a device, FIFO or directory is refused before the work, and again below
    loaded = load(spec, overrides)
    for line in lower_kernels(loaded, backend, kernel_choices):
        click.echo(line, err=True)
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
