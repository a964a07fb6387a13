"""Paths from ``Model`` to each module, and the statements of ``tie_weights`` and ``reset_parameters``.

A node's module path follows its scope chain through the generated classes (archc/codegen/lower.py):
each block use contributes its attribute in the class that holds it, and a repeat iteration its index,
so ``l01.ln_1`` is ``l01.ln_1`` in every use of a block, not only the first. Statements for all
iterations of a repeat are one loop; a tie whose target moves with the loop (``q`` tied to its own
iteration's ``p``) uses the loop variable, one with a fixed target (``layers.0.p``, a top-level node) a
fixed path; anything else is written out per node, which is always right.
"""

from __future__ import annotations

from archc.codegen.lower import CodegenBug, Lowering, literal
from archc.codegen.names import Namespace, comment
from archc.ir.graph import IR, Node

Seg = tuple  # (attribute, repeat group or None, iteration index)


def tie_root(ir: IR, key: str, param: str) -> tuple[str, str]:
    """The node and parameter that really own ``key.param``, following a chain of ties (a -> b -> c)."""
    seen = set()
    node = ir.node(key)
    while param in node.meta.get("tied", {}):
        if node.key in seen:
            raise CodegenBug(f"tie cycle through {node.key}")
        seen.add(node.key)
        target = node.meta["tied"][param]
        param = target[len(node.tie) + 1:]
        node = ir.node(node.tie)
    return node.key, param


class Paths:
    def __init__(self, lowering: Lowering):
        self.lowering = lowering
        self.ir = lowering.ir
        self.scopes = lowering.ir.scopes

    def segments(self, key: str) -> list[Seg]:
        node = self.ir.node(key)
        owner = self.scopes.owner(node)
        chain = list(self.scopes.chain(owner))[::-1]
        segs = []
        for inst in chain:
            attrs = self.lowering.class_of(inst.parent).attrs
            segs.append((attrs[inst.name], inst.repeat, inst.index))
        if owner != node.key:
            segs.append((self.lowering.class_of(node.parent).attrs[node.name], None, 0))
        return segs

    def state_path(self, key: str) -> str:
        """``l01.ln_1`` -> ``l01.ln_1``; ``def.1.training`` -> ``def_.1.training_`` (names Python forbids)."""
        return ".".join(f"{attr}.{index}" if group else attr for attr, group, index in self.segments(key))

    @staticmethod
    def loops(segs: list[Seg], names: Namespace) -> tuple[list[tuple[str, str]], list[str], str]:
        """(loops [(var, iterable)], loop variables by repeat position, expression) for every iteration."""
        loops, vars_, expr = [], [], "self"
        for attr, group, _ in segs:
            if group is None:
                expr = f"{expr}.{attr}"
            else:
                var = names.take("layer")
                loops.append((var, f"{expr}.{attr}"))
                vars_.append(var)
                expr = var
        return loops, vars_, expr

    @staticmethod
    def bound(segs: list[Seg], binding: list, vars_: list[str]) -> str:
        """The expression for ``segs`` whose repeat positions are a loop variable or a fixed index."""
        expr, j = "self", 0
        for attr, group, _ in segs:
            if group is None:
                expr = f"{expr}.{attr}"
                continue
            kind, value = binding[j]
            j += 1
            expr = vars_[value] if kind == "loop" else f"{expr}.{attr}[{value}]"
        return expr

    @staticmethod
    def fixed(segs: list[Seg]) -> str:
        return "self" + "".join(f".{attr}[{index}]" if group else f".{attr}" for attr, group, index in segs)


def nest(loops: list[tuple[str, str]], stmts: list[str]) -> list[str]:
    """``stmts`` inside ``for var in iterable:`` loops, outermost first."""
    lines, pad = [], ""
    for var, iterable in loops:
        lines.append(f"{pad}for {var} in {iterable}:")
        pad += "    "
    return lines + [pad + s for s in stmts]


def by_template(ir: IR, nodes) -> dict[str, list[Node]]:
    groups: dict[str, list[Node]] = {}
    for node in nodes:
        groups.setdefault(ir.scopes.template_key(node.key), []).append(node)
    return groups


def _binding(users: list[tuple[list[Seg], list[Seg]]]) -> list | None:
    """How each repeat index of the targets follows the users' loops: ('const', i) when every user ties to
    the same iteration, ('loop', k) when it is always the user's own iteration of the same repeat."""
    first_target = users[0][1]
    reps = [(j, g) for j, (_, g, _) in enumerate(s for s in first_target if s[1] is not None)]
    binding = []
    for j, group in reps:
        idx = [[s for s in t if s[1] is not None][j][2] for _, t in users]
        if all(i == idx[0] for i in idx):
            binding.append(("const", idx[0]))
            continue
        for k, ugroup in enumerate(s[1] for s in users[0][0] if s[1] is not None):
            if ugroup == group and all([s for s in u if s[1] is not None][k][2] == i
                                       for (u, _), i in zip(users, idx, strict=True)):
                binding.append(("loop", k))
                break
        else:
            return None
    return binding


def use_name(ir: IR, node: Node) -> str:
    """The name the spec gives a node: the block use's for a single-op block (``ones``, not ``0``)."""
    inst = ir.scopes.instances.get(node.key)
    return inst.name if inst else node.name


