"""lower: IR -> class plans (members and forward lines) that templates/model.py.j2 prints.

One generated class per distinct *class signature*: the block's ``class_key`` (block and parameter
binding) together with the types of its inputs (shape, dtype, rope pair), since a block applied to a
16-wide and a 12-wide input needs two constructors. A class is lowered once, from the first instance with
its signature; every other instance and every repeat iteration maps to it by its local name, so the plan
for 96 layers is as long as for 2. A repeat is an ``nn.ModuleList`` and a loop; all its iterations must
share one signature (else a clear error).

Op-specific text lives in ``templates/ops/<op>.j2`` (macros ``init(call)`` and ``forward(call)``), rewrites
(archc/passes/rewrite.py) print through ``templates/<lowers_to>.j2``. Lowering follows the IR and the
rewrite records; it matches no pattern and edits no text. Paths to modules, ties and initialisation are in
archc/codegen/init.py.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from archc.codegen.names import Attrs, Namespace, class_name, comment, docstring, names_used, string
from archc.errors import SpecError
from archc.ir.graph import IR, Node
from archc.ops.registry import OPS, output_names


class CodegenBug(RuntimeError):
    """archc produced code that does not match its own IR: a bug in archc, never the spec's fault."""


@dataclass
class Call:
    """What an op template sees of one node."""

    node: Node
    attr: str  # the submodule attribute (self.<attr>), whether or not the op needs one
    var: str  # the variable holding its output
    ports: dict  # port -> expression (or list of expressions for a variadic port)
    shapes: dict  # port -> input shape
    out_shape: list
    sym: dict  # symbol -> expression giving its size at run time ('B' -> 'x.size(0)')
    producer: str = ""  # for a rewrite: the names of the other nodes it took
    parts: dict = field(default_factory=dict)  # for a rewrite: pattern name -> the node it matched

    @property
    def a(self) -> dict:
        return self.node.attrs

    def width(self, port: str = "x") -> int:
        return self.shapes[port][-1]


@dataclass
class Member:
    attr: str
    expr: str
    comment: str = ""


@dataclass
class ClassPlan:
    name: str
    doc: str
    source: str
    args: list[str]
    arg_types: list[str] = field(default_factory=list)
    members: list[Member] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    returns: str = ""
    attrs: dict[str, str] = field(default_factory=dict)  # spec name of a child -> its attribute
    children: dict[str, ClassPlan] = field(default_factory=dict)  # spec name of a block use -> its class
    created: list[ClassPlan] = field(default_factory=list)  # classes first needed by this one, in order


