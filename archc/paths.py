"""Where the shipped catalog (``specs/``), templates and kernels live.

In a wheel they are packed under ``archc/_data/`` (see pyproject's force-include); in a source checkout or
an editable install they are the top-level folders beside the package.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


@cache
def data_dir(name: str) -> Path:
    """The folder ``name`` (``specs``, ``templates`` or ``kernels``) shipped with archc."""
    for candidate in (_PACKAGE / "_data" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"archc's {name}/ folder is missing from the installation")


def catalog_dir() -> Path:
    return data_dir("specs")


def templates_dir() -> Path:
    return data_dir("templates")
