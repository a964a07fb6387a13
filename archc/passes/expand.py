"""expand: resolved spec -> IR. Instantiates blocks and repeats, validates names, attributes and references.

Needs: a composed spec (:class:`archc.spec.compose.Composed`) whose strings passed
:func:`archc.spec.resolve.check_strings`. Guarantees: every node's op exists, its attributes are complete and
of the right type (ints within int64), every reference names an existing value, the local graph of every
scope is acyclic, nodes are added to the IR in topological order, and ``Node.tie`` names the node that owns
the shared weight (archc/passes/ties.py).

References: ``name``, ``name.port``, or a key into a block use or repeat iteration below ``name``
(``layers.0.moe.probs``, ``enc.q.out``); a single-node block's node is its use (``ln_1.norm`` is ``ln_1``).

Bounded on any input: no recursion over the nodes of a scope (archc/passes/toposort.py), blocks nest at most
MAX_DEPTH deep, the IR holds at most MAX_NODES nodes, and every step is linear in nodes (a flat scope of
40,000 nodes expands in about 1 s of CPU, a 99,990-iteration repeat in about 2 s).

Blocks are resolved once per distinct parameter binding (cached), so a 1,000-layer repeat costs one
OmegaConf resolution, not 1,000.
"""

from __future__ import annotations

import gc

from archc.errors import Loc, SpecError, did_you_mean
from archc.ir import init as init_rules
from archc.ir.dims import valid_dim
from archc.ir.graph import IR, Node
from archc.ir.scopes import BlockClass, Instance, Repeat
from archc.ops.base import REQUIRED
from archc.ops.registry import OPS, output_names, unknown_op_message
from archc.passes.checks import check_attr, check_doc, check_finite, check_name, shown
from archc.passes.literal import merge_nodes, split_literal_nodes
from archc.passes.ties import TieRequest, resolve_ties
from archc.passes.toposort import dependency_order
from archc.spec.compose import Composed
from archc.spec.resolve import Resolved, resolve_tree

TOP_KEYS = ("vars", "inputs", "outputs", "blocks", "nodes", "init", "name", "doc")
BLOCK_KEYS = ("params", "inputs", "outputs", "nodes", "role", "doc")
NODE_KEYS = ("op", "block", "in", "repeat", "tie", "init", "doc")
INPUT_KEYS = ("shape", "dtype", "doc")  # archc/schema.py: _input_schema
ROLES = ("attention", "mlp", "norm", "embedding", "head", "other")
# A 1,000-layer GPT-2 expands to 10,007 nodes in about a second; the cap stops a typo (repeat: 1e9) from
# running for hours, and is ten times any published model.
MAX_NODES = 100_000
# Blocks using blocks: LLaMA nests 3 deep. 64 levels is far beyond any model and keeps every pass that walks
# the nesting (here and in codegen) well inside Python's recursion limit of 1,000 frames.
MAX_DEPTH = 64


class _Scope:
    """Names visible while expanding one block body (or the top level)."""

    def __init__(self, prefix: str, instance: str, values: dict, node_locs, path: tuple, init: dict | None = None):
        self.prefix = prefix  # key prefix for nodes created here: 'layers.3.' or ''
        self.instance = instance  # enclosing instance scope, '' at top level
        self.values = values  # local name -> {port: (key, port)} with '' for the default port
        self.loc = node_locs  # path -> Loc
        self.path = path  # path of the 'nodes' mapping in the composed spec
        self.init = init or {}  # the init of the enclosing block use: the default of op nodes without one


def _output_names(refs: list, what: str, loc: Loc) -> dict:
    """{name: ref} for outputs given as a list: a node's name (``head``, ``split.a`` -> ``split``), or the
    whole reference with '_' for '.' when it reaches into a block use (``layers.0.moe.probs``) or when two
    references would get the same name (``[split.a, split.b]``)."""
    def short(ref):
        text = str(ref)
        return text.split(".")[0] if text.count(".") <= 1 else text.replace(".", "_")

    names = [short(r) for r in refs]
    out = {}
    for ref, name in zip(refs, names, strict=True):
        if names.count(name) > 1:
            name = str(ref).replace(".", "_")
        if name in out:
            raise SpecError(f"{what} lists '{ref}' twice", loc)
        out[name] = ref
    return out


