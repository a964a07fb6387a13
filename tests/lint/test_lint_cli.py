"""``archc lint`` end to end: output formats, exit codes, rule selection, options, overrides, start-up cost."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from archc.cli.main import main
from archc.lint.framework import ANTI_PATTERNS, PRINCIPLES, SEVERITIES
from archc.lint.registry import RULES

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures"
POST_NORM = str(FIXTURES / "post_norm_deep_stack.yaml")
WIDTH = str(FIXTURES / "unprojected_width_change.yaml")  # has AL001 and AL002 findings
LINE = re.compile(r"^(?P<file>\S+):(?P<line>\d+):(?P<col>\d+): (?P<code>[A-Z]+\d+) \[(?P<name>[a-z0-9-]+)\] \S.*$")


@pytest.fixture(autouse=True)
def _in_root(monkeypatch):
    monkeypatch.chdir(ROOT)


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(["lint", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def codes_of(capsys, *argv) -> list[str]:
    code, out, _ = run(capsys, *argv, "--format", "json")
    assert code in (0, 1)
    return sorted({f["code"] for f in json.loads(out)})


@pytest.mark.parametrize("argv", [
    ["specs/gpt2.yaml"],
    ["specs/llama.yaml"],
    ["specs/gpt2.yaml", "vars.n_layers=48", "vars.d_model=1600", "vars.n_heads=25"],
    ["specs/llama.yaml", "size=70b"],
    ["specs/llama.yaml", "norm=layernorm", "ffn=geglu"],
])
def test_catalog_specs_lint_clean(capsys, argv):
    code, out, err = run(capsys, *argv)
    assert (code, out, err) == (0, "All checks passed.\n", "")


def test_text_output_is_one_line_per_finding_with_its_help_then_a_summary(capsys):
    code, out, _ = run(capsys, WIDTH)
    lines = out.splitlines()
    assert code == 1
    assert lines[-1] == "Found 6 findings (1 error, 5 warnings)."
    findings, helps = lines[:-1:2], lines[1:-1:2]
    assert len(findings) == len(helps) == 6
    assert all(h.startswith("  help: ") and len(h) > 10 for h in helps)
    for line in findings:
        m = LINE.match(line)
        assert m, line
        assert m["file"] == "tests/lint/fixtures/unprojected_width_change.yaml"  # relative to the cwd
        assert RULES[m["code"]].name == m["name"]
    assert lines[0] == ("tests/lint/fixtures/unprojected_width_change.yaml:9:7: AL002 [unprojected-width-change] "
                        "the shortcut of residual 'widen.res' changes width 16 -> 32 with 'pad' and no learned "
                        "projection")


def test_json_output_schema(capsys):
    code, out, _ = run(capsys, WIDTH, "--format", "json")
    findings = json.loads(out)
    assert code == 1 and len(findings) == 6
    fields = ["code", "name", "severity", "principle", "anti_pattern", "scope", "file", "line", "column",
              "message", "fix"]
    for f in findings:
        assert list(f) == fields
        assert re.fullmatch(r"[A-Z]+[0-9]+", f["code"]) and RULES[f["code"]].name == f["name"]
        assert f["severity"] in SEVERITIES and f["principle"] in PRINCIPLES
        assert f["anti_pattern"] is None or f["anti_pattern"] in ANTI_PATTERNS
        assert isinstance(f["line"], int) and isinstance(f["column"], int) and f["line"] >= 1
        assert f["file"] == "tests/lint/fixtures/unprojected_width_change.yaml"
        assert f["message"] and f["fix"] and f["scope"]


def test_json_output_of_a_clean_spec_is_an_empty_list(capsys):
    assert run(capsys, "specs/gpt2.yaml", "--format", "json") == (0, "[]\n", "")


@pytest.mark.parametrize("argv, message", [
    (["specs/no_such_spec.yaml"], "specs/no_such_spec.yaml:1:1: no such file"),
    (["specs/gpt2.yaml", "vars.n_layer=2"], "n_layer"),
    (["specs/gpt2.yaml", "--select", "XY9"], "unknown rule selector 'XY9'"),
    (["specs/gpt2.yaml", "-o", "GF001.min_layer=6"], "has no option 'min_layer'"),
    (["specs/gpt2.yaml", "-o", "GF001.min_layers=deep"], "takes int"),
    (["specs/gpt2.yaml", "-o", "min_layers=6"], "expected CODE.NAME=VALUE"),
    ([], "Missing argument 'SPEC'"),
])
def test_bad_input_exits_2_with_one_message(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert message in err


def test_a_spec_error_in_the_model_exits_2(capsys, tmp_path):
    spec = tmp_path / "bad.yaml"
    spec.write_text("inputs:\n  x: {shape: [B, 8]}\nnodes:\n  a: {op: linear, out_features: 4}\n"
                    "  b: {op: add, in: [x, a]}\n")
    code, out, err = run(capsys, str(spec))
    assert code == 2 and out == ""
    assert "bad.yaml:5:3: b: cannot add shapes [B, 8] and [B, 4]" in err and len(err.splitlines()) == 1


def test_overrides_apply_before_linting(capsys):
    code, out, _ = run(capsys, "specs/gpt2.yaml", "~nodes.ln_f")
    assert code == 1
    assert out.splitlines()[0].startswith("specs/gpt2.yaml:56:3: GF002 [missing-final-norm] 12 Pre-Norm blocks")


@pytest.mark.parametrize("argv, codes", [
    ([], ["AL001", "AL002"]),
    (["--select", "AL002"], ["AL002"]),
    (["--select", "unprojected-width-change"], ["AL002"]),
    (["--ignore", "AL002"], ["AL001"]),
    (["--select", "AL", "--ignore", "AL001"], ["AL002"]),
    (["--ignore", "AL", "--select", "AL001"], ["AL001"]),  # the more specific selector wins
    (["--select", "AL001", "--ignore", "AL001"], []),  # a tie goes to ignore
    (["--select", "GF,AL001"], ["AL001"]),
    (["--select", "GF", "--select", "al002"], ["AL002"]),
    (["--ignore", "ALL"], []),
])
def test_select_and_ignore(capsys, argv, codes):
    assert codes_of(capsys, WIDTH, *argv) == codes


def test_rule_options_from_the_command_line(capsys):
    def depths(*argv):
        _, out, _ = run(capsys, POST_NORM, "--format", "json", "--select", "GF001", *argv)
        return sorted(int(f["message"].split()[0]) for f in json.loads(out))

    assert depths() == [10, 10, 10, 12, 12, 16, 24, 24]
    assert depths("-o", "GF001.min_layers=13") == [16, 24, 24]
    assert depths("-o", "post-norm-deep-stack.max_branch_scale=0.5") == [10, 10, 10, 12, 12, 16, 24]


def test_list_rules_and_explain(capsys):
    code, out, _ = run(capsys, "--list-rules")
    assert code == 0 and [line.split()[0] for line in out.splitlines()] == list(RULES)
    for selector in ("GF001", "post-norm-deep-stack"):
        code, out, _ = run(capsys, "--explain", selector)
        assert code == 0
        assert out.startswith("GF001 post-norm-deep-stack\n")
        assert "options: min_layers=10, max_branch_scale=0.1" in out and "## Why is this bad?" in out
    assert run(capsys, "--explain", "nope")[0] == 2


def test_help_has_examples(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0
    assert "Examples:\n    archc lint specs/gpt2.yaml\n" in out
    for flag in ("--select", "--ignore", "--format", "--option", "--explain", "--list-rules"):
        assert flag in out


def test_lint_imports_neither_torch_nor_jinja2():
    probe = ("import contextlib, io, sys\nfrom archc.cli.main import main\n"
             "with contextlib.redirect_stdout(io.StringIO()):\n"
             "    assert main(['lint', 'tests/lint/fixtures/post_norm_deep_stack.yaml']) == 1\n"
             "print(sorted(m for m in ('torch', 'jinja2') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_console_script_exit_codes():
    exe = Path(sys.executable).parent / "archc"
    if not exe.exists():
        pytest.skip("no archc console script beside this interpreter")
    codes = [subprocess.run([str(exe), "lint", *argv], cwd=ROOT, capture_output=True).returncode
             for argv in (["specs/gpt2.yaml"], [POST_NORM], ["specs/missing.yaml"])]
    assert codes == [0, 1, 2]


# -- formats, --fail-on, --statistics, archc rule -----------------------------------------------------------

def test_sarif_output_is_a_sarif_2_1_0_log(capsys):
    code, out, _ = run(capsys, WIDTH, "--format", "sarif")
    log = json.loads(out)
    assert code == 1 and log["version"] == "2.1.0" and "sarif-schema-2.1.0" in log["$schema"]
    (run_,) = log["runs"]
    driver = run_["tool"]["driver"]
    assert driver["name"] == "archc" and [r["id"] for r in driver["rules"]] == list(RULES)
    assert all(r["defaultConfiguration"]["level"] in ("error", "warning", "note") for r in driver["rules"])
    results = run_["results"]
    assert len(results) == 6
    for result in results:
        assert driver["rules"][result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["level"] in ("error", "warning", "note") and result["message"]["text"]
        (loc,) = result["locations"]
        assert loc["physicalLocation"]["artifactLocation"]["uri"] == "tests/lint/fixtures/unprojected_width_change.yaml"
        region = loc["physicalLocation"]["region"]
        assert region["startLine"] >= 1 and region["startColumn"] >= 1
    assert run(capsys, "specs/gpt2.yaml", "--format", "sarif")[0] == 0


def test_github_annotations(capsys):
    code, out, _ = run(capsys, str(FIXTURES / "dropout_as_keep_probability.yaml"), "--format", "github")
    lines = out.splitlines()
    assert code == 1 and len(lines) == 2
    assert lines[0].startswith("::warning file=tests/lint/fixtures/dropout_as_keep_probability.yaml,line=6,col=30,"
                               "title=CT001 dropout-as-keep-probability::'keep' drops 0.9")
    assert "%0Ahelp: " in lines[0] and "\n" not in lines[0]
    assert run(capsys, "specs/gpt2.yaml", "--format", "github") == (0, "", "")


@pytest.mark.parametrize("fail_on, code", [("info", 1), ("warning", 1), ("error", 0)])
def test_fail_on(capsys, fail_on, code):
    # the fixture's findings are warnings (CT001)
    assert run(capsys, str(FIXTURES / "dropout_as_keep_probability.yaml"), "--fail-on", fail_on)[0] == code


def test_fail_on_counts_infos_only_at_info(capsys):
    path = str(FIXTURES / "dense_fan_in.yaml")
    assert run(capsys, path, "--select", "HR001", "--fail-on", "warning")[0] == 0
    assert run(capsys, path, "--select", "HR001")[0] == 1


def test_statistics(capsys):
    code, out, _ = run(capsys, WIDTH, "--statistics")
    assert code == 1
    assert out.splitlines() == ["    5  AL002  unprojected-width-change", "    1  AL001  broadcast-residual-add",
                                "Found 6 findings (1 error, 5 warnings)."]


def test_rule_command_prints_pages_and_the_table(capsys):
    assert main(["rule", "--all"]) == 0
    out = capsys.readouterr().out
    assert [line.split()[0] for line in out.splitlines()] == list(RULES)
    assert main(["rule", "sy003"]) == 0
    assert capsys.readouterr().out.startswith("SY003 vocab-not-padded\n")
    assert main(["rule", "no-such-rule"]) == 2
    assert "no rule 'no-such-rule'" in capsys.readouterr().err
    assert main(["lint", "--explain", "SY003"]) == 0  # the old spelling stays
    assert capsys.readouterr().out.startswith("SY003 vocab-not-padded\n")


def _multitool() -> str | None:
    """Microsoft's SARIF Multitool (npm install @microsoft/sarif-multitool): ARCHC_SARIF_MULTITOOL or on PATH."""
    import os
    import shutil

    return os.environ.get("ARCHC_SARIF_MULTITOOL") or shutil.which("sarif-multitool")


