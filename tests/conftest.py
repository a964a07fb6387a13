"""Shared fixtures: the repository root, the catalog, and a quiet hypothesis profile."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
BIN = Path(sys.executable).parent


@pytest.fixture
def in_root(monkeypatch):
    """Run with the repository root as working directory (generated headers name specs relative to it)."""
    monkeypatch.chdir(ROOT)
    return ROOT


def archc_cmd() -> list[str]:
    exe = BIN / "archc"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "archc.cli.main"]


os.environ.setdefault("PYTHONHASHSEED", "0")