class Expander:
    def __init__(self, composed: Composed):
        self.composed = composed
        self.ir = IR()
        self.block_cache: dict = {}
        self.classes: dict = {}  # (block, binding) -> class_key
        self.class_count: dict[str, int] = {}  # block -> classes made for it so far
        self.top_values: dict = {}
        self.default_init: dict = {}
        self.active: list[str] = []  # blocks being instantiated, outermost first (a block may not contain itself)
        self.locs: dict = {}  # path -> Loc: a repeat asks for the same block paths once per iteration
        # every value by its full key: nodes, block uses and repeat groups, and ``use.node`` for the node of
        # a single-node block, so that a reference can reach into a block use (``layers.0.moe.probs``)
        self.by_key: dict[str, dict] = {}
        self.aliases: dict[str, str] = {}  # ``use.node`` -> ``use`` for single-node blocks
        self.ties: list[TieRequest] = []

    def loc(self, path: tuple) -> Loc:
        loc = self.locs.get(path)
        if loc is None:
            loc = self.locs[path] = self.composed.loc(path)
        return loc

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
        pruned, literal = split_literal_nodes(top)
        resolved = merge_nodes(resolve_tree(pruned, self.loc), top.get("nodes"), literal)
        for key in ("name", "doc"):
            check_doc(resolved.get(key), f"'{key}' of the spec", self.loc((key,)))
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
        self.expand_nodes(nodes, scope, self.order(nodes, scope, next(iter(values), None)))
        self.declare_outputs(resolved.get("outputs"), scope, nodes)
        resolve_ties(self.ir, self.ties, self.aliases)
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
            check_doc(decl.get("doc"), f"'doc' of input '{name}'", self.loc(("inputs", name, "doc")))
            decl = {k: v for k, v in decl.items() if k != "doc"}  # a note for readers, as on nodes and blocks
            attrs = self.check_attrs(op.name, decl, ("inputs", name), self.loc, INPUT_KEYS)
            for i, dim in enumerate(attrs["shape"]):
                if not valid_dim(dim):
                    raise SpecError(f"input '{name}': axis {i} must be a positive int or a name like B, got "
                                    f"{shown(dim)}", self.loc(("inputs", name, "shape", i)))
                if isinstance(dim, str):  # symbols become variables of the generated forward()
                    check_name(dim, f"input '{name}': axis", self.loc(("inputs", name, "shape", i)))
            self.ir.add(Node(name, "input", attrs, [], loc))
            self.ir.info["inputs"][name] = {"shape": attrs["shape"], "dtype": attrs["dtype"]}
            values[name] = self.by_key[name] = {"": (name, "out"), "out": (name, "out")}
        return values

    def declare_outputs(self, outputs, scope: _Scope, nodes: dict):
        where = self.loc(("outputs",))
        if outputs is None:  # the last node; each of its outputs when it has several (split)
            last = list(nodes)[-1]
            ports = [p for p in scope.values[last] if p]
            outputs = {last: last} if "" in scope.values[last] else {f"{last}_{p}": f"{last}.{p}" for p in ports}
        paths = {}  # output name -> its path in the spec, for error locations
        if isinstance(outputs, str):
            outputs = _output_names([outputs], "'outputs'", where)
        elif isinstance(outputs, list):
            outputs = _output_names(outputs, "'outputs'", where)
            paths = {name: ("outputs", i) for i, name in enumerate(outputs)}
        if not isinstance(outputs, dict) or not outputs:
            raise SpecError("'outputs' must name nodes: {logits: head} or [head]", where)
        for name, ref in outputs.items():
            path = paths.get(name, ("outputs", name))
            loc = self.loc(path) if path in self.composed.origins else where
            check_name(name, "output name", loc)
            key, port = self.lookup(ref, scope, loc, f"output '{name}'")
            self.ir.info["outputs"][name] = [key, port]

    # -- attributes ----------------------------------------------------------------------------------------

    def check_attrs(self, op_name: str, raw: dict, path: tuple, loc_of, keys=NODE_KEYS) -> dict:
        """``keys``: the other keys allowed where the attributes are written (for a suggestion)."""
        op = OPS[op_name]
        attrs = {}
        for attr, value in raw.items():
            if attr not in op.attrs:
                known = sorted(op.attrs)
                hint = did_you_mean(attr, list(op.attrs) + list(keys))
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
        """(node key, port) for a reference: ``name``, ``name.port``, or a key into a block use or repeat
        iteration below ``name`` (``layers.0.moe.probs``, ``enc.q.out``)."""
        if not isinstance(ref, str) or not ref:
            raise SpecError(f"{what}: expected a node name, got {shown(ref)}", loc)
        name, _, port = ref.partition(".")
        value = scope.values.get(name)
        if value is None:
            raise SpecError(f"{what} refers to '{name}', which does not exist here"
                            f"{did_you_mean(name, scope.values)}", loc)
        if port and port not in value:
            value, port = self.inner(scope.prefix + ref, value, ref, loc, what)
        if port:
            return value[port]
        if "" not in value:
            ports = sorted(p for p in value if p)
            raise SpecError(f"{what}: '{ref}' has several outputs; name one as "
                            f"{', '.join(ref + '.' + p for p in ports)}", loc)
        return value[""]

    def inner(self, full: str, value: dict, ref: str, loc: Loc, what: str) -> tuple[dict, str]:
        """(value, port) for a reference into a block use: the value with key ``full``, or with key ``full``
        less its last part and that part as the port."""
        found = self.by_key.get(full)
        if found is not None:
            return found, ""
        head, _, port = full.rpartition(".")
        holder = self.by_key.get(head)
        scopes = self.ir.scopes
        if holder is not None and port in holder:
            return holder, port
        if holder is not None and head not in scopes.instances and head not in scopes.repeats:
            raise SpecError(f"{what}: '{ref[:len(ref) - len(port) - 1]}' has no output '{port}'; it has "
                            f"{', '.join(sorted(p for p in holder if p))}", loc)
        name, _, rest = ref.partition(".")
        ports = ", ".join(sorted(p for p in value if p))
        use = full[:len(full) - len(ref)] + name
        if use not in scopes.instances and use not in scopes.repeats:
            raise SpecError(f"{what}: '{name}' has no output '{rest}'; it has {ports}", loc)
        inside = [k[len(use) + 1:] for k in self.by_key if k.startswith(use + ".")]  # only on error: O(nodes)
        raise SpecError(f"{what}: '{name}' has no output '{rest}' (it has {ports}) and holds nothing named "
                        f"'{name}.{rest}'{did_you_mean(rest, inside, name + '.')}", loc)

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
            free = isinstance(body.get("op"), str) and body["op"] in OPS and not OPS[body["op"]].inputs
            if "in" not in body:
                if free:  # a free tensor (param, constant) reads nothing, and is no one's implicit input
                    body["in"] = []
                elif previous is None:
                    raise SpecError(f"node '{name}' needs 'in': there is no earlier node to take input from", loc)
                else:
                    body["in"] = previous
            deps[name] = []
            for ref in self.refs_of(body["in"]):
                base = ref.split(".")[0] if isinstance(ref, str) else None
                if base in nodes and base != name:
                    deps[name].append(base)
                elif base == name:
                    raise SpecError(f"node '{name}' takes its own output as input (a cycle)",
                                    scope.loc(scope.path + (name, "in")))
            if not free:
                previous = name

        def cycle(names):
            raise SpecError(f"cycle: {' -> '.join(names)}", scope.loc(scope.path + (names[-1], "in")))

        return dependency_order(names, deps, cycle)

    def expand_nodes(self, nodes: dict, scope: _Scope, order: list[str]):
        for name in order:
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
                    if isinstance(r, str) and "*" in r.split("."):
                        found = self.collect(r, scope, scope.loc(path + sub), what)
                        wired.extend((port.name, *f) for f in found)
                    else:
                        wired.append((port.name, *self.lookup(r, scope, scope.loc(path + sub), what)))
            else:
                if isinstance(ref, list):
                    raise SpecError(f"input '{port.name}' of op '{op.name}' takes one tensor", loc)
                if isinstance(ref, str) and "*" in ref.split("."):
                    raise SpecError(f"{what}: '{ref}' names one value per iteration of a repeat; only an input "
                                    f"that takes several tensors accepts it (input '{port.name}' of op "
                                    f"'{op.name}' takes one)", scope.loc(path + where[port.name]))
                wired.append((port.name, *self.lookup(ref, scope, scope.loc(path + where[port.name]), what)))
        return wired

    def collect(self, ref: str, scope: _Scope, loc: Loc, what: str) -> list[tuple[str, str]]:
        """``layers.*.moe.router_logits``: that value in every iteration of repeat ``layers``, in order. Codegen
        collects it in the repeat's loop (archc/codegen/lower.py), so the value must belong to a node directly
        in the repeated block, not to a block it uses."""
        head, _, rest = ref.partition(".*.")
        if not head or not rest or "*" in rest.split(".") or "*" in head.split("."):
            raise SpecError(f"{what}: '{ref}' must be '<repeat>.*.<node>' or '<repeat>.*.<node>.<output>', "
                            "one '*' in place of the iteration index", loc)
        rep = self.ir.scopes.repeats.get(scope.prefix + head)
        if rep is None:
            raise SpecError(f"{what}: '{head}' in '{ref}' is not a repeat here; '*' stands for the iteration "
                            "index of a repeat", loc)
        found = []
        for i in range(rep.count):
            key, port = self.lookup(f"{head}.{i}.{rest}", scope, loc, what)
            iteration = rep.iteration(i)
            if self.ir.node(key).parent != iteration or iteration in self.ir:
                raise SpecError(f"{what}: '{ref}' must name a node directly in block '{rep.block}' (it is "
                                f"collected in the repeat's loop), not inside a block that block uses", loc)
            found.append((key, port))
        return found

    def expand_op(self, name: str, body: dict, scope: _Scope, path: tuple, key: str | None = None) -> dict:
        op_name = body["op"]
        loc = scope.loc(path)
        if not isinstance(op_name, str) or op_name not in OPS or op_name == "input":
            raise SpecError(unknown_op_message(str(op_name)), scope.loc(path + ("op",)))
        op = OPS[op_name]
        if "repeat" in body:
            raise SpecError(f"'repeat' applies to blocks; node '{name}' is an op", scope.loc(path + ("repeat",)))
        check_doc(body.get("doc"), f"'doc' of node '{name}'", scope.loc(path + ("doc",)))
        raw = {k: v for k, v in body.items() if k not in NODE_KEYS}
        attrs = self.check_attrs(op_name, raw, path, scope.loc)
        key = key or scope.prefix + name
        node = Node(key, op_name, attrs, self.wire(op, body["in"], scope, path, name), loc, parent=scope.instance,
                    attr_locs={a: scope.loc(path + (a,)) for a in raw})
        if "init" in body:
            node.init = init_rules.normalize(body["init"], scope.loc(path + ("init",)), f"node '{name}'")
            node.attr_locs["init"] = scope.loc(path + ("init",))
        elif scope.init:
            node.init = dict(scope.init)
        if body.get("tie") is not None:  # `tie: null` unties (a spec extending a tied one)
            node.attr_locs["tie"] = scope.loc(path + ("tie",))
            self.ties.append(TieRequest(node, body["tie"], name, scope.instance, node.attr_locs["tie"]))
        self.ir.add(node)
        outs = output_names(op, attrs)
        value = {p: (key, p) for p in outs}
        if len(outs) == 1:
            value[""] = (key, outs[0])
        self.by_key[key] = value
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
        where = self.loc(bpath + ("outputs",))
        if outputs is None:
            outputs = {"out": list(nodes)[-1]}
        elif isinstance(outputs, str):
            outputs = {"out": outputs}
        elif isinstance(outputs, list):
            outputs = _output_names(outputs, f"'outputs' of block '{block}'", where)
        if not isinstance(outputs, dict):
            raise SpecError(f"'outputs' of block '{block}' must name nodes", where)
        for port in outputs:
            check_name(port, "output port", where)
        # the order (and the implicit `in:` it fills in) is the same for every use: computed once per binding
        order = self.order(nodes, _Scope("", "", dict.fromkeys(inputs), self.loc, bpath + ("nodes",)), inputs[0])
        class_key = self.classes.get(cache_key)
        if class_key is None:
            class_key = self.classes[cache_key] = self.new_class_key(block)
        entry = {"params": resolved["params"], "inputs": inputs, "nodes": nodes, "order": order,
                 "outputs": outputs, "role": role, "class_key": class_key, "binding": binding}
        check_doc(raw.get("doc"), f"'doc' of block '{block}'", self.loc(bpath + ("doc",)))
        self.ir.scopes.classes[class_key] = BlockClass(class_key, block, resolved["params"], role, raw.get("doc"),
                                                       self.loc(bpath))
        self.block_cache[cache_key] = entry
        return entry

    def new_class_key(self, block: str) -> str:
        """``block`` for its first class, then ``block_1``, ``block_2``, ... skipping any name that is a block of
        the spec or already taken (a block named ``b_1`` must not share the class of ``b``'s second binding)."""
        n = self.class_count.get(block, 0)
        key = block if n == 0 else f"{block}_{n}"
        while key in self.ir.scopes.classes or (n and key in self.blocks):
            n += 1
            key = f"{block}_{n}"
        self.class_count[block] = n + 1
        return key

    def expand_block_node(self, name: str, body: dict, scope: _Scope, path: tuple) -> dict:
        block = body["block"]
        loc = scope.loc(path)
        if not isinstance(block, str):
            raise SpecError(f"'block' takes a block name, got {shown(block)}", scope.loc(path + ("block",)))
        if block not in self.blocks:
            raise SpecError(f"unknown block '{block}'{did_you_mean(block, self.blocks)}",
                            scope.loc(path + ("block",)))
        if block in self.active:
            chain = " -> ".join(self.active[self.active.index(block):] + [block])
            raise SpecError(f"block '{block}' contains itself ({chain})", scope.loc(path + ("block",)))
        if len(self.active) >= MAX_DEPTH:
            raise SpecError(f"blocks nested more than {MAX_DEPTH} deep ({self.active[0]} -> ... -> "
                            f"{self.active[-1]} -> {block}); archc's limit is {MAX_DEPTH}",
                            scope.loc(path + ("block",)))
        if "tie" in body:
            raise SpecError(f"'tie' applies to op nodes, not to block '{name}'", scope.loc(path + ("tie",)))
        check_doc(body.get("doc"), f"'doc' of node '{name}'", scope.loc(path + ("doc",)))
        init = scope.init
        if "init" in body:
            init = init_rules.normalize(body["init"], scope.loc(path + ("init",)), f"block use '{name}'")
            if set(init) - {"*"}:
                raise SpecError(f"'init' of block use '{name}' takes one rule (zeros, {{std: 0.02}}, ...) for the "
                                "nodes in it; name parameters on the nodes themselves", scope.loc(path + ("init",)))
        binding = {k: v for k, v in body.items() if k not in NODE_KEYS}
        entry = self.resolve_block(block, binding, loc, lambda p: scope.loc(path + (p,)))
        count = body.get("repeat", 1)
        if not isinstance(count, int) or isinstance(count, bool):
            raise SpecError(f"repeat must be an int, got {shown(count)}", scope.loc(path + ("repeat",)))
        if count < 1:
            raise SpecError(f"repeat must be at least 1, got {count}", scope.loc(path + ("repeat",)))
        if count > MAX_NODES:
            value = f"({shown(count)})" if count >= 10**30 else f"{count:,}"
            raise SpecError(f"repeat {value} is above archc's limit of {MAX_NODES:,} nodes",
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
        repeated = count > 1 or "repeat" in body
        if repeated:
            self.ir.scopes.repeats[group] = Repeat(group, block, entry["class_key"], count, scope.instance, loc)
        value = None
        self.active.append(block)
        for i in range(count):
            inst = f"{group}.{i}" if repeated else group
            value = self.instantiate(entry, block, inst, bound, scope, loc, group if repeated else None, i, init)
            if len(self.ir) > MAX_NODES:
                raise SpecError(f"the model expands to more than {MAX_NODES:,} nodes (archc's limit) at "
                                f"'{inst}'", loc)
            if count > 1:  # the first input is carried; the others (RoPE tables, memory) go to every iteration
                bound[ports[0]] = value[""]
        self.active.pop()
        if repeated:
            self.ir.scopes.repeats[group].ports_out = {p: tuple(v) for p, v in value.items() if p}
            self.by_key[group] = value
        return value

    def instantiate(self, entry: dict, block: str, inst: str, bound: dict, outer: _Scope, loc: Loc,
                    repeat: str | None, index: int, init: dict) -> dict:
        values = {p: {"": ref, "out": ref} for p, ref in bound.items()}
        bpath = ("blocks", block, "nodes")
        nodes = entry["nodes"]  # shared by every use: expansion reads the bodies and never changes them
        alias = len(nodes) == 1
        scope = _Scope(inst + ".", inst, values, self.loc, bpath, init)
        self.ir.scopes.instances[inst] = Instance(
            inst, block, entry["class_key"], outer.instance, repeat, index, entry["params"], entry["role"], alias, loc,
            ports_in={p: tuple(r) for p, r in bound.items()})
        (only,) = entry["order"] if alias else (None,)
        if alias and "op" in nodes[only]:
            scope.values[only] = self.expand_op(only, nodes[only], scope, bpath + (only,), key=inst)
            self.ir.node(inst).parent = outer.instance  # the alias node lives in the enclosing scope
            self.by_key[f"{inst}.{only}"] = scope.values[only]  # `use.node` names the node, as for any block
            self.aliases[f"{inst}.{only}"] = inst
        else:
            self.expand_nodes(nodes, scope, entry["order"])
        where = self.loc(("blocks", block, "outputs"))
        out = {port: self.lookup(ref, scope, where, f"output of block '{block}'")
               for port, ref in entry["outputs"].items()}
        if len(out) == 1:
            out[""] = next(iter(out.values()))
        self.ir.scopes.instances[inst].ports_out = {p: tuple(v) for p, v in out.items() if p}
        self.by_key[inst] = out
        return out


def expand(composed: Composed) -> IR:
    """Build the IR for a composed spec (see module docstring)."""
    # CPython's cyclic GC scans every live object at each full collection, and the number of full collections
    # grows with the objects made: a 99,990-iteration repeat took 4.4 s of CPU with it and 1.6 s without
    # (linear). Expansion makes no reference cycles of its own (OmegaConf's trees, dropped after resolution,
    # are collected once it is back on).
    paused = gc.isenabled()
    gc.disable()
    try:
        ir = Expander(composed).run()
    finally:
        if paused:
            gc.enable()
    ir.info["spec"] = {"file": composed.file, "overrides": list(composed.overrides), "choices": composed.choices}
    return ir
