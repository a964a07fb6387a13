"""What a lint rule is and what it reports.

A rule is one module in ``archc/lint/rules/`` holding one :class:`Rule` subclass, plus one line in
``archc/lint/registry.py`` that gives it its code. The subclass is a dataclass whose fields are the rule's
*options* (thresholds with defaults taken from published evidence, never literals buried in ``check``).
Its docstring is its documentation page (``archc lint --explain CODE`` prints it), with ruff's sections
plus *Principle* and *Evidence*: see :data:`DOC_SECTIONS`.

``check`` reads the analysed IR through a :class:`~archc.lint.context.Context` and yields
:class:`Violation`\\ s: where and what. The runner (``archc/lint/runner.py``) turns them into
:class:`Finding`\\ s by adding the rule's code and metadata, and reports a problem found in every iteration of a
repeat once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from archc.errors import Loc

if TYPE_CHECKING:
    from archc.lint.context import Context

#: design principle -> code prefix of its rules. Each rule page's *Principle* section says what its principle asks
#: and its *Evidence* section which published result stands behind it.
PRINCIPLES = {
    "gradient-flow": "GF",
    "alignment": "AL",
    "control": "CT",
    "efficiency": "EF",
    "manifold": "MF",
    "hierarchy": "HR",
    "systems": "SY",
    "lint-hygiene": "LN",  # about the lint setup itself: suppressions that no longer suppress anything
}
#: failure modes a rule can point to: too many parallel links, a narrow or mismatched projection that loses
#: information, representations whose meaning shifts between producer and consumer, vanishing or exploding
#: gradients, and routing or gating left without a bound or regulariser
ANTI_PATTERNS = ("overconnected-mesh", "information-choking", "semantic-drift", "gradient-collapse",
                 "underconstrained-dynamics")
SEVERITIES = ("error", "warning", "info")
#: the sections of a rule's docstring, in order; ``Options`` too when the rule has options
DOC_SECTIONS = ("What it does", "Why is this bad?", "Example", "Use instead", "Principle", "Evidence", "References")


@dataclass(frozen=True, slots=True)
class Edit:
    """A mechanical fix: the text ``old`` that starts at ``loc`` becomes ``new`` (``archc lint --fix``)."""

    loc: Loc
    old: str
    new: str


@dataclass(frozen=True, slots=True)
class Violation:
    """One problem as a rule sees it: the scope it concerns, the spec location, what is wrong, what to do, and
    the edit that does it when the fix is mechanical."""

    scope: str
    loc: Loc
    message: str
    fix: str
    edit: Edit | None = None


@dataclass(frozen=True, slots=True)
class Finding:
    """A violation with its rule's identity, as reported by ``archc lint``."""

    code: str  # GF001
    name: str  # post-norm-deep-stack
    severity: str  # error | warning | info
    principle: str  # gradient-flow, ...
    anti_pattern: str | None
    scope: str
    loc: Loc
    message: str
    fix: str
    edit: Edit | None = None

    def __str__(self) -> str:
        return f"{self.loc}: {self.code} [{self.name}] {self.message}"

    def to_json(self) -> dict:
        return {"code": self.code, "name": self.name, "severity": self.severity, "principle": self.principle,
                "anti_pattern": self.anti_pattern, "scope": self.scope, **self.loc.to_json(),
                "message": self.message, "fix": self.fix}


@dataclass
class Rule:
    """Base class. Subclasses are ``@dataclass``\\ es: set the class variables, declare options as fields."""

    name: ClassVar[str]  # kebab-case, names the pattern flagged: reads after "ignore"
    principle: ClassVar[str]  # a key of PRINCIPLES
    anti_pattern: ClassVar[str | None] = None  # one of ANTI_PATTERNS
    severity: ClassVar[str] = "warning"

    def check(self, ctx: Context) -> Iterator[Violation]:
        raise NotImplementedError

    @classmethod
    def options(cls) -> dict[str, Any]:
        """Option name -> default."""
        return {f.name: f.default for f in dataclasses.fields(cls)}

    @classmethod
    def configure(cls, options: dict | None = None) -> Rule:
        """An instance with ``options`` over the defaults; ValueError for an unknown option or a wrong type."""
        defaults = cls.options()
        for key, value in (options or {}).items():
            if key not in defaults:
                known = ", ".join(defaults) or "none"
                raise ValueError(f"rule {cls.name} has no option '{key}' (options: {known})")
            if not _same_kind(value, defaults[key]):
                raise ValueError(f"option '{key}' of rule {cls.name} takes {type(defaults[key]).__name__}, "
                                 f"got {value!r}")
        return cls(**(options or {}))


def _same_kind(value, default) -> bool:
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(default, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float))
    return isinstance(value, type(default))
