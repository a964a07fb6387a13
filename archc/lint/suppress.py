"""Inline suppression: a YAML comment on the line a finding points at, naming the rule and saying why.

    wte: {op: embedding, ...}   # lint: ignore[SY003] GPT-2's vocabulary as released; padding changes the checkpoint

The comment names one or more rules (codes or names, comma-separated) and must give a reason: a suppression
without one is not honoured, and the finding says so. A finding inside a block points at the block's node, so
one comment there covers every use and iteration of the block. A suppression that hides nothing is reported
by ``unused-suppression`` (LN001).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

COMMENT = re.compile(r"#\s*lint:\s*ignore\[([^\]]*)\]\s*(.*)$")


@dataclass(frozen=True, slots=True)
class Suppression:
    rules: frozenset[str]  # codes (upper case) and names
    reason: str


class Comments:
    """Suppression comments of the spec files of one lint run; each file is read once, when first asked."""

    def __init__(self):
        self._files: dict[str, tuple[str, ...]] = {}
        self.used: set[tuple[str, int, str]] = set()  # (file, line, code) of suppressions that hid a finding

    def at(self, file: str, line: int) -> Suppression | None:
        """The suppression comment on ``line`` of ``file`` (1-based), or None."""
        lines = self._lines(file)
        if not 0 < line <= len(lines):
            return None
        return _parse(lines[line - 1])

    def in_file(self, file: str):
        """(line, column of the comment, Suppression) for every suppression comment in ``file``."""
        for number, text in enumerate(self._lines(file), start=1):
            found = _parse(text)
            if found is not None:
                yield number, COMMENT.search(text).start() + 1, found

    def _lines(self, file: str) -> tuple[str, ...]:
        if file not in self._files:
            self._files[file] = _read(file)
        return self._files[file]


def _parse(text: str) -> Suppression | None:
    match = COMMENT.search(text)
    if match is None:
        return None
    rules = frozenset(r.strip().upper() if r.strip()[:1].isupper() else r.strip()
                      for r in match.group(1).split(",") if r.strip())
    return Suppression(rules, match.group(2).strip())


def _read(file: str) -> tuple[str, ...]:
    try:
        return tuple(Path(file).read_text(encoding="utf-8").splitlines())
    except (OSError, UnicodeDecodeError):
        return ()
