"""rewrite: patterns in the IR that a backend prints as one call (a fused function, later a kernel).

The table ``RULES`` has one row per rewrite. A row names the pattern (an op and the ops feeding it), the
check that decides whether a structural match may be rewritten (``None``: yes; a string: why not, as
``torch/_inductor/pattern_matcher.py``'s ``extra_check``), and what it lowers to (a template under
``templates/``, or a kernel for another backend). The pass runs after ``count`` and before any lowering;
it changes no node and no parameter, it only records:

* ``ir.info["rewrites"]``: one record per match ``{rule, backend, root, nodes, lowers_to}``;
* ``ir.info["rewrite_misses"]``: ``{rule, backend, root, reason}`` for structural matches a check refused
  (what ``archc show`` and a forced kernel choice report);
* ``node.meta["rewrite"]``: ``{rule, root, part}`` on every node a rewrite took; ``part`` is the pattern
  name the node matched (``root`` for the node the call replaces).

Lowering prints what these records say; it matches nothing itself.

Adding a rewrite is one row and one template. For GeGLU's gelu(gate) * up::

    Rule("gelu_mul", Pat("mul", "root", (Pat("gelu", "act", (None,)), None), commutative=True),
         all_of(inner_values_private, same_shapes), "fused/gelu_mul", "gelu(gate) * up, one saved tensor")

with ``templates/fused/gelu_mul.j2`` defining ``forward(c, gate, up)`` (``c`` is the root's Call, the
operands are the pattern's free inputs in order) and ``support`` naming its helper file. A kernel row for
another backend sets ``backend`` and returns a reason from ``check`` when the node is outside the kernel's
conditions (head dim, dtype); the reason lands in ``rewrite_misses``.

The Triton backend's kernel selection is the rows with ``backend="triton"`` (``kernel`` is the ``--kernel``
NAME). They lower to ``templates/kernels/<name>.j2``: a template that sets ``kernel`` (the kernels/ file the
generated model carries) and either replaces one op's module (``init``/``forward``, the op's parameters and
state-dict keys unchanged; pattern ``Pat(op, "root", None)``) or prints a fused call like ``fused/``.
``select``/``relower`` choose and run the rows for ``--backend``/``--kernel``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from archc.errors import SpecError
from archc.ir.graph import IR, Node


@dataclass(frozen=True)
class Pat:
    """``op`` fed by ``inputs`` (sub-patterns, or None for any value) in that order, or in any order when
    ``commutative``; ``inputs=None``: the node alone, whatever feeds it (a kernel that replaces one op and
    reads its ports as the op's template does). ``name`` is how the check and the template refer to the
    node that matched."""

    op: str
    name: str
    inputs: tuple | None = ()
    commutative: bool = False


@dataclass
class Match:
    rule: Rule
    nodes: dict[str, Node]  # pattern name -> node; 'root' is the node whose value the call produces
    operands: dict[str, tuple] = field(default_factory=dict)  # pattern name of a free input -> (key, port)

    @property
    def root(self) -> Node:
        return self.nodes["root"]


@dataclass(frozen=True)
class Rule:
    name: str
    pattern: Pat
    check: Callable[[IR, Match], str | None]  # None when the rewrite applies, else the reason it does not
    lowers_to: str  # templates/<lowers_to>.j2 (a macro forward(c, *operands)); triton: kernels/<name>
    why: str
    backend: str = "pytorch"
    kernel: str = ""  # --kernel NAME that chooses this row (kernel rows only)


# -- checks ------------------------------------------------------------------------------------------------


def _exported(ir: IR) -> set[str]:
    """Keys whose value leaves their block (a block or model output): it must stay a named value."""
    cached = ir.info.get("_exported")
    if cached is None:
        cached = {ref[0] for ref in ir.info["outputs"].values()}
        for table in (ir.scopes.instances, ir.scopes.repeats):
            for entry in table.values():
                cached.update(ref[0] for ref in entry.ports_out.values())
    return cached


def inner_values_private(ir: IR, m: Match) -> str | None:
    """Every matched node but the root feeds only the pattern, in the same block, and leaves no block:
    nothing else needs its value, so it need not exist."""
    exported = _exported(ir)
    own = ir.scopes.instances.get(m.root.key)
    if own is not None and own.repeat:  # one loop body for every iteration: they would all need the match
        return f"{m.root.key} is a repeated single-op block"
    for name, node in m.nodes.items():
        if name == "root":
            continue
        if node.key in exported:
            return f"{node.key} is an output of its block"
        if node.parent != m.root.parent:
            return f"{node.key} is in another block"
        consumers = list(ir.graph.successors(node.key))
        if any(k not in {n.key for n in m.nodes.values()} for k in consumers):
            return f"{node.key} has another consumer"
        uses = sum(src == node.key for n in m.nodes.values() for _, src, _ in n.inputs)
        if uses != 1:
            return f"{node.key} is used {uses} times"
    return None


def same_shapes(ir: IR, m: Match) -> str | None:
    """The root's operands have equal shapes: no broadcasting for the fused backward to undo."""
    shapes = [ir.shape_of(src, port) for _, src, port in m.root.inputs]
    if any(s != shapes[0] for s in shapes):
        return "operands broadcast (" + " vs ".join(str(s) for s in shapes) + ")"
    return None


def all_of(*checks):
    def check(ir: IR, m: Match) -> str | None:
        for c in checks:
            reason = c(ir, m)
            if reason:
                return reason
        return None
    return check


# Kernel rows: the conditions each Triton kernel in kernels/ needs (its docstring states them). A miss keeps
# the node in PyTorch with an ``info:`` line; a row the user forces (--kernel NAME=triton) makes it an error.
_KERNEL_DTYPES = ("float32", "float16", "bfloat16")  # what the kernels load and accumulate in fp32


def float_dtype(ir: IR, m: Match) -> str | None:
    """Every value the root reads or writes is fp32, fp16 or bf16 (or of unknown dtype), and the root is not
    a repeated single-op block (its ModuleList items are built from the op's own template)."""
    root = m.root
    own = ir.scopes.instances.get(root.key)
    if own is not None and own.repeat:
        return f"{root.key} is a repeated single-op block"
    dtypes = [ir.node(src).meta.get("dtypes", {}).get(src_port) for port, src, src_port in root.inputs
              if port != "rope"]
    dtypes += list(root.meta.get("dtypes", {}).values())
    bad = sorted({d for d in dtypes if d is not None and d not in _KERNEL_DTYPES})
    return f"dtype {', '.join(bad)} (the kernel takes {', '.join(_KERNEL_DTYPES)})" if bad else None


def attention_fits(ir: IR, m: Match) -> str | None:
    """kernels/attention.py: head dim 16..256 (FlashAttention-2's range; the kernel pads to a power of two
    and masks), no dropout on the attention weights (the kernel has none, and training must stay the same
    model), and an explicit or default scale (both fine)."""
    node = m.root
    a = node.attrs
    width = ir.shape_of(*next((s, p) for port, s, p in node.inputs if port == "x"))[-1]
    head_dim = a.get("head_dim") or (width // a["n_heads"] if isinstance(width, int) else None)
    if not isinstance(head_dim, int) or not 16 <= head_dim <= 256:
        return f"head dim {head_dim} is outside the kernel's 16..256"
    if a.get("dropout"):
        return f"dropout {a['dropout']} on the attention weights (the kernel has no dropout; set it to 0)"
    if a.get("window"):
        return f"sliding window {a['window']} (the kernel has no window mask)"
    if "kv" in {port for port, _, _ in node.inputs} and a.get("causal"):
        return "causal cross-attention (the kernel's causal mask assumes one sequence)"
    return float_dtype(ir, m)


def glu_fits(ir: IR, m: Match) -> str | None:
    return inner_values_private(ir, m) or same_shapes(ir, m) or float_dtype(ir, m)


# -- the table ---------------------------------------------------------------------------------------------

RULES: tuple[Rule, ...] = (
    # Triton kernels (backend "triton"), listed first: where one applies it takes the nodes before the
    # PyTorch fusion below could. lowers_to names templates/kernels/<name>.j2, which carries kernels/<name>.py.
    Rule("attention", Pat("attention", "root", None), attention_fits, "kernels/attention",
         "FlashAttention-2 forward and backward, RoPE inside", "triton", "attention"),
    Rule("swiglu", Pat("mul", "root", (Pat("silu", "act", (None,)), None), commutative=True), glu_fits,
         "kernels/swiglu", "silu(gate) * up in one kernel, silu recomputed in the backward", "triton", "swiglu"),
    Rule("geglu", Pat("mul", "root", (Pat("gelu", "act", (None,)), None), commutative=True), glu_fits,
         "kernels/geglu", "gelu(gate) * up in one kernel, gelu recomputed in the backward", "triton", "geglu"),
    Rule("rmsnorm", Pat("rmsnorm", "root", None), float_dtype, "kernels/rmsnorm",
         "RMSNorm forward and backward, one row per program", "triton", "rmsnorm"),
    Rule("layernorm", Pat("layernorm", "root", None), float_dtype, "kernels/layernorm",
         "LayerNorm forward and backward, one row per program", "triton", "layernorm"),
    # SwiGLU's silu(gate) * up: the backward recomputes silu from gate instead of keeping silu(gate),
    # one d_ff-wide activation per token fewer (Liger-Kernel's SwiGLU: same speed, lower peak memory)
    Rule("silu_mul", Pat("mul", "root", (Pat("silu", "act", (None,)), None), commutative=True),
         all_of(inner_values_private, same_shapes), "fused/silu_mul",
         "silu(gate) * up without storing silu(gate) for backward"),
)


# -- matching ----------------------------------------------------------------------------------------------


def _match(ir: IR, pat: Pat, node: Node, m: Match, free: list) -> bool:
    if node.op != pat.op or (pat.inputs is not None and len(node.inputs) != len(pat.inputs)):
        return False
    m.nodes[pat.name] = node
    if pat.inputs is None:
        return True
    orders = [list(range(len(pat.inputs)))]
    if pat.commutative and len(pat.inputs) == 2:
        orders.append([1, 0])
    for order in orders:
        nodes, n_free = dict(m.nodes), len(free)
        ok = True
        for sub, i in zip(pat.inputs, order, strict=True):
            _, src, port = node.inputs[i]
            if sub is None:
                free.append((src, port))
            elif not (port == "out" and _match(ir, sub, ir.node(src), m, free)):
                ok = False
                break
        if ok:
            return True
        m.nodes, free[n_free:] = nodes, []
    return False


def match(ir: IR, rule: Rule, node: Node) -> Match | None:
    """The structural match of ``rule`` rooted at ``node``, checks not applied."""
    m = Match(rule, {})
    free: list = []
    if not _match(ir, rule.pattern, node, m, free):
        return None
    m.operands = {f"in{i}": ref for i, ref in enumerate(free)}
    return m


def rewrite(ir: IR, rules: tuple[Rule, ...] = RULES, backends: tuple[str, ...] = ("pytorch",),
            force: frozenset[str] = frozenset()) -> IR:
    """Record every rewrite that applies (module docstring). Linear in nodes: a rule looks at a node and
    the few nodes its pattern spans.

    ``backends``: rows for these backends take part, earlier rows first (a kernel row listed before the
    PyTorch fusion it replaces). ``force``: names of rows the user demands (``--kernel``): a structural
    match their check refuses is the user's error, at the node.
    """
    by_root: dict[str, list[Rule]] = {}
    for rule in rules:
        if rule.backend in backends:
            by_root.setdefault(rule.pattern.op, []).append(rule)
    applied, misses = [], []
    taken: set[str] = set()
    ir.info.pop("_exported", None)
    ir.info["_exported"] = _exported(ir)
    try:
        for node in ir.nodes():
            node.meta.pop("rewrite", None)  # a second run (another table) starts from scratch
        for node in ir.nodes():
            for rule in by_root.get(node.op, ()):
                m = match(ir, rule, node)
                if m is None:
                    continue
                if any(n.key in taken for n in m.nodes.values()):
                    continue  # a node belongs to one rewrite: the first row that takes it
                reason = rule.check(ir, m)
                if reason and rule.name in force:
                    what = f"{rule.lowers_to} ({rule.name})"
                    if rule.kernel:
                        what = f"the {rule.kernel} kernel (--kernel {rule.kernel}=triton)"
                    raise SpecError(f"{node.key}: cannot lower to {what}: {reason}", node.loc)
                if reason:
                    misses.append({"rule": rule.name, "backend": rule.backend, "root": node.key, "reason": reason})
                    continue
                keys = [n.key for n in m.nodes.values()]
                taken.update(keys)
                applied.append({"rule": rule.name, "backend": rule.backend, "root": node.key, "nodes": keys,
                                "lowers_to": rule.lowers_to})
                for part, n in m.nodes.items():
                    n.meta["rewrite"] = {"rule": rule.name, "root": node.key, "part": part}
                node.meta["rewrite"]["operands"] = {k: list(v) for k, v in m.operands.items()}
                break
    finally:
        ir.info.pop("_exported", None)
    ir.info["rewrites"] = applied
    ir.info["rewrite_misses"] = misses
    return ir


RULES_BY_NAME = {rule.name: rule for rule in RULES}
BACKENDS = ("pytorch", "triton")
KERNELS = ("attention", "swiglu", "geglu", "rmsnorm", "layernorm", "moe")  # --kernel NAME (moe: no op yet)


def select(backend: str = "pytorch", kernels: dict[str, str] | None = None) -> tuple[tuple[Rule, ...], frozenset]:
    """The rows a build uses and the rows it forces. ``backend`` triton takes every kernel row; ``kernels``
    ({NAME: 'triton' | 'pytorch'}, from --kernel) adds or removes one kernel's row, and a kernel asked for
    by name is forced: a node its check refuses is an error instead of an info line."""
    kernels = kernels or {}
    rows = tuple(r for r in RULES if r.backend == "pytorch" or
                 kernels.get(r.kernel, "triton" if backend == "triton" else "pytorch") == "triton")
    force = frozenset(r.name for r in RULES if r.kernel and kernels.get(r.kernel) == "triton")
    return rows, force


def relower(ir: IR, backend: str = "pytorch", kernels: dict[str, str] | None = None) -> IR:
    """Run the pass again with the rows ``select`` chooses (the pipeline ran it with PyTorch's rows)."""
    rows, force = select(backend, kernels)
    return rewrite(ir, rows, BACKENDS, force)


__all__ = ["Pat", "Rule", "Match", "RULES", "RULES_BY_NAME", "BACKENDS", "KERNELS", "rewrite", "match", "select",
           "relower"]
