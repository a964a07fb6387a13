"""Errors that point at the spec.

Every problem with a spec is a :class:`SpecError`: one line, ``file:line:col: message``.
The CLI prints it and exits with code 2; nothing else in archc prints a traceback for bad input.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Loc:
    """A place in a spec file (1-based line and column), or on the command line."""

    file: str
    line: int = 1
    col: int = 1

    def __str__(self) -> str:
        return f"{display_path(self.file)}:{self.line}:{self.col}"

    def to_json(self) -> dict:
        return {"file": display_path(self.file), "line": self.line, "column": self.col}


COMMAND_LINE = "<command-line>"


def display_path(path: str) -> str:
    """A path relative to the working directory when it lies below it, else as given."""
    if path.startswith("<"):
        return path
    try:
        rel = os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return path
    return path if rel.startswith("..") else rel


class SpecError(Exception):
    """A problem with a spec, reported as ``file:line:col: message``."""

    def __init__(self, message: str, loc: Loc | None = None):
        super().__init__(message)
        self.message = message
        self.loc = loc

    def __str__(self) -> str:
        message = self.message.replace("\r", "\\r").replace("\n", "\\n")  # always one line
        return f"{self.loc}: {message}" if self.loc else message


def did_you_mean(name: str, choices, prefix: str = "") -> str:
    """`` (did you mean 'x'?)`` for the closest choice, or an empty string.

    ``prefix`` is put before the suggestion (``vars.``), so the hint can be copied as a whole path.
    """
    # never the rejected name itself: "unknown attribute 'doc' (did you mean 'doc'?)" helps no one
    close = difflib.get_close_matches(str(name), [str(c) for c in choices if str(c) != str(name)], n=1, cutoff=0.6)
    return f" (did you mean '{prefix}{close[0]}'?)" if close else ""
