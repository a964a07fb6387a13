"""Random valid specs generated from the op registry, and the checks every spec that loads must pass.

Used by tests/test_random_specs.py (a bounded run in ``make test``) and scripts/fuzz_specs.py (long offline
runs). Nothing here names an op: ops, their attributes, ports and defaults come from
``archc.ops.registry.OPS``, and a drawn op node is kept only when the op's own ``check`` and ``infer`` accept
it (called through the same ``NodeView`` the shape pass uses), so a new op is generated without new code.

What a spec can contain: 1-3 declared inputs (ids and feature tensors, symbolic and fixed axes, every dtype
the schema allows), op nodes with random attributes, blocks with 1-2 ports, params (``${params.p}``) and
one or several outputs, nested blocks, a block reused on the same or a different width, repeats of
single- and multi-node blocks, ``${vars.v}`` references, ``init:`` rules, docs, ties (within a block, across
blocks, chains), several model outputs, and names that shadow Python, torch and template names.

The checks (:func:`check_spec`): the file ``build`` writes compiles and passes ``ruff check``;
``build --verify`` passes; the real ``state_dict()`` keys equal ``state_dict_names()``'s values and their
shapes the IR's; the parameter count equals ``show``'s; every output has the shape ``show`` gives; and a
forward and backward pass on CPU runs.
"""

from __future__ import annotations

import math
import re
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from hypothesis import assume
from hypothesis import strategies as st

from archc.errors import SpecError
from archc.ir.dims import evaluate
from archc.ops.base import REQUIRED, TAKES, NodeView
from archc.ops.registry import OPS, output_names

ROOT = Path(__file__).resolve().parent.parent

# Names a generated file defines or imports, or Python and torch reserve: a spec may use any of them.
FIXED_HOSTILE = ["tie_weights", "attention", "rotary_tables", "silu_mul", "forward", "self", "torch", "F",
                 "class", "list", "nn", "math", "Config", "Model", "config", "super", "None", "def", "return",
                 "lambda", "in", "out", "weight", "bias", "x", "reset_parameters", "state_dict", "to",
                 "training", "type", "float", "int", "dataclass", "field", "apply_rope", "layers", "B", "T",
                 "_", "_x", "match", "print", "range", "len", "cos", "sin", "head", "init", "args", "kwargs"]


def _template_names() -> list[str]:
    """Identifiers the templates define (functions, classes, attributes, locals), read from templates/."""
    names: set[str] = set()
    pattern = re.compile(r"\b(?:def|class)\s+([A-Za-z_]\w*)|self\.([A-Za-z_]\w*)|^\s*([A-Za-z_]\w*)\s*=", re.M)
    for path in sorted((ROOT / "templates").rglob("*.j2")):
        for match in pattern.finditer(path.read_text()):
            names.update(g for g in match.groups() if g)
    return sorted(n for n in names if not n.startswith("__"))


HOSTILE = sorted(set(FIXED_HOSTILE) | set(_template_names()))
# An op named like another op's input port (op `rope`, port `rope` of `attention`) makes values for that port
# only: they go to ports of that name, and such ports take only them (unless the feature `typed_anywhere`).
PORT_TYPED = frozenset(name for name in OPS if any(p.name == name for op in OPS.values() for p in op.inputs))
PLAIN = [f"n{i}" for i in range(8)]
DTYPES = OPS["input"].attrs["dtype"].choices
#: ops the generator does not draw yet: free tensors (no input port), attributes typed int-or-axis-name or
#: int-or-float, and operands whose shapes must agree across two inputs (matmul, einsum, index_select) or be
#: images (conv2d) need strategies of their own. tests/test_random_specs.py keeps each as a strict xfail, so
#: the entry must go when the generator learns it; tests/test_ops.py and tests/test_op_fuzz.py cover them.
NOT_YET_DRAWN = frozenset({"param", "constant", "sum", "mean", "max", "argmax", "matmul", "einsum", "conv2d",
                           "index_select"})
HOSTILE_STRINGS = ['a"b', "a'b", 'x"""y', "back\\", "tab\there", "ünï", "# not a comment", "{{ jinja }}",
                   "{% raw %}", "line\nbreak"]


class Invalid(Exception):
    """A drawn node that its op refuses (shape or attribute rule); the generator draws another."""


@dataclass(frozen=True)
class Val:
    shape: tuple
    integer: bool = False
    op: str = ""  # the op that produced it ('' for a declared input or a block port)
    dtype: str = "float32"  # a torch dtype name, or 'rope_tables' (archc/ops/base.py NON_TENSOR)


@dataclass(frozen=True)
class Ref:
    """An attribute written as an interpolation: ``${params.p}`` or ``${vars.v}``."""

    kind: str
    name: str


@dataclass
class NodeSpec:
    name: str
    op: str | None = None
    block: str | None = None
    inp: object = None  # str | list | dict, as written in the spec; None: implicit (the previous node)
    attrs: dict = field(default_factory=dict)
    repeat: int | None = None
    binding: dict = field(default_factory=dict)
    tie: str | None = None
    init: object = None
    doc: str | None = None


@dataclass
class Block:
    name: str
    ports: list
    params: dict = field(default_factory=dict)
    nodes: list = field(default_factory=list)
    outputs: dict | None = None  # None: the last node
    doc: str | None = None
    role: str | None = None
    first: list = field(default_factory=list)  # the values of its first use, port by port
    param_attrs: dict = field(default_factory=dict)  # param -> the attribute it stands for


@dataclass
class SpecModel:
    inputs: dict  # name -> (shape list, dtype)
    nodes: list
    blocks: dict = field(default_factory=dict)
    vars: dict = field(default_factory=dict)
    outputs: dict | None = None
    init: object = None
    title: str | None = None

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True, width=1000)

    def to_dict(self) -> dict:
        out: dict = {}
        if self.title is not None:
            out["name"] = self.title
        if self.vars:
            out["vars"] = dict(self.vars)
        if self.init is not None:
            out["init"] = self.init
        out["inputs"] = {k: {"shape": list(s), "dtype": d} for k, (s, d) in self.inputs.items()}
        if self.blocks:
            out["blocks"] = {name: _block_dict(b) for name, b in self.blocks.items()}
        out["nodes"] = {n.name: _node_dict(n) for n in self.nodes}
        if self.outputs is not None:
            out["outputs"] = dict(self.outputs)
        return out


