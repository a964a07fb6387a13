"""What an op is: an attribute schema, input and output ports, a shape rule, dtypes, parameters and FLOPs.

An op is one module in ``archc/ops/`` holding one :class:`Op` subclass, plus one line in
``archc/ops/registry.py`` and one template in ``templates/ops/``. Generic tests loop over the registry and
use each op's :attr:`Op.example`, so a new op needs no new test code. The analysis passes
(``infer_shapes``, ``count``) read an op only through the hooks below, never by its name.

An op's rules see a node through :class:`NodeView`: ``n["attr"]``, ``n.shape(port)``, ``n.dtypes[port]``,
and helpers that fail with a one-line error at the node or attribute: ``n.width(port)`` (a known feature
axis), ``n.need_rank(port, at_least=, exactly=)``, ``n.axis("dim")`` (an axis attribute resolved against
the rank), ``n.fits_int64(value, what, attr)`` and ``n.fail(message, attr)``.

Hooks (class attributes and methods of :class:`Op`; the default in brackets):

``attrs`` [``{}``]
    the attribute schema, {name: :class:`Attr`}: type, default, choices, lower bound, list element type.
``inputs`` [``(Port("x"),)``]
    the input ports in order. :attr:`Port.takes` says what a port accepts, a key of :data:`TAKES`:
    ``float`` (any float dtype) [default], ``float32`` (the dtype of the generated model's parameters: every
    op with parameters takes it, since torch refuses a float16 input to a float32 matmul), ``index``
    (integer ids), ``mask`` (bool), ``any`` (any tensor: ops that move elements or read only sizes), or a
    non-tensor kind of :data:`NON_TENSOR` (``rope_tables``). ``infer_shapes`` refuses anything else, naming
    what the value is and what the op needs.
``outputs`` / :meth:`Op.output_names` [``("out",)``]
    the output port names; ``output_names(attrs)`` when they depend on attributes (``split``: ``0``, ``1``...).
:meth:`Op.infer` [the shape of the first input]
    one shape per output port, after :meth:`Op.check`; ``infer_shapes`` writes ``meta["shapes"]``.
``out_dtype`` / :meth:`Op.dtypes` [torch's promotion of the dtypes on the first input port]
    one dtype per output port, a name in :data:`TENSOR_DTYPES` or a kind in :data:`NON_TENSOR`;
    ``infer_shapes`` writes ``meta["dtypes"]``. ``out_dtype`` fixes it for every output (an embedding's
    rows are float32; rope's output is ``rope_tables``). A non-tensor output feeds only ports that take its
    kind and cannot be a model output; generated code types it with ``NON_TENSOR[kind].annotation``.
:meth:`Op.check` [nothing]
    every constraint the generated code needs beyond the schema: ranks, axes in range, divisibility, values.
    ``infer_shapes`` has already checked generically that input dtypes suit the ports, that list
    attributes hold their ``item`` type and that every int fits torch's int64.
:meth:`Op.params` [``{}``]
    {parameter name: shape}; the state-dict key is the node's scope plus that name. ``count`` refuses a
    parameter with more elements than int64 holds.
:meth:`Op.flops` [one per output feature]
    forward FLOPs **per token**, a multiply-add counting 2, as ``(fixed, per_ctx)``: the total is
    ``fixed + per_ctx * T`` where T is the context length attention looks at.
``category`` [``other``] and ``output_category`` [``None``]
    where ``archc show`` puts the op's FLOPs and parameters: embedding, attention, mlp, norm, position,
    head or other (``other`` takes the role of the enclosing block: the linears of an ``ffn`` block count
    as mlp). ``output_category`` replaces it when the node feeds a model output directly from outside any
    repeat or block with a role (a ``linear`` there is the head).
``elementwise`` [``False``]
    the output has the shape and meaning of input ``x`` (lint follows residual streams through it).
``example``
    a minimal valid use, {"attrs": {...}, "inputs": {port: shape}}, for the generic tests; the inputs'
    dtypes come from the ports' ``takes``. An op with a non-tensor output adds a ``consumer``, {"op", "port",
    "attrs", "inputs"}: a node that takes it (rope's tables feed an attention).

Conventions: shapes are tuples of ints and size expressions (``'B'``, ``'T'``, ``'T-1'``, see
archc/ir/dims.py); the last axis is the feature axis; axis attributes (``dim``) may be negative, counting
from the last axis as in torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from archc.ir.dims import INT64_MAX, fmt, show_int

REQUIRED = object()

Shape = tuple  # of int | str

FLOAT_DTYPES = ("float32", "float16", "bfloat16")
INT_DTYPES = ("int64", "int32")
TENSOR_DTYPES = ("int64", "int32", "float32", "float16", "bfloat16", "bool")  # what an input may declare
#: the model's parameters and position tables are created in this dtype by the generated code
PARAM_DTYPE = "float32"


@dataclass(frozen=True)
class NonTensor:
    """A value that is not one tensor: how generated code types it and how errors name it."""

    annotation: str
    says: str
    parts: tuple  # the dtypes of the tensors it holds, in order


#: values that flow between nodes but are not one tensor; an op output of such a kind cannot be a model output
NON_TENSOR = {
    "rope_tables": NonTensor("tuple[torch.Tensor, torch.Tensor]", "rope's (cos, sin) tables", (PARAM_DTYPE,) * 2),
}


@dataclass(frozen=True)
class Takes:
    """What an input port accepts: the dtypes (or non-tensor kinds), and how an error names them."""

    dtypes: tuple
    says: str


#: the kinds of input port, keys for :attr:`Port.takes`
TAKES = {
    "float": Takes(FLOAT_DTYPES, "floats"),
    "float32": Takes((PARAM_DTYPE,), "float32, the dtype of its parameters (to run in another dtype, declare "
                                     "float32 and cast model and inputs together)"),
    "index": Takes(INT_DTYPES, "integer ids (int64 or int32)"),
    "mask": Takes(("bool",), "a bool mask"),
    "any": Takes(TENSOR_DTYPES, "a tensor"),
    "rope_tables": Takes(("rope_tables",), "rope's (cos, sin) tables, the output of a rope node"),
}


def describe_dtype(dtype: str) -> str:
    """How an error names a value of this dtype: 'a bool mask', 'an int64 tensor of ids', 'a float16 tensor'."""
    if dtype in NON_TENSOR:
        return NON_TENSOR[dtype].says
    if dtype == "bool":
        return "a bool mask"
    if dtype in INT_DTYPES:
        return f"an {dtype} tensor of ids"
    return f"a {dtype} tensor"


def promote(dtypes: list[str], ranks: list[int]) -> str:
    """The dtype torch gives an elementwise op or ``torch.cat`` on tensors of these dtypes and ranks.

    torch's rule for tensors: the highest category wins (bool < integer < float); within it, tensors with
    axes decide over rank-0 ones; int32 with int64 gives int64, two different floats give float32
    (float16 with bfloat16 included).
    """
    if len(set(dtypes)) == 1:  # the common case: one dtype throughout
        return dtypes[0]

    def category(dtype):
        return 2 if dtype in FLOAT_DTYPES else 1 if dtype in INT_DTYPES else 0

    top = max(category(d) for d in dtypes)
    pool = [(d, r) for d, r in zip(dtypes, ranks, strict=True) if category(d) == top]
    if any(r > 0 for _, r in pool):
        pool = [(d, r) for d, r in pool if r > 0]
    kinds = {d for d, _ in pool}
    if len(kinds) == 1:
        return kinds.pop()
    return "int64" if top == 1 else "float32"


@dataclass(frozen=True)
class Attr:
    """One attribute of an op: its type, default (or REQUIRED), allowed values and meaning."""

    type: Any  # int, float, bool, str, list or a tuple of these
    default: Any = REQUIRED
    doc: str = ""
    choices: tuple | None = None
    min: float | None = None  # inclusive lower bound for numbers
    nullable: bool = False
    item: Any = None  # for a list: the type (or tuple of types) of its elements; a bool is never an int

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


@dataclass(frozen=True)
class Port:
    """An input port. ``variadic`` takes one or more tensors (``add``, ``concat``); ``takes`` is a key of TAKES."""

    name: str
    optional: bool = False
    variadic: bool = False
    doc: str = ""
    takes: str = "float"


class NodeView:
    """What an op's rules see of a node: its attributes, and its input shapes and dtypes by port."""

    __slots__ = ("key", "attrs", "shapes", "dtypes", "fail")

    def __init__(self, key: str, attrs: dict, shapes: dict[str, Any], fail, dtypes: dict | None = None):
        self.key = key
        self.attrs = attrs
        self.shapes = shapes  # port -> shape, or list of shapes for a variadic port, or None
        self.dtypes = dtypes or {}  # port -> dtype, or list of dtypes for a variadic port, or None
        self.fail = fail  # fail(message, attr=None) raises a SpecError at the node or attribute

    def __getitem__(self, attr: str):
        return self.attrs[attr]

    def shape(self, port: str = "x") -> Shape:
        return self.shapes[port]

    def width(self, port: str = "x") -> int:
        """The feature (last) axis of an input, which must be a known integer."""
        shape = self.shapes[port]
        if not shape:
            self.fail(f"input '{port}' is a scalar; expected a feature axis")
        last = shape[-1]
        if not isinstance(last, int):
            self.fail(f"the feature axis of input '{port}' must be a number, got '{last}'")
        return last

    def need_rank(self, port: str = "x", at_least: int = 1, exactly: int | None = None, what: str = "") -> Shape:
        """The input's shape, after failing unless it has ``exactly`` (or ``at_least``) that many axes."""
        shape = tuple(self.shapes[port])
        if exactly is not None and len(shape) != exactly:
            self.fail(f"input '{port}' is {fmt(shape)}, rank {len(shape)}; expected rank {exactly}{what}")
        if len(shape) < at_least:
            self.fail(f"input '{port}' is {fmt(shape)}, rank {len(shape)}; expected at least {at_least} "
                      f"ax{'is' if at_least == 1 else 'es'}{what}")
        return shape

    def axis(self, attr: str = "dim", port: str = "x", shape: Shape | None = None) -> int:
        """The axis an attribute names in input ``port`` (or in ``shape``), negative counting from the end
        as in torch, as 0 .. rank-1."""
        shape = tuple(self.shapes[port] if shape is None else shape)
        rank, dim = len(shape), self.attrs[attr]
        if not -rank <= dim < rank:
            span = f"axes {-rank} .. {rank - 1}" if rank else "no axes"
            self.fail(f"{attr} {dim} is out of range for input '{port}' {fmt(shape)} ({span})", attr)
        return dim % rank

    def fits_int64(self, value: int, what: str, attr: str | None = None) -> int:
        if value > INT64_MAX:
            self.fail(f"{what} is {show_int(value)}, more than torch's int64 sizes hold ({INT64_MAX:,})", attr)
        return value


