"""``archc graph``: a picture of the architecture, drawn with Graphviz.

Block instances are nested clusters; a repeat is one cluster marked ``x N`` holding its first iteration, with
the edges into and out of the repeat drawn to that iteration. Nodes are labelled with their name, op and
output shape and coloured by category. The DOT text depends only on the IR, so it is the same on every run.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import click

from archc.cli.common import load, overrides_argument, spec_argument
from archc.ir.dims import fmt

FORMATS = ("dot", "svg", "png")
COLORS = {"attention": "#fde2c8", "mlp": "#d5e8d4", "norm": "#e1d5e7", "embedding": "#dae8fc",
          "position": "#dae8fc", "head": "#f8cecc", "input": "#ffffff"}
INSTALL_HINT = ("rendering .{fmt} needs Graphviz's 'dot' program: install Graphviz (apt install graphviz, "
                "brew install graphviz) or write .dot instead")


class _View:
    """What the picture shows of an IR: which scopes are hidden (later iterations) and where keys are drawn."""

    def __init__(self, ir):
        self.ir = ir
        self.scopes = ir.scopes
        self.instances = ir.scopes.instances
        self.repeats = ir.scopes.repeats

    def scope_of(self, node) -> str:
        """The innermost block instance a node belongs to: its own scope for a single-node block's node."""
        return self.scopes.owner(node)

    def hidden(self, scope: str) -> bool:
        """True inside a repeat's second or later iteration."""
        return self.scopes.later_iteration(scope)

    def first_iteration(self, key: str) -> str:
        """``h.11.res_2`` -> ``h.0.res_2``: where a node of a later iteration is drawn."""
        return self.scopes.first_iteration(key)

    def has_cluster(self, scope: str) -> bool:
        """Every block instance is a cluster except a single-node block outside a repeat (drawn as its node)."""
        inst = self.instances[scope]
        return not inst.alias or bool(inst.repeat)

    def container(self, node) -> str:
        """The scope of the innermost cluster a node is drawn in ('' for the top level)."""
        return next((i.scope for i in self.scopes.chain(self.scope_of(node)) if self.has_cluster(i.scope)), "")

    def cluster_parent(self, scope: str) -> str:
        """The scope of the cluster that a block instance's cluster is drawn in ('' for the top level)."""
        parent = self.instances[scope].parent
        return next((i.scope for i in self.scopes.chain(parent) if self.has_cluster(i.scope)), "")

    def cluster_label(self, scope: str) -> str:
        inst = self.instances[scope]
        if inst.repeat:
            count = self.repeats[inst.repeat].count
            return f"{_local(inst.repeat, self.cluster_parent(scope))}: {inst.block} x {count}"
        return f"{_local(scope, self.cluster_parent(scope))}: {inst.block}"


def dot_text(text: str):
    """A file name or override as a DOT label showing exactly its characters: control characters escaped as
    everywhere archc prints, backslashes made literal (DOT reads '\\n' and '\\l' as line breaks, and a final
    backslash would escape the closing quote: 'spec.yaml +vars.a=x\\' made a file dot refused)."""
    import graphviz

    from archc.errors import printable

    return graphviz.escape(printable(text))


def _local(key: str, parent: str) -> str:
    return key[len(parent) + 1:] if parent else key


def node_label(view: _View, node) -> str:
    inst = view.instances.get(node.key)
    container = view.container(node)
    if container == node.key:  # the node of a repeated single-node block: named like the repeat
        name, kind = _local(inst.repeat, view.cluster_parent(container)), node.op
    else:
        name = _local(node.key, container)
        kind = f"{node.op} ({inst.block})" if inst else node.op
    shapes = ", ".join(fmt(s) for s in node.meta["shapes"].values())
    return "\\n".join((name, kind, shapes))  # DOT's escaped line break; names are identifiers


