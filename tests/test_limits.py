"""Bounded time and memory on any input: hostile specs are refused fast on one line, or handled in linear time.

Subprocess timeouts here are hang guards (the fixed code answers in about a second), never timing asserts.
"""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from archc.errors import SpecError
from archc.pipeline import load_spec
from archc.spec.yaml_source import MAX_BYTES
from tests.conftest import ROOT, archc_cmd

TAIL = "inputs:\n  x: {shape: [B, T, 8]}\nnodes:\n  a: {op: linear, out_features: 8}\n"
WHERE = re.compile(r"^(?P<file>.+):(?P<line>\d+):(?P<col>\d+): ")


def run(*args, cwd=ROOT):
    return subprocess.run([*archc_cmd(), *args], capture_output=True, text=True, cwd=cwd, timeout=60)


def refused(result, file: str, line: int | None = None) -> str:
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
    match = WHERE.match(lines[0])
    assert match and match["file"] == file, lines[0][:300]
    if line is not None:
        assert int(match["line"]) == line, lines[0][:300]
    return lines[0]


def spec_file(tmp_path, text: str):
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    return path


def error_of(path, overrides=()) -> SpecError:
    with pytest.raises(SpecError) as info:
        load_spec(path, list(overrides))
    assert "\n" not in str(info.value)
    return info.value


# -- resolvers and interpolations ---------------------------------------------------------------------------

@pytest.mark.parametrize("expression", ["round(1, -10**9)", "round(1.5, 10**9)", "10.0**400", "int(1e308*10)",
                                        "2**64 * 2**64 * 2**64", "(10**64)**64", "ceil(1e308*10)"])
def test_an_expression_that_would_hang_or_overflow_is_refused(expression, tmp_path):
    path = spec_file(tmp_path, f"vars:\n  r: \"${{expr:'{expression}'}}\"\n" + TAIL)
    refused(run("show", str(path)), str(path), 2)


def test_strings_doubled_from_vars_are_refused(tmp_path):
    lines = ["vars:", "  a0: xxxxxxxxxx"] + [f'  a{i}: "${{vars.a{i - 1}}}${{vars.a{i - 1}}}"' for i in range(1, 40)]
    path = spec_file(tmp_path, "\n".join(lines) + "\n" + TAIL)
    assert "create more than" in refused(run("show", str(path)), str(path))


def test_a_large_list_referenced_many_times_is_refused(tmp_path):
    lines = ["vars:", "  big: [" + ",".join(["1"] * 50_000) + "]"] + [f"  r{i}: ${{vars.big}}" for i in range(200)]
    path = spec_file(tmp_path, "\n".join(lines) + "\n" + TAIL)
    assert "create more than" in refused(run("show", str(path)), str(path))


def test_references_resolve_once_each(tmp_path):
    """a_i = a_(i-1) + a_(i-1), 60 deep: 2**60 evaluations if a reference were resolved each time it is read."""
    lines = ["vars:", "  a0: 1"] + [f'  a{i}: "${{add:${{vars.a{i - 1}}},${{vars.a{i - 1}}}}}"' for i in range(1, 61)]
    path = spec_file(tmp_path, "\n".join(lines) + "\n" + TAIL)
    assert load_spec(path).ir.info["vars"]["a60"] == 2**60


@pytest.mark.parametrize("depth", [300, 3000])
def test_resolvers_nested_deep_are_refused(depth, tmp_path):
    text = "1"
    for _ in range(depth):
        text = "${add:" + text + ",1}"
    path = spec_file(tmp_path, f'vars:\n  n: "{text}"\n' + TAIL)
    assert "nested more than" in refused(run("show", str(path)), str(path), 2)


def test_resolvers_nested_a_little_resolve(tmp_path):
    text = "1"
    for _ in range(30):
        text = "${add:" + text + ",1}"
    path = spec_file(tmp_path, f'vars:\n  n: "{text}"\n' + TAIL)
    assert load_spec(path).ir.info["vars"]["n"] == 31


def test_a_chain_of_references(tmp_path):
    """Written in order, each var reads one already resolved (any length); written last-first, the chain is
    followed to its end, and 300 links are refused on one line instead of overflowing the stack."""
    lines = ["vars:", "  a0: 7"] + [f'  a{i}: "${{vars.a{i - 1}}}"' for i in range(1, 3000)]
    path = spec_file(tmp_path, "\n".join(lines) + "\n" + TAIL)
    assert load_spec(path).ir.info["vars"]["a2999"] == 7
    lines = ["vars:"] + [f'  a{i}: "${{vars.a{i + 1}}}"' for i in range(50)] + ["  a50: 7"]
    path = spec_file(tmp_path, "\n".join(lines) + "\n" + TAIL)
    assert load_spec(path).ir.info["vars"]["a0"] == 7
    lines = ["vars:"] + [f'  a{i}: "${{vars.a{i + 1}}}"' for i in range(300)] + ["  a300: 7"]
    path = spec_file(tmp_path, "\n".join(lines) + "\n" + TAIL)
    assert "nested more than" in refused(run("show", str(path)), str(path))


