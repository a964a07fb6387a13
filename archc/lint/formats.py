"""Machine-readable renderings of findings: JSON, SARIF 2.1.0 (code scanning) and GitHub workflow commands.

Each function returns text; the CLI prints it. Nothing here imports torch or reads the spec again.
"""

from __future__ import annotations

import inspect
import json
from collections import Counter

from archc.errors import display_path
from archc.lint.framework import Finding, Rule

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
#: archc severity -> SARIF result level and GitHub workflow command
SARIF_LEVEL = {"error": "error", "warning": "warning", "info": "note"}
GITHUB_COMMAND = {"error": "error", "warning": "warning", "info": "notice"}


def to_json(findings: list[Finding]) -> str:
    return json.dumps([f.to_json() for f in findings], indent=2)


def summary_of(rule: type[Rule]) -> str:
    """The first line of a rule's page."""
    return inspect.cleandoc(rule.__doc__ or "").splitlines()[0] if rule.__doc__ else rule.name


def to_sarif(findings: list[Finding], rules: dict[str, type[Rule]], version: str) -> str:
    """One SARIF 2.1.0 log with one run; every rule of ``rules`` is described, results refer to them by index."""
    index = {code: i for i, code in enumerate(rules)}
    descriptors = [{
        "id": code,
        "name": cls.name,
        "shortDescription": {"text": summary_of(cls)},
        "fullDescription": {"text": summary_of(cls)},
        "help": {"text": inspect.cleandoc(cls.__doc__ or ""), "markdown": inspect.cleandoc(cls.__doc__ or "")},
        "defaultConfiguration": {"level": SARIF_LEVEL[cls.severity]},
        "properties": {"principle": cls.principle, "anti-pattern": cls.anti_pattern or "none",
                       "tags": [cls.principle] + ([cls.anti_pattern] if cls.anti_pattern else [])},
    } for code, cls in rules.items()]
    results = []
    for f in findings:
        result = {
            "ruleId": f.code,
            "level": SARIF_LEVEL[f.severity],
            "message": {"text": f"{f.message}\nhelp: {f.fix}" if f.fix else f.message},
            "locations": [{"physicalLocation": {
                "artifactLocation": {"uri": display_path(f.loc.file).replace("\\", "/")},
                "region": {"startLine": max(f.loc.line, 1), "startColumn": max(f.loc.col, 1)},
            }, "logicalLocations": [{"fullyQualifiedName": f.scope or "<model>", "kind": "member"}]}],
            "properties": {"scope": f.scope, "principle": f.principle},
        }
        if f.code in index:
            result["ruleIndex"] = index[f.code]
        results.append(result)
    log = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "archc", "version": version, "rules": descriptors}},
            "results": results,
            "columnKind": "unicodeCodePoints",
        }],
    }
    return json.dumps(log, indent=2)


def _github_escape(text: str, property_: bool = False) -> str:
    """Escape a workflow command's message (or property value) as GitHub's toolkit does."""
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if property_:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


def to_github(findings: list[Finding]) -> str:
    """One ``::error file=...,line=...,col=...,title=...::message`` workflow command per finding."""
    lines = []
    for f in findings:
        props = ",".join(f"{k}={_github_escape(str(v), True)}" for k, v in (
            ("file", display_path(f.loc.file)), ("line", f.loc.line), ("col", f.loc.col),
            ("title", f"{f.code} {f.name}")))
        message = f"{f.message}\nhelp: {f.fix}" if f.fix else f.message
        lines.append(f"::{GITHUB_COMMAND[f.severity]} {props}::{_github_escape(message)}")
    return "\n".join(lines)


def statistics(findings: list[Finding]) -> str:
    """ruff's ``--statistics``: one line per rule, the most frequent first."""
    counts = Counter((f.code, f.name) for f in findings)
    return "\n".join(f"{n:>5}  {code:<6} {name}" for (code, name), n in
                     sorted(counts.items(), key=lambda item: (-item[1], item[0][0])))
