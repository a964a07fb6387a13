"""``archc lint``: check an analysed model against design principles, the way ruff checks Python.

Python API::

    from archc.lint import lint

    lint("specs/gpt2.yaml")                                   # [] : clean
    lint(spec, select=["GF"], ignore=["GF002"], options={"GF001": {"min_layers": 6}})

``lint`` takes a spec path, a loaded :class:`~archc.pipeline.Spec` or an :class:`~archc.ir.graph.IR` and
returns :class:`Finding`\\ s sorted by location.

Adding a rule: write ``archc/lint/rules/<name>.py`` with one :class:`Rule` dataclass (its docstring is its
documentation page, its fields its options), add one line to ``registry.py``, and add
``tests/lint/fixtures/<name>.yaml`` with violating cases marked ``# expect: CODE scope`` and clean cases
marked ``# ok``. The tests that loop over the registry do the rest.

Lint reads only the IR: importing this package pulls in neither torch nor jinja2.
"""

from archc.lint.framework import Finding, Rule, Violation
from archc.lint.runner import lint

__all__ = ["Finding", "Rule", "Violation", "lint"]