def _lit(value):
    if isinstance(value, Ref):
        return "${" + f"{value.kind}.{value.name}" + "}"
    return value


def _node_dict(n: NodeSpec) -> dict:
    d: dict = {"op": n.op} if n.op else {"block": n.block}
    if n.inp is not None:
        d["in"] = n.inp
    d.update({k: _lit(v) for k, v in n.attrs.items()})
    d.update(n.binding)
    if n.repeat is not None:
        d["repeat"] = n.repeat
    if n.tie is not None:
        d["tie"] = n.tie
    if n.init is not None:
        d["init"] = n.init
    if n.doc is not None:
        d["doc"] = n.doc
    return d


def _block_dict(b: Block) -> dict:
    d: dict = {}
    if b.doc is not None:
        d["doc"] = b.doc
    if b.role is not None:
        d["role"] = b.role
    if b.params:
        d["params"] = dict(b.params)
    if b.ports != ["x"]:
        d["inputs"] = list(b.ports)
    d["nodes"] = {n.name: _node_dict(n) for n in b.nodes}
    if b.outputs is not None:
        d["outputs"] = dict(b.outputs)
    return d


# -- simulation: the shapes a spec gives, through each op's own rules -------------------------------------


def infer_op(op_name: str, attrs: dict, wired: dict) -> list[Val]:
    """Output values of an op node; ``wired`` maps port -> Val (a list of Val for a variadic port).

    Raises Invalid where the loader would refuse: a missing attribute, the dtype rule of the shape pass
    (integer tensors go only to an op's index input or to position ops), the op's ``check`` or ``infer``.
    """
    op = OPS[op_name]
    full = {}
    for name, spec in op.attrs.items():
        if name in attrs:
            full[name] = attrs[name]
        elif spec.default is REQUIRED:
            raise Invalid(f"{op_name} needs {name}")
        else:
            full[name] = spec.default
    shapes: dict = {}
    dtypes: dict = {}
    for port in op.inputs:
        got = wired.get(port.name)
        if got is None:
            if not port.optional:
                raise Invalid(f"{op_name} needs input {port.name}")
            shapes[port.name] = [] if port.variadic else None
            dtypes[port.name] = [] if port.variadic else None
            continue
        accepts = set(TAKES[port.takes].dtypes)
        for v in got if isinstance(got, list) else [got]:
            if v.dtype not in accepts:  # the shape pass's dtype rule, read from the port's ``takes``
                raise Invalid(f"{v.dtype} into a port that takes {port.takes}")
        dtypes[port.name] = [v.dtype for v in got] if isinstance(got, list) else got.dtype
        shapes[port.name] = [tuple(v.shape) for v in got] if isinstance(got, list) else tuple(got.shape)

    def fail(message, attr=None):
        raise Invalid(message)

    view = NodeView("n", full, shapes, fail, dtypes)
    try:
        op.check(view)
        outs = op.infer(view)
        op.params(view)
        op.flops(view, [tuple(s) for s in outs])
    except Invalid:
        raise
    except Exception as exc:  # an op rule that crashes on an odd input: the loader would crash too
        raise Invalid(f"op rule raised {type(exc).__name__}") from exc
    if len(outs) != len(output_names(op, full)):
        raise Invalid("output count")
    for s in outs:
        if any(isinstance(d, int) and not isinstance(d, bool) and d < 1 for d in s):
            raise Invalid("empty axis")
    # the output dtype, roughly as the shape pass gives it: ops that read only sizes keep their input's dtype
    # (position ops make float32), other ops keep a float input's; the loader has the last word
    ins = [v for vs in wired.values() if vs is not None for v in (vs if isinstance(vs, list) else [vs])]
    if op_name == "rope":
        dtype = "rope_tables"
    elif op.category == "position" or not ins or ins[0].dtype not in TAKES["any"].dtypes:
        dtype = "float32"
    elif all(p.takes == "any" for p in op.inputs) or ins[0].dtype in ("float16", "bfloat16"):
        dtype = ins[0].dtype
    else:
        dtype = "float32"
    integer = dtype in ("int64", "int32", "bool")
    return [Val(tuple(s), integer, op_name, dtype) for s in outs]


