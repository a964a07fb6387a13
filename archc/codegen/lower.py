"""lower: IR -> a plan of classes, members and forward lines that the templates print.

One class per distinct block (``class_key``), lowered from its first instance; a repeat becomes an
``nn.ModuleList`` and a loop, so the plan for 96 layers is as long as for 2. Op-specific text (how a
``linear`` is constructed and called) lives in ``templates/ops/<op>.j2`` as two macros, ``init`` and
``forward``; this module only wires names.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from archc.codegen.fusions import find_fusions
from archc.codegen.names import RESERVED_GLOBALS, Namespace, class_name, module_attr
from archc.errors import SpecError
from archc.ir.graph import IR, Node
from archc.ops.registry import OPS, output_names


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
    producer: str = ""  # for a fused pair: the name of the node printed together with this one

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


def literal(value) -> str:
    """Python source for a plain value from a spec; anything else is refused (specs are data)."""
    if value is None or isinstance(value, (bool, int, str)):
        return repr(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else f"float('{value}')"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{literal(str(k))}: {literal(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {type(value).__name__} into generated code")


_UNSAFE = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")


def comment_text(text: str) -> str:
    """Text safe inside a ``#`` comment or a docstring: one line, no control characters, no quotes run."""
    return _UNSAFE.sub(" ", str(text)).replace("\\", "/").replace('"""', "'''")