def literal(value) -> str:
    """Python source for a plain value from a spec; anything else is refused (specs are data)."""
    if value is None or isinstance(value, (bool, int)):
        return repr(value)
    if isinstance(value, str):
        return string(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else f"float({string(value)})"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{literal(str(k))}: {literal(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {type(value).__name__} into generated code")


class ClassLowering:
    """The state of lowering one class body: its plan, values computed so far, local names, attributes."""

    def __init__(self, owner: Lowering, plan: ClassPlan, reserved_locals):
        self.owner = owner
        self.ir = owner.ir
        self.plan = plan
        self.env: dict[tuple, str] = {}  # (key, port) -> expression holding that value
        self.locals = Namespace(reserved_locals)
        self.attrs = Attrs(owner.reserved_attrs)
        self.list_len: dict[str, int] = {}  # a list a repeat's loop collects into -> its length (the count)

    def expr(self, ref) -> str:
        key, port = ref
        if (key, port) in self.env:
            return self.env[(key, port)]
        raise CodegenBug(f"value {key}.{port} is used before it is computed")

    def attr(self, name: str) -> str:
        attr = self.plan.attrs[name] = self.attrs.take(name)
        return attr

    def emit(self, text: str, indent: str = "", code: bool = True) -> None:
        """Add forward lines; ``code`` pieces (whole statements) also say which global names they read."""
        if code:
            self.owner.uses |= names_used(text)
        self.plan.lines.extend(indent + line for line in text.strip().splitlines())

    def member(self, attr: str, expr: str, where: str) -> None:
        self.owner.uses |= names_used(expr)
        self.plan.members.append(Member(attr, expr, where))

    # -- one item of the body ----------------------------------------------------------------------------

    def lower(self, kind: str, key: str) -> None:
        if kind == "node":
            self.node(self.ir.node(key))
        elif kind == "instance":
            self.instance(key)
        else:
            self.repeat(key)

    def call(self, node: Node, env=None, var: str | None = None, attr: str | None = None,
             partial: bool = False) -> Call:
        """The Call for ``node``; ``partial``: leave out inputs a rewrite took (they have no value)."""
        env = self.env if env is None else env
        op = OPS[node.op]
        ports: dict = {}
        shapes: dict = {}
        for port, src, src_port in node.inputs:
            value = env.get((src, src_port))
            if value is None and partial:
                continue
            if value is None:
                raise CodegenBug(f"{node.key}: value {src}.{src_port} is used before it is computed")
            shape = self.ir.shape_of(src, src_port)
            if any(p.name == port and p.variadic for p in op.inputs):
                ports.setdefault(port, []).append(value)
                shapes.setdefault(port, []).append(shape)
            else:
                ports[port] = value
                shapes[port] = shape
        for values in ports.values():
            if isinstance(values, list):
                collapse_collected(values, self.list_len)
        sym = {}
        first = op.inputs[0].name if op.inputs else None
        if first and first in ports:
            base = ports[first][0] if isinstance(ports[first], list) else ports[first]
            base_shape = shapes[first][0] if isinstance(ports[first], list) else shapes[first]
            for i, d in enumerate(base_shape):
                if isinstance(d, str) and d not in sym:
                    sym[d] = f"{base}.size({i})"
        attr = attr if attr is not None else self.attr(node.name)
        var = var if var is not None else self.locals.take(node.name)
        return Call(node, attr, var, ports, shapes, next(iter(node.meta["shapes"].values())), sym)

    def template(self, node: Node):
        template = self.owner.templates.get(node.op)
        if template is None:
            raise SpecError(f"{node.key}: op '{node.op}' has no PyTorch template (templates/ops/{node.op}.j2); "
                            "it cannot be built yet", node.loc)
        self.owner.ops_used.add(node.op)
        return template

    def bind_outputs(self, node: Node, var: str) -> None:
        names = output_names(OPS[node.op], node.attrs)
        if len(names) == 1:
            self.env[(node.key, names[0])] = var
        else:
            for i, port in enumerate(names):
                self.env[(node.key, port)] = f"{var}[{i}]"

    def node(self, node: Node) -> None:
        rewrite = node.meta.get("rewrite")
        if rewrite and rewrite["part"] != "root":
            return  # printed by the rewrite's root, which comes later in topological order
        if rewrite:
            self.rewritten(node, rewrite)
            return
        template = self.template(node)
        call = self.call(node)
        init = template.module.init(call).strip()
        if init:
            inst = self.ir.scopes.instances.get(node.key)  # an alias block: cite the line that uses it
            self.member(call.attr, init, self.owner.where(inst.loc if inst else node.loc, node.name))
        self.emit(template.module.forward(call))
        self.owner.features.update(getattr(template.module, "features", lambda c: "")(call).split())
        self.bind_outputs(node, call.var)

    def rewritten(self, node: Node, record: dict) -> None:
        from archc.passes.rewrite import RULES_BY_NAME

        rule = RULES_BY_NAME[record["rule"]]
        template = self.owner.rewrite_template(rule)
        call = self.call(node, partial=True)
        taken = [k for k in self.owner.rewrite_nodes(node.key) if k != node.key]
        for key in taken:
            self.owner.ops_used.add(self.ir.node(key).op)
        self.owner.ops_used.add(node.op)
        call.producer = ", ".join(self.ir.node(k).name for k in taken)
        parts = [self.ir.node(k) for k in self.owner.rewrite_nodes(node.key)]
        call.parts = {n.meta["rewrite"]["part"]: n for n in parts}
        init = getattr(template.module, "init", None)
        if init is not None:  # a kernel row that replaces one op's module (same parameters, same keys)
            inst = self.ir.scopes.instances.get(node.key)
            self.member(call.attr, init(call).strip(), self.owner.where(inst.loc if inst else node.loc, node.name))
        self.owner.features.update(getattr(template.module, "features", lambda c: "")(call).split())
        operands = [self.expr(tuple(ref)) for ref in record["operands"].values()]
        self.emit(template.module.forward(call, *operands))
        self.bind_outputs(node, call.var)

    def signature(self, scope: str) -> tuple:
        """What makes two uses of a block print differently: the block and binding (``class_key``), each
        input's shape, dtype and kind, and which ports receive the same value (inside, a port bound twice
        is one value, so ``sub(x, x)`` and ``sub(x, y)`` cannot share a forward)."""
        inst = self.ir.scopes.instances[scope]
        types, first = [], {}
        for i, (key, port) in enumerate(inst.ports_in.values()):
            node = self.ir.node(key)
            types.append((repr(self.ir.shape_of(key, port)), repr(node.meta.get("dtypes", {}).get(port)),
                          node.op == "rope", first.setdefault((key, port), i)))
        return inst.class_key, tuple(types)

    def instance(self, scope: str) -> None:
        inst = self.ir.scopes.instances[scope]
        cls = self.owner.class_for(scope, self.signature(scope), self.plan)
        name = inst.name
        self.plan.children[name] = cls
        attr = self.attr(name)
        self.member(attr, f"{cls.name}()", self.owner.where(inst.loc, name))
        args = ", ".join(self.expr(tuple(ref)) for ref in inst.ports_in.values())
        outs = list(inst.ports_out.values())
        if len(outs) == 1:
            var = self.locals.take(name)
            self.emit(f"{var} = self.{attr}({args})")
            self.env[tuple(outs[0])] = var
        else:
            vars_ = [self.locals.take(f"{name}_{p}") for p in inst.ports_out]
            self.emit(f"{', '.join(vars_)} = self.{attr}({args})")
            for var, ref in zip(vars_, outs, strict=True):
                self.env[tuple(ref)] = var

    def representative(self, rep) -> tuple[str, tuple]:
        """The iteration a repeat's one class is lowered from, and its signature. Every iteration must see
        the same input shapes (one ModuleList of one class). Iterations may differ in which inputs share a
        value (``in: [x, x]``: iteration 0 gets x twice, later ones the carried value and x); a class
        lowered from the iteration with the fewest shared inputs is right for all of them."""
        first = self.ir.scopes.instances[rep.iteration(0)]
        want = self.signature(first.scope)
        shapes = [t[:3] for t in want[1]]
        best, best_sig, patterns = first.scope, want, set()
        for i in range(rep.count):
            scope = rep.iteration(i)
            got = want if i == 0 else self.signature(scope)
            for j, (a, b) in enumerate(zip(shapes, [t[:3] for t in got[1]], strict=True)):
                if a != b:
                    raise SpecError(f"repeat '{rep.name}': iteration {i} gets input '{list(first.ports_in)[j]}' as "
                                    f"{b[0]}, iteration 0 as {a[0]}; every iteration of a repeat is one generated "
                                    "class and must see the same input shapes", rep.loc)
            pattern = tuple(t[3] for t in got[1])
            if pattern not in patterns:
                patterns.add(pattern)
                if len(set(pattern)) > len(set(best_sig[1][k][3] for k in range(len(pattern)))):
                    best, best_sig = scope, got
        finest = [t[3] for t in best_sig[1]]
        for pattern in patterns:  # inputs shared in the chosen iteration must be shared in every iteration
            for i in range(len(finest)):
                for j in range(len(finest)):
                    if finest[i] == finest[j] and pattern[i] != pattern[j]:
                        raise SpecError(f"repeat '{rep.name}': its iterations bind one value to different pairs of "
                                        "inputs, so no one generated class fits them all", rep.loc)
        return best, best_sig

    def repeat(self, group: str) -> None:
        rep = self.ir.scopes.repeats[group]
        first = self.ir.scopes.instances[rep.iteration(0)]
        name = rep.name
        attr = self.attr(name)
        count = rep.count
        refs = [tuple(r) for r in first.ports_in.values()]
        rep_scope, want = self.representative(rep)
        refs_rep = [tuple(r) for r in self.ir.scopes.instances[rep_scope].ports_in.values()]
        carried = self.locals.take(name)
        where = self.owner.where(rep.loc, f"{name} x{count}")
        self.emit(f"{carried} = {self.expr(refs[0])}")
        if first.scope in self.ir:  # a single-op block: the op's module is the list item
            if self.owner.collected.get(group):
                raise SpecError(f"repeat '{name}': a value of its single node is used outside the repeat; only "
                                "values of nodes inside a repeated block of several nodes can be collected", rep.loc)
            node = self.ir.node(rep_scope)
            if node.meta.get("rewrite"):
                raise CodegenBug(f"{node.key}: a rewrite took a repeated single-node block")
            template = self.template(node)
            index = self.locals.take("i")
            env = {r: self.expr(r) for r in refs_rep[1:]}
            env[refs_rep[0]] = carried
            call = self.call(node, env, var=carried, attr=f"{attr}[{index}]")
            init = template.module.init(call).strip()
            self.owner.features.update(getattr(template.module, "features", lambda c: "")(call).split())
            if init:
                self.member(attr, f"nn.ModuleList([{init} for _ in range({count})])", where)
                self.emit(f"for {index} in range({count}):", code=False)
            else:
                self.emit(f"for _ in range({count}):", code=False)
            self.emit(template.module.forward(call), "    ")
        else:
            exports = self.owner.collected.get(group, [])
            if exports:  # another class than a use of the same block that returns only its output
                want = (*want, ("collect", tuple(exports)))
            cls = self.owner.class_for(rep_scope, want, self.plan)
            self.owner.exports[cls.name] = exports
            self.plan.children[name] = cls
            self.member(attr, f"nn.ModuleList([{cls.name}() for _ in range({count})])", where)
            layer = self.locals.take("layer")
            args = ", ".join([carried] + [self.expr(r) for r in refs[1:]])
            if exports:
                self.collect_loop(rep, exports, carried, layer, attr, args)
            else:
                self.emit(f"for {layer} in self.{attr}:", code=False)
                self.emit(f"{carried} = {layer}({args})", "    ")
        (out_ref,) = rep.ports_out.values()
        self.env[tuple(out_ref)] = carried

    def collect_loop(self, rep, exports: list, carried: str, layer: str, attr: str, args: str) -> None:
        """The loop of a repeat whose iterations' values are used outside it (``layers.*.moe.router_logits``):
        each iteration returns them beside its output and the loop appends them to one list per value, so
        ``layers.3.moe.router_logits`` is ``<list>[3]`` after the loop."""
        lists = [self.locals.take(f"{rep.name}_{rel}_{port}".replace(".", "_")) for rel, port in exports]
        for lst in lists:
            self.emit(f"{lst}: list[torch.Tensor] = []")
            self.list_len[lst] = rep.count
        items = [self.locals.take(f"{rel}_{port}".replace(".", "_")) for rel, port in exports]
        self.emit(f"for {layer} in self.{attr}:", code=False)
        self.emit(f"{carried}, {', '.join(items)} = {layer}({args})", "    ")
        for lst, item in zip(lists, items, strict=True):
            self.emit(f"{lst}.append({item})", "    ")
        for i in range(rep.count):
            for (rel, port), lst in zip(exports, lists, strict=True):
                self.env[(f"{rep.iteration(i)}.{rel}", port)] = f"{lst}[{i}]"


def collected_values(ir: IR) -> dict[str, list[tuple[str, str]]]:
    """{repeat group: [(key below the iteration, port)]}: values made inside a repeat's iterations and read
    outside it (``in: layers.*.moe.router_logits`` expands to one reference per iteration), other than the
    repeat's carried output. The same value of every iteration, so a loop can collect them."""
    repeats = ir.scopes.repeats
    found: dict[str, list] = {}
    for node in ir.nodes():
        for _, src, port in node.inputs:
            for group, _, pos in ir.scopes.indices(src):
                if node.key.startswith(group + "."):
                    continue  # read inside the repeat
                if [tuple(r) for r in repeats[group].ports_out.values()] == [(src, port)]:
                    continue  # the repeat's own output
                rel = ".".join(src.split(".")[pos + 1:])
                if rel and (rel, port) not in found.setdefault(group, []):
                    found[group].append((rel, port))
                break  # the outermost repeat holding src
    return {g: v for g, v in found.items() if v}


def collapse_collected(values: list, lengths: dict[str, int]) -> None:
    """``[l[0], l[1], l[2]]`` (every item of a collected list ``l``, in order) -> ``[*l]``, in place."""
    head = values[0].rpartition("[")[0] if values and isinstance(values[0], str) else ""
    if lengths.get(head) == len(values) and values == [f"{head}[{i}]" for i in range(len(values))]:
        values[:] = [f"*{head}"]


class Lowering:
    def __init__(self, ir: IR, templates, where, reserved: tuple[frozenset, frozenset]):
        self.ir = ir
        self.templates = templates  # op name (or rewrite template) -> jinja template module
        self.where = where  # (Loc, what) -> 'specs/llama.yaml:31 attn', comment-safe
        globals_, members = reserved
        self.reserved_locals = globals_ | {"self", "B", "T"}
        self.reserved_attrs = members
        self.globals = Namespace(globals_)
        self.classes: list[ClassPlan] = []  # in dependency order: a class before any class that uses it
        self.by_signature: dict[tuple, ClassPlan] = {}
        self.scope_class: dict[str, ClassPlan] = {}  # instance scope -> its class (filled on demand)
        self.pending: deque[tuple[str, ClassPlan]] = deque()  # classes named but not lowered yet
        self.ops_used: set[str] = set()
        self.rewrites_used: list[str] = []
        self.features: set[str] = set()
        self.uses: set[str] = set()  # global names the emitted code reads (imports it needs)
        self.children = self._index_children()
        self._rewrite_nodes: dict[str, list[str]] = {}
        for record in ir.info.get("rewrites", []):
            self._rewrite_nodes[record["root"]] = record["nodes"]
        self.model: ClassPlan | None = None
        self.collected = collected_values(ir)
        self.exports: dict[str, list] = {}  # class name -> [(key below the iteration, port)] it also returns

    def rewrite_nodes(self, root: str) -> list[str]:
        return self._rewrite_nodes.get(root, [root])

    def rewrite_template(self, rule):
        if rule.lowers_to not in self.rewrites_used:
            self.rewrites_used.append(rule.lowers_to)
        return self.templates[rule.lowers_to]

    # -- scope structure ---------------------------------------------------------------------------------

    def _index_children(self) -> dict[str, list[tuple[str, str]]]:
        """scope -> [(kind, key)] in topological order; kind is node, instance or repeat. One pass over the
        nodes: an item is placed where its first node is, and its enclosing items are placed already when
        it has been seen, so the walk up the scope chain stops there (linear in nodes)."""
        seen: set[tuple[str, str]] = set()
        out: dict[str, list] = {}
        instances = self.ir.scopes.instances
        for node in self.ir.nodes():
            if node.op == "input":
                continue
            inst = instances.get(node.key)  # a single-node block: the node is the instance
            if inst is None:
                scope, item = node.parent, ("node", node.key)
            else:
                scope, item = inst.parent, (("repeat", inst.repeat) if inst.repeat else ("node", node.key))
            while True:
                if item in seen:
                    break
                seen.add(item)
                out.setdefault(scope, []).append(item)
                if not scope:
                    break
                inst = instances[scope]
                item = ("repeat", inst.repeat) if inst.repeat else ("instance", scope)
                scope = inst.parent
        return out

    # -- classes -----------------------------------------------------------------------------------------

    def class_for(self, scope: str, signature: tuple, user: ClassPlan) -> ClassPlan:
        """The class of instance ``scope``: a new one (its body lowered later, from a work list, so blocks
        nested 1,000 deep need no recursion) when its signature is new."""
        plan = self.by_signature.get(signature)
        if plan is None:
            inst = self.ir.scopes.instances[scope]
            info = self.ir.scopes.classes[inst.class_key]
            block = info.block
            name = self.globals.take(class_name(block) if inst.class_key == block else class_name(inst.class_key))
            doc = docstring(info.doc or f"The '{info.block}' block.")
            types = ["tuple[torch.Tensor, torch.Tensor]" if rope else "torch.Tensor" for _, _, rope, _ in signature[1]]
            plan = ClassPlan(name, doc, docstring(self.where(info.loc, f"blocks.{block}")), [], types)
            self.by_signature[signature] = plan
            self.pending.append((scope, plan))
            user.created.append(plan)
        return plan

    def lower_body(self, scope: str, plan: ClassPlan, ports_in: dict, ports_out: dict) -> None:
        ctx = ClassLowering(self, plan, self.reserved_locals)
        for port, ref in ports_in.items():
            arg = ctx.locals.take(port)
            plan.args.append(arg)
            ctx.env[tuple(ref)] = arg
        for kind, key in self.children.get(scope, []):
            ctx.lower(kind, key)
        outs = [ctx.expr(tuple(ref)) for ref in ports_out.values()]
        outs += [ctx.expr((f"{scope}.{rel}", port)) for rel, port in self.exports.get(plan.name, ())]
        plan.returns = outs[0] if len(outs) == 1 else ", ".join(outs)

    def lower_model(self) -> ClassPlan:
        if self.model is not None:
            return self.model
        inputs = self.ir.info["inputs"]
        outputs = self.ir.info["outputs"]
        plan = ClassPlan("Model", "", "", [], ["torch.Tensor"] * len(inputs))
        self.model = plan
        ctx = ClassLowering(self, plan, self.reserved_locals)
        for name in inputs:
            arg = ctx.locals.take(name)
            plan.args.append(arg)
            ctx.env[(name, "out")] = arg
        for kind, key in self.children.get("", []):
            ctx.lower(kind, key)
        while self.pending:
            scope, cls = self.pending.popleft()
            inst = self.ir.scopes.instances[scope]
            self.lower_body(scope, cls, inst.ports_in, inst.ports_out)
        self.classes = self._dependency_order(plan)
        outs = [ctx.expr(tuple(ref)) for ref in outputs.values()]
        if len(outputs) > 1:
            plan.returns = "{" + ", ".join(f"{string(k)}: {v}" for k, v in zip(outputs, outs, strict=True)) + "}"
        else:
            plan.returns = outs[0]
        return plan

    @staticmethod
    def _dependency_order(model: ClassPlan) -> list[ClassPlan]:
        """Every class after the classes it uses (a post-order walk, without recursion)."""
        order: list[ClassPlan] = []
        stack = [(model, iter(model.created))]
        while stack:
            plan, rest = stack[-1]
            child = next(rest, None)
            if child is None:
                stack.pop()
                if plan is not model:
                    order.append(plan)
            else:
                stack.append((child, iter(child.created)))
        return order

    def class_of(self, scope: str) -> ClassPlan:
        """The generated class of any instance scope ('' for Model), through the local names that lead to
        it; iterative, so a deep nesting of blocks cannot exhaust the stack."""
        self.lower_model()
        if not scope:
            return self.model
        path = []
        while scope and scope not in self.scope_class:
            path.append(scope)
            scope = self.ir.scopes.instances[scope].parent
        plan = self.scope_class[scope] if scope else self.model
        for s in reversed(path):
            plan = plan.children[self.ir.scopes.instances[s].name]
            self.scope_class[s] = plan
        return plan


__all__ = ["Lowering", "ClassLowering", "ClassPlan", "Call", "Member", "CodegenBug", "literal", "comment"]
