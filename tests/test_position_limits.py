"""A generated model fed more positions than its position table holds says so, naming the limit, instead of
failing inside an index (GPT-2 at T = n_ctx + 1 raised a bare IndexError from nn.Embedding)."""

from __future__ import annotations

import pytest
import torch

import archc
from archc.pipeline import load_spec
from tests.conftest import SPECS

N_CTX = 16


@pytest.mark.parametrize("spec,overrides", [
    ("gpt2.yaml", ["vars.n_layers=1", "vars.d_model=24", "vars.n_heads=2", "vars.vocab_size=50",
                   f"vars.n_ctx={N_CTX}"]),
    ("llama.yaml", ["vars.n_layers=1", "vars.d_model=32", "vars.n_heads=2", "vars.n_kv_heads=1", "vars.d_ff=40",
                    "vars.vocab_size=50", f"vars.max_seq_len={N_CTX}"]),
], ids=["gpt2-learned", "llama-rotary"])
def test_one_position_past_the_table_is_a_clear_error(spec, overrides):
    model = archc.build_module(load_spec(SPECS / spec, overrides)).eval()
    with torch.no_grad():
        assert model(torch.zeros(2, N_CTX, dtype=torch.int64)).shape == (2, N_CTX, 50)
        with pytest.raises(ValueError, match=rf"\b{N_CTX + 1} positions\b.*\b{N_CTX}\b.*max_len"):
            model(torch.zeros(2, N_CTX + 1, dtype=torch.int64))


def test_learned_positions_keep_their_state_dict_key_and_values(tmp_path):
    """The position table is still an nn.Embedding under the node's name: checkpoints load as before."""
    path = tmp_path / "pos.yaml"
    path.write_text("inputs: {tokens: {shape: [B, T], dtype: int64}}\n"
                    "nodes:\n  wpe: {op: learned_position, in: tokens, max_len: 8, dim: 4}\n")
    model = archc.build_module(load_spec(path))
    assert isinstance(model.wpe, torch.nn.Embedding) and list(model.state_dict()) == ["wpe.weight"]
    out = model(torch.zeros(1, 5, dtype=torch.int64))
    assert torch.equal(out, model.wpe.weight[:5])