def edge_label(ir, node, port: str, src: str, src_port: str) -> str:
    from archc.ops.registry import OPS, output_names

    src_node = ir.node(src)
    several_outputs = len(output_names(OPS[src_node.op], src_node.attrs)) > 1
    named_port = port != OPS[node.op].inputs[0].name
    return "->".join(p for p in (src_port if several_outputs else "", port if named_port else "") if p)


def draw(ir, title: str):
    """A ``graphviz.Digraph`` of the IR (see the module docstring)."""
    import graphviz

    view = _View(ir)
    dot = graphviz.Digraph(name="archc", graph_attr={"rankdir": "TB", "label": title, "labelloc": "t",
                                                     "fontname": "Helvetica"},
                           node_attr={"shape": "box", "style": "rounded,filled", "fontname": "Helvetica",
                                      "fontsize": "10"},
                           edge_attr={"fontname": "Helvetica", "fontsize": "9"})
    visible = [n for n in ir.nodes() if not view.hidden(view.scope_of(n))]
    members: dict[str, list] = {}
    for node in visible:
        members.setdefault(view.container(node), []).append(node)
    children: dict[str, list[str]] = {}
    for scope in view.instances:
        if view.has_cluster(scope) and not view.hidden(scope):
            children.setdefault(view.cluster_parent(scope), []).append(scope)

    def fill(graph, scope: str):
        for node in members.get(scope, []):
            shape = "oval" if node.op == "input" else "box"
            tied = f", tied to {node.tie}" if node.tie else ""
            graph.node(node.key, node_label(view, node), shape=shape,
                       fillcolor=COLORS.get(node.meta.get("category"), "#f5f5f5"),
                       tooltip=f"{node.key}: {node.meta.get('n_params', 0):,} parameters{tied}")
        for child in children.get(scope, []):
            with graph.subgraph(name=f"cluster_{child}") as sub:
                sub.attr(label=view.cluster_label(child), style="rounded", color="#888888", fontsize="11")
                fill(sub, child)

    fill(dot, "")
    seen: set = set()
    for node in visible:
        for port, src, src_port in node.inputs:
            edge = (view.first_iteration(src), node.key, edge_label(ir, node, port, src, src_port))
            if edge not in seen:
                seen.add(edge)
                dot.edge(edge[0], edge[1], label=edge[2] or None)
        if node.tie:
            dot.edge(node.key, view.first_iteration(node.tie), label="tied", style="dashed", dir="none",
                     constraint="false", color="#888888")
    for name, (key, port) in ir.info["outputs"].items():
        dot.node(f"output {name}", name, shape="oval", fillcolor="#ffffff")
        dot.edge(view.first_iteration(key), f"output {name}", label=port if port != "out" else None)
    return dot


@click.command()
@spec_argument
@overrides_argument
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="File to write: .dot (Graphviz source), .svg or .png (rendered with Graphviz's dot). "
                   "Default: DOT on standard output.")
def graph(spec, overrides, output):
    """Draw the architecture: blocks as nested clusters, each repeat once and marked x N.

    \b
    Examples:
      archc graph specs/gpt2.yaml -o gpt2.svg
      archc graph specs/llama.yaml size=7b -o llama.png
      archc graph specs/gpt2.yaml | dot -Tpdf -o gpt2.pdf
    """
    fmt_ = Path(output).suffix.lower().lstrip(".") if output else "dot"
    if fmt_ not in FORMATS:
        raise click.BadParameter(f"'{output}' must end in .dot, .svg or .png", param_hint="'-o'")
    if fmt_ != "dot" and shutil.which("dot") is None:
        raise click.ClickException(INSTALL_HINT.format(fmt=fmt_))
    loaded = load(spec, overrides)
    source = draw(loaded.ir, dot_text(" ".join([loaded.path, *loaded.overrides]))).source
    if output is None:
        click.echo(source, nl=False)
    elif fmt_ == "dot":
        Path(output).write_text(source, encoding="utf-8")
    else:
        import graphviz

        Path(output).write_bytes(graphviz.pipe("dot", fmt_, source.encode("utf-8")))
