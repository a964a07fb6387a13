"""expand: resolved spec -> IR. Instantiates blocks and repeats, validates names, attributes and references.

Needs: a composed spec (:class:`archc.spec.compose.Composed`) whose strings passed
:func:`archc.spec.resolve.check_strings`. Guarantees: every node's op exists, its attributes are complete and
of the right type, every reference names an existing value, the local graph of every scope is acyclic,
and nodes are added to the IR in topological order.

Blocks are resolved once per distinct parameter binding (cached), so a 1,000-layer repeat costs one
OmegaConf resolution, not 1,000.
"""

from __future__ import annotations

import math
import re

from archc.errors import Loc, SpecError, did_you_mean
from archc.ir import init as init_rules
from archc.ir.dims import valid_dim
from archc.ir.graph import IR, Node
from archc.ops.base import REQUIRED, Attr
from archc.ops.registry import OPS, output_names, unknown_op_message
from archc.spec.compose import Composed
from archc.spec.resolve import Resolved, resolve_tree

IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
TOP_KEYS = ("vars", "inputs", "outputs", "blocks", "nodes", "init", "name", "doc")
BLOCK_KEYS = ("params", "inputs", "outputs", "nodes", "role", "doc")
NODE_KEYS = ("op", "block", "in", "repeat", "tie", "init", "doc")
ROLES = ("attention", "mlp", "norm", "embedding", "head", "other")
# A 1,000-layer GPT-2 expands to 10,007 nodes in about a second; the cap stops a typo (repeat: 1e9) from
# running for hours, and is ten times any published model.
MAX_NODES = 100_000
_TYPE_NAMES = {int: "an int", float: "a number", bool: "true or false", str: "a string", list: "a list"}


def check_name(name, what: str, loc: Loc) -> str:
    """``name`` if generated code can use it as an identifier: no quotes, spaces or dunders.

    Python keywords (``class``, ``lambda``) are fine: code generation renames them (``class_``), as it does
    any name that clashes (archc/codegen/names.py).
    """
    if not isinstance(name, str) or not IDENT.match(name) or name.startswith("__"):
        raise SpecError(f"{what} {name!r} is not a valid name: use letters, digits and '_', not starting with "
                        "a digit or '__'", loc)
    return name


def check_finite(value, what: str, loc: Loc) -> None:
    """Refuse inf and nan anywhere in ``value``: no size or rate is infinite, and JSON cannot hold them."""
    if isinstance(value, float) and not math.isfinite(value):
        raise SpecError(f"{what} must be finite, got {value!r}", loc)
    for item in value.values() if isinstance(value, dict) else value if isinstance(value, list) else ():
        check_finite(item, what, loc)


def check_attr(op_name: str, attr: str, spec: Attr, value, loc: Loc):
    """The value, converted (int -> float) and checked against the schema."""
    if value is None:
        if spec.nullable:
            return None
        raise SpecError(f"attribute '{attr}' of op '{op_name}' cannot be null", loc)
    types = spec.type if isinstance(spec.type, tuple) else (spec.type,)
    if float in types and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    ok = any(isinstance(value, t) and not (t is int and isinstance(value, bool)) for t in types)
    if not ok:
        want = " or ".join(_TYPE_NAMES.get(t, t.__name__) for t in types)
        raise SpecError(f"attribute '{attr}' of op '{op_name}' expects {want}, got {value!r}", loc)
    if isinstance(value, float) and not math.isfinite(value):
        raise SpecError(f"attribute '{attr}' of op '{op_name}' must be finite, got {value!r}", loc)
    if spec.choices is not None and value not in spec.choices:
        raise SpecError(f"attribute '{attr}' of op '{op_name}' must be one of {', '.join(map(str, spec.choices))}"
                        f", got {value!r}{did_you_mean(value, spec.choices)}", loc)
    if spec.min is not None and isinstance(value, (int, float)) and value < spec.min:
        raise SpecError(f"attribute '{attr}' of op '{op_name}' must be at least {spec.min}, got {value!r}", loc)
    return value


