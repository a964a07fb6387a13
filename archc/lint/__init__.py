"""``archc lint``: check an analysed model against design principles, the way ruff checks Python.

Python API::

    from archc.lint import lint

    lint("specs/gpt2.yaml")                                   # [] : clean
    lint(spec, select=["GF"], ignore=["GF002"], options={"GF001": {"min_layers": 6}})

``lint`` takes a spec path, a loaded :class:`~archc.pipeline.Spec` or an :class:`~archc.ir.graph.IR` and
returns :class:`Finding`\\ s sorted by location.

Rules read shared analyses through the :class:`~archc.lint.context.Context`: residual joins (``residual.py``),
stacks however written (``stacks.py``), gradient depth (``paths.py``), what values mean (``values.py``), init
scales (``inits.py``). A finding is suppressed by a ``# lint: ignore[CODE] reason`` comment on its line
(``suppress.py``); settings come from ``[tool.archc.lint]`` in pyproject.toml (``config.py``); ``formats.py``
renders JSON, SARIF and GitHub annotations, ``fix.py`` applies mechanical fixes, ``docs.py`` writes
``docs/rules.md``.

Adding a rule: write ``archc/lint/rules/<name>.py`` with one :class:`Rule` dataclass (its docstring is its
documentation page, its fields its options), add one line to ``registry.py``, and add
``tests/lint/fixtures/<name>.yaml`` with violating cases marked ``# expect: CODE scope`` and clean cases
marked ``# ok``. The tests that loop over the registry do the rest.

Lint reads only the IR: importing this package pulls in neither torch nor jinja2.
"""

from archc.lint.framework import Finding, Rule, Violation
from archc.lint.runner import lint

__all__ = ["Finding", "Rule", "Violation", "lint"]
