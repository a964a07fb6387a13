"""Lint settings from ``pyproject.toml``, under ``[tool.archc.lint]``, found by walking up from the spec.

    [tool.archc.lint]
    select = ["GF", "AL"]
    ignore = ["SY002"]
    fail-on = "warning"

    [tool.archc.lint.options]
    GF001 = {min_layers = 6}
    bottleneck-without-bypass = {min_ratio = 8}

The nearest ``pyproject.toml`` with a ``[tool.archc.lint]`` table applies (as ruff finds its settings). The
command line wins over it: a ``--select``, ``--ignore`` or ``--fail-on`` given there replaces the file's,
and ``-o CODE.NAME=VALUE`` replaces that one option.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import tomllib

from archc.errors import Loc, SpecError, did_you_mean

KEYS = ("select", "ignore", "fail-on", "options")
SEVERITIES = ("error", "warning", "info")


@dataclass
class Settings:
    file: str | None = None
    select: list[str] | None = None
    ignore: list[str] | None = None
    fail_on: str | None = None
    options: dict[str, dict] = field(default_factory=dict)


def find(start: Path) -> Path | None:
    """The nearest ``pyproject.toml`` at or above ``start`` that has a ``[tool.archc.lint]`` table."""
    for folder in [start, *start.parents]:
        candidate = folder / "pyproject.toml"
        if candidate.is_file() and "archc" in candidate.read_text(encoding="utf-8", errors="replace"):
            if "lint" in _table(candidate):
                return candidate
    return None


def for_spec(spec: str) -> Settings:
    """The settings that apply to the spec at ``spec`` (empty when no pyproject.toml has them)."""
    path = find(Path(spec).resolve().parent)
    return load(path) if path is not None else Settings()


def load(path: Path) -> Settings:
    """``[tool.archc.lint]`` of ``path``; SpecError (at the file) for a bad key or value."""
    table = _table(path).get("lint", {})
    where = Loc(str(path))
    if not isinstance(table, dict):
        raise SpecError("[tool.archc.lint] must be a table", where)
    for key in table:
        if key not in KEYS:
            raise SpecError(f"unknown key '{key}' in [tool.archc.lint]{did_you_mean(key, KEYS)}; expected "
                            f"{', '.join(KEYS)}", where)
    out = Settings(file=str(path))
    for key in ("select", "ignore"):
        value = table.get(key)
        if value is not None and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            raise SpecError(f"[tool.archc.lint] {key} must be a list of rule selectors, e.g. [\"GF\", \"AL001\"]",
                            where)
        setattr(out, key, value)
    fail_on = table.get("fail-on")
    if fail_on is not None and fail_on not in SEVERITIES:
        raise SpecError(f"[tool.archc.lint] fail-on must be one of {', '.join(SEVERITIES)}, got {fail_on!r}", where)
    out.fail_on = fail_on
    options = table.get("options", {})
    if not isinstance(options, dict) or not all(isinstance(v, dict) for v in options.values()):
        raise SpecError("[tool.archc.lint.options] maps a rule (code or name) to a table of options, e.g. "
                        "GF001 = {min_layers = 6}", where)
    out.options = {rule: dict(values) for rule, values in options.items()}
    return out


def _table(path: Path) -> dict:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SpecError(f"cannot read {path.name}: {exc}", Loc(str(path))) from None
    tool = data.get("tool", {})
    archc = tool.get("archc", {}) if isinstance(tool, dict) else {}
    return archc if isinstance(archc, dict) else {}