class Op:
    """Base class: subclasses set the class attributes and override the rules they need (see the module doc)."""

    name: ClassVar[str]
    doc: ClassVar[str] = ""
    category: ClassVar[str] = "other"  # embedding | attention | mlp | norm | position | head | other
    output_category: ClassVar[str | None] = None  # the category when the node feeds a model output directly
    inputs: ClassVar[tuple[Port, ...]] = (Port("x"),)
    outputs: ClassVar[tuple[str, ...]] = ("out",)
    out_dtype: ClassVar[str | None] = None  # every output's dtype, when it does not follow the inputs
    attrs: ClassVar[dict[str, Attr]] = {}
    #: a minimal valid use for the generic tests: {"attrs": {...}, "inputs": {port: shape}}
    example: ClassVar[dict] = {}
    #: True for ops whose output is the same shape as input 'x' and that keep its meaning (for lint)
    elementwise: ClassVar[bool] = False

    def output_names(self, attrs: dict) -> tuple[str, ...]:
        """The output ports for these attributes. Default: :attr:`outputs`."""
        return self.outputs

    def infer(self, n: NodeView) -> list[Shape]:
        """Output shapes, one per output port. Default: the shape of input ``x``."""
        return [n.shape(self.inputs[0].name)]

    def dtypes(self, n: NodeView) -> list[str]:
        """Output dtypes, one per output port. Default: ``out_dtype``, else torch's promotion of the dtypes
        on the first input port."""
        count = len(self.output_names(n.attrs))
        if self.out_dtype is not None:
            return [self.out_dtype] * count
        port = self.inputs[0].name
        dtypes = n.dtypes[port]
        if not isinstance(dtypes, list):  # one tensor: its dtype
            return [dtypes] * count
        return [promote(dtypes, [len(s) for s in n.shapes[port]])] * count

    def params(self, n: NodeView) -> dict[str, Shape]:
        return {}

    def flops(self, n: NodeView, out: list[Shape]) -> tuple[float, float]:
        """Forward FLOPs per token as (fixed, per_ctx). Default: one per output feature."""
        shape = out[0]
        return (float(shape[-1]) if shape and isinstance(shape[-1], int) else 1.0, 0.0)

    def check(self, n: NodeView) -> None:
        """Cross-attribute constraints beyond the schema (``n_heads`` divides ``d_model``...)."""
