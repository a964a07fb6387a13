"""``archc show``: scopes, output shapes, parameters and FLOPs per token."""

from __future__ import annotations

import json

import click

from archc.cli.common import context_length, load, overrides_argument, spec_argument
from archc.ir.dims import fmt


def rows(ir, ctx: int, expand: bool) -> list[dict]:
    """One row per node and block instance; repeats collapse to their first iteration unless ``expand``."""
    scopes = ir.scopes
    repeats, instances = scopes.repeats, scopes.instances
    out: list[dict] = []
    group_rows: dict[str, dict] = {}
    inst_rows: dict[str, dict] = {}

    def add_to_parents(scope: str, params: int, flops: float):
        while scope:
            if scope in inst_rows:
                inst_rows[scope]["params"] += params
                inst_rows[scope]["flops_per_token"] += flops
            inst = instances[scope]
            if inst.repeat and inst.repeat in group_rows:
                group_rows[inst.repeat]["params"] += params
                group_rows[inst.repeat]["flops_per_token"] += flops
            scope = inst.parent

    def depth(scope: str) -> int:
        return sum(2 if inst.repeat else 1 for inst in scopes.chain(scope))

    def open_instance(scope: str):
        inst = instances[scope]
        if scope in inst_rows or (not expand and scopes.iteration_state(scope) not in (None, 0)):
            return
        if inst.parent:
            open_instance(inst.parent)
        group = inst.repeat
        if group and group not in group_rows:
            count = repeats[group].count
            label = group if expand else f"{scopes.collapse(group)}.[0-{count - 1}] x{count}"
            row = {"scope": label, "kind": inst.block, "shape": None, "params": 0, "flops_per_token": 0.0,
                   "depth": depth(inst.parent), "key": group, "repeat": count}
            group_rows[group] = row
            out.append(row)
        if inst.alias:
            return
        label = scope if expand else scopes.collapse(scope)
        row = {"scope": label, "kind": inst.block, "shape": None, "params": 0, "flops_per_token": 0.0,
               "depth": depth(scope) - 1, "key": scope}
        inst_rows[scope] = row
        out.append(row)

    for node in ir.nodes():
        if node.op == "input":
            continue
        flops = node.meta["flops"][0] + node.meta["flops"][1] * ctx
        params = node.meta["n_params"]
        if node.parent:
            open_instance(node.parent)
        add_to_parents(node.parent, params, flops)
        own = instances.get(node.key)  # a single-node block repeated: the node is the iteration itself
        indent = 0
        if own and own.repeat:
            open_instance(node.key)
            group_rows[own.repeat]["params"] += params
            group_rows[own.repeat]["flops_per_token"] += flops
            indent = 1
        if not expand and scopes.iteration_state(node.key) not in (None, 0):
            continue
        label = scopes.collapse(node.key)
        shape = list(next(iter(node.meta["shapes"].values())))
        out.append({"scope": node.key if expand else label, "kind": node.op, "shape": shape, "params": params,
                    "flops_per_token": flops, "depth": depth(node.parent) + indent, "key": node.key,
                    "tied": node.meta.get("tied"), "rewrite": node.meta.get("rewrite", {}).get("rule")})
    for scope, row in inst_rows.items():
        outs = instances[scope].ports_out
        if outs:
            row["shape"] = list(ir.shape_of(*next(iter(outs.values()))))
    for group, row in group_rows.items():
        outs = repeats[group].ports_out
        if outs:
            row["shape"] = list(ir.shape_of(*next(iter(outs.values()))))
    return out


def summary(ir, ctx: int) -> dict:
    from archc.passes.count import totals

    t = totals(ir, ctx)
    by_cat = t["flops_by_category"]
    total = t["flops_per_token"] or 1.0
    return {"params": t["params"], "flops_per_token": t["flops_per_token"], "ctx": ctx,
            "flops_share": {k: v / total for k, v in sorted(by_cat.items(), key=lambda kv: -kv[1]) if v},
            "nodes": len(ir)}


def _shape(row: dict) -> str:
    return fmt(row["shape"]) if row["shape"] is not None else ""


def _num(x: float) -> str:
    return f"{int(round(x)):,}"


@click.command()
@spec_argument
@overrides_argument
@click.option("--expand", is_flag=True, help="List every scope instead of collapsing repeats.")
@click.option("--format", "fmt_", type=click.Choice(["table", "json"]), default="table", show_default=True,
              help="Output format; json is for scripts.")
@click.option("--backend", type=click.Choice(["pytorch", "triton"]), default="pytorch", show_default=True,
              help="triton: mark each node with the Triton kernel it lowers to (as archc build --backend triton), "
                   "and list the nodes that stay PyTorch with the reason.")