class Sim:
    """Shapes of every value of a spec model, by simulating its nodes through the op rules."""

    def __init__(self, model: SpecModel):
        self.model = model

    def resolve(self, value, binding: dict, block: Block | None):
        if isinstance(value, Ref):
            if value.kind == "vars":
                return self.model.vars[value.name]
            return binding.get(value.name, block.params[value.name])
        return value

    @staticmethod
    def lookup(env: dict, ref: str) -> Val:
        name, _, port = ref.partition(".")
        ports = env[name]
        if port:
            return ports[port]
        if "" not in ports:
            raise Invalid(f"{name} has several outputs")
        return ports[""]

    def wire(self, op_name: str, inp, env: dict) -> dict:
        op = OPS[op_name]
        if isinstance(inp, dict):
            return {p: ([self.lookup(env, r) for r in v] if isinstance(v, list) else self.lookup(env, v))
                    for p, v in inp.items()}
        refs = inp if isinstance(inp, list) else [inp]
        if op.inputs[0].variadic:
            return {op.inputs[0].name: [self.lookup(env, r) for r in refs]}
        return {op.inputs[i].name: self.lookup(env, r) for i, r in enumerate(refs)}

    def body(self, nodes: list, env: dict, first: str, binding: dict, block: Block | None) -> dict:
        previous = first
        for n in nodes:
            inp = n.inp if n.inp is not None else previous
            if n.op:
                attrs = {k: self.resolve(v, binding, block) for k, v in n.attrs.items()}
                outs = infer_op(n.op, attrs, self.wire(n.op, inp, env))
                names = output_names(OPS[n.op], {**{k: s.default for k, s in OPS[n.op].attrs.items()}, **attrs})
                env[n.name] = dict(zip(names, outs, strict=True))
                if len(outs) == 1:
                    env[n.name][""] = outs[0]
            else:
                env[n.name] = self.use(n, inp, env)
            previous = n.name
        return env

    def use(self, n: NodeSpec, inp, env: dict) -> dict:
        block = self.model.blocks[n.block]
        refs = inp if isinstance(inp, list) else [inp]
        if isinstance(inp, dict):
            bound = {p: self.lookup(env, inp[p]) for p in block.ports}
        else:
            if len(refs) != len(block.ports):
                raise Invalid("port count")
            bound = {p: self.lookup(env, r) for p, r in zip(block.ports, refs, strict=True)}
        out = self.block(block, bound, n.binding)
        if n.repeat is not None:  # even `repeat: 1` is a repeat group, checked like any other
            if len([p for p in out if p]) != 1 or out[""] != _plain(bound[block.ports[0]]):
                raise Invalid("a repeated block must keep the shape of its first input")
        return out

    def block(self, block: Block, bound: dict, binding: dict) -> dict:
        env = {p: {"": _plain(v), "out": _plain(v)} for p, v in bound.items()}
        env = self.body(block.nodes, env, block.ports[0], binding, block)
        outputs = block.outputs or {"out": block.nodes[-1].name}
        out = {p: self.lookup(env, r) for p, r in outputs.items()}
        out = {p: _plain(v) for p, v in out.items()}
        if len(out) == 1:
            out[""] = next(iter(out.values()))
        return out

    def top(self) -> dict:
        env = {name: {"": _declared(s, d), "out": _declared(s, d)} for name, (s, d) in self.model.inputs.items()}
        return self.body(self.model.nodes, env, next(iter(self.model.inputs)), {}, None)


def _plain(v: Val) -> Val:
    """What a block port or output carries: the shape and dtype (which op made it is the block's business)."""
    return Val(v.shape, v.integer, v.op, v.dtype)


def _declared(shape, dtype: str) -> Val:
    return Val(tuple(shape), dtype in ("int64", "int32", "bool"), "", dtype)


# -- drawing ------------------------------------------------------------------------------------------------


FEATURES = ("blocks", "reuse", "reuse_other_width", "repeat", "params", "vars", "ties", "tie_chains",
            "hostile_names", "multi_output", "init", "docs", "implicit_in", "nested_blocks", "exotic_dtypes",
            "table_outputs", "typed_anywhere", "wild_axes", "odd_ranks", "dead_nodes",
            "symbolic_arith", "long_slices")


def _bases(inp) -> set:
    refs = inp.values() if isinstance(inp, dict) else inp if isinstance(inp, list) else [inp]
    out = set()
    for r in refs:
        out.update(x.split(".")[0] for x in (r if isinstance(r, list) else [r]))
    return out


def read_ports(block: Block) -> set:
    """The ports of a block that its nodes or outputs read (a value bound to another port is never used)."""
    read, previous = set(), block.ports[0]
    for n in block.nodes:
        read |= _bases(n.inp if n.inp is not None else previous)
        previous = n.name
    read |= _bases(list((block.outputs or {}).values()))
    return read & set(block.ports)


def _reads(n: NodeSpec, blocks: dict) -> set:
    if n.block is None or n.inp is None:
        return _bases(n.inp)
    ports = blocks[n.block].ports
    inp = n.inp if isinstance(n.inp, dict) else dict(zip(ports, n.inp if isinstance(n.inp, list) else [n.inp],
                                                          strict=False))
    wanted = read_ports(blocks[n.block])
    return _bases([r for p, r in inp.items() if p in wanted])


def prune(nodes: list, first: str, keep: set, blocks: dict) -> list:
    """The nodes whose values reach ``keep`` (names); an implicit ``in:`` stays implicit where it still can."""
    previous = first
    implicit = set()
    for n in nodes:
        if n.inp is None:
            n.inp = previous
            implicit.add(n.name)
        previous = n.name
    used = set(keep)
    kept = []
    for n in reversed(nodes):
        if n.name in used:
            kept.append(n)
            used |= _reads(n, blocks)
    kept.reverse()
    names = {n.name for n in kept}
    dropped = {n.name for n in nodes} - names
    for n in kept:  # a dropped value bound to a port the block never reads: bind the scope's first input
        if n.block is not None and isinstance(n.inp, (list, dict)):
            fix = lambda r: r if r.split(".")[0] in names or r.split(".")[0] not in dropped else first  # noqa: E731
            n.inp = {p: fix(r) for p, r in n.inp.items()} if isinstance(n.inp, dict) else [fix(r) for r in n.inp]
        elif n.block is not None and isinstance(n.inp, str) and n.inp.split(".")[0] in dropped:
            n.inp = first
    previous = first
    for n in kept:
        if n.name in implicit and n.inp == previous:
            n.inp = None
        previous = n.name
    return kept


def _symbolic_change(wired: dict, outs: list) -> bool:
    """True when an op computes with a run-time size: an output axis like 'T+T' (concat along T), or a
    symbolic input axis that comes out fixed (a slice of B)."""
    firsts = [v[0] if isinstance(v, list) else v for v in wired.values() if v]
    for out in outs:
        if any(isinstance(d, str) and not d.isidentifier() for d in out.shape):
            return True
        for v in firsts:
            if len(v.shape) == len(out.shape) and any(isinstance(a, str) and isinstance(b, int)
                                                      for a, b in zip(v.shape, out.shape, strict=True)):
                return True
    return False


