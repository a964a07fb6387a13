"""``archc lint --fix``: mechanical fixes applied to the YAML text, comments and layout kept."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from archc.cli.main import main
from archc.lint import lint

FIXTURES = Path(__file__).parent / "fixtures"
CORPUS = Path(__file__).parent / "corpus"


def fix(capsys, path: Path) -> tuple[int, str]:
    code = main(["lint", str(path), "--fix"])
    return code, capsys.readouterr().out


def changed_lines(before: str, after: str) -> list[tuple[str, str]]:
    return [(a, b) for a, b in zip(before.splitlines(), after.splitlines(), strict=True) if a != b]


def test_fix_pads_the_vocabulary_var_and_keeps_the_rest(capsys, tmp_path):
    path = tmp_path / "bert.yaml"
    shutil.copy(CORPUS / "bert_vocab_30522.bad.yaml", path)
    before = path.read_text()
    code, out = fix(capsys, path)
    assert code == 0 and out.splitlines() == ["Fixed 1 finding.", "All checks passed."]
    assert changed_lines(before, path.read_text()) == [
        (before.splitlines()[7], before.splitlines()[7].replace("vocab_size: 30522", "vocab_size: 30528"))]


def test_fix_rewrites_literals_in_place_with_comments(capsys, tmp_path):
    path = tmp_path / "positions.yaml"
    shutil.copy(FIXTURES / "position_table_too_short.yaml", path)
    before = path.read_text()
    code, out = fix(capsys, path)
    assert code == 0 and "Fixed 3 findings." in out
    after = path.read_text()
    assert len(changed_lines(before, after)) == 3
    assert '  wpe: {op: learned_position, in: tokens, max_len: "${vars.n_ctx}", dim: 16}        # expect: AL008 wpe' \
        in after.splitlines()
    assert lint(path, select="AL008") == []


def test_fix_leaves_what_it_cannot_do_mechanically(capsys, tmp_path):
    path = tmp_path / "cross.yaml"
    shutil.copy(FIXTURES / "causal_cross_attention.yaml", path)
    code, out = fix(capsys, path)
    # 'causal: true' written on cross2 becomes false; 'cross' relies on the default, so only the help says what to do
    assert code == 1 and "Fixed 1 finding." in out
    assert [f.scope for f in lint(path, select="AL011")] == ["cross"]
    assert "causal: false}   # expect: AL011 cross2" in path.read_text()


def test_a_tied_head_keeps_the_table_literal(capsys, tmp_path):
    path = tmp_path / "vocab.yaml"
    shutil.copy(FIXTURES / "vocab_not_padded.yaml", path)
    code, out = fix(capsys, path)
    text = path.read_text()
    assert "num_embeddings: 50257" in text  # 'tied' repeats 50257: padding one side would break the tie
    assert "num_embeddings: 32064" in text and "Fixed 1 finding." in out and code == 1


@pytest.mark.parametrize("name", ["gpt2.yaml", "llama.yaml"])
def test_fix_on_a_clean_spec_changes_nothing(capsys, tmp_path, name):
    root = Path(__file__).resolve().parents[2] / "specs"
    shutil.copytree(root, tmp_path / "specs")
    path = tmp_path / "specs" / name
    before = path.read_text()
    assert fix(capsys, path)[0] == 0
    assert path.read_text() == before


def test_fix_adds_the_final_norm_where_the_head_reads_the_stack_implicitly(capsys, tmp_path):
    path = tmp_path / "gpt.yaml"
    shutil.copy(CORPUS / "gpt_missing_ln_f.bad.yaml", path)
    before = path.read_text().splitlines()
    code, out = fix(capsys, path)
    after = path.read_text().splitlines()
    assert code == 0 and out.splitlines() == ["Fixed 1 finding.", "All checks passed."]
    at = after.index("  ln_f: {block: norm}")
    assert after[:at] + after[at + 1:] == before and after[at - 1].startswith("  h: {block: layer")


def test_fix_names_each_final_norm_after_its_stack_and_skips_forks(capsys, tmp_path):
    path = tmp_path / "stacks.yaml"
    shutil.copy(FIXTURES / "missing_final_norm.yaml", path)
    code, out = fix(capsys, path)
    text = path.read_text()
    assert code == 1 and "Fixed 3 findings." in out
    for name in ("no_final_norm", "fourth_norm", "stages_norm"):
        assert f"\n  {name}: {{block: norm}}\n" in text
    # 'bare' is itself an output and 'side' feeds two nodes: no single place for the norm, so no edit
    assert sorted(f.scope for f in lint(path, select="GF002")) == ["bare", "side"]
