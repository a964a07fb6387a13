"""Bad input: every problem in a spec is one line ``file:line:col: message`` and exit code 2.

Fixtures in tests/error_specs/ state their error on their first line (``# expect: LINE:COL: message``);
cases that need a file system (binary files, symlinks, missing files) or overrides are built in tmp_path.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from archc.errors import COMMAND_LINE, SpecError
from archc.pipeline import load_spec
from archc.spec.yaml_source import MAX_DEPTH
from tests.conftest import ROOT, archc_cmd

FIXTURES = ROOT / "tests" / "error_specs"
TINY = "inputs:\n  x: {shape: [B, T, 8]}\nnodes:\n  a: {op: linear, out_features: 8}\n"


def error_of(path, overrides=()) -> SpecError:
    with pytest.raises(SpecError) as info:
        load_spec(path, list(overrides))
    return info.value


def assert_error(err: SpecError, file, line: int, col: int, message: str):
    assert (err.loc.file, err.loc.line, err.loc.col) == (str(file), line, col), str(err)
    assert err.message == message
    assert "\n" not in str(err)


@pytest.mark.parametrize("fixture", sorted(p.name for p in FIXTURES.glob("*.yaml")))
def test_error_fixture(fixture, in_root):
    path = Path("tests/error_specs") / fixture
    expect = path.read_text().splitlines()[0]
    assert expect.startswith("# expect: "), f"{fixture}: first line must be '# expect: LINE:COL: message'"
    line, col, message = expect[len("# expect: "):].split(":", 2)
    err = error_of(path)
    assert_error(err, path, int(line), int(col), message.strip())
    assert str(err) == f"{path}:{line}:{col}: {message.strip()}"


# -- files that are not YAML mappings -----------------------------------------------------------------------

@pytest.mark.parametrize("content, line, col, message", [
    (b"", 1, 1, "empty spec: expected a YAML mapping"),
    (b"# only a comment\n\n", 1, 1, "empty spec: expected a YAML mapping"),
    (b"just a string\n", 1, 1, "a spec must be a YAML mapping, not a single value"),
    (b"\n- 1\n- 2\n", 2, 1, "a spec must be a YAML mapping, not a list"),
    (b"nodes: {}\x00\x01\x02", 1, 1, "not a YAML file (binary content)"),
    (b"vars:\n  name: caf\xe9\n", 2, 12, "not UTF-8 text (byte 0xe9)"),
    (b"\xff\xfe\x00\x00", 1, 1, "not UTF-8 text (byte 0xff)"),
    (b"vars:\n  a: \x07\n", 2, 6, "malformed YAML: control characters are not allowed"),
])
def test_not_a_mapping(tmp_path, content, line, col, message):
    path = tmp_path / "bad.yaml"
    path.write_bytes(content)
    assert_error(error_of(path), path, line, col, message)


def test_missing_file(tmp_path):
    path = tmp_path / "nope.yaml"
    assert_error(error_of(path), path, 1, 1, f"no such file: {path}")


def test_directory_instead_of_file(tmp_path):
    assert_error(error_of(tmp_path), tmp_path, 1, 1, f"is a directory, not a spec file: {tmp_path}")


def test_nesting_beyond_the_limit_is_refused_before_libyaml_recurses(tmp_path):
    # 100,000 levels crash libyaml's recursive composer (a segfault, not an exception)
    path = tmp_path / "deep.yaml"
    path.write_text("vars:\n  a: " + "[" * 100_000 + "]" * 100_000 + "\n")
    # The promise is one clean line at line 2. Which column depends on who refuses first: archc's own check
    # (column 4 + MAX_DEPTH) or, with PyYAML >= 6.0.3, libyaml's scanner reading the brackets ahead.
    err = error_of(path)
    assert (err.loc.file, err.loc.line) == (str(path), 2), str(err)
    assert err.loc.col >= 4 + MAX_DEPTH
    assert err.message == f"nested deeper than {MAX_DEPTH} levels"
    assert "\n" not in str(err)


@pytest.mark.parametrize("value, message", [
    ("9" * 5000, f"'{'9' * 37}...' is too long for a number"),
    ("!!int abc", "'abc' is not a valid int"),
    ("!!int", "'' is not a valid int"),  # found by test_fuzz: PyYAML indexes the empty string
    ("!!bool maybe", "'maybe' is not a valid bool"),
    ("!!binary aGVsbG8=", "unsupported YAML value 'aGVsbG8=': use a number, a string or a boolean"),
    ("!custom x", "YAML tag '!custom' refused: a spec is data, tags that build objects are not allowed"),
])
def test_scalars_that_are_not_plain_data(tmp_path, value, message):
    path = tmp_path / "bad.yaml"
    path.write_text(f"vars:\n  a: {value}\n" + TINY)
    assert_error(error_of(path), path, 2, 6, message)


def test_merge_keys_let_the_mapping_override_merged_values(tmp_path):
    path = tmp_path / "merge.yaml"
    path.write_text("vars:\n  base: &base {d: 8, e: 2}\n  layer:\n    <<: *base\n    d: 16\n" + TINY)
    assert load_spec(path).ir.info["vars"]["layer"] == {"d": 16, "e": 2}


# -- config groups stay inside the spec's folder and the catalog --------------------------------------------

def test_group_symlink_pointing_outside_is_refused(tmp_path):
    secret = tmp_path / "outside" / "secret.yaml"
    secret.parent.mkdir()
    secret.write_text("nodes: {}\n")
    spec_dir = tmp_path / "project"
    (spec_dir / "ffn").mkdir(parents=True)
    (spec_dir / "ffn" / "evil.yaml").symlink_to(secret)
    path = spec_dir / "spec.yaml"
    path.write_text("defaults:\n  - ffn: evil\n" + TINY)
    assert_error(error_of(path), path, 2, 5,
                 f"option of config group 'ffn': 'ffn/evil' is a link to {secret}, outside {spec_dir}: config "
                 "groups stay in the spec's folder or the catalog")


def test_group_override_cannot_climb_out(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text(TINY)
    assert_error(error_of(path, ["+ffn=../../etc/passwd"]), COMMAND_LINE, 1, 1,
                 "option of config group 'ffn': 'ffn/../../etc/passwd' is not a valid name (letters, digits, "
                 "'_', '-', '.')")


def test_defaults_entry_cannot_name_an_absolute_path(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text("defaults:\n  - /etc/passwd\n" + TINY)
    assert_error(error_of(path), path, 2, 5,
                 "spec '/etc/passwd' is not a valid name (letters, digits, '_', '-', '.')")


# -- overrides ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("overrides, col, message", [
    (["vars.d_model=[1"], 1,
     "bad override 'vars.d_model=[1': no viable alternative at input '[1' (expected key=value, +key=value, ~key)"),
    (["vars.d_modle=1024"], 1,
     "bad override 'vars.d_modle=1024': no key 'vars.d_modle' in the spec (did you mean 'vars.d_model'?); use "
     "'+vars.d_modle=1024' to add one"),
    (["vars.n_layers=2", "varz.d_model=8"], 17,
     "bad override 'varz.d_model=8': no key 'varz' in the spec (did you mean 'vars'?)"),
    (["vars.n_layers=1,2"], 1, "bad override 'vars.n_layers=1,2': choice(), range(), interval(), glob() and a,b "
                               "list several values, a sweep; sweeps are for a later 'archc sweep', and this "
                               "command takes one value"),
    (["~vars.d_modle"], 1, "bad override '~vars.d_modle': no key 'vars.d_modle' to delete (did you mean "
                           "'vars.d_model'?)"),
    (["+vars.d_model=8"], 1, "bad override '+vars.d_model=8': 'vars.d_model' already exists; use "
                             "'vars.d_model=8' to change it"),
])
def test_bad_override(overrides, col, message, in_root):
    assert_error(error_of("specs/gpt2.yaml", overrides), COMMAND_LINE, 1, col, message)


def test_override_that_breaks_the_model_points_at_the_spec(in_root):
    err = error_of("specs/gpt2.yaml", ["vars.n_layers=1000000"])
    assert_error(err, "specs/gpt2.yaml", 56, 21, "repeat 1,000,000 is above archc's limit of 100,000 nodes")


# -- interpolation ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value, message", [
    ('"${vars.a}"', "cannot resolve '${vars.a}': the interpolation refers to itself"),
    ('"${div:3,0}"', "cannot resolve '${div:3,0}': division by zero"),
    ('"${div:7,2}"', "cannot resolve '${div:7,2}': 7 is not divisible by 2; use floordiv or ceildiv"),
    ('"${expr:\'((10**64)**64)**64\'}"', "cannot resolve \"${expr:'((10**64)**64)**64'}\": result above 2**4096"),
    ('"${expr:\'__import__(1)\'}"', "cannot resolve \"${expr:'__import__(1)'}\": '__import__(1)' is not allowed "
                                    "in an expression (numbers, + - * / // % **, abs, ceil, floor, int, max, min, "
                                    "round)"),
    ('"${"', "cannot resolve '${': bad interpolation syntax: unterminated '${' at character 3"),  # archc's parser
    ("???", "missing value '???': set it in the spec or with an override"),
])
def test_bad_interpolation_in_an_unused_var(tmp_path, value, message):
    path = tmp_path / "spec.yaml"
    path.write_text(f"vars:\n  a: {value}\n" + TINY)
    assert_error(error_of(path), path, 2, 3, message)


# -- the command line ---------------------------------------------------------------------------------------

def run_archc(*args, cwd=ROOT, env=None):
    return subprocess.run([*archc_cmd(), *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=120)


@pytest.mark.parametrize("command", [["show"], ["graph"], ["ir"], ["explain", "--", "vars.d"]])
def test_cli_reports_one_line_and_exit_code_2(command, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("inputs:\n  x: {shape: [B, T, 8]}\nnodes:\n  a: {op: rellu}\n")
    args = [command[0], str(bad), *command[1:]]
    result = run_archc(*args)
    assert result.returncode == 2
    assert result.stderr == f"{bad}:4:7: unknown op 'rellu' (did you mean 'relu'?)\n"
    assert result.stdout == ""


def test_cli_debug_shows_the_traceback(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("nodes: [")
    result = run_archc("--debug", "show", str(bad))
    assert result.returncode != 0
    assert "Traceback" in result.stderr and "SpecError" in result.stderr


def test_cli_missing_file_is_one_line(tmp_path):
    result = run_archc("show", "missing.yaml", cwd=tmp_path)
    assert (result.returncode, result.stderr) == (2, "missing.yaml:1:1: no such file: missing.yaml\n")


@pytest.mark.parametrize("fixture", ["alias_bomb.yaml", "python_tag.yaml", "resolver_oc_env.yaml"])
def test_cli_hostile_fixtures_stay_one_line(fixture):
    result = run_archc("show", f"tests/error_specs/{fixture}", env={**os.environ, "HOME": "/leaked-home"})
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr
    assert "leaked-home" not in result.stdout + result.stderr


def test_typo_inside_an_init_rule_names_the_key(tmp_path):
    from archc.errors import SpecError
    from archc.pipeline import load_spec

    spec = tmp_path / "init.yaml"
    spec.write_text("inputs: {x: {shape: [B, 4]}}\nnodes:\n"
                    "  h: {op: linear, in: x, out_features: 4, init: {std: 0.02, depht: 12}}\n")
    with pytest.raises(SpecError, match=r"unknown key 'depht' in init .*did you mean 'depth'") as err:
        load_spec(spec)
    assert (err.value.loc.line, err.value.loc.col) == (3, 43)


@pytest.mark.parametrize("nodes, message, where", [
    ("  h: {block: b, in: x}\n  o: {op: linear, out_features: 4, tie: h}\n",
     r"tie refers to 'h', a block; tie to an op node", (5, 36)),
    ("  p: {op: linear, in: x, out_features: 4, tie: p}\n", r"node 'p' cannot tie its weights to itself", (4, 43)),
    ("  h: {block: [b], in: x}\n", r"'block' takes a block name, got \['b'\]", (4, 7)),
])
def test_tie_and_block_references(tmp_path, nodes, message, where):
    from archc.errors import SpecError
    from archc.pipeline import load_spec

    spec = tmp_path / "t.yaml"
    spec.write_text("inputs: {x: {shape: [B, 4]}}\nblocks: {b: {nodes: {l: {op: linear, out_features: 4}, "
                    "t: {op: tanh}}}}\nnodes:\n" + nodes)
    with pytest.raises(SpecError, match=message) as err:
        load_spec(spec)
    assert (err.value.loc.line, err.value.loc.col) == where


def test_unknown_group_option_lists_the_options(in_root):
    from archc.errors import SpecError
    from archc.pipeline import load_spec

    with pytest.raises(SpecError, match=r"options: 13b, 70b, 7b, (.*, )?llama-small"):  # other families add sizes
        load_spec("specs/llama.yaml", ["size=8b"])


def test_resolver_on_a_non_number_says_so(tmp_path):
    from archc.errors import SpecError
    from archc.pipeline import load_spec

    spec = tmp_path / "m.yaml"
    spec.write_text('vars: {a: "${mul:abc,2}"}\ninputs: {x: {shape: [B, 4]}}\nnodes:\n  h: {op: tanh, in: x}\n')
    with pytest.raises(SpecError, match=r"expected a number, got 'abc'"):
        load_spec(spec)


def test_overrides_given_as_one_string_are_refused():
    from archc.pipeline import load_spec

    with pytest.raises(TypeError, match="list of strings"):
        load_spec("specs/llama.yaml", "vars.n_layers=1")


def test_override_that_turns_a_number_into_a_string_is_refused_at_the_override(in_root):
    from archc.errors import SpecError
    from archc.pipeline import load_spec

    with pytest.raises(SpecError, match=r"'vars.n_layers' is a number in the spec \(12\), not a string") as err:
        load_spec("specs/gpt2.yaml", ["vars.d_model=768", "vars.n_layers=abc"])
    assert str(err.value).startswith("<command-line>:1:18:")
