"""A spec is data: it never reads the environment, gives the same file on every run, and cannot drive the
terminal it is shown on; archc's own failures say they are archc's (issue 6, security)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from archc.errors import SpecError, printable
from archc.pipeline import load_spec
from tests.conftest import ROOT, archc_cmd

SECRET = "archc-test-secret-5f3a9c"
ENV = {**os.environ, "ARCHC_TEST_SECRET": SECRET}
WHERE = re.compile(r"^(?P<file>.+):(?P<line>\d+):(?P<col>\d+): ")
TAIL = "inputs:\n  x: {shape: [B, T, 8]}\n"
# a block reads vars.tok, so a value resolved at the top level would be resolved again in the block if archc
# ever parsed a resolved value a second time
BLOCK = TAIL + ("blocks:\n  b:\n    doc: blk\n    params: {p: '${vars.tok}'}\n    nodes:\n"
                "      l: {op: linear, out_features: 8, doc: '${params.p}'}\nnodes:\n  a: {block: b}\n")


def run(*args, env=ENV, cwd=ROOT):
    return subprocess.run([*archc_cmd(), *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=120)


def one_line_error(result, file: str, line: int | None = None, col: int | None = None) -> re.Match:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    match = WHERE.match(lines[0])
    assert match and match["file"] == file, lines[0]
    if line is not None:
        assert (int(match["line"]), int(match["col"])) == (line, col), lines[0]
    return match


# -- the environment ----------------------------------------------------------------------------------------

SPEC_VARIANTS = {
    "name assembled from a value": "vars:\n  e: env\n  tok: '${oc.${vars.e}:ARCHC_TEST_SECRET}'\n",
    "whole name from a value": "vars:\n  r: oc.env\n  tok: '${${vars.r}:ARCHC_TEST_SECRET}'\n",
    "'$' joined to '{oc.env:X}'": "vars:\n  d: $\n  tok: '${vars.d}{oc.env:ARCHC_TEST_SECRET}'\n",
    "oc.decode assembled": "vars:\n  e: decode\n  tok: \"${oc.${vars.e}:'8'}\"\n",
    "oc.create assembled": "vars:\n  e: create\n  tok: '${oc.${vars.e}:{a: 1}}'\n",
    "oc.env written out": "vars:\n  e: env\n  tok: '${oc.env:ARCHC_TEST_SECRET}'\n",
}


@pytest.mark.parametrize("variant", list(SPEC_VARIANTS))
def test_a_spec_cannot_read_the_environment(variant, tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC_VARIANTS[variant] + BLOCK)
    out = tmp_path / "model.py"
    result = run("build", str(spec), "-o", str(out))
    one_line_error(result, str(spec), 3, 3)  # at vars.tok
    assert SECRET not in result.stdout + result.stderr
    assert not out.exists()


OVERRIDE_VARIANTS = {
    "name assembled from a value": ["+vars.e=env", "vars.tok='${oc.${vars.e}:ARCHC_TEST_SECRET}'"],
    "whole name from a value": ["+vars.r=oc.env", "vars.tok='${${vars.r}:ARCHC_TEST_SECRET}'"],
    "'$' joined to '{oc.env:X}'": ["+vars.d=$", "vars.tok='${vars.d}{oc.env:ARCHC_TEST_SECRET}'"],
    "written out": ["vars.tok=${oc.env:ARCHC_TEST_SECRET}"],
}


@pytest.mark.parametrize("variant", list(OVERRIDE_VARIANTS))
def test_an_override_cannot_read_the_environment(variant, tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text("vars:\n  tok: plain\n" + BLOCK)
    out = tmp_path / "model.py"
    overrides = OVERRIDE_VARIANTS[variant]
    result = run("build", str(spec), *overrides, "-o", str(out))
    one_line_error(result, "<command-line>", 1, len(" ".join(overrides[:-1])) + (2 if len(overrides) > 1 else 1))
    assert SECRET not in result.stdout + result.stderr
    assert not out.exists()


def test_a_resolved_value_is_never_resolved_again(tmp_path):
    """An escaped '${' is text: it reaches the block (a second resolution) as the characters written."""
    spec = tmp_path / "spec.yaml"
    spec.write_text("vars:\n  tok: '\\${oc.env:ARCHC_TEST_SECRET}'\n" + BLOCK)
    out = tmp_path / "model.py"
    result = run("build", str(spec), "-o", str(out))
    assert result.returncode == 0, result.stderr
    text = out.read_text()
    assert SECRET not in text
    assert "${oc.env:ARCHC_TEST_SECRET}" in text  # the Config dataclass keeps the var as written
    explained = run("explain", str(spec), "blocks.b.nodes.l.doc")
    assert explained.returncode == 0, explained.stderr
    assert SECRET not in explained.stdout
    assert "= ${oc.env:ARCHC_TEST_SECRET}" in explained.stdout


def test_resolvers_registered_with_omegaconf_are_not_reachable(tmp_path):
    """OmegaConf's resolver table is global: whatever a program registers there, a spec sees only archc's."""
    from omegaconf import OmegaConf

    calls = []
    OmegaConf.register_new_resolver("archc_test_probe", lambda *a: calls.append(a) or 8, replace=True)
    OmegaConf.register_new_resolver("mul", lambda *a: calls.append(a) or 0, replace=True)  # shadows archc's?
    try:
        spec = tmp_path / "spec.yaml"
        spec.write_text("vars:\n  p: archc_test_probe\n  w: '${${vars.p}:1}'\n" + TAIL + "nodes:\n  a: {op: relu}\n")
        with pytest.raises(SpecError, match="not allowed in a spec") as err:
            load_spec(spec)
        assert (err.value.loc.line, err.value.loc.col) == (3, 3)
        spec.write_text("vars:\n  w: '${mul:2,4}'\n" + TAIL + "nodes:\n  a: {op: relu}\n")
        assert load_spec(spec).ir.info["vars"]["w"] == 8  # archc's mul, not the one registered above
        assert calls == []
    finally:
        OmegaConf.clear_resolver("archc_test_probe")
        OmegaConf.clear_resolver("mul")


# -- determinism --------------------------------------------------------------------------------------------

def test_shuffle_in_an_override_is_refused_naming_it(tmp_path):
    override = "nodes.s.sizes=shuffle([1,2,5])"
    spec = tmp_path / "spec.yaml"
    spec.write_text("inputs:\n  x: {shape: [B, T, 8]}\nnodes:\n  s: {op: split, sizes: [1, 2, 5]}\n"
                    "outputs: {a: s.0, b: s.1, c: s.2}\n")
    result = run("build", str(spec), override, "-o", str(tmp_path / "m.py"))
    one_line_error(result, "<command-line>", 1, 1)
    assert override in result.stderr and "random" in result.stderr


@pytest.mark.parametrize("command", ["build", "show", "lint"])
@pytest.mark.parametrize("override", ["vars.n_layers=choice(1,2)", "vars.n_layers=range(1,3)",
                                      "vars.n_layers=1,2"])
def test_a_sweep_is_refused_until_archc_sweep(command, override, tmp_path):
    result = run(command, "specs/gpt2.yaml", override, *(["-o", str(tmp_path / "m.py")] if command == "build" else []))
    one_line_error(result, "<command-line>", 1, 1)
    assert "archc sweep" in result.stderr


def test_six_identical_commands_write_identical_files(tmp_path):
    overrides = ["vars.n_layers=1", "vars.n_ctx=int(64.0)"]  # a deterministic override function is fine
    outs = [tmp_path / f"m{i}.py" for i in range(6)]
    for out in outs:
        result = run("build", "specs/gpt2.yaml", *overrides, "-o", str(out))
        assert result.returncode == 0, result.stderr
    assert len({out.read_bytes() for out in outs}) == 1


# -- the terminal -------------------------------------------------------------------------------------------

HOSTILE = "\x1b[2K\r\x1b]0;title\x07\x9b2K\u202eevil\u2066"
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def assert_clean(text: str):
    assert not RAW.search(text), repr(text)


def test_printable_escapes_every_control_character():
    assert printable("a\x1b[2K\rb") == "a\\x1b[2K\\rb"
    assert printable("\u202eabc\u2069\x9b\x7f\x00\n\t") == "\\u202eabc\\u2069\\x9b\\x7f\\x00\\n\\t"
    assert printable("llama.yaml:3:4 d_model ß 中") == "llama.yaml:3:4 d_model ß 中"
    for code in [*range(0x20), *range(0x7f, 0xa0), *range(0x202a, 0x202f), *range(0x2066, 0x206a)]:
        assert not RAW.search(printable(chr(code)))


def test_an_error_cannot_erase_its_own_location(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"inputs:\n  x: {{shape: [B, T, 8]}}\nnodes:\n  a: {{op: \"relu{HOSTILE}\"}}\n"
                    .replace("\x1b", "\\e").replace("\x07", "\\a").replace("\x9b", "\\x9b")
                    .replace("\r", "\\r").replace("\u202e", "\\u202e").replace("\u2066", "\\u2066"))
    result = run("show", str(spec))
    one_line_error(result, str(spec), 4, 7)
    assert_clean(result.stderr)


def test_a_file_name_cannot_drive_the_terminal(tmp_path):
    name = tmp_path / "spec\x1b[2K\r.yaml"
    name.write_text(TAIL + "nodes:\n  a: {op: linear, out_features: 8}\n")
    for command in (["show"], ["lint"], ["graph"], ["explain", "--", "nodes.a.out_features"]):
        result = run(command[0], str(name), *command[1:])
        assert result.returncode in (0, 1), result.stderr
        assert_clean(result.stdout + result.stderr)
    name.write_text(TAIL + "nodes:\n  a: {op: nope}\n")
    result = run("show", str(name))
    assert result.returncode == 2 and "spec\\x1b[2K\\r.yaml:4:" in result.stderr
    assert_clean(result.stderr)


def test_values_and_overrides_shown_by_explain_show_and_graph_are_escaped(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text('vars:\n  s: "\\e[2K\\rhi\\u202e"\n' + TAIL + "nodes:\n  a: {op: linear, out_features: 8}\n")
    explained = run("explain", str(spec), "vars.s")
    assert explained.returncode == 0 and "\\x1b[2K\\rhi\\u202e" in explained.stdout
    assert_clean(explained.stdout)
    override = "+vars.t='\x1b[2K\rx\u202e'"
    for command in ("show", "graph", "lint"):
        result = run(command, str(spec), override)
        assert result.returncode in (0, 1), result.stderr
        assert_clean(result.stdout + result.stderr)
    result = run("show", str(spec), "vars.nope=\x1b[2K\r1")
    one_line_error(result, "<command-line>", 1, 1)
    assert_clean(result.stderr)


def test_a_graph_title_ending_in_a_backslash_is_valid_dot(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(TAIL + "nodes:\n  a: {op: linear, out_features: 8}\n")
    dot = run("graph", str(spec), "+vars.a=x\\", "+vars.b='q\"'")
    assert dot.returncode == 0, dot.stderr
    (label,) = re.findall(r'label="((?:[^"\\]|\\.)*)"', dot.stdout.splitlines()[1])
    assert label.endswith("+vars.a=x\\\\ +vars.b='q\\\"'")  # every backslash and quote escaped for DOT
    import shutil

    if shutil.which("dot"):
        svg = run("graph", str(spec), "+vars.a=x\\", "-o", str(tmp_path / "g.svg"))
        assert svg.returncode == 0, svg.stderr


# -- archc's own failures -----------------------------------------------------------------------------------

def test_an_internal_failure_says_it_is_a_bug_with_exit_3(monkeypatch, capsys, in_root):
    import archc.passes.count as count
    from archc.cli.main import main

    def broken(ir):
        raise RuntimeError("no\x1b[2K\rthing")

    monkeypatch.setattr(count, "count", broken)
    assert main(["show", "specs/gpt2.yaml"]) == 3
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1
    assert "bug" in err and "RuntimeError: no\\x1b[2K\\rthing" in err and "--debug" in err
    assert_clean(err)
    with pytest.raises(RuntimeError):  # --debug lets the traceback through
        main(["--debug", "show", "specs/gpt2.yaml"])


def test_debug_prints_the_traceback_of_an_internal_failure():
    code = ("import sys, archc.passes.count as c\n"
            "def broken(ir):\n    raise RuntimeError('boom')\n"
            "c.count = broken\n"
            "from archc.cli.main import main\n"
            "sys.exit(main(sys.argv[1:]))\n")
    plain = subprocess.run([sys.executable, "-c", code, "show", "specs/gpt2.yaml"], capture_output=True, text=True,
                           cwd=ROOT, timeout=120)
    assert plain.returncode == 3 and "Traceback" not in plain.stderr and "RuntimeError: boom" in plain.stderr
    debug = subprocess.run([sys.executable, "-c", code, "--debug", "show", "specs/gpt2.yaml"], capture_output=True,
                           text=True, cwd=ROOT, timeout=120)
    assert debug.returncode != 0 and "Traceback" in debug.stderr and "RuntimeError: boom" in debug.stderr


def test_a_spec_error_stays_exit_2(tmp_path, capsys):
    from archc.cli.main import main

    spec = tmp_path / "spec.yaml"
    spec.write_text(TAIL + "nodes:\n  a: {op: nope}\n")
    assert main(["show", str(spec)]) == 2
    assert "bug" not in capsys.readouterr().err


@pytest.mark.parametrize("override, needle", [
    ("vars.n_layers=[", "vars.n_layers=["),
    ("vars.n_layer=3", "did you mean 'vars.n_layers'"),
    ("nodes.nope.op=relu", "no key 'nodes.nope'"),
    ("vars.n_layers=" + "1" * 4400, "longer than"),
    ("vars.n_layers=" + "1" * 900, "out of range"),
    ("vars.n_layers=" + "[" * 3000, "bad override"),
])
def test_a_bad_override_is_one_line_at_the_override(override, needle):
    result = run("show", "specs/gpt2.yaml", "vars.d_model=64", override)
    one_line_error(result, "<command-line>", 1, len("vars.d_model=64") + 2)
    assert needle in result.stderr


# -- archc's interpolation engine reads OmegaConf's syntax as OmegaConf does ---------------------------------

TEMPLATES = ["${vars.kN}", "${mul:${vars.kN},2}", "x${vars.kN}y", "${add:1,${vars.kN}}", "${expr:'${vars.kN} * 2'}",
             "${.kN}", "${vars.kN}${vars.kN}", " ${vars.kN} ", "${max: ${vars.kN} , 3}", "a\\${vars.kN}",
             "a\\\\${vars.kN}", "${vars.l[0]}", "${vars.l.1}", "${min:${vars.kN},${.kN}}", "${div:${vars.kN},1}",
             "${vars.d.a}", "${mul:2, 3}", "${add:'1',2}", "${round_up:${vars.kN},8}", '${expr:"${vars.kN} + 1"}',
             "${vars.kN}.5", "${mul:1.5,2}", "${vars}", "${vars.kN}:${vars.kN}", "${ vars.kN }", "$${vars.kN}",
             "${mul:true,1}", "${add:null,1}", "${..vars.kN}", "${vars.missing}", "${vars.kN", "}", "${}", "${mul:}",
             "${mul:[1,2],2}", "???", "${add:1,2}x${add:3,4}", "${expr:'${vars.kN}'}", "${vars.d}", "${vars.l}",
             "x${vars.l}", "${mul: 2 ,${vars.kN} }", "${add:1e3,1}", "${add:1_000,1}", "${add:-3,+4}",
             "${add:'${vars.kN}',1}", "${mul:${add:1,${vars.kN}},2}", "${vars.${vars.kN}}", "\\${x}", "${ mul:2,3}",
             "${add:inf,1}", "${add:NaN,1}"]


def test_the_engine_agrees_with_omegaconf_on_what_omegaconf_accepts():
    """Random vars built from the templates above (references, resolvers, relative keys, escapes, quoting,
    typing of arguments): wherever OmegaConf resolves them, archc gives the same values; wherever OmegaConf
    refuses them, so does archc. (archc's engine accepts a little more, e.g. ``${vars.k${vars.i}}``.)"""
    import random

    from omegaconf import OmegaConf

    from archc.spec.interpolation import Failure, Resolver
    from archc.spec.resolvers import RESOLVERS

    rng = random.Random(6)
    try:
        for name, fn in RESOLVERS.items():
            OmegaConf.register_new_resolver(name, fn, replace=True)
        for _ in range(1500):
            tree = {"vars": {"l": [3, 4], "d": {"a": 5}}}
            for i in range(5):
                pick = rng.random()
                tree["vars"][f"k{i}"] = (rng.randint(-5, 100) if pick < 0.3 else
                                         rng.choice([0.5, 2.0, "abc", "7", True, None]) if pick < 0.4 else
                                         rng.choice(TEMPLATES).replace("kN", f"k{rng.randint(0, 4)}"))
            try:
                want = repr(OmegaConf.to_container(OmegaConf.create(tree), resolve=True, throw_on_missing=True))
            except Exception:  # noqa: BLE001 - any refusal
                want = "refused"
            try:
                got = repr(Resolver(tree, RESOLVERS).resolve())
            except Failure as failure:
                if "never resolved a second time" in failure.message:  # archc's own refusal, on purpose
                    continue
                got = "refused"
            assert got == want, tree
    finally:
        for name in RESOLVERS:
            OmegaConf.clear_resolver(name)