class Lowering:
    def __init__(self, ir: IR, templates, source_name):
        self.ir = ir
        self.templates = templates  # op name -> jinja template module with init/forward macros
        self.source_name = source_name  # Loc -> 'specs/llama.yaml:31'
        self.instances = ir.scopes.instances
        self.repeats = ir.scopes.repeats
        self.globals = Namespace(RESERVED_GLOBALS)
        self.class_names: dict[str, str] = {}
        self.classes: list[ClassPlan] = []
        self.attr_of: dict[str, str] = {}  # key of node / instance / repeat group -> attribute in its parent
        self.ops_used: set[str] = set()
        self.features: set[str] = set()
        self.order = {key: i for i, key in enumerate(ir.graph.nodes)}
        self.children = self._index_children()
        self.fusions = find_fusions(ir)  # consumer key -> (Fusion, producer node)
        self.fused_producers = {producer.key for _, producer in self.fusions.values()}
        self.fused_used: list[str] = []

    # -- scope structure ---------------------------------------------------------------------------------

    def _index_children(self) -> dict[str, list[tuple[str, str]]]:
        """scope -> [(kind, key)] in topological order; kind is node, instance or repeat."""
        first: dict[tuple[str, str], int] = {}
        out: dict[str, list] = {}

        def note(scope, kind, key, pos):
            item = (kind, key)
            if item not in first:
                first[item] = pos
                out.setdefault(scope, []).append(item)
            else:
                first[item] = min(first[item], pos)

        for node in self.ir.nodes():
            if node.op == "input":
                continue
            pos = self.order[node.key]
            note(node.parent, "node", node.key, pos)
            scope = node.parent
            while scope:
                inst = self.instances[scope]
                parent = inst.parent
                if inst.repeat:
                    note(parent, "repeat", inst.repeat, pos)
                else:
                    note(parent, "instance", scope, pos)
                scope = parent
        for items in out.values():
            items.sort(key=lambda it: first[it])
        return out

    def alias_repeats(self) -> None:
        """Repeats of single-node blocks have no instance scope of their own: their nodes are the items."""
        for group, rep in self.repeats.items():
            first = f"{group}.0"
            if self.instances[first].alias:
                parent = rep.parent
                items = self.children.setdefault(parent, [])
                keys = [f"{group}.{i}" for i in range(rep.count)]
                positions = [i for i, it in enumerate(items) if it[1] in keys]
                if positions:
                    items[positions[0]] = ("repeat", group)
                    for i in reversed(positions[1:]):
                        del items[i]

    # -- classes -----------------------------------------------------------------------------------------

    def class_for(self, class_key: str, scope: str) -> str:
        if class_key in self.class_names:
            return self.class_names[class_key]
        block = self.ir.scopes.classes[class_key].block
        name = self.globals.take(class_name(block) if class_key == block else class_name(class_key))
        self.class_names[class_key] = name
        inst = self.instances[scope]
        doc = self._block_doc(class_key)
        defined = self.ir.scopes.classes[class_key].loc
        plan = self.lower_scope(scope, name, doc, self.source_name(defined, f"blocks.{block}"),
                                list(inst.ports_in), inst.ports_in, inst.ports_out)
        self.classes.append(plan)
        return name

    def _block_doc(self, class_key: str) -> str:
        info = self.ir.scopes.classes[class_key]
        return comment_text(info.doc or f"The '{info.block}' block.")

    def lower_scope(self, scope: str, name: str, doc: str, source: str, args: list[str], ports_in: dict,
                    ports_out: dict) -> ClassPlan:
        local = Namespace(RESERVED_GLOBALS | {"B", "T"})
        arg_names = [local.take(a) for a in args]
        env: dict[tuple, str] = {}
        for arg, ref in zip(arg_names, ports_in.values(), strict=True):
            env[tuple(ref)] = arg
        types = ["tuple[torch.Tensor, torch.Tensor]" if self.ir.node(ref[0]).op == "rope" else "torch.Tensor"
                 for ref in ports_in.values()]  # rope tables travel as a (cos, sin) pair
        plan = ClassPlan(name, doc, source, arg_names, types)
        taken: set[str] = set()
        for kind, key in self.children.get(scope, []):
            if kind == "node":
                self.lower_node(self.ir.node(key), plan, env, local, taken)
            elif kind == "instance":
                self.lower_instance(key, plan, env, local, taken)
            else:
                self.lower_repeat(key, plan, env, local, taken)
        outs = [env[tuple(ref)] for ref in ports_out.values()]
        plan.returns = outs[0] if len(outs) == 1 else ", ".join(outs)
        return plan

    def _expr(self, env: dict, ref) -> str:
        key, port = ref
        if (key, port) in env:
            return env[(key, port)]
        raise SpecError(f"{key}: internal error, value {key}.{port} used before it is computed",
                        self.ir.node(key).loc)

    def lower_node(self, node: Node, plan: ClassPlan, env: dict, local: Namespace, taken: set):
        op = OPS[node.op]
        if node.key in self.fused_producers:  # printed by its consumer (archc/codegen/fusions.py)
            env[(node.key, "out")] = self._expr(env, node.inputs[0][1:])
            return
        if node.key in self.fusions:
            self.lower_fused(node, plan, env, local, taken)
            return
        template = self.templates.get(node.op)
        if template is None:
            raise SpecError(f"{node.key}: op '{node.op}' has no PyTorch template (templates/ops/{node.op}.j2); "
                            "it cannot be built yet", node.loc)
        self.ops_used.add(node.op)
        call = self.make_call(node, env, local, taken)
        init = template.module.init(call).strip()
        if init:
            inst = self.instances.get(node.key)  # an alias block: cite the line that uses it
            loc = inst.loc if inst else node.loc
            plan.members.append(Member(call.attr, init, f"{self.source_name(loc, node.name)}"))
            self.attr_of[node.key] = call.attr
        for line in template.module.forward(call).strip().splitlines():
            plan.lines.append(line)
        self.features.update(getattr(template.module, "features", lambda c: "")(call).split())
        names = output_names(op, node.attrs)
        if len(names) == 1:
            env[(node.key, names[0])] = call.var
        else:
            for i, port in enumerate(names):
                env[(node.key, port)] = f"{call.var}[{i}]"

    def lower_fused(self, node: Node, plan: ClassPlan, env: dict, local: Namespace, taken: set):
        fusion, producer = self.fusions[node.key]
        template = self.templates[f"fused/{fusion.template}"]
        self.ops_used.update((node.op, producer.op))
        if fusion.template not in self.fused_used:
            self.fused_used.append(fusion.template)
        call = self.make_call(node, env, local, taken)
        call.producer = producer.name
        produced = [i for i, (_, src, _) in enumerate(node.inputs) if src == producer.key][0]
        operands = [call.ports["x"][i] for i in range(2)]
        first, other = operands[produced], operands[1 - produced]
        plan.lines.extend(template.module.forward(call, first, other).strip().splitlines())
        env[(node.key, "out")] = call.var

    def make_call(self, node: Node, env: dict, local: Namespace, taken: set) -> Call:
        op = OPS[node.op]
        ports: dict = {}
        shapes: dict = {}
        for port, src, src_port in node.inputs:
            expr = self._expr(env, (src, src_port))
            shape = self.ir.shape_of(src, src_port)
            if any(p.name == port and p.variadic for p in op.inputs):
                ports.setdefault(port, []).append(expr)
                shapes.setdefault(port, []).append(shape)
            else:
                ports[port] = expr
                shapes[port] = shape
        first_port = op.inputs[0].name if op.inputs else None
        sym = {}
        if first_port and first_port in ports:
            base = ports[first_port][0] if isinstance(ports[first_port], list) else ports[first_port]
            base_shape = shapes[first_port][0] if isinstance(ports[first_port], list) else shapes[first_port]
            for i, d in enumerate(base_shape):
                if isinstance(d, str) and d not in sym:
                    sym[d] = f"{base}.size({i})"
        attr = module_attr(node.name, taken)
        var = local.take(node.name)
        return Call(node, attr, var, ports, shapes, next(iter(node.meta["shapes"].values())), sym)

    def lower_instance(self, scope: str, plan: ClassPlan, env: dict, local: Namespace, taken: set):
        inst = self.instances[scope]
        cls = self.class_for(inst.class_key, scope)
        name = scope.rsplit(".", 1)[-1]
        attr = module_attr(name, taken)
        self.attr_of[scope] = attr
        plan.members.append(Member(attr, f"{cls}()", self.source_name(inst.loc, name)))
        args = ", ".join(self._expr(env, tuple(ref)) for ref in inst.ports_in.values())
        outs = list(inst.ports_out.values())
        if len(outs) == 1:
            var = local.take(name)
            plan.lines.append(f"{var} = self.{attr}({args})")
            env[tuple(outs[0])] = var
        else:
            vars_ = [local.take(f"{name}_{p}") for p in inst.ports_out]
            plan.lines.append(f"{', '.join(vars_)} = self.{attr}({args})")
            for var, ref in zip(vars_, outs, strict=True):
                env[tuple(ref)] = var

    def lower_repeat(self, group: str, plan: ClassPlan, env: dict, local: Namespace, taken: set):
        rep = self.repeats[group]
        first = f"{group}.0"
        inst = self.instances[first]
        name = group.rsplit(".", 1)[-1]
        attr = module_attr(name, taken)
        self.attr_of[group] = attr
        count = rep.count
        refs = [tuple(r) for r in inst.ports_in.values()]
        carried = local.take(name)
        others = [self._expr(env, r) for r in refs[1:]]
        source = self.source_name(rep.loc, f"{name} x{count}")
        plan.lines.append(f"{carried} = {self._expr(env, refs[0])}")
        if inst.alias:
            node = self.ir.node(first)
            template = self.templates[node.op]
            self.ops_used.add(node.op)
            inner_env = {refs[0]: carried, **{r: self._expr(env, r) for r in refs[1:]}}
            call = self.make_call(node, inner_env, Namespace(local.used), set())
            init = template.module.init(call).strip()
            if init:
                plan.members.append(Member(attr, f"nn.ModuleList([{init} for _ in range({count})])", source))
                loop_var = local.take("layer")
                call.attr = "__LOOP__"
                body = template.module.forward(call).strip().replace("self.__LOOP__", loop_var)
                plan.lines.append(f"for {loop_var} in self.{attr}:")
            else:
                body = template.module.forward(call).strip()
                plan.lines.append(f"for _ in range({count}):")
            body = re.sub(rf"^{re.escape(call.var)} = ", f"{carried} = ", body)
            plan.lines.extend("    " + line for line in body.splitlines())
        else:
            cls = self.class_for(inst.class_key, first)
            plan.members.append(Member(attr, f"nn.ModuleList([{cls}() for _ in range({count})])", source))
            loop_var = local.take("layer")
            args = ", ".join([carried] + others)
            plan.lines.append(f"for {loop_var} in self.{attr}:")
            plan.lines.append(f"    {carried} = {loop_var}({args})")
        (out_ref,) = rep.ports_out.values()
        env[tuple(out_ref)] = carried

    # -- the whole model ---------------------------------------------------------------------------------

    def model(self) -> ClassPlan:
        self.alias_repeats()
        inputs = self.ir.info["inputs"]
        env_ports = {name: [name, "out"] for name in inputs}
        outputs = self.ir.info["outputs"]
        plan = self.lower_scope("", "Model", "", "", list(inputs), env_ports, outputs)
        outs = [o.strip() for o in plan.returns.split(",")]
        if len(outputs) > 1:
            # output names are validated identifiers, so double quotes need no escaping (ruff format's style)
            plan.returns = "{" + ", ".join(f'"{k}": {v}' for k, v in zip(outputs, outs, strict=True)) + "}"
        return plan

    # -- paths from the root, for ties and initialisation -------------------------------------------------

    def access(self, key: str) -> tuple[list[tuple[str, str]], str]:
        """Loops [(var, iterable)] and the expression reaching module ``key`` from ``self``."""
        parts = key.split(".")
        expr = "self"
        loops: list[tuple[str, str]] = []
        i = 0
        prefix = ""
        names = Namespace()
        while i < len(parts):
            prefix = parts[i] if not prefix else f"{prefix}.{parts[i]}"
            if prefix in self.repeats:
                attr = self.attr_of[prefix]
                var = names.take("layer")
                loops.append((var, f"{expr}.{attr}"))
                expr = var
                i += 2  # skip the iteration index
                prefix = f"{prefix}.{parts[i - 1]}"
                continue
            attr = self.attr_of.get(prefix)
            if attr is not None:
                expr = f"{expr}.{attr}"
            i += 1
        return loops, expr

    def state_path(self, key: str) -> str:
        """The generated module's path for IR key ``key``: the same, except names Python or nn.Module
        forbid as attributes (``class`` -> ``class_``)."""
        parts = key.split(".")
        out, prefix, i = [], "", 0  # prefix follows iteration 0 of each repeat, the one that was lowered
        while i < len(parts):
            prefix = parts[i] if not prefix else f"{prefix}.{parts[i]}"
            if prefix in self.attr_of:
                out.append(self.attr_of[prefix])
            if prefix in self.repeats and i + 1 < len(parts):
                out.append(parts[i + 1])
                prefix = f"{prefix}.0"
                i += 1
            i += 1
        return ".".join(out)

    def template_key(self, key: str) -> str:
        """'h.3.attn' -> 'h.*.attn': one entry for all iterations of a repeat."""
        return self.ir.scopes.template_key(key)

    def once_per_template(self, nodes):
        """(node, loops, expr) for the first node of each template key: one entry for all repeat iterations."""
        seen = set()
        for node in nodes:
            tkey = self.template_key(node.key)
            if tkey not in seen:
                seen.add(tkey)
                yield (node, *self.access(node.key))

    @staticmethod
    def nest(loops: list[tuple[str, str]], stmts: list[str]) -> list[str]:
        """``stmts`` inside ``for var in iterable:`` loops, outermost first."""
        lines, pad = [], ""
        for var, iterable in loops:
            lines.append(f"{pad}for {var} in {iterable}:")
            pad += "    "
        return lines + [pad + s for s in stmts]

    def ties(self) -> list[str]:
        lines = []
        for node, loops, expr in self.once_per_template(n for n in self.ir.nodes() if n.meta.get("tied")):
            _, target = self.access(node.tie)
            where = self.source_name(node.attr_locs.get("tie", node.loc), node.name)
            stmts = [f"{expr}.{param} = {target}.{target_param[len(node.tie) + 1:]}  # tied: {where}"
                     for param, target_param in node.meta["tied"].items()]
            lines.extend(self.nest(loops, stmts))
        return lines

    def tie_owner_resets(self) -> list[str]:
        """Re-run the init of each tied weight's owner: the module resets above end with whichever module
        came last (a head), and a shared weight should keep the init of the node it is tied to."""
        lines = []
        targets = {n.tie: n for n in self.ir.nodes() if n.meta.get("tied")}
        for target, user in targets.items():
            loops, expr = self.access(target)
            where = self.source_name(user.attr_locs.get("tie", user.loc), user.name)
            reset = f"{expr}.reset_parameters()  # a tied weight keeps its owner's init: {where}"
            lines.extend(self.nest(loops, [reset]))
        return lines

    def init_lines(self) -> list[str]:
        """Statements for ``reset_parameters``: the spec's default, then per-node choices."""
        lines = []
        default = self.ir.info.get("default_init", {}).get("*")
        if default and default["kind"] == "normal":
            lines += ["# spec default: " + describe_rule(default) + " (norm scales stay 1)",
                      "for name, p in self.named_parameters():",
                      "    if name.endswith(\"bias\"):",
                      "        nn.init.zeros_(p)",
                      "    elif p.dim() >= 2:",
                      f"        nn.init.normal_(p, mean=0.0, std={init_std(default)})"]
        elif default and init_call(default, "p"):
            lines += ["# spec default: " + describe_rule(default), "for p in self.parameters():",
                      f"    {init_call(default, 'p')}"]
        for node, loops, expr in self.once_per_template(n for n in self.ir.nodes() if n.init):
            params = node.meta["params"]
            stmts = []
            for name, rule in node.init.items():
                for param in (params if name == "*" else [name]):
                    if name == "*" and rule["kind"] == "normal" and (param.endswith("bias") or len(params[param]) < 2):
                        stmt = f"nn.init.zeros_({expr}.{param})" if param.endswith("bias") else None
                    else:
                        stmt = init_call(rule, f"{expr}.{param}")  # None: PyTorch's default
                    if stmt:
                        stmts.append(stmt)
            if stmts:
                where = self.source_name(node.attr_locs.get("init", node.loc), node.name)
                lines.append(f"# {where}: " + "; ".join(describe_rule(rule, name) for name, rule in node.init.items()))
                lines.extend(self.nest(loops, stmts))
        return lines


def init_std(rule: dict) -> str:
    if "depth" in rule:
        return f"{rule['std']!r} / math.sqrt(2 * {rule['depth']})"
    return repr(rule["std"])


def init_call(rule: dict, target: str) -> str | None:
    kind = rule["kind"]
    if kind == "zeros":
        return f"nn.init.zeros_({target})"
    if kind == "ones":
        return f"nn.init.ones_({target})"
    if kind == "constant":
        return f"nn.init.constant_({target}, {rule['value']!r})"
    if kind == "normal":
        return f"nn.init.normal_({target}, mean=0.0, std={init_std(rule)})"
    return None  # 'default': the module's own init


def describe_rule(rule: dict, param: str = "*") -> str:
    kind = rule["kind"]
    what = "weights" if param == "*" else param
    if kind == "normal":
        if "depth" in rule:
            return f"{what} ~ normal(0, {rule['std']} / sqrt(2 * {rule['depth']})), GPT-2's depth-scaled init"
        return f"{what} ~ normal(0, {rule['std']})" + (", zero biases" if param == "*" else "")
    if kind == "constant":
        return f"{what} = {rule['value']}"
    return f"{what}: {kind}"


__all__ = ["Lowering", "literal", "comment_text"]