class Drawer:
    def __init__(self, draw, features: frozenset, focus: str | None = None, avoid: frozenset = frozenset()):
        self.draw = draw
        self.focus = focus
        self.avoid = avoid
        self.f = features
        self.model: SpecModel | None = None
        self.taken_blocks: set[str] = set()
        self.var_names: set[str] = set()

    def has(self, feature: str) -> bool:
        return feature in self.f

    def name(self, taken: set, prefix: str = "n") -> str:
        pool = HOSTILE if self.has("hostile_names") and self.draw(st.booleans()) else PLAIN
        for _ in range(4):
            name = self.draw(st.sampled_from(pool))
            if name not in taken:
                break
        else:
            name = f"{prefix}{len(taken)}"
            while name in taken:
                name += "_"
        taken.add(name)
        return name

    # values visible in a scope, as refs
    @staticmethod
    def refs(env: dict) -> list[tuple[str, Val]]:
        out = []
        for name, ports in env.items():
            if "" in ports:
                out.append((name, ports[""]))
            else:
                out.extend((f"{name}.{p}", v) for p, v in ports.items() if p)
        return out

    def pool_for(self, port: str, refs: list) -> list:
        """The values a port may take: typed values (see PORT_TYPED) only where they belong."""
        if self.has("typed_anywhere"):
            return refs
        if port in PORT_TYPED:
            return [r for r in refs if r[1].op == port]
        return [r for r in refs if r[1].op not in PORT_TYPED]

    def usual(self, refs: list) -> list:
        """Without `odd_ranks`, float values other than [B, T, d] (position tables [T, d], reshaped heads) are
        read only next to a [B, T, d] value in a variadic port (the broadcast add of a position table)."""
        if self.has("odd_ranks"):
            return refs
        return [r for r in refs if r[1].integer or len(r[1].shape) == 3]

    def ints_for(self, attr: str, spec, shapes: list) -> list[int]:
        lo = spec.min if spec.min is not None else None
        # an axis (named dim*, no lower bound, as negative axes count from the end): in range for the input
        if attr.startswith("dim") and lo is None and not self.has("wild_axes") and shapes:
            rank = len(shapes[0])
            return [v for v in range(-rank, rank) if lo is None or v >= lo]
        if attr in ("start", "end") and not self.has("long_slices"):
            # a slice bound needs the axis at least that long; build --verify gives a symbolic axis the size
            # 2 (archc/codegen/verify.py:16), so bounds stay within 2 entries: start -1..1, end 1..2
            return [v for v in ((-1, 0, 1) if attr == "start" else (1, 2)) if lo is None or v >= lo]
        if "max" in attr or "len" in attr:  # tables are indexed by run-time sizes (up to 13, see SIZES)
            pool = {16, 32}
        else:
            pool = {1, 2, 3, 4, 8}
            for s in shapes:
                for d in s:
                    if isinstance(d, int):
                        pool.update(k for k in range(1, min(d, 64) + 1) if d % k == 0)
                        pool.add(d)
                pool.update(range(-len(s), len(s)))
        return sorted(v for v in pool if lo is None or v >= lo)

    def lists_for(self, shapes: list, example) -> list:
        """Candidates for a list attribute: partitions of an axis, reshapes, and the op's own example."""
        cands = []
        if example is not None:
            cands.append(list(example))
        for s in shapes[:1]:
            for d in s:
                if isinstance(d, int) and d >= 2:
                    cut = max(1, d // 3)
                    cands.append([cut, d - cut])
                    if d >= 3:
                        cands.append([1, 1, d - 2])
            syms = [d for d in s if isinstance(d, str)]
            known = math.prod(d for d in s if isinstance(d, int))
            factors = [k for k in range(2, known) if known % k == 0]
            if factors:
                k = factors[len(factors) // 2]
                cands.append(syms + [k, known // k])
                cands.append(syms + [-1, k])
            cands.append(syms + [known])
        return cands

    def attr_value(self, op_name: str, attr: str, spec, shapes: list):
        draw = self.draw
        t = spec.type
        if spec.nullable and draw(st.integers(0, 3)) == 0:
            return None
        if spec.choices is not None:
            return draw(st.sampled_from(list(spec.choices)))
        if t is bool:
            return draw(st.booleans())
        if t is int:
            return draw(st.sampled_from(self.ints_for(attr, spec, shapes)))
        if t is float:
            pool = [0.0, 0.1, 0.5, 1.0, 2.0, 1e-5, 10000.0]
            return draw(st.sampled_from([v for v in pool if spec.min is None or v >= spec.min]))
        if t is str:
            return draw(st.sampled_from(["a", "b"]))
        if t is list:
            example = OPS[op_name].example.get("attrs", {}).get(attr)
            return draw(st.sampled_from(self.lists_for(shapes, example)))
        raise AssertionError(f"no strategy for attribute type {t!r} ({op_name}.{attr}): extend random_specs")

    def op_node(self, env: dict, taken: set, previous: str | None, block: Block | None) -> NodeSpec | None:
        draw = self.draw
        refs = self.refs(env)
        ops = [name for name in OPS if name != "input" and name not in NOT_YET_DRAWN]
        if self.focus:  # half the draws are the op under test (tests/test_random_specs.py)
            ops = [self.focus] * len(ops) + ops
        for _ in range(6):
            op_name = draw(st.sampled_from(ops))
            op = OPS[op_name]
            wired, inp_spec = {}, {}
            for port in op.inputs:
                if port.optional and (not draw(st.booleans())):
                    continue
                pool = self.pool_for(port.name, refs)
                if not pool:
                    if port.optional:
                        continue
                    break
                if port.variadic:
                    if not self.usual(pool):
                        break
                    first = draw(st.sampled_from(self.usual(pool)))
                    same = [r for r in pool if r[1].shape == first[1].shape]
                    more = draw(st.lists(st.sampled_from(same if draw(st.integers(0, 3)) else pool),
                                         min_size=1, max_size=2))
                    chosen = [first, *more]
                    wired[port.name] = [v for _, v in chosen]
                    inp_spec[port.name] = [r for r, _ in chosen]
                else:
                    if port.name not in PORT_TYPED:
                        pool = self.usual(pool)
                    if not pool:
                        break
                    ref, v = draw(st.sampled_from(pool))
                    wired[port.name] = v
                    inp_spec[port.name] = ref
            shapes = [v.shape for vs in wired.values() for v in (vs if isinstance(vs, list) else [vs])]
            attrs = {}
            for attr, spec in op.attrs.items():
                if spec.required or draw(st.integers(0, 2)) == 0:
                    attrs[attr] = self.attr_value(op_name, attr, spec, shapes)
                    value = attrs[attr]
                    if not isinstance(value, list) and (op_name, attr, value) in self.avoid:  # an open defect
                        del attrs[attr]
            try:
                outs = infer_op(op_name, attrs, wired)
            except Invalid:
                continue
            if not self.has("symbolic_arith") and _symbolic_change(wired, outs):
                continue
            name = self.name(taken)
            node = NodeSpec(name, op=op_name, attrs=attrs)
            node.inp = self.in_form(op, inp_spec, previous)
            names = output_names(op, {**{k: s.default for k, s in op.attrs.items()}, **attrs})
            env[name] = dict(zip(names, outs, strict=True))
            if len(outs) == 1:
                env[name][""] = outs[0]
            self.decorate(node, block)
            return node
        return None

    def in_form(self, op, inp_spec: dict, previous: str | None):
        """How ``in:`` is written: omitted (the previous node), a name, a list, or a mapping of ports."""
        draw = self.draw
        ports = [p.name for p in op.inputs]
        if not ports:  # a free tensor (param, constant) reads nothing
            return []
        if len(inp_spec) == 1 and ports[0] in inp_spec and not isinstance(inp_spec[ports[0]], list):
            ref = inp_spec[ports[0]]
            if self.has("implicit_in") and ref == previous and draw(st.booleans()):
                return None
            return ref
        if op.inputs[0].variadic:
            return inp_spec[ports[0]]
        given = [p for p in ports if p in inp_spec]
        if given == ports[:len(given)] and draw(st.booleans()):
            return [inp_spec[p] for p in given]
        return dict(inp_spec)

    def decorate(self, node: NodeSpec, block: Block | None):
        """Optional extras on an op node: an attribute moved into a var or a block param, init, doc."""
        draw = self.draw
        ints = [a for a, v in node.attrs.items() if isinstance(v, int) and not isinstance(v, bool)]
        if ints and self.has("vars") and draw(st.integers(0, 4)) == 0:
            attr = draw(st.sampled_from(ints))
            name = self.name(self.var_names, "v")
            self.model.vars[name] = node.attrs[attr]
            node.attrs[attr] = Ref("vars", name)
        elif ints and block is not None and self.has("params") and draw(st.integers(0, 2)) == 0:
            attr = draw(st.sampled_from(ints))
            name = self.name(set(block.params), "p")
            block.params[name] = node.attrs[attr]
            block.param_attrs[name] = attr
            node.attrs[attr] = Ref("params", name)
        if self.has("init") and draw(st.integers(0, 5)) == 0:
            node.init = draw(st.sampled_from(["zeros", "ones", "default", {"std": 0.02}, {"value": 0.5},
                                              {"std": 0.02, "depth": 3}]))
        if self.has("docs") and draw(st.integers(0, 7)) == 0:
            node.doc = draw(st.sampled_from(HOSTILE_STRINGS))

    def twins(self, node: NodeSpec, env: dict, taken: set, block: Block | None) -> list:
        """With `ties`: copies of a shape-keeping op node chained after it (a -> a2 -> a3), so that weights of
        equal shape exist to tie (random widths rarely line up by themselves)."""
        draw = self.draw
        if not self.has("ties") or node.op is None or not OPS[node.op].inputs or draw(st.integers(0, 2)):
            return []
        value = env[node.name].get("")
        src = node.inp if node.inp is not None else None
        before = env.get(src, {}).get("") if isinstance(src, str) else None
        if value is None or before is None or (before.shape, before.integer) != (value.shape, value.integer):
            return []
        attrs = {k: (self.model.vars[v.name] if isinstance(v, Ref) and v.kind == "vars" else
                     block.params[v.name] if isinstance(v, Ref) else v) for k, v in node.attrs.items()}
        out, previous = [], node.name
        for _ in range(draw(st.integers(1, 2))):
            name = self.name(taken)
            twin = NodeSpec(name, op=node.op, attrs=dict(attrs), inp=previous)
            try:
                (val,) = infer_op(node.op, attrs, {OPS[node.op].inputs[0].name: env[previous][""]})
            except (Invalid, ValueError):
                taken.discard(name)
                break
            env[name] = {"out": val, "": val}
            out.append(twin)
            previous = name
        return out

    def body(self, env: dict, first: str, depth: int, block: Block | None, max_nodes: int) -> list:
        draw = self.draw
        nodes: list = []
        taken = set(env)
        previous = first
        for _ in range(draw(st.integers(1, max_nodes))):
            kind = draw(st.sampled_from(["op", "op", "op", "use", "new"]))
            node = None
            if kind != "op" and self.has("blocks"):
                node = self.block_use(env, taken, depth, new=(kind == "new"))
            if node is None:
                node = self.op_node(env, taken, previous, block)
            if node is not None:
                nodes.append(node)
                nodes.extend(self.twins(node, env, taken, block))
                previous = nodes[-1].name
        if not nodes:
            raise Invalid("empty body")
        return nodes

    def block_use(self, env: dict, taken: set, depth: int, new: bool) -> NodeSpec | None:
        draw = self.draw
        refs = [r for r in self.refs(env)]
        sim = Sim(self.model)
        existing = [b for b in self.model.blocks.values() if b.nodes]
        if new or not existing or not self.has("reuse"):
            if depth >= (2 if self.has("nested_blocks") else 1):
                return None
            n_ports = draw(st.integers(1, 2))
            untyped = self.usual(self.pool_for("", refs))
            if not untyped:
                return None
            chosen = [draw(st.sampled_from(untyped if i == 0 else refs if self.has("typed_anywhere") else
                                           [r for r in refs if r[1].op in PORT_TYPED] or untyped))
                      for i in range(n_ports)]
            bname = self.name(self.taken_blocks, "blk")
            port_names: set = set()
            ports = ["x"] if n_ports == 1 and draw(st.booleans()) else [self.name(port_names, "p")
                                                                        for _ in range(n_ports)]
            block = Block(bname, ports, first=[v for _, v in chosen])
            self.model.blocks[bname] = block  # registered first: nested uses see it as active
            inner = {p: {"": _plain(v), "out": _plain(v)} for p, (_, v) in zip(ports, chosen, strict=True)}
            try:
                block.nodes = self.body(inner, ports[0], depth + 1, block, 4)
            except Invalid:
                del self.model.blocks[bname]
                return None
            block_refs = [r for r in self.refs(inner) if r[0] not in ports]
            if self.has("multi_output") and len(block_refs) >= 2 and draw(st.integers(0, 3)) == 0:
                outs = draw(st.lists(st.sampled_from(block_refs), min_size=2, max_size=3, unique_by=lambda r: r[0]))
                out_names: set = set()
                block.outputs = {self.name(out_names, "o"): r for r, _ in outs}
            elif "" not in inner[block.nodes[-1].name]:
                block.outputs = {"out": block_refs[-1][0]}
            if not self.has("dead_nodes"):  # a value nothing reads is an unused local in the file
                outs = block.outputs.values() if block.outputs else [block.nodes[-1].name]
                block.nodes = prune(block.nodes, ports[0], {r.split(".")[0] for r in outs}, self.model.blocks)
            if self.has("docs") and draw(st.integers(0, 3)) == 0:
                block.doc = draw(st.sampled_from(HOSTILE_STRINGS))
            if draw(st.integers(0, 4)) == 0:
                block.role = draw(st.sampled_from(["mlp", "attention", "norm", "other"]))
        else:
            block = draw(st.sampled_from(existing))
            chosen = []
            for i, _ in enumerate(block.ports):
                kin = [r for r in refs if self.has("typed_anywhere") or r[1].op == block.first[i].op or
                       PORT_TYPED.isdisjoint((r[1].op, block.first[i].op))]
                same = [r for r in kin if r[1].shape == block.first[i].shape]
                pool = kin if self.has("reuse_other_width") and draw(st.booleans()) else same
                if not pool:
                    return None
                chosen.append(draw(st.sampled_from(pool)))
        name = self.name(taken)
        binding = {}
        # an axis parameter (dim*) keeps its default unless `wild_axes`: a bound 8 is out of range for rank 3
        bindable = sorted(p for p in block.params
                          if self.has("wild_axes") or not block.param_attrs.get(p, "").startswith("dim"))
        if bindable and self.has("params") and draw(st.booleans()):
            p = draw(st.sampled_from(bindable))
            # a table length stays above the run-time sizes (SIZES), as ints_for keeps it
            long = any(w in block.param_attrs.get(p, "") for w in ("max", "len"))
            binding[p] = draw(st.sampled_from([16, 32] if long else [1, 2, 3, 4, 6, 8, 12]))
        inp = chosen[0][0] if len(chosen) == 1 else [r for r, _ in chosen]
        if len(chosen) > 1 and draw(st.booleans()):
            inp = {p: r for p, (r, _) in zip(block.ports, chosen, strict=True)}
        node = NodeSpec(name, block=block.name, inp=inp, binding=binding)
        if self.has("repeat") and draw(st.integers(0, 2)) == 0:
            node.repeat = draw(st.sampled_from([1, 2, 3]))
        for attempt in (node.repeat, None):
            node.repeat = attempt
            try:
                env[name] = sim.use(node, inp, env)
                return node
            except (Invalid, KeyError):
                continue
        if binding:
            node.binding = {}
            try:
                env[name] = sim.use(node, inp, env)
                return node
            except (Invalid, KeyError):
                pass
        taken.discard(name)
        return None

    def inputs(self) -> dict:
        draw = self.draw
        taken: set = set()
        syms = ["B", "T"]
        if self.has("hostile_names") and draw(st.integers(0, 3)) == 0:
            syms = [draw(st.sampled_from(HOSTILE)), draw(st.sampled_from(HOSTILE))]
            if syms[0] == syms[1]:
                syms[1] = syms[1] + "_2"
        b, t = syms
        out = {}
        for i in range(draw(st.integers(1, 3))):
            kinds = ["ids", "feat", "feat"] + (["feat2", "feat4"] if self.has("odd_ranks") else [])
            kind = draw(st.sampled_from(kinds if i else ["ids", "feat"]))
            width = draw(st.sampled_from([4, 6, 8, 12]))
            float_dtypes = [d for d in DTYPES if d.startswith(("float", "bfloat"))]
            dtype = draw(st.sampled_from(float_dtypes)) if self.has("exotic_dtypes") else "float32"
            if kind == "ids":
                shape, dtype = [b, t], draw(st.sampled_from([d for d in DTYPES if d.startswith("int")] +
                                                           (["bool"] if self.has("exotic_dtypes") else [])))
            elif kind == "feat":
                shape = [b, t, width]
            elif kind == "feat2":
                shape = [b, width]
            else:
                shape = [b, t, 2, width]
            out[self.name(taken, "i")] = (shape, dtype)
        return out


@st.composite
def specs(draw, features: frozenset = frozenset(FEATURES), max_nodes: int = 6, focus: str | None = None,
          avoid: frozenset = frozenset()) -> SpecModel:
    """A SpecModel that the loader should accept (the op rules accepted every node); ``focus`` names an op
    to draw half the time; ``avoid`` holds (op, attribute, value) triples never to write."""
    d = Drawer(draw, frozenset(features), focus, avoid)
    model = SpecModel(inputs={}, nodes=[])
    d.model = model
    model.inputs = d.inputs()
    env = {name: {"": _declared(s, dt), "out": _declared(s, dt)} for name, (s, dt) in model.inputs.items()}
    taken_nodes = set(env)
    model.nodes = []
    first = next(iter(model.inputs))
    previous = first
    for _ in range(draw(st.integers(1, max_nodes))):
        node = None
        if d.has("blocks") and draw(st.integers(0, 2)) == 0:
            node = d.block_use(env, taken_nodes, 0, new=draw(st.booleans()))
        if node is None:
            node = d.op_node(env, taken_nodes, previous, None)
        if node is not None:
            model.nodes.append(node)
            model.nodes.extend(d.twins(node, env, taken_nodes, None))
            previous = model.nodes[-1].name
    assume(model.nodes)
    model.blocks = {k: b for k, b in model.blocks.items() if b.nodes}
    top_refs = d.pool_for("", [r for r in d.refs(env) if r[0].split(".")[0] not in model.inputs])
    # rope's (cos, sin) tables are not a tensor: the loader refuses them as a model output
    top_refs = [r for r in top_refs if r[1].dtype != "rope_tables"]
    if not d.has("table_outputs"):  # a table op's output ([T, d] buffer) as a model output
        top_refs = [r for r in top_refs if not (r[1].op and OPS[r[1].op].category == "position")]
    assume(top_refs)
    last = model.nodes[-1].name
    last_ok = "" in env[last] and any(r[0] == last for r in top_refs)
    if not (len(top_refs) >= 2 and d.has("multi_output") and draw(st.booleans())) and last_ok:
        if draw(st.booleans()):
            model.outputs = {d.name(set(), "out"): last}
    else:
        chosen = draw(st.lists(st.sampled_from(top_refs), min_size=1, max_size=3, unique_by=lambda r: r[0]))
        names: set = set()
        model.outputs = {d.name(names, "o"): r for r, _ in chosen}
    if not d.has("dead_nodes"):
        outs = model.outputs.values() if model.outputs else [last]
        model.nodes = prune(model.nodes, first, {r.split(".")[0] for r in outs}, model.blocks)
    if d.has("init") and draw(st.integers(0, 4)) == 0:
        model.init = draw(st.sampled_from([{"std": 0.02}, "default", {"std": 0.01, "depth": 2}]))
    if d.has("docs") and draw(st.integers(0, 5)) == 0:
        model.title = draw(st.sampled_from(HOSTILE_STRINGS))
    return model


def add_ties(draw, model: SpecModel, ir, chains: bool) -> int:
    """Ties drawn from the loaded IR: an op node (in all its instances) tied to a sibling or any node
    whose weights have the same shapes. Returns how many were added."""
    from archc.ops.registry import OPS as ops

    instances = ir.scopes.instances
    sources: dict = {}  # (block or None, local name) -> [IR nodes]
    for node in ir.nodes():
        if node.op == "input":
            continue
        if node.key in instances and instances[node.key].alias:
            src = (instances[node.key].block, model.blocks[instances[node.key].block].nodes[0].name)
        elif node.parent:
            src = (instances[node.parent].block, node.key[len(node.parent) + 1:])
        else:
            src = (None, node.key)
        sources.setdefault(src, []).append(node)

    def weights(node):
        from archc.passes.infer_shapes import node_view

        return {k: tuple(v) for k, v in ops[node.op].params(node_view(ir, node)).items() if k.endswith("weight")}

    with_weights = {n.key: weights(n) for n in ir.nodes() if n.op != "input"}
    with_weights = {k: w for k, w in with_weights.items() if w}
    tied_to: dict = {}
    added = 0
    wanted = draw(st.integers(1, 3))
    for _ in range(3 * wanted):
        if added == wanted:
            break
        keys = sorted((k for k, v in sources.items() if all(n.key in with_weights for n in v)),
                      key=lambda k: (k[0] or "", k[1]))
        if not keys:
            break
        src = draw(st.sampled_from(keys))
        block, local = src
        spec_node = next(n for n in (model.blocks[block].nodes if block else model.nodes)
                         if n.name == local or (block and len(model.blocks[block].nodes) == 1))
        if spec_node.tie is not None or spec_node.op is None:
            continue
        nodes = sources[src]
        options = set(with_weights)
        if block:
            options |= {n.name for n in model.blocks[block].nodes if n.op}
        good = []
        for target in sorted(options):
            ok = True
            for n in nodes:
                # the loader looks the name up in the node's own block instance (an alias is its own), then
                # as a full key
                inst = n.key if n.key in instances and instances[n.key].alias else n.parent
                cands = [f"{inst}.{target}" if inst else target, target]
                key = next((c for c in cands if c in ir and c != n.key), None)
                if key is None or key not in with_weights:
                    ok = False
                    break
                mine, theirs = with_weights[n.key], with_weights[key]
                shared = [k for k in mine if k in theirs]
                if not shared or any(mine[k] != theirs[k] for k in shared):
                    ok = False
                    break
            if ok:
                good.append(target)
        if not good:
            continue
        if chains:  # prefer a target that is itself tied: a -> b -> c
            chained = [t for t in good if t in tied_to.values() or t in tied_to]
            if chained and draw(st.booleans()):
                good = chained
        target = draw(st.sampled_from(good))
        spec_node.tie = target
        tied_to[local] = target
        added += 1
    return added


_SCRATCH: list = []


def _scratch() -> Path:
    """One temporary folder per process for the drawn spec files (each draw overwrites spec.yaml)."""
    if not _SCRATCH:
        _SCRATCH.append(Path(tempfile.mkdtemp(prefix="archc-random-")))
    return _SCRATCH[0]


STATS: dict = {"drawn": 0, "refused": 0, "tie_refused": 0, "refusals": Counter()}


def load_model(model: SpecModel, folder: Path, name: str = "spec.yaml"):
    from archc.pipeline import load_spec

    path = folder / name
    path.write_text(model.to_yaml(), encoding="utf-8")
    return path, load_spec(path)


@st.composite
def loaded_specs(draw, features: frozenset = frozenset(FEATURES), max_nodes: int = 6, folder: Path | None = None,
                 focus: str | None = None, avoid: frozenset = frozenset()):
    """(spec file path, its YAML text): a drawn model, ties added from its IR, that the loader accepts.

    A model the loader refuses is rejected (hypothesis draws another) and counted in STATS["refused"]: the
    generator should rarely produce one, so scripts/fuzz_specs.py prints the rate.
    """
    folder = folder or _scratch()
    model = draw(specs(features, max_nodes, focus, avoid))
    STATS["drawn"] += 1
    try:
        path, spec = load_model(model, folder)
    except SpecError as exc:
        STATS["refused"] += 1
        STATS["refusals"][signature(exc)] += 1
        assume(False)
        raise AssertionError from exc  # unreachable: assume raises
    if "ties" in features and add_ties(draw, model, spec.ir, "tie_chains" in features):
        try:
            path, spec = load_model(model, folder)
        except SpecError as exc:
            STATS["tie_refused"] += 1
            STATS["refusals"]["tie: " + signature(exc)] += 1
            assume(False)
    return path, model.to_yaml()


# -- the checks ---------------------------------------------------------------------------------------------

SIZES = (2, 3, 5, 7, 11, 13)  # the sizes build --verify gives symbols, in order of first appearance


class CheckFailed(AssertionError):
    """One failed check: ``stage`` names which (ruff, compile, verify, ...); the message says how."""

    def __init__(self, stage: str, message: str):
        super().__init__(f"[{stage}] {message}")
        self.stage = stage
        self.detail = message


def ruff_check(source: str) -> str | None:
    """ruff's findings on the generated file, or None when clean (the golden files' rule set)."""
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--line-length", "120",
                             "--select", "E,F,W,I,B,UP", "--stdin-filename", "model.py", "-"],
                            input=source, capture_output=True, text=True)
    return None if result.returncode == 0 else (result.stdout + result.stderr).strip()


def check_spec(path, ruff: bool = True) -> str:
    """Every property a spec that loads must have; raises CheckFailed naming the first that does not hold.

    Returns the generated source (scripts/fuzz_specs.py runs ruff on many at once: ``ruff=False``). A spec
    the loader refuses raises SpecError (the caller decides whether that is expected).
    """
    import torch

    from archc.codegen.pytorch import build_source, load_source, state_dict_names
    from archc.codegen.verify import verify
    from archc.passes.count import totals
    from archc.pipeline import load_spec

    spec = load_spec(path)
    ir = spec.ir
    stage = "build"
    try:
        source = build_source(spec)
        stage = "compile"
        compile(source, "model.py", "exec")
        if ruff:
            stage = "ruff"
            problems = ruff_check(source)
            if problems:
                raise CheckFailed("ruff", problems.splitlines()[0])
        stage = "verify"
        try:
            verify(spec, source)
        except SpecError as exc:
            raise CheckFailed("verify", str(exc).split(": ", 1)[-1]) from exc
        stage = "construct"
        torch.manual_seed(0)
        model = load_source(source).Model()
        stage = "state_dict"
        names = state_dict_names(spec)
        got = {k: tuple(v.shape) for k, v in model.state_dict().items()}
        if set(got) != set(names.values()):
            raise CheckFailed("state_dict", f"state_dict() keys {sorted(set(got) ^ set(names.values()))[:4]} "
                              "differ from state_dict_names()")
        unique = sum(p.numel() for p in model.parameters())
        if unique != totals(ir, 1)["params"]:
            raise CheckFailed("params", f"{unique:,} parameters, show counts {totals(ir, 1)['params']:,}")
        stage = "forward"
        symbols: dict = {}
        args = []
        for decl in ir.info["inputs"].values():
            shape = [symbols.setdefault(d, SIZES[len(symbols) % len(SIZES)]) if isinstance(d, str) else d
                     for d in decl["shape"]]
            args.append(torch.zeros(shape, dtype=getattr(torch, decl["dtype"])))
        model.train()
        out = model(*args)
        outs = out if isinstance(out, dict) else {next(iter(ir.info["outputs"])): out}
        if list(outs) != list(ir.info["outputs"]):
            raise CheckFailed("forward", f"outputs {list(outs)}, the spec declares {list(ir.info['outputs'])}")
        for name, (key, port) in ir.info["outputs"].items():
            want = [evaluate(d, symbols) for d in ir.shape_of(key, port)]
            if list(outs[name].shape) != want:
                raise CheckFailed("forward", f"output {name} has shape {list(outs[name].shape)}, show says {want}")
        stage = "backward"
        loss = sum(o.float().pow(2).mean() for o in outs.values() if o.is_floating_point())
        if isinstance(loss, torch.Tensor) and loss.requires_grad:
            loss.backward()
        return source
    except CheckFailed:
        raise
    except Exception as exc:  # noqa: BLE001 - any crash is a failed property; the stage says where
        raise CheckFailed(stage, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from exc


def signature(exc: BaseException) -> str:
    """A failure's kind, for grouping: the stage and the message with paths, names and numbers taken out."""
    text = getattr(exc, "detail", None) or str(exc)
    text = re.sub(r"^\S*\.yaml:\d+:\d+: ", "", text)
    text = re.sub(r"'[^']*'|`[^`]*`", "'_'", text)
    text = re.sub(r"\b(missing|unexpected) parameter [\w.]+", r"\1 parameter _", text)
    text = re.sub(r"\b(output) \w+ has", r"\1 _ has", text)
    text = re.sub(r"\b\d+(,\d{3})*\b", "N", text)
    text = re.sub(r"\[[^\]]*\]", "[..]", text)
    stage = getattr(exc, "stage", None)
    return (f"[{stage}] " if stage else "") + text[:140]