# -- numbers ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("where, line", [("vars:\n  n: BIG\n" + TAIL, 2),
                                         (TAIL.replace("out_features: 8", "out_features: BIG"), 4),
                                         ("vars:\n  n: '${mul:BIG,1}'\n" + TAIL, 2)])
@pytest.mark.parametrize("big", ["1" + "0" * 400, str(2**63), str(-(2**63) - 1)])
def test_an_integer_beyond_64_bits_is_a_clean_error(where, line, big, tmp_path):
    path = spec_file(tmp_path, where.replace("BIG", big))
    message = refused(run("show", str(path)), str(path), line)
    assert "out of range" in message or "too long" in message or "64-bit" in message


def test_an_integer_of_4300_digits_is_a_clean_error(tmp_path):
    path = spec_file(tmp_path, "vars:\n  n: " + "1" * 4400 + "\n" + TAIL)
    refused(run("show", str(path)), str(path), 2)
    path = spec_file(tmp_path, "vars:\n  n: 1\n" + TAIL)
    for override in ("vars.n=" + "1" * 4400, "vars.n=" + "1" * 400, "+vars.m=" + "9" * 30):
        refused(run("show", str(path), override), "<command-line>")


def test_an_integer_just_inside_64_bits_loads(tmp_path):
    path = spec_file(tmp_path, f"vars:\n  n: {2**63 - 1}\n  m: '${{sub:0,{2**63 - 1}}}'\n" + TAIL)
    assert load_spec(path).ir.info["vars"]["m"] == -(2**63 - 1)


# -- input size ---------------------------------------------------------------------------------------------

def test_a_spec_over_the_size_limit_is_refused_before_parsing(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_text("vars:\n  l: [" + ",".join(["1"] * (MAX_BYTES // 2 + 10)) + "]\n" + TAIL)
    assert "larger than" in refused(run("show", str(path)), str(path), 1)


def test_a_flow_list_under_the_size_limit_is_refused_by_its_values(tmp_path):
    path = tmp_path / "many.yaml"
    path.write_text("vars:\n  l: [" + ",".join(["1"] * 1_500_000) + "]\n" + TAIL)
    assert os.path.getsize(path) < MAX_BYTES
    assert "too many values" in refused(run("show", str(path)), str(path), 2)


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
@pytest.mark.parametrize("device", ["/dev/zero", "/dev/null"])
def test_a_device_is_not_a_spec(device):
    assert "not a regular file" in refused(run("show", device), device, 1)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "spec.yaml"
    os.mkfifo(fifo)
    assert "not a regular file" in refused(run("show", str(fifo)), str(fifo), 1)


def test_explain_refuses_a_huge_key_fast(in_root):
    for key in ("vars." + "a" * 120_000, "vars." + "a." * 60_000):
        result = run("explain", "specs/gpt2.yaml", key)
        assert result.returncode == 2 and len(result.stderr.splitlines()) == 1, result.stderr[-500:]
        assert "at most" in result.stderr


def test_explain_of_a_long_dotted_key_under_the_limit_answers(in_root):
    result = run("explain", "specs/gpt2.yaml", "vars." + "a." * 400 + "b")
    assert result.returncode == 2 and "no key" in result.stderr


def test_a_long_override_is_refused_before_hydra_parses_it(tmp_path):
    """Hydra's override parser is quadratic: a 20,000-number list took over two minutes."""
    path = spec_file(tmp_path, "vars:\n  n: 1\n" + TAIL)
    long = "+vars.l=[" + ",".join(["1"] * 20_000) + "]"
    assert "longer than" in refused(run("show", str(path), "vars.n=2", long), "<command-line>")
    assert load_spec(path, ["+vars.l=[" + ",".join(["1"] * 300) + "]"]).ir.info["vars"]["l"] == [1] * 300


def test_many_overrides_or_merges_stay_linear(tmp_path):
    """Replacing a value used to scan every recorded location: 20,000 YAML merges ran past two minutes and
    20,000 overrides a minute. Now merges are linear, and more overrides than a command line needs are refused."""
    lines = ["vars:", "  base: &b {a: 1}"] + [f"  m{i}: {{<<: *b, a: 2}}" for i in range(20_000)]
    path = spec_file(tmp_path, "\n".join(lines) + "\n" + TAIL)
    assert run("show", str(path)).returncode == 0
    path = spec_file(tmp_path, "vars:\n  n: 1\n" + TAIL)
    assert "overrides: at most" in refused(run("show", str(path), *[f"+vars.k{i}=1" for i in range(5_000)]),
                                           "<command-line>")
    assert load_spec(path, [f"+vars.k{i}={i}" for i in range(1_000)]).ir.info["vars"]["k999"] == 999


def test_megabytes_of_interpolations_are_refused_fast(tmp_path):
    """400,000 references in one string: parsed twice at ~10 us each (11 s) before the cap on parsed text."""
    path = spec_file(tmp_path, 'vars:\n  a: 1\n  s: "' + "${vars.a}" * 400_000 + '"\n' + TAIL)
    assert "more than" in refused(run("show", str(path)), str(path), 3)