@pytest.mark.skipif(_multitool() is None, reason="SARIF Multitool not installed (npm i -g @microsoft/sarif-multitool)")
def test_sarif_output_passes_microsofts_validator(capsys, tmp_path):
    _, out, _ = run(capsys, WIDTH, "--format", "sarif")
    log, report = tmp_path / "lint.sarif", tmp_path / "validation.sarif"
    log.write_text(out)
    subprocess.run([_multitool(), "validate", str(log), "--output", str(report), "--log", "ForceOverwrite"],
                   check=True, capture_output=True, timeout=300)
    results = json.loads(report.read_text())["runs"][0]["results"]
    assert [r for r in results if r.get("level") == "error"] == []


# -- pyproject.toml [tool.archc.lint] ------------------------------------------------------------------------

CONFIGURED = """\
inputs:
  x: {shape: [B, T, 16]}
nodes:
  keep: {op: dropout, in: x, p: 0.9}
  act: {op: relu}
  act2: {op: gelu}
outputs: [act2]
"""


@pytest.fixture
def project(tmp_path):
    """A project folder with a spec one level below its pyproject.toml (found by walking up)."""
    (tmp_path / "specs").mkdir()
    spec = tmp_path / "specs" / "model.yaml"
    spec.write_text(CONFIGURED)

    def configure(text: str) -> str:
        (tmp_path / "pyproject.toml").write_text(text)
        return str(spec)

    return configure