def tie_lines(lowering: Lowering, where) -> list[str]:
    ir = lowering.ir
    paths = Paths(lowering)
    lines = []
    for users in by_template(ir, (n for n in ir.nodes() if n.meta.get("tied"))).values():
        for param in users[0].meta["tied"]:
            roots = [tie_root(ir, u.key, param) for u in users]
            note = "  # tied: " + comment(where(users[0].attr_locs.get("tie", users[0].loc), use_name(ir, users[0])))
            pairs = [(paths.segments(u.key), paths.segments(r)) for u, (r, _) in zip(users, roots, strict=True)]
            rparams = {p for _, p in roots}
            binding = _binding(pairs) if len(rparams) == 1 else None
            if binding is None:  # no loop says it: one line per node
                for (useg, tseg), (_, rparam) in zip(pairs, roots, strict=True):
                    lines.append(f"{paths.fixed(useg)}.{param} = {paths.fixed(tseg)}.{rparam}{note}")
                continue
            loops, vars_, expr = paths.loops(pairs[0][0], Namespace())
            target = paths.bound(pairs[0][1], binding, vars_)
            lines.extend(nest(loops, [f"{expr}.{param} = {target}.{roots[0][1]}{note}"]))
    return lines


def tie_owner_resets(lowering: Lowering, where) -> list[str]:
    """Re-run the init of each tied weight's owner: the module resets above end with whichever module came
    last (a head), and a shared weight should keep the init of the node it is tied to."""
    ir = lowering.ir
    paths = Paths(lowering)
    owners: dict[tuple[str, str], dict[str, Node]] = {}  # (template key, submodule) -> {owner key: a user}
    for user in ir.nodes():
        for param in user.meta.get("tied", {}):
            key, rparam = tie_root(ir, user.key, param)
            group = owners.setdefault((ir.scopes.template_key(key), rparam.rpartition(".")[0]), {})
            group.setdefault(key, user)
    lines = []
    for (_, sub), group in owners.items():
        key, user = next(iter(group.items()))
        segs = paths.segments(key)
        if len(group) == 1:  # one owner (the head's embedding, iteration 1's q): its own path
            loops, expr = [], paths.fixed(segs)
        else:  # owners in several iterations: all of them (resetting one that is not tied is harmless)
            loops, _, expr = paths.loops(segs, Namespace())
        module = f"{expr}.{sub}" if sub else expr
        note = comment(where(user.attr_locs.get("tie", user.loc), use_name(ir, user)))
        lines.extend(nest(loops, [f"{module}.reset_parameters()  # a tied weight keeps its owner's init: {note}"]))
    return lines


def init_lines(lowering: Lowering, where) -> list[str]:
    """Statements for ``reset_parameters``: the spec's default, then per-node choices."""
    ir = lowering.ir
    paths = Paths(lowering)
    lines = []
    default = ir.info.get("default_init", {}).get("*")
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
    for group in by_template(ir, (n for n in ir.nodes() if n.init)).values():
        node = group[0]
        loops, _, expr = paths.loops(paths.segments(node.key), Namespace())
        params = node.meta["params"]
        stmts = []
        for name, rule in node.init.items():
            for param in (params if name == "*" else [name]):
                if param not in params:
                    continue  # a tied parameter: its owner's init applies
                if name == "*" and rule["kind"] == "normal" and (param.endswith("bias") or len(params[param]) < 2):
                    stmt = f"nn.init.zeros_({expr}.{param})" if param.endswith("bias") else None
                else:
                    stmt = init_call(rule, f"{expr}.{param}")  # None: PyTorch's default
                if stmt:
                    stmts.append(stmt)
        if stmts:
            place = comment(where(node.attr_locs.get("init", node.loc), node.name))
            lines.append(f"# {place}: " + "; ".join(describe_rule(rule, name) for name, rule in node.init.items()))
            lines.extend(nest(loops, stmts))
    return lines


def init_std(rule: dict) -> str:
    if "depth" in rule:
        return f"{literal(rule['std'])} / math.sqrt(2 * {literal(rule['depth'])})"
    return literal(rule["std"])


def init_call(rule: dict, target: str) -> str | None:
    kind = rule["kind"]
    if kind == "zeros":
        return f"nn.init.zeros_({target})"
    if kind == "ones":
        return f"nn.init.ones_({target})"
    if kind == "constant":
        return f"nn.init.constant_({target}, {literal(rule['value'])})"
    if kind == "normal":
        return f"nn.init.normal_({target}, mean=0.0, std={init_std(rule)})"
    return None  # 'default': the module's own init


def describe_rule(rule: dict, param: str = "*") -> str:
    kind = rule["kind"]
    what = comment("weights" if param == "*" else param)
    if kind == "normal":
        if "depth" in rule:
            return comment(f"{what} ~ normal(0, {rule['std']} / sqrt(2 * {rule['depth']})), GPT-2's depth-scaled init")
        return comment(f"{what} ~ normal(0, {rule['std']})" + (", zero biases" if param == "*" else ""))
    if kind == "constant":
        return comment(f"{what} = {rule['value']}")
    return f"{what}: {kind}"


__all__ = ["Paths", "tie_root", "tie_lines", "tie_owner_resets", "init_lines", "nest"]