@click.option("--ctx", type=click.IntRange(min=1), default=None,
              help="Context length T for attention's T-dependent FLOPs (default: vars.seq_len, n_ctx or "
                   "max_seq_len, else 2048).")
def show(spec, overrides, expand, fmt_, backend, ctx):
    """Show scopes with output shapes, parameters and forward FLOPs per token.

    \b
    Examples:
      archc show specs/gpt2.yaml
      archc show specs/llama.yaml size=7b
      archc show specs/llama.yaml vars.n_layers=48 ffn=geglu --expand
      archc show specs/gpt2.yaml --format json | jq .totals.params
      archc show specs/llama.yaml --backend triton
    """
    from archc.cli.build import lower_kernels

    loaded = load(spec, overrides)
    notes = lower_kernels(loaded, backend, {})
    ir = loaded.ir
    ctx = context_length(ir, ctx)
    table = rows(ir, ctx, expand)
    totals = summary(ir, ctx)
    if fmt_ == "json":
        for row in table:  # FLOPs are whole numbers; JSON readers should not see 1234.0
            row["flops_per_token"] = int(round(row["flops_per_token"]))
        totals["flops_per_token"] = int(round(totals["flops_per_token"]))
        click.echo(json.dumps({"spec": loaded.path, "overrides": list(overrides), "backend": backend,
                               "rows": table, "totals": totals, "notes": notes}, indent=2))
        return
    _print_table(loaded, table, totals)
    for line in notes:
        print(line)


def _kind(row: dict) -> str:
    """The op, and the rewrite that prints it as one call with its neighbours (``silu > silu_mul``), or the
    Triton kernel it lowers to (``attention > triton:attention``)."""
    from archc.passes.rewrite import RULES_BY_NAME

    rule = RULES_BY_NAME.get(row.get("rewrite") or "")
    if rule is None:
        return row["kind"]
    return row["kind"] + (f" > triton:{rule.kernel}" if rule.backend == "triton" else f" > {rule.name}")


def _print_rewrites(ir) -> None:
    """One line for the rewrites archc/passes/rewrite.py applied: which rule took how many nodes."""
    counts: dict[str, list[int]] = {}
    for record in ir.info.get("rewrites", []):
        label = f"triton:{record['rule']}" if record["backend"] == "triton" else record["rule"]
        entry = counts.setdefault(label, [0, 0])
        entry[0] += 1
        entry[1] += len(record["nodes"])
    if counts:
        print("rewrites:        " + ", ".join(f"{rule} x{n:,} ({k:,} nodes, '> {rule}' above)"
                                              for rule, (n, k) in counts.items()))


def _print_table(loaded, table: list[dict], totals: dict):
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from archc.errors import printable

    labels = [printable("  " * r["depth"] + r["scope"]) for r in table]
    widths = [max(len(x) for x in col) for col in (
        labels, [_kind(r) for r in table], [_shape(r) for r in table], [_num(r["params"]) for r in table],
        [_num(r["flops_per_token"]) for r in table])]
    width = sum(widths) + 3 * len(widths) + 4
    console = Console(width=max(width, 100), highlight=False, soft_wrap=True)
    title = Text(printable(f"{loaded.path} {' '.join(loaded.overrides)}".strip()))
    grid = Table(title=title, show_lines=False, box=None, pad_edge=False, header_style="bold")
    grid.add_column("scope", no_wrap=True)
    grid.add_column("op / block", no_wrap=True)
    grid.add_column("output", no_wrap=True)
    grid.add_column("params", justify="right", no_wrap=True)
    grid.add_column("FLOPs/token", justify="right", no_wrap=True)
    for label, r in zip(labels, table, strict=True):
        style = "bold" if r.get("repeat") else None
        params = _num(r["params"]) + (" (tied)" if r.get("tied") else "")
        grid.add_row(Text(label), Text(printable(_kind(r))), Text(printable(_shape(r))), params,
                     _num(r["flops_per_token"]), style=style)
    console.print(grid)
    _print_rewrites(loaded.ir)
    share = ", ".join(f"{k} {v:.1%}" for k, v in totals["flops_share"].items())
    print(f"parameters:      {totals['params']:,}")
    print(f"FLOPs per token: {_num(totals['flops_per_token'])} (forward, multiply-add = 2, attention at "
          f"T={totals['ctx']:,})")
    print(f"FLOPs share:     {share or 'none (no arithmetic)'}")
    print(f"IR nodes:        {totals['nodes']:,}")


