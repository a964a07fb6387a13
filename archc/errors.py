"""Errors that point at the spec.

Every problem with a spec is a :class:`SpecError`: one line, ``file:line:col: message``.
The CLI prints it and exits with code 2; nothing else in archc prints a traceback for bad input.
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass

# Characters a terminal acts on instead of showing: C0 controls (ESC starts a sequence that can erase the line,
# \r returns to column 1), DEL, C1 controls (0x9b is a one-byte CSI), the line and paragraph separators, and the
# bidi marks, embeddings, overrides and isolates (U+200E-200F, U+202A-202E, U+2066-2069, U+061C) that reorder
# what follows them ("Trojan Source", CVE-2021-42574); lone surrogates (an undecodable byte in a file name)
# would make printing itself fail.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text) -> str:
    """``text`` with every control character written as an escape (``\\x1b``, ``\\r``, ``\\u202e``).

    Everything archc prints to a terminal that came from a spec, a file name or an override passes through
    here, so a spec cannot move the cursor, erase its own ``file:line:col`` or reorder what is shown.
    """
    text = str(text)
    if not _UNPRINTABLE.search(text):
        return text
    return _UNPRINTABLE.sub(lambda m: _NAMED.get(m.group(), f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                                                  else f"\\u{ord(m.group()):04x}"), text)


@dataclass(frozen=True)
class Loc:
    """A place in a spec file (1-based line and column), or on the command line."""

    file: str
    line: int = 1
    col: int = 1

    def __str__(self) -> str:
        return f"{printable(display_path(self.file))}:{self.line}:{self.col}"

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
        message = printable(self.message)  # always one line, and nothing a terminal acts on
        return f"{self.loc}: {message}" if self.loc else message


def did_you_mean(name: str, choices, prefix: str = "") -> str:
    """`` (did you mean 'x'?)`` for the closest choice, or an empty string.

    ``prefix`` is put before the suggestion (``vars.``), so the hint can be copied as a whole path.
    """
    # never the rejected name itself: "unknown attribute 'doc' (did you mean 'doc'?)" helps no one
    close = difflib.get_close_matches(str(name), [str(c) for c in choices if str(c) != str(name)], n=1, cutoff=0.6)
    return f" (did you mean '{prefix}{close[0]}'?)" if close else ""
