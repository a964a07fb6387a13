"""``archc explain``: the value a key resolved to, and where it came from.

A key is a path in the composed spec (``vars.d_model``, ``blocks.ffn.params.d_ff``, ``nodes.head.bias``) or
an attribute of an IR node by scope (``h.3.attn.n_heads``). The answer names the file, line and column that
set it and how that file came in: the spec itself, a config group (``size=7b``), a command-line override, or
the op's default when the spec never set the attribute. For an interpolation (``${vars.d_model}``) it shows
the text as written and then explains every key the interpolation reads, down to the numbers.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import click

from archc.cli.common import load, overrides_argument, spec_argument
from archc.errors import Loc, SpecError, did_you_mean, printable

_REFERENCE = re.compile(r"\$\{\s*([A-Za-z_]\w*(?:\.\w+)*)\s*\}")  # ${vars.d_model}, also inside ${mul:...}
# The longest key in the catalog is 40 characters (blocks.swiglu.nodes.gate.out_features and the like).
MAX_KEY = 1_000
_MAX_DEPTH = 16  # interpolation chains in real specs are 2 or 3 deep; this only stops runaway recursion


@dataclass
class Explanation:
    """One key: its resolved value, the raw text when it was an interpolation, and its origin."""

    key: str
    value: object
    raw: object
    kind: str  # spec | group | override | default
    loc: Loc
    detail: str = ""  # the group choice, the override text, or the op attribute's doc for a default
    via: list[Explanation] = field(default_factory=list)  # the keys an interpolation reads
    varies: bool = False  # a block's value that differs between its uses: value is {class key: value}

    def to_json(self) -> dict:
        return {"key": self.key, "value": self.value, "varies": self.varies, "raw": self.raw,
                "origin": {"kind": self.kind, **self.loc.to_json(), "detail": self.detail},
                "via": [v.to_json() for v in self.via]}

    def lines(self, indent: int = 0) -> list[str]:
        pad = "  " * indent
        if self.varies:
            shown = "differs between uses: " + ", ".join(f"{_show(v)} ({k})" for k, v in self.value.items())
        else:
            shown = _show(self.value)
        out = [f"{pad}{self.key} = {shown}"]
        if _references(self.raw):
            out.append(f"{pad}  raw:  {_show(self.raw)}")
        out.append(f"{pad}  from: {self.origin_text()}")
        for ref in self.via:
            out.extend(ref.lines(indent + 1))
        return out

    def origin_text(self) -> str:
        if self.kind == "default":
            return f"the default of {self.detail}; the node is defined at {self.loc}"
        if self.kind == "group":
            return f"{self.loc} (config group {self.detail})"
        if self.kind == "override":
            return f"{self.loc} (command-line override '{self.detail}')"
        return f"{self.loc} (the spec{', ' + self.detail if self.detail else ''})"


def _show(value) -> str:
    return json.dumps(value) if not isinstance(value, str) else value


def _references(raw) -> list[str]:
    """The keys that interpolations anywhere in ``raw`` read, in order, each once."""
    if isinstance(raw, str):
        return list(dict.fromkeys(_REFERENCE.findall(raw)))
    items = raw.values() if isinstance(raw, dict) else raw if isinstance(raw, list) else ()
    return list(dict.fromkeys(ref for item in items for ref in _references(item)))


class Explainer:
    """Answers ``explain`` questions about one loaded spec (see the module docstring)."""

    def __init__(self, loaded):
        self.composed = loaded.composed
        self.ir = loaded.ir
        self.instances = self.ir.scopes.instances
        self._top = None  # the resolved top level, once needed
        self._blocks: dict = {}  # (block, parameters as JSON) -> the block resolved with them

    # -- keys -------------------------------------------------------------------------------------------------

    def explain(self, key: str) -> Explanation:
        if len(key) > MAX_KEY:  # spec_path tries every dotted split: a 120 KB key of dots took 20 s and 4 GB
            raise SpecError(f"a key is at most {MAX_KEY:,} characters; this one has {len(key):,}")
        path = self.spec_path(key)
        if path is not None:
            return self.from_spec(path, None, 0)
        target = self.ir_target(key)
        if target is not None:
            return self.from_ir(*target)
        if key in self.ir:
            node = self.ir.node(key)
            raise SpecError(f"'{key}' is a node (op {node.op}); explain one of its attributes: "
                            f"{', '.join(f'{key}.{a}' for a in node.attrs) or 'it has none'}")
        if key in self.instances or key in self.ir.scopes.repeats:
            members = [n.key for n in self.ir.nodes() if n.key.startswith(key + ".")][:3]
            raise SpecError(f"'{key}' is a block; explain an attribute of one of its nodes "
                            f"({', '.join(members)}, ...)")
        raise SpecError(f"no key '{key}' in the spec or the IR{self.suggest(key)}")

    def spec_path(self, key: str) -> tuple | None:
        """``blocks.ffn.params.d_ff`` as a path of the composed spec, or None.

        A key may itself hold dots (``init: {o_proj.weight: ...}``): the longest one that exists wins.
        """
        parts = key.split(".")
        value, path, i = self.composed.data, [], 0
        while i < len(parts):
            if isinstance(value, list) and parts[i].isdigit() and int(parts[i]) < len(value):
                step, used = int(parts[i]), 1
            else:
                names = [".".join(parts[i:j]) for j in range(len(parts), i, -1)]
                step = next((n for n in names if isinstance(value, dict) and n in value), None)
                if step is None:
                    return None
                used = step.count(".") + 1
            value, i = value[step], i + used
            path.append(step)
        return tuple(path)

    def ir_target(self, key: str):
        """(node, attribute) for ``h.3.attn.n_heads``, or None."""
        node_key, _, attr = key.rpartition(".")
        if node_key not in self.ir or not attr:
            return None
        node = self.ir.node(node_key)
        if attr in node.attrs or self.node_path(node) + (attr,) in self.composed.origins:
            return node, attr
        return None

    def suggest(self, key: str) -> str:
        """A did-you-mean for the first part of ``key`` that names nothing, in the spec or in the IR."""
        parts = key.split(".")
        names = {n.key for n in self.ir.nodes()} | set(self.instances) | set(self.ir.scopes.repeats)
        best = (-1, "")
        value = self.composed.data
        for i, part in enumerate(parts):  # the spec
            if isinstance(value, dict) and part in value:
                value = value[part]
                continue
            children = value if isinstance(value, dict) else range(len(value)) if isinstance(value, list) else []
            best = max(best, (i, did_you_mean(part, children, "".join(p + "." for p in parts[:i]))))
            break
        for i in range(len(parts)):  # the IR: scopes, then a node's attributes
            prefix = ".".join(parts[:i])
            if prefix and prefix not in names:
                break
            if prefix in self.ir:
                children = list(self.ir.node(prefix).attrs)
            else:
                children = sorted({k[len(prefix) + 1 if prefix else 0:].split(".")[0] for k in names
                                   if not prefix or k.startswith(prefix + ".")})
            best = max(best, (i, did_you_mean(parts[i], children, prefix + "." if prefix else "")))
        return best[1]

    # -- the spec ---------------------------------------------------------------------------------------------

    def from_spec(self, path: tuple, instance: str | None, depth: int) -> Explanation:
        origin = self.composed.origins.get(path)
        raw = _value_at(self.composed.data, path)
        key = ".".join(map(str, path))
        if origin is None:  # a mapping created implicitly (by an override's parent key)
            loc, kind, detail = self.composed.loc(path), "spec", ""
        else:
            loc, kind, detail = origin.loc, origin.kind, origin.detail
        value, varies = self.resolved(path, instance)
        found = Explanation(key, value, raw, kind, loc, detail, varies=varies)
        if depth < _MAX_DEPTH:
            for ref in _references(raw):
                target = self.reference(path, ref.split("."), instance)
                if target is not None:
                    found.via.append(self.from_spec(*target, depth + 1))
        return found

    def reference(self, path: tuple, parts: list[str], instance: str | None):
        """Where ``${parts}`` read from a value at ``path`` points: (path, instance), or None."""
        if parts[0] == "vars" or path[0] != "blocks":
            target = tuple(parts)
            return (target, None) if self.spec_path(".".join(parts)) == target else None
        if len(path) < 2:  # 'blocks' as a whole: each reference means something else in each block
            return None
        block = path[1]
        if parts[0] == "params" and len(parts) > 1 and instance is not None:
            binding = self.binding_path(instance) + (parts[1],)
            if binding in self.composed.origins:
                return binding, self.instances[instance].parent or None
        target = ("blocks", block, *parts)
        return (target, instance) if self.spec_path(".".join(map(str, target))) == target else None

    def binding_path(self, instance: str) -> tuple:
        """The path of the node (``mlp: {block: ffn, d_ff: 1024}``) that made a block instance."""
        inst = self.instances[instance]
        parent, group = inst.parent, inst.repeat or instance
        local = group[len(parent) + 1:] if parent else group
        return self.body_path(parent) + (local,)

    def body_path(self, instance: str) -> tuple:
        """The path of the ``nodes`` mapping that an instance's nodes come from (the top level for '')."""
        return ("blocks", self.instances[instance].block, "nodes") if instance else ("nodes",)

    def node_path(self, node) -> tuple:
        """The path in the composed spec where an IR node is defined."""
        if node.op == "input":
            return ("inputs", node.key)
        inst = self.instances.get(node.key)
        if inst is not None and inst.alias:  # a single-node block: its node is the block's only node
            only = next(iter(self.composed.data["blocks"][inst.block]["nodes"]))
            return self.body_path(node.key) + (only,)
        return self.body_path(node.parent) + (node.name,)

    def resolved(self, path: tuple, instance: str | None) -> tuple[object, bool]:
        """(value after interpolation, varies). In a block, the value in ``instance``, or in every use of the
        block: when uses bind its parameters differently, varies is True and the value is {class key: value}."""
        from archc.spec.resolve import Resolved, resolve_tree

        if path[0] != "blocks":
            if self._top is None:
                top = {k: v for k, v in self.composed.data.items() if k != "blocks"}
                self._top = resolve_tree(top, self.composed.loc)
            return _value_at(self._top, path), False
        if len(path) < 3 or path[2] not in ("params", "nodes", "outputs"):  # archc never resolves the rest
            return _value_at(self.composed.data, path), False
        block, rest = path[1], path[2:]
        raw = self.composed.data["blocks"][block]
        declared = {block: raw.get("params") or {}}
        if instance is not None:
            inst = self.instances[instance]
            uses = {inst.class_key: inst.params}
        elif rest[0] == "params":  # a parameter's declared default, whatever the uses bind
            uses = declared
        else:
            uses = {k: c.params for k, c in self.ir.scopes.classes.items() if c.block == block}
        values = {}
        uses = uses or declared
        for class_key, params in uses.items():
            cache_key = (block, json.dumps(params, sort_keys=True))
            if cache_key not in self._blocks:
                # vars and an instance's params are resolved values: never parse them a second time
                bound = params if uses is declared else {k: Resolved(v) for k, v in params.items()}
                tree = {"vars": Resolved(self.ir.info["vars"]), "params": bound, "nodes": raw.get("nodes"),
                        "outputs": raw.get("outputs")}
                self._blocks[cache_key] = resolve_tree(tree, lambda p: self.composed.loc(("blocks", block, *p)))
            values[class_key] = _value_at(self._blocks[cache_key], rest)
        distinct = {json.dumps(v, sort_keys=True) for v in values.values()}
        return (next(iter(values.values())), False) if len(distinct) == 1 else (values, True)

    # -- the IR -----------------------------------------------------------------------------------------------

    def from_ir(self, node, attr: str) -> Explanation:
        from archc.ops.registry import OPS

        path = self.node_path(node) + (attr,)
        instance = node.key if node.key in self.instances else node.parent or None
        key = f"{node.key}.{attr}"
        if path in self.composed.origins:
            found = self.from_spec(path, instance, 0)
            found.key = key
            if attr in node.attrs:
                found.value = node.attrs[attr]
            return found
        spec = OPS[node.op].attrs[attr]
        doc = f"op '{node.op}' for '{attr}'" + (f": {spec.doc}" if spec.doc else "")
        return Explanation(key, node.attrs[attr], None, "default", node.loc, doc)


def _value_at(tree, path: tuple):
    for part in path:
        tree = tree[part]
    return tree


@click.command()
@spec_argument
@click.argument("key")
@overrides_argument
@click.option("--format", "fmt_", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Output format; json is for scripts.")
def explain(spec, key, overrides, fmt_):
    """Show the value KEY resolved to and where it came from: file and line, config group, override or default.

    KEY is a path in the composed spec (vars.d_model, blocks.ffn.params.d_ff, nodes.head.bias) or an
    attribute of a node in the IR by scope (h.3.attn.n_heads, layers.0.mlp.up.bias).

    \b
    Examples:
      archc explain specs/gpt2.yaml vars.d_ff
      archc explain specs/llama.yaml vars.d_model size=7b
      archc explain specs/gpt2.yaml h.3.mlp.up.out_features
      archc explain specs/llama.yaml layers.0.attn.dropout --format json
    """
    found = Explainer(load(spec, overrides)).explain(key)
    if fmt_ == "json":
        click.echo(json.dumps(found.to_json(), indent=2))
    else:
        click.echo("\n".join(printable(line) for line in found.lines()))  # values are a spec's text
