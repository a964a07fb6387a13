"""``archc lint --fix``: apply the findings' mechanical edits to the YAML as text, so comments and layout stay.

An edit replaces the exact text a rule saw at a line and column (``50257`` becomes ``50304``); when the file no
longer holds that text there, the edit is skipped rather than guessed. A file is rewritten through a temporary
file in its folder, so a failed write leaves it as it was.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from archc.errors import Loc
from archc.lint.framework import Edit, Finding


def apply(findings: list[Finding]) -> int:
    """Apply every finding's edit; the number applied."""
    by_file: dict[str, list[Edit]] = {}
    for f in findings:
        if f.edit is not None:
            by_file.setdefault(f.edit.loc.file, []).append(f.edit)
    applied = 0
    for file, edits in by_file.items():
        path = Path(file)
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        done = set()
        for edit in sorted(edits, key=lambda e: (e.loc.line, e.loc.col), reverse=True):  # right to left
            key = (edit.loc.line, edit.loc.col)
            if key in done or not 0 < edit.loc.line <= len(lines):
                continue
            line = lines[edit.loc.line - 1]
            start = _value_start(line, edit.loc.col - 1)
            if line[start:start + len(edit.old)] != edit.old:
                continue
            lines[edit.loc.line - 1] = line[:start] + edit.new + line[start + len(edit.old):]
            done.add(key)
        if done:
            _write(path, "".join(lines))
            applied += len(done)
    return applied


def final_norm_edit(ctx, stack) -> Edit | None:
    """A line ``ln_f: {block: norm}`` right after a top-level stack, when the one node that reads the stack is
    the next line of the spec and takes its input implicitly (no ``in:``), and the spec has a ``norm`` block."""
    readers = list(ctx.successors(stack.output))
    loc = stack.last_loc
    if len(readers) != 1 or loc is None or "." in stack.last or not _has_block(ctx, "norm"):
        return None
    reader = ctx.node(readers[0])
    lines = _lines(loc.file)
    if reader.parent or reader.loc.file != loc.file or reader.loc.line != loc.line + 1 or loc.line >= len(lines):
        return None
    here, after = lines[loc.line - 1], lines[loc.line]
    if not (after.rstrip().endswith("}") and "{" in after) or re.search(r"[{,]\s*in\s*:", after):
        return None  # a block-style node, or one that names its input: inserting a norm would not rewire it
    # one name per stack, so that fixing several stacks of one file gives distinct keys
    single = sum(s.kind == stack.kind for s in ctx.stacks.values()) == 1
    name = next(n for n in (("ln_f",) if single else ()) + (f"{stack.last}_norm", f"{stack.last}_final_norm")
                if n not in ctx.index)
    indent = here[:len(here) - len(here.lstrip())]
    return Edit(Loc(loc.file, loc.line + 1, 1), "", f"{indent}{name}: {{block: norm}}\n")


def _has_block(ctx, name: str) -> bool:
    return any(c.block == name for c in ctx.ir.scopes.classes.values())


def _lines(file: str) -> list[str]:
    try:
        return Path(file).read_text(encoding="utf-8").splitlines()
    except OSError:
        return []


def value_at(loc: Loc) -> str:
    """The text from ``loc`` to the end of its line, past a ``key:`` written there (where attributes point)."""
    try:
        lines = Path(loc.file).read_text(encoding="utf-8").splitlines()
    except OSError:
        return ""
    if not 0 < loc.line <= len(lines):
        return ""
    line = lines[loc.line - 1]
    return line[_value_start(line, loc.col - 1):]


def _value_start(line: str, start: int) -> int:
    key = _KEY.match(line, start)
    return key.end() if key else start


_KEY = re.compile(r"[\w\-.\"']+\s*:\s+")


def value_of_var(file: str, name: str) -> tuple[Loc, str] | None:
    """Where ``vars.<name>`` is written as a plain integer in ``file`` (block or flow style), and its text."""
    pattern = re.compile(rf"(?:^|[\s{{,]){re.escape(name)}:\s*(-?\d+)\b")
    try:
        text = Path(file).read_text(encoding="utf-8")
    except OSError:
        return None
    in_vars = False
    for number, line in enumerate(text.splitlines(), start=1):
        if re.match(r"vars:", line):
            in_vars = True
            if "{" not in line:
                continue
        elif line[:1] not in (" ", "#", "") and in_vars:
            in_vars = False
        match = pattern.search(line) if in_vars else None
        if match:
            return Loc(file, number, match.start(1) + 1), match.group(1)
    return None


def _write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