class _Scope:
    """Names visible while expanding one block body (or the top level)."""

    def __init__(self, prefix: str, instance: str, values: dict, node_locs, path: tuple):
        self.prefix = prefix  # key prefix for nodes created here: 'layers.3.' or ''
        self.instance = instance  # enclosing instance scope, '' at top level
        self.values = values  # local name -> {port: (key, port)} with '' for the default port
        self.loc = node_locs  # path -> Loc
        self.path = path  # path of the 'nodes' mapping in the composed spec


class Expander:
    def __init__(self, composed: Composed):
        self.composed = composed
        self.ir = IR()
        self.block_cache: dict = {}
        self.classes: dict = {}  # (block, binding) -> class_key
        self.top_values: dict = {}
        self.default_init: dict = {}
        self.active: list[str] = []  # blocks being instantiated, outermost first (a block may not contain itself)

    def loc(self, path: tuple) -> Loc:
        return self.composed.loc(path)

    # -- top level ---------------------------------------------------------------------------------------

    def run(self) -> IR:
        data = self.composed.data
        for key in data:
            if key not in TOP_KEYS:
                raise SpecError(f"unknown top-level key '{key}'{did_you_mean(key, TOP_KEYS)}; a spec has "
                                f"{', '.join(TOP_KEYS)}", self.loc((key,)))
        blocks = data.get("blocks") or {}
        if not isinstance(blocks, dict):
            raise SpecError("'blocks' must be a mapping of block names to blocks", self.loc(("blocks",)))
        for name in blocks:
            check_name(name, "block name", self.loc(("blocks", name)))
        self.blocks = blocks
        top = {k: v for k, v in data.items() if k != "blocks"}
        resolved = resolve_tree(top, self.loc)
        variables = resolved.get("vars") or {}
        if not isinstance(variables, dict):
            raise SpecError("'vars' must be a mapping of names to values", self.loc(("vars",)))
        for name, value in variables.items():
            check_name(name, "var name", self.loc(("vars", name)))
            check_finite(value, f"var '{name}'", self.loc(("vars", name)))
        self.vars = variables
        self.ir.info["vars"] = variables
        self.default_init = init_rules.normalize(resolved.get("init"), self.loc(("init",)), "the spec's init")
        self.ir.info["default_init"] = self.default_init
        values = self.declare_inputs(resolved.get("inputs"))
        nodes = resolved.get("nodes")
        if not isinstance(nodes, dict) or not nodes:
            raise SpecError("a spec needs 'nodes': a mapping of node names to nodes", self.loc(("nodes",)))
        scope = _Scope("", "", values, self.loc, ("nodes",))
        self.top_values = values
        self.expand_nodes(nodes, scope, first_input=next(iter(values), None))
        self.declare_outputs(resolved.get("outputs"), scope, nodes)
        self.resolve_ties()
        return self.ir

    def declare_inputs(self, inputs) -> dict:
        where = self.loc(("inputs",))
        if not isinstance(inputs, dict) or not inputs:
            raise SpecError("a spec needs 'inputs': a mapping like {tokens: {shape: [B, T], dtype: int64}}", where)
        values = {}
        op = OPS["input"]
        for name, decl in inputs.items():
            loc = self.loc(("inputs", name))
            check_name(name, "input name", loc)
            if not isinstance(decl, dict):
                raise SpecError(f"input '{name}' must be a mapping with 'shape' (and 'dtype')", loc)
            attrs = self.check_attrs(op.name, decl, ("inputs", name), lambda p: self.loc(p))
            for i, dim in enumerate(attrs["shape"]):
                if not valid_dim(dim):
                    raise SpecError(f"input '{name}': axis {i} must be a positive int or a name like B, got "
                                    f"{dim!r}", self.loc(("inputs", name, "shape", i)))
                if isinstance(dim, str):  # symbols become variables of the generated forward()
                    check_name(dim, f"input '{name}': axis", self.loc(("inputs", name, "shape", i)))
            self.ir.add(Node(name, "input", attrs, [], loc))
            self.ir.info["inputs"][name] = {"shape": attrs["shape"], "dtype": attrs["dtype"]}
            values[name] = {"": (name, "out"), "out": (name, "out")}
        return values

    def declare_outputs(self, outputs, scope: _Scope, nodes: dict):
        where = self.loc(("outputs",))
        if outputs is None:  # the last node; each of its outputs when it has several (split)
            last = list(nodes)[-1]
            ports = [p for p in scope.values[last] if p]
            outputs = {last: last} if "" in scope.values[last] else {f"{last}_{p}": f"{last}.{p}" for p in ports}
        elif isinstance(outputs, str):
            outputs = {outputs.split(".")[0]: outputs}
        elif isinstance(outputs, list):
            outputs = {str(o).split(".")[0]: o for o in outputs}
        if not isinstance(outputs, dict) or not outputs:
            raise SpecError("'outputs' must name nodes: {logits: head} or [head]", where)
        for name, ref in outputs.items():
            loc = self.loc(("outputs", name)) if ("outputs", name) in self.composed.origins else where
            check_name(name, "output name", loc)
            key, port = self.lookup(ref, scope, loc, f"output '{name}'")
            self.ir.info["outputs"][name] = [key, port]

    # -- attributes ----------------------------------------------------------------------------------------

    def check_attrs(self, op_name: str, raw: dict, path: tuple, loc_of) -> dict:
        op = OPS[op_name]
        attrs = {}
        for attr, value in raw.items():
            if attr not in op.attrs:
                known = sorted(op.attrs)
                hint = did_you_mean(attr, list(op.attrs) + list(NODE_KEYS))
                listing = f"; it takes {', '.join(known)}" if known else "; it takes no attributes"
                raise SpecError(f"unknown attribute '{attr}' for op '{op_name}'{hint}{listing}",
                                loc_of(path + (attr,)))
            attrs[attr] = check_attr(op_name, attr, op.attrs[attr], value, loc_of(path + (attr,)))
        for attr, spec in op.attrs.items():
            if attr not in attrs:
                if spec.default is REQUIRED:
                    raise SpecError(f"op '{op_name}' needs attribute '{attr}' ({spec.doc})", loc_of(path))
                attrs[attr] = spec.default
        return attrs

    # -- references ----------------------------------------------------------------------------------------

    def lookup(self, ref, scope: _Scope, loc: Loc, what: str) -> tuple[str, str]:
        if not isinstance(ref, str) or not ref:
            raise SpecError(f"{what}: expected a node name, got {ref!r}", loc)
        name, _, port = ref.partition(".")
        value = scope.values.get(name)
        if value is None:
            raise SpecError(f"{what} refers to '{name}', which does not exist here"
                            f"{did_you_mean(name, scope.values)}", loc)
        if port:
            if port not in value:
                ports = sorted(p for p in value if p)
                raise SpecError(f"{what}: '{name}' has no output '{port}'; it has {', '.join(ports)}", loc)
            return value[port]
        if "" not in value:
            ports = sorted(p for p in value if p)
            raise SpecError(f"{what}: '{name}' has several outputs; name one as "
                            f"{', '.join(name + '.' + p for p in ports)}", loc)
        return value[""]

    @staticmethod
    def refs_of(spec_in) -> list:
        if spec_in is None:
            return []
        if isinstance(spec_in, str):
            return [spec_in]
        if isinstance(spec_in, list):
            return [r for r in spec_in]
        if isinstance(spec_in, dict):
            out = []
            for v in spec_in.values():
                out.extend(v if isinstance(v, list) else [v])
            return out
        return [spec_in]

    # -- nodes ---------------------------------------------------------------------------------------------

    def order(self, nodes: dict, scope: _Scope, first_input) -> list[str]:
        """Local names in dependency order (stable), filling in implicit ``in:``; refuses cycles."""
        names = list(nodes)
        deps: dict[str, list[str]] = {}
        previous = first_input
        for name in names:
            loc = scope.loc(scope.path + (name,))
            check_name(name, "node name", loc)
            if name in scope.values:
                raise SpecError(f"node '{name}' has the same name as an input of its scope", loc)
            body = nodes[name]
            if not isinstance(body, dict):
                raise SpecError(f"node '{name}' must be a mapping with 'op' or 'block'", loc)
            if "in" not in body:
                if previous is None:
                    raise SpecError(f"node '{name}' needs 'in': there is no earlier node to take input from", loc)
                body["in"] = previous
            deps[name] = []
            for ref in self.refs_of(body["in"]):
                base = ref.split(".")[0] if isinstance(ref, str) else None
                if base in nodes and base != name:
                    deps[name].append(base)
                elif base == name:
                    raise SpecError(f"node '{name}' takes its own output as input (a cycle)",
                                    scope.loc(scope.path + (name, "in")))
            previous = name
        done: list[str] = []
        state: dict[str, int] = {}

        def visit(name, trail):
            if state.get(name) == 2:
                return
            if state.get(name) == 1:
                cycle = trail[trail.index(name):] + [name]
                raise SpecError(f"cycle: {' -> '.join(cycle)}", scope.loc(scope.path + (name, "in")))
            state[name] = 1
            for dep in deps[name]:
                visit(dep, trail + [name])
            state[name] = 2
            done.append(name)

        for name in names:
            visit(name, [])
        return done

    def expand_nodes(self, nodes: dict, scope: _Scope, first_input):
        for name in self.order(nodes, scope, first_input):
            body = nodes[name]
            path = scope.path + (name,)
            has_op, has_block = "op" in body, "block" in body
            if has_op == has_block:
                raise SpecError(f"node '{name}' needs exactly one of 'op' or 'block'", scope.loc(path))
            if has_op:
                scope.values[name] = self.expand_op(name, body, scope, path)
            else:
                scope.values[name] = self.expand_block_node(name, body, scope, path)

    def wire(self, op, spec_in, scope: _Scope, path: tuple, name: str) -> list:
        """[(port, key, source port)] for an op's inputs, checked against its ports."""
        loc = scope.loc(path + ("in",))
        ports = op.inputs
        what = f"input of '{name}'"
        if isinstance(spec_in, dict):
            unknown = [p for p in spec_in if p not in {q.name for q in ports}]
            if unknown:
                raise SpecError(f"op '{op.name}' has no input port '{unknown[0]}'"
                                f"{did_you_mean(unknown[0], [q.name for q in ports])}; ports: "
                                f"{', '.join(q.name for q in ports)}", loc)
            given = spec_in
            where = {p: ("in", p) for p in spec_in}  # port -> its path below the node, for error locations
        else:
            refs = spec_in if isinstance(spec_in, list) else [spec_in]
            if ports and ports[0].variadic:
                given = {ports[0].name: refs}
                where = {ports[0].name: ("in",)}
            else:
                if len(refs) > len(ports):
                    raise SpecError(f"op '{op.name}' takes at most {len(ports)} input(s) "
                                    f"({', '.join(q.name for q in ports)}), got {len(refs)}", loc)
                given = {ports[i].name: r for i, r in enumerate(refs)}
                where = {ports[i].name: ("in", i) if isinstance(spec_in, list) else ("in",) for i in range(len(refs))}
        wired = []
        for port in ports:
            ref = given.get(port.name)
            if ref is None:
                if not port.optional:
                    raise SpecError(f"op '{op.name}' needs input '{port.name}'", loc)
                continue
            if port.variadic:
                refs = ref if isinstance(ref, list) else [ref]
                for i, r in enumerate(refs):
                    sub = where[port.name] + ((i,) if isinstance(ref, list) else ())
                    wired.append((port.name, *self.lookup(r, scope, scope.loc(path + sub), what)))
            else:
                if isinstance(ref, list):
                    raise SpecError(f"input '{port.name}' of op '{op.name}' takes one tensor", loc)
                wired.append((port.name, *self.lookup(ref, scope, scope.loc(path + where[port.name]), what)))
        return wired

    def expand_op(self, name: str, body: dict, scope: _Scope, path: tuple, key: str | None = None) -> dict:
        op_name = body["op"]
        loc = scope.loc(path)
        if not isinstance(op_name, str) or op_name not in OPS or op_name == "input":
            raise SpecError(unknown_op_message(str(op_name)), scope.loc(path + ("op",)))
        op = OPS[op_name]
        if "repeat" in body:
            raise SpecError(f"'repeat' applies to blocks; node '{name}' is an op", scope.loc(path + ("repeat",)))
        raw = {k: v for k, v in body.items() if k not in NODE_KEYS}
        attrs = self.check_attrs(op_name, raw, path, scope.loc)
        key = key or scope.prefix + name
        node = Node(key, op_name, attrs, self.wire(op, body["in"], scope, path, name), loc, parent=scope.instance,
                    attr_locs={a: scope.loc(path + (a,)) for a in raw})
        node.init = init_rules.normalize(body.get("init"), scope.loc(path + ("init",)), f"node '{name}'")
        if "init" in body:
            node.attr_locs["init"] = scope.loc(path + ("init",))
        if body.get("tie") is not None:  # `tie: null` unties (a spec extending a tied one)
            node.meta["tie_ref"] = [body["tie"], scope.instance]
            node.attr_locs["tie"] = scope.loc(path + ("tie",))
        self.ir.add(node)
        outs = output_names(op, attrs)
        value = {p: (key, p) for p in outs}
        if len(outs) == 1:
            value[""] = (key, outs[0])
        return value

    # -- blocks --------------------------------------------------------------------------------------------

    def resolve_block(self, block: str, binding: dict, loc: Loc, key_loc=None) -> dict:
        """The block body resolved for one parameter binding, cached. ``key_loc(param)`` locates a binding."""
        cache_key = (block, repr(sorted(binding.items())))
        hit = self.block_cache.get(cache_key)
        if hit is not None:
            return hit
        raw = self.blocks[block]
        bpath = ("blocks", block)
        if not isinstance(raw, dict):
            raise SpecError(f"block '{block}' must be a mapping with 'nodes'", self.loc(bpath))
        for k in raw:
            if k not in BLOCK_KEYS:
                raise SpecError(f"unknown key '{k}' in block '{block}'{did_you_mean(k, BLOCK_KEYS)}",
                                self.loc(bpath + (k,)))
        declared = raw.get("params") or {}
        if not isinstance(declared, dict):
            raise SpecError(f"'params' of block '{block}' must map names to defaults", self.loc(bpath + ("params",)))
        for p in binding:
            if p not in declared:
                takes = f"; it takes {', '.join(declared)}" if declared else "; it takes no parameters"
                raise SpecError(f"block '{block}' has no parameter '{p}'{did_you_mean(p, [*declared, *NODE_KEYS])}"
                                f"{takes}", key_loc(p) if key_loc else loc)
        # vars and the use's bindings are resolved already: Resolved keeps them from being parsed a second time
        params = {**declared, **{k: Resolved(v) for k, v in binding.items()}}
        tree = {"vars": Resolved(self.vars), "params": params, "nodes": raw.get("nodes"), "outputs": raw.get("outputs")}

        def loc_of(path):
            if path[:1] == ("params",) and len(path) > 1 and path[1] in binding:
                return loc
            if path[:1] == ("vars",):
                return self.loc(path)
            return self.loc(bpath + tuple(path))

        resolved = resolve_tree(tree, loc_of)
        for p, v in resolved["params"].items():
            check_name(p, "parameter name", self.loc(bpath + ("params", p)))
            check_finite(v, f"parameter '{p}' of block '{block}'", loc_of(("params", p)))
            if v is None:
                raise SpecError(f"block '{block}' needs parameter '{p}'", loc)
        inputs = raw.get("inputs", ["x"])
        if isinstance(inputs, str):
            inputs = [inputs]
        if not isinstance(inputs, list) or not inputs:
            raise SpecError(f"'inputs' of block '{block}' must list port names", self.loc(bpath + ("inputs",)))
        for i, p in enumerate(inputs):
            check_name(p, "input port", self.loc(bpath + ("inputs", i)))
        nodes = resolved["nodes"]
        if not isinstance(nodes, dict) or not nodes:
            raise SpecError(f"block '{block}' needs 'nodes'", self.loc(bpath))
        role = raw.get("role", "other")
        if role not in ROLES:
            raise SpecError(f"role of block '{block}' must be one of {', '.join(ROLES)}{did_you_mean(role, ROLES)}",
                            self.loc(bpath + ("role",)))
        outputs = resolved["outputs"]
        if outputs is None:
            outputs = {"out": list(nodes)[-1]}
        elif isinstance(outputs, str):
            outputs = {"out": outputs}
        elif isinstance(outputs, list):
            outputs = {str(o).split(".")[0]: o for o in outputs}
        if not isinstance(outputs, dict):
            raise SpecError(f"'outputs' of block '{block}' must name nodes", self.loc(bpath + ("outputs",)))
        class_key = self.classes.setdefault(cache_key, block if not any(
            k[0] == block for k in self.classes) else f"{block}_{sum(k[0] == block for k in self.classes)}")
        entry = {"params": resolved["params"], "inputs": inputs, "nodes": nodes, "outputs": outputs,
                 "role": role, "class_key": class_key, "binding": binding}
        doc = raw.get("doc")
        if doc is not None and not isinstance(doc, str):
            raise SpecError(f"'doc' of block '{block}' must be a string", self.loc(bpath + ("doc",)))
        self.ir.info["classes"][class_key] = {"block": block, "params": resolved["params"], "role": role,
                                              "doc": doc,
                                              "loc": _loc_list(self.loc(bpath))}
        self.block_cache[cache_key] = entry
        return entry

    def expand_block_node(self, name: str, body: dict, scope: _Scope, path: tuple) -> dict:
        block = body["block"]
        loc = scope.loc(path)
        if not isinstance(block, str):
            raise SpecError(f"'block' takes a block name, got {block!r}", scope.loc(path + ("block",)))
        if block not in self.blocks:
            raise SpecError(f"unknown block '{block}'{did_you_mean(block, self.blocks)}",
                            scope.loc(path + ("block",)))
        if block in self.active:
            chain = " -> ".join(self.active[self.active.index(block):] + [block])
            raise SpecError(f"block '{block}' contains itself ({chain})", scope.loc(path + ("block",)))
        for k in ("tie",):
            if k in body:
                raise SpecError(f"'{k}' applies to op nodes, not to block '{name}'", scope.loc(path + (k,)))
        binding = {k: v for k, v in body.items() if k not in NODE_KEYS}
        entry = self.resolve_block(block, binding, loc, lambda p: scope.loc(path + (p,)))
        count = body.get("repeat", 1)
        if not isinstance(count, int) or isinstance(count, bool):
            raise SpecError(f"repeat must be an int, got {count!r}", scope.loc(path + ("repeat",)))
        if count < 1:
            raise SpecError(f"repeat must be at least 1, got {count}", scope.loc(path + ("repeat",)))
        if count > MAX_NODES:
            raise SpecError(f"repeat {count:,} is above archc's limit of {MAX_NODES:,} nodes",
                            scope.loc(path + ("repeat",)))
        ports = entry["inputs"]
        spec_in = body["in"]
        if isinstance(spec_in, dict):
            for p in spec_in:
                if p not in ports:
                    raise SpecError(f"block '{block}' has no input '{p}'{did_you_mean(p, ports)}",
                                    scope.loc(path + ("in",)))
            given = spec_in
        else:
            refs = spec_in if isinstance(spec_in, list) else [spec_in]
            if len(refs) != len(ports):
                raise SpecError(f"block '{block}' takes {len(ports)} input(s) ({', '.join(ports)}), got "
                                f"{len(refs)}", scope.loc(path + ("in",)))
            given = dict(zip(ports, refs, strict=True))
        missing = [p for p in ports if p not in given]
        if missing:
            raise SpecError(f"block '{block}' needs input '{missing[0]}'", scope.loc(path + ("in",)))
        bound = {p: self.lookup(given[p], scope, scope.loc(path + ("in",)), f"input of '{name}'") for p in ports}
        if count > 1 and len(entry["outputs"]) != 1:
            raise SpecError(f"repeat needs a block with one output (fed to the next iteration's first input); "
                            f"'{block}' has {len(entry['outputs'])}", scope.loc(path + ("repeat",)))
        group = scope.prefix + name
        if count > 1 or "repeat" in body:
            self.ir.info["repeats"][group] = {"block": block, "class_key": entry["class_key"], "count": count,
                                              "loc": _loc_list(loc), "parent": scope.instance}
        value = None
        self.active.append(block)
        for i in range(count):
            inst = f"{group}.{i}" if (count > 1 or "repeat" in body) else group
            value = self.instantiate(entry, block, inst, bound, scope, loc, group if inst != group else None, i)
            if len(self.ir) > MAX_NODES:
                raise SpecError(f"the model expands to more than {MAX_NODES:,} nodes (archc's limit) at "
                                f"'{inst}'", loc)
            if count > 1:  # the first input is carried; the others (RoPE tables, memory) go to every iteration
                bound = {**bound, ports[0]: value[""]}
        self.active.pop()
        if count > 1 or "repeat" in body:
            self.ir.info["repeats"][group]["ports_out"] = {p: list(v) for p, v in value.items() if p}
        return value

    def instantiate(self, entry: dict, block: str, inst: str, bound: dict, outer: _Scope, loc: Loc,
                    repeat: str | None, index: int) -> dict:
        values = {p: {"": ref, "out": ref} for p, ref in bound.items()}
        bpath = ("blocks", block, "nodes")
        nodes = {k: dict(v) if isinstance(v, dict) else v for k, v in entry["nodes"].items()}
        alias = len(nodes) == 1
        scope = _Scope(inst + ".", inst, values, self.loc, bpath)
        self.ir.info["instances"][inst] = {
            "block": block, "class_key": entry["class_key"], "parent": outer.instance, "repeat": repeat,
            "index": index, "params": entry["params"], "role": entry["role"], "alias": alias,
            "ports_in": {p: list(r) for p, r in bound.items()}, "loc": _loc_list(loc)}
        if alias:
            (only,) = nodes
            body = nodes[only]
            order = self.order(nodes, scope, entry["inputs"][0])
            assert order == [only]
            if isinstance(body, dict) and "op" in body:
                scope.values[only] = self.expand_op(only, body, scope, bpath + (only,), key=inst)
                self.ir.node(inst).parent = outer.instance  # the alias node lives in the enclosing scope
            else:
                self.expand_nodes(nodes, scope, entry["inputs"][0])
        else:
            self.expand_nodes(nodes, scope, entry["inputs"][0])
        out = {}
        for port, ref in entry["outputs"].items():
            check_name(port, "output port", self.loc(("blocks", block, "outputs")))
            out[port] = self.lookup(ref, scope, self.loc(("blocks", block, "outputs")), f"output of block '{block}'")
        if len(out) == 1:
            out[""] = next(iter(out.values()))
        self.ir.info["instances"][inst]["ports_out"] = {p: list(v) for p, v in out.items() if p}
        return out

    def resolve_ties(self):
        for node in self.ir.nodes():
            ref = node.meta.pop("tie_ref", None)
            if ref is None:
                continue
            target, instance = ref
            loc = node.attr_locs["tie"]
            if not isinstance(target, str):
                raise SpecError(f"tie takes a node name, got {target!r}", loc)
            candidates = [f"{instance}.{target}" if instance else target, target]
            if node.key in candidates and target == node.name:
                raise SpecError(f"node '{node.name}' cannot tie its weights to itself", loc)
            key = next((c for c in candidates if c in self.ir and c != node.key), None)
            block_use = next((c for c in candidates if c in self.ir.info["instances"] or c in self.ir.info["repeats"]),
                             None)
            if key is None and block_use is not None:
                raise SpecError(f"tie refers to '{target}', a block; tie to an op node that has the weight", loc)
            if key is None:
                raise SpecError(f"tie refers to '{target}', which does not exist"
                                f"{did_you_mean(target, list(self.top_values))}", loc)
            node.tie = key


def expand(composed: Composed) -> IR:
    """Build the IR for a composed spec (see module docstring)."""
    expander = Expander(composed)
    ir = expander.run()
    ir.info["spec"] = {"file": composed.file, "overrides": list(composed.overrides), "choices": composed.choices}
    return ir


def _loc_list(loc: Loc) -> list:
    return [loc.file, loc.line, loc.col]