def test_pyproject_settings_apply_and_the_command_line_wins(capsys, project):
    spec = project('[project]\nname = "x"\n\n[tool.archc.lint]\nselect = ["CT"]\nfail-on = "error"\n\n'
                   '[tool.archc.lint.options]\nCT001 = {max_rate = 0.95}\n')
    assert codes_of(capsys, spec) == []  # CT001 allows 0.9 here, EF002 is not selected
    assert run(capsys, spec, "-o", "CT001.max_rate=0.5")[0] == 0  # found, but fail-on is error
    assert codes_of(capsys, spec, "-o", "CT001.max_rate=0.5") == ["CT001"]
    assert run(capsys, spec, "-o", "CT001.max_rate=0.5", "--fail-on", "warning")[0] == 1
    assert codes_of(capsys, spec, "--select", "EF") == ["EF002"]


def test_no_pyproject_section_means_defaults(capsys, project):
    spec = project('[project]\nname = "x"\n')
    assert codes_of(capsys, spec) == ["CT001", "EF002"]


@pytest.mark.parametrize("table, message", [
    ('select = "GF"', "select must be a list"),
    ('selct = ["GF"]', "unknown key 'selct' in [tool.archc.lint] (did you mean 'select'?)"),
    ('fail-on = "never"', "fail-on must be one of error, warning, info"),
    ('select = ["XY9"]', "unknown rule selector 'XY9'"),
    ('options = {GF001 = {min_layer = 3}}', "has no option 'min_layer'"),
])
def test_bad_pyproject_settings_are_one_line_at_the_file(capsys, project, table, message):
    spec = project(f"[tool.archc.lint]\n{table}\n")
    code, out, err = run(capsys, spec)
    assert code == 2 and out == ""
    (line,) = err.splitlines()
    assert "pyproject.toml:1:1: " in line and message in line


def test_several_specs_in_one_run_as_pre_commit_passes_them(capsys):
    code, out, _ = run(capsys, "specs/gpt2.yaml", str(FIXTURES / "dense_fan_in.yaml"), "specs/llama.yaml",
                       "--format", "json")
    assert code == 1
    assert {(f["file"], f["code"]) for f in json.loads(out)} == {("tests/lint/fixtures/dense_fan_in.yaml", "HR001")}
    assert run(capsys, "specs/gpt2.yaml", "specs/llama.yaml")[:2] == (0, "All checks passed.\n")
    hook = (ROOT / ".pre-commit-hooks.yaml").read_text()
    assert "entry: archc lint" in hook and "id: archc-lint" in hook
