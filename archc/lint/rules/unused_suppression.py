from __future__ import annotations

from dataclasses import dataclass

from archc.errors import Loc
from archc.lint.framework import Rule, Violation


@dataclass
class UnusedSuppression(Rule):
    """A ``# lint: ignore[...]`` comment that hides no finding, or names a rule that does not exist.

    ## What it does
    Reads the suppression comments in the files the spec is made of (the spec and the config-group files it
    uses) and flags each rule a comment names that reported nothing on that line, and each name that is no
    rule's code or name. Every rule runs for this check, selected or not, so a suppression is judged by
    what it hides, not by what this run prints.

    ## Why is this bad?
    A suppression documents a deliberate exception. Once the finding is gone (the spec was fixed, the rule
    changed, the node moved to another line), the comment claims an exception that no longer exists, and it
    will silently hide a new finding of that rule on that line later. A misspelt code suppresses nothing
    from the start.

    ## Example
    ```yaml
      wte: {op: embedding, num_embeddings: 50304, dim: 768}   # lint: ignore[SY003] as released
    ```

    ## Use instead
    ```yaml
      wte: {op: embedding, num_embeddings: 50304, dim: 768}
    ```

    ## Principle
    Lint hygiene: every exception in the spec is a live one.

    ## Evidence
    Ruff's ``unused-noqa`` (RUF100, https://docs.astral.sh/ruff/rules/unused-noqa/) and flake8-noqa
    (https://github.com/plinss/flake8-noqa) report suppression comments that match no violation, for the
    same reason.

    ## References
    - Ruff, "unused-noqa (RUF100)", https://docs.astral.sh/ruff/rules/unused-noqa/
    """

    name = "unused-suppression"
    principle = "lint-hygiene"
    severity = "warning"

    def check(self, ctx):
        from archc.lint.registry import RULES

        comments = ctx.suppressions
        if comments is None:
            return
        by_name = {cls.name: code for code, cls in RULES.items()}
        files = {n.loc.file for n in ctx.nodes()} | {i.loc.file for i in ctx.ir.scopes.instances.values()}
        for file in sorted(files):
            for line, col, suppression in comments.in_file(file):
                for named in sorted(suppression.rules):
                    code = named if named in RULES else by_name.get(named)
                    if code == self._code(RULES):
                        continue
                    if code is None:
                        message = f"the suppression names '{named}', which is no rule's code or name"
                    elif (file, line, code) in comments.used:
                        continue
                    else:
                        message = f"the suppression of {code} ({RULES[code].name}) hides nothing on this line"
                    yield Violation(f"ignore[{named}]", Loc(file, line, col), message,
                                    f"remove '{named}' from the comment (or the whole comment)")

    def _code(self, rules) -> str:
        return next(code for code, cls in rules.items() if cls is type(self))
