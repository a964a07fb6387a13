"""What an op is: an attribute schema, input and output ports, a shape rule, parameters and FLOPs.

An op is one module in ``archc/ops/`` holding one :class:`Op` subclass, plus one line in
``archc/ops/registry.py`` and one template in ``templates/ops/``. Generic tests loop over the registry and
use each op's :attr:`Op.example`, so a new op needs no new test code.

Conventions (documented in the README):

* Shapes are tuples of ints and symbols (``'B'``, ``'T'``); the last axis is the feature axis.
* FLOPs are forward FLOPs **per token**, a multiply-add counting 2. They are returned as
  ``(fixed, per_ctx)``: the total is ``fixed + per_ctx * T`` where T is the context length attention looks
  at, so the T-dependent part of attention can be evaluated at any stated T.
* Parameters are returned as ``{name: shape}``; the state-dict key is the node's scope plus that name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

REQUIRED = object()

Shape = tuple  # of int | str


@dataclass(frozen=True)
class Attr:
    """One attribute of an op: its type, default (or REQUIRED), allowed values and meaning."""

    type: Any  # int, float, bool, str, list or a tuple of these
    default: Any = REQUIRED
    doc: str = ""
    choices: tuple | None = None
    min: float | None = None  # inclusive lower bound for numbers
    nullable: bool = False

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


@dataclass(frozen=True)
class Port:
    """An input port. ``variadic`` takes one or more tensors (``add``, ``concat``)."""

    name: str
    optional: bool = False
    variadic: bool = False
    doc: str = ""


class NodeView:
    """What an op's rules see of a node: its attributes and its input shapes by port."""

    __slots__ = ("key", "attrs", "shapes", "fail")

    def __init__(self, key: str, attrs: dict, shapes: dict[str, Any], fail):
        self.key = key
        self.attrs = attrs
        self.shapes = shapes  # port -> shape, or list of shapes for a variadic port, or None
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


class Op:
    """Base class: subclasses set the class attributes and override the rules they need."""

    name: ClassVar[str]
    doc: ClassVar[str] = ""
    category: ClassVar[str] = "other"  # embedding | attention | mlp | norm | position | head | other
    inputs: ClassVar[tuple[Port, ...]] = (Port("x"),)
    outputs: ClassVar[tuple[str, ...]] = ("out",)
    attrs: ClassVar[dict[str, Attr]] = {}
    #: a minimal valid use for the generic tests: {"attrs": {...}, "inputs": {port: shape}}
    example: ClassVar[dict] = {}
    #: True for ops whose output is the same shape as input 'x' and that keep its meaning (for lint)
    elementwise: ClassVar[bool] = False

    def infer(self, n: NodeView) -> list[Shape]:
        """Output shapes, one per output port. Default: the shape of input ``x``."""
        return [n.shape(self.inputs[0].name)]

    def params(self, n: NodeView) -> dict[str, Shape]:
        return {}

    def flops(self, n: NodeView, out: list[Shape]) -> tuple[float, float]:
        """Forward FLOPs per token as (fixed, per_ctx). Default: one per output feature."""
        shape = out[0]
        return (float(shape[-1]) if shape and isinstance(shape[-1], int) else 1.0, 0.0)

    def check(self, n: NodeView) -> None:
        """Cross-attribute constraints beyond the schema (``n_heads`` divides ``d_model``...)."""
