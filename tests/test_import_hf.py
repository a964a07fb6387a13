"""`archc import-hf`: HuggingFace config.json -> spec, checked against transformers' own models.

References: configs written by transformers itself (``GPT2Config(...).to_json_file``) and hand-written
4.x-style configs (the layout of the Hub's gpt2 and Llama-2/3 files); the spec's parameter keys and shapes,
mapped through archc.interop.hf's tables, must equal the state dict of the transformers model built from
the same file (on the meta device: no memory, no weights).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
import transformers

from archc.cli.main import main
from archc.errors import SpecError
from archc.interop.hf import hf_shapes
from archc.interop.import_hf import import_config
from archc.pipeline import load_spec

HF_CLASSES = {"gpt2": transformers.GPT2LMHeadModel, "llama": transformers.LlamaForCausalLM}


def write_config(tmp_path, config, name="config.json"):
    """``config``: a transformers config object (saved by transformers) or a dict (written as is)."""
    path = tmp_path / name
    if isinstance(config, dict):
        path.write_text(json.dumps(config, indent=2))
    else:
        config.to_json_file(path)
    return path


def imported_spec(tmp_path, config_path):
    out = tmp_path / "imported.yaml"
    assert main(["import-hf", str(config_path), "-o", str(out)]) == 0
    return load_spec(out)


def spec_shapes(spec) -> dict:
    """Every state-dict key of the generated model and its shape, tied names included, from the IR alone."""
    ir = spec.ir
    shapes = {f"{n.key}.{p}": tuple(s) for n in ir.nodes() for p, s in n.meta["params"].items()}
    for n in ir.nodes():
        for p, target in n.meta.get("tied", {}).items():
            node, _, name = target.rpartition(".")
            shapes[f"{n.key}.{p}"] = tuple(ir.node(node).meta["params"][name])
    return shapes


def hf_reference(config_path):
    """The transformers model transformers builds from the file, on the meta device."""
    model_type = json.loads(config_path.read_text())["model_type"]
    cls = HF_CLASSES[model_type]
    config = cls.config_class.from_json_file(str(config_path))
    with torch.device("meta"):
        return cls(config)


def assert_matches_transformers(tmp_path, config_path):
    spec = imported_spec(tmp_path, config_path)
    ref = hf_reference(config_path)
    expected = {k: tuple(v.shape) for k, v in ref.state_dict().items()}
    assert hf_shapes(spec_shapes(spec)) == expected
    from archc.passes.count import totals

    assert totals(spec.ir, 1)["params"] == sum(p.numel() for p in ref.parameters())
    return spec


# -- configs written by transformers (5.x layout) ----------------------------------------------------------

GPT2_CONFIGS = {
    "small-defaults": {},
    "tiny-tied": dict(n_layer=2, n_embd=48, n_head=3, vocab_size=1001, n_positions=64),
    "untied-exact-gelu": dict(n_layer=1, n_embd=64, n_head=4, n_inner=100, vocab_size=333, n_positions=32,
                              activation_function="gelu", tie_word_embeddings=False, scale_attn_weights=False,
                              initializer_range=0.01, layer_norm_epsilon=1e-6, resid_pdrop=0.0),
}
LLAMA_CONFIGS = {
    "defaults": {},
    "gqa-odd-vocab": dict(num_hidden_layers=2, hidden_size=96, num_attention_heads=6, num_key_value_heads=2,
                          intermediate_size=200, vocab_size=1001, rope_parameters={"rope_type": "default",
                                                                                  "rope_theta": 50000.0}),
    "tied-biases": dict(num_hidden_layers=1, hidden_size=64, num_attention_heads=4, intermediate_size=176,
                        vocab_size=517, tie_word_embeddings=True, attention_bias=True, mlp_bias=True,
                        attention_dropout=0.1, rms_norm_eps=1e-5, initializer_range=0.05),
    "mqa-wide-heads": dict(num_hidden_layers=1, hidden_size=48, num_attention_heads=4, num_key_value_heads=1,
                           head_dim=24, intermediate_size=130, vocab_size=300, max_position_embeddings=128),
}


@pytest.mark.parametrize("name", GPT2_CONFIGS)
def test_gpt2_config_from_transformers(tmp_path, name):
    path = write_config(tmp_path, transformers.GPT2Config(**GPT2_CONFIGS[name]))
    spec = assert_matches_transformers(tmp_path, path)
    hf = json.loads(path.read_text())
    v = spec.ir.info["vars"]
    assert v["n_ctx"] == hf.get("n_positions", 1024)
    assert v["norm_eps"] == hf.get("layer_norm_epsilon", 1e-5)


@pytest.mark.parametrize("name", LLAMA_CONFIGS)
def test_llama_config_from_transformers(tmp_path, name):
    path = write_config(tmp_path, transformers.LlamaConfig(**LLAMA_CONFIGS[name]))
    spec = assert_matches_transformers(tmp_path, path)
    hf = json.loads(path.read_text())
    v = spec.ir.info["vars"]
    assert v["rope_theta"] == hf["rope_parameters"]["rope_theta"]
    assert v["norm_eps"] == hf["rms_norm_eps"]
    assert v["max_seq_len"] == hf["max_position_embeddings"]


def test_gpt2_values_reach_the_ir(tmp_path):
    path = write_config(tmp_path, transformers.GPT2Config(**GPT2_CONFIGS["untied-exact-gelu"]))
    spec = imported_spec(tmp_path, path)
    ir = spec.ir
    assert ir.node("head").tie is None
    assert ir.node("h.0.mlp.act").attrs["approximate"] == "none"
    assert ir.node("h.0.attn").attrs["scale"] == 1.0
    assert ir.node("h.0.attn").init["o_proj.weight"] == {"kind": "normal", "std": 0.01, "depth": 1}
    assert ir.info["vars"]["resid_dropout"] == 0.0 and ir.info["vars"]["attn_dropout"] == 0.1


def test_llama_values_reach_the_ir(tmp_path):
    path = write_config(tmp_path, transformers.LlamaConfig(**LLAMA_CONFIGS["tied-biases"]))
    spec = imported_spec(tmp_path, path)
    ir = spec.ir
    assert ir.node("head").tie == "embed"
    attn = ir.node("layers.0.attn").attrs
    assert attn["bias"] is True and attn["dropout"] == 0.1 and attn["n_kv_heads"] == 4
    assert ir.node("layers.0.mlp.gate").attrs["bias"] is True
    assert ir.info["default_init"] == {"*": {"kind": "normal", "std": 0.05}}


# -- hand-written configs in transformers 4.x's layout -----------------------------------------------------

GPT2_HUB_4X = {  # the Hub's gpt2/config.json
    "activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"], "attn_pdrop": 0.1,
    "bos_token_id": 50256, "embd_pdrop": 0.1, "eos_token_id": 50256, "initializer_range": 0.02,
    "layer_norm_epsilon": 1e-05, "model_type": "gpt2", "n_ctx": 1024, "n_embd": 768, "n_head": 12,
    "n_layer": 12, "n_positions": 1024, "resid_pdrop": 0.1, "summary_activation": None,
    "summary_first_dropout": 0.1, "summary_proj_to_labels": True, "summary_type": "cls_index",
    "summary_use_proj": True, "task_specific_params": {"text-generation": {"do_sample": True, "max_length": 50}},
    "vocab_size": 50257,
}
LLAMA2_7B_4X = {  # Llama-2-7b-hf/config.json
    "_name_or_path": "meta-llama/Llama-2-7b-hf", "architectures": ["LlamaForCausalLM"], "bos_token_id": 1,
    "eos_token_id": 2, "hidden_act": "silu", "hidden_size": 4096, "initializer_range": 0.02,
    "intermediate_size": 11008, "max_position_embeddings": 4096, "model_type": "llama",
    "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 32, "pretraining_tp": 1,
    "rms_norm_eps": 1e-05, "rope_scaling": None, "tie_word_embeddings": False, "torch_dtype": "float16",
    "transformers_version": "4.31.0.dev0", "use_cache": True, "vocab_size": 32000,
}
LLAMA3_8B_4X = {  # Meta-Llama-3-8B/config.json (transformers 4.40)
    "architectures": ["LlamaForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
    "bos_token_id": 128000, "eos_token_id": 128001, "hidden_act": "silu", "hidden_size": 4096,
    "initializer_range": 0.02, "intermediate_size": 14336, "max_position_embeddings": 8192,
    "model_type": "llama", "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8,
    "pretraining_tp": 1, "rms_norm_eps": 1e-05, "rope_scaling": None, "rope_theta": 500000.0,
    "tie_word_embeddings": False, "torch_dtype": "bfloat16", "transformers_version": "4.40.0.dev0",
    "use_cache": True, "vocab_size": 128256,
}
LLAMA_OLD_4X = {  # an early 4.x layout: no num_key_value_heads or rms_norm_eps, generation defaults inside
    "model_type": "llama", "hidden_size": 64, "intermediate_size": 172, "num_attention_heads": 4,
    "num_hidden_layers": 2, "vocab_size": 1001, "max_length": 20, "do_sample": False,
    "num_beams": 1, "temperature": 1.0, "top_k": 50, "top_p": 1.0, "repetition_penalty": 1.0, "id2label":
    {"0": "LABEL_0"}, "label2id": {"LABEL_0": 0}, "torchscript": False, "use_bfloat16": False,
    "pruned_heads": {}, "is_encoder_decoder": False, "add_cross_attention": False, "output_attentions": False,
}


@pytest.mark.parametrize("config,params", [(GPT2_HUB_4X, 124_439_808), (LLAMA2_7B_4X, 6_738_415_616),
                                           (LLAMA3_8B_4X, 8_030_261_248), (LLAMA_OLD_4X, None)],
                         ids=["gpt2-hub", "llama-2-7b", "llama-3-8b", "llama-old"])
def test_4x_configs(tmp_path, config, params):
    path = write_config(tmp_path, config)
    spec = assert_matches_transformers(tmp_path, path)
    from archc.passes.count import totals

    if params is not None:
        assert totals(spec.ir, 1)["params"] == params


def test_4x_rope_theta_and_defaults(tmp_path):
    spec = imported_spec(tmp_path, write_config(tmp_path, LLAMA3_8B_4X))
    assert spec.ir.info["vars"]["rope_theta"] == 500000.0
    assert spec.ir.node("rope").attrs["theta"] == 500000.0
    spec = imported_spec(tmp_path, write_config(tmp_path, LLAMA_OLD_4X))
    v = spec.ir.info["vars"]  # LlamaConfig's defaults, not the catalog's
    assert (v["n_kv_heads"], v["norm_eps"], v["max_seq_len"], v["rope_theta"]) == (4, 1e-6, 2048, 10000.0)


def test_rope_priority_as_transformers(tmp_path):
    """rope_parameters' theta beats a top-level rope_theta (transformers 5.x standardisation)."""
    config = {**LLAMA_OLD_4X, "rope_theta": 1234.0, "rope_parameters": {"rope_type": "default",
                                                                         "rope_theta": 77777.0}}
    path = write_config(tmp_path, config)
    assert imported_spec(tmp_path, path).ir.info["vars"]["rope_theta"] == 77777.0
    hf = transformers.LlamaConfig.from_json_file(str(path))
    assert hf.rope_parameters["rope_theta"] == 77777.0


def test_spec_text(tmp_path):
    path = write_config(tmp_path, transformers.LlamaConfig(**LLAMA_CONFIGS["tied-biases"]))
    text = import_config(path).text
    assert text.startswith(f"# Imported by `archc import-hf` from {path} (model_type llama, transformers ")
    assert "defaults:\n- llama\n- _self_\n" in text
    assert "nodes:\n  head: {tie: embed}\n" in text
    assert "blocks.ffn" not in text and "  ffn:\n    params: {bias: true}\n" in text


# -- the command ---------------------------------------------------------------------------------------


def test_stdout_and_file(tmp_path, capsys):
    path = write_config(tmp_path, transformers.GPT2Config(**GPT2_CONFIGS["tiny-tied"]))
    assert main(["import-hf", str(path)]) == 0
    out = capsys.readouterr().out
    assert out == import_config(path).text
    target = tmp_path / "out" / "tiny.yaml"
    target.parent.mkdir()
    assert main(["import-hf", str(path), "-o", str(target)]) == 0
    assert target.read_text() == out
    assert "2 layers, d_model 48" in capsys.readouterr().err


def test_output_may_not_shadow_the_catalog(tmp_path, capsys):
    path = write_config(tmp_path, transformers.LlamaConfig(**LLAMA_CONFIGS["mqa-wide-heads"]))
    assert main(["import-hf", str(path), "-o", str(tmp_path / "llama.yaml")]) == 2
    (tmp_path / "gpt2.yaml").write_text("vars: {}\n")
    assert main(["import-hf", str(path), "-o", str(tmp_path / "mine.yaml")]) == 2
    assert "take the place of the catalog's gpt2.yaml" in capsys.readouterr().err


def test_no_torch_import(tmp_path):
    path = write_config(tmp_path, GPT2_HUB_4X)
    code = ("import sys; from archc.cli.main import main; import archc; rc = main(['import-hf', sys.argv[1]]); "
            "bad = [m for m in ('torch', 'transformers') if m in sys.modules]; "
            "sys.exit(10 + len(bad) if bad else rc)")
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


# -- refusals ------------------------------------------------------------------------------------------

GPT2_TINY = transformers.GPT2Config(**GPT2_CONFIGS["tiny-tied"]).to_dict()
LLAMA_TINY = transformers.LlamaConfig(**LLAMA_CONFIGS["gqa-odd-vocab"]).to_dict()

REFUSALS = [  # (base config, changes, key whose line is cited, words of the message)
    (GPT2_TINY, {"scale_attn_by_inverse_layer_idx": True}, "scale_attn_by_inverse_layer_idx", "unsupported value"),
    (GPT2_TINY, {"reorder_and_upcast_attn": True}, "reorder_and_upcast_attn", "unsupported value"),
    (GPT2_TINY, {"add_cross_attention": True}, "add_cross_attention", "cross-attention"),
    (GPT2_TINY, {"activation_function": "relu"}, "activation_function", "gelu_new"),
    (GPT2_TINY, {"attention_bias": True}, "attention_bias", "unsupported key 'attention_bias'"),
    (GPT2_TINY, {"n_embd": 50}, "n_head", "not a multiple of n_head"),
    (GPT2_TINY, {"n_layer": 0}, "n_layer", "positive integer"),
    (GPT2_TINY, {"vocab_size": "50257"}, "vocab_size", "positive integer"),
    (GPT2_TINY, {"tie_word_embeddings": "yes"}, "tie_word_embeddings", "true or false"),
    (GPT2_TINY, {"is_encoder_decoder": True}, "is_encoder_decoder", "decoder-only"),
    (GPT2_TINY, {"pruned_heads": {"0": [1]}}, "pruned_heads", "unsupported value"),
    (GPT2_TINY, {"model_type": "gpt_neox"}, "model_type", "unsupported model_type 'gpt_neox'"),
    (LLAMA_TINY, {"hidden_act": "gelu"}, "hidden_act", "silu"),
    (LLAMA_TINY, {"pretraining_tp": 2}, "pretraining_tp", "tensor-parallel"),
    (LLAMA_TINY, {"sliding_window": 4096}, "sliding_window", "whole causal context"),
    (LLAMA_TINY, {"num_key_value_heads": 4}, "num_key_value_heads", "not a multiple"),
    (LLAMA_TINY, {"hidden_size": 60, "num_attention_heads": 4, "head_dim": 15}, "head_dim", "even"),
    (LLAMA_TINY, {"mlp_bias": "no"}, "mlp_bias", "true or false"),
    (LLAMA_TINY, {"rms_norm_eps": -1}, "rms_norm_eps", "non-negative"),
    (LLAMA_TINY, {"quantization_config": {"quant_method": "bitsandbytes"}}, "quantization_config",
     "unsupported key"),
    (LLAMA_TINY, {"partial_rotary_factor": 0.5}, "partial_rotary_factor", "unsupported key"),
    (LLAMA_TINY, {"rope_parameters": {"rope_type": "linear", "factor": 2.0, "rope_theta": 1e4}},
     ("rope_parameters", "rope_type"), "RoPE scaling \"linear\""),
    (LLAMA_TINY, {"rope_parameters": {"rope_type": "default", "factor": 2.0}}, ("rope_parameters", "factor"),
     "unsupported key 'rope_parameters.factor'"),
    (LLAMA_TINY, {"rope_scaling": {"type": "dynamic", "factor": 2.0}}, ("rope_scaling", "type"), "dynamic"),
    (LLAMA_TINY, {"rope_scaling": {"rope_type": "llama3", "factor": 8.0}}, ("rope_scaling", "rope_type"),
     "llama3"),
    (LLAMA_TINY, {"rope_theta": 0.5}, "rope_theta", "above 1"),
]


def line_of(text: str, path) -> int:
    """1-based line of a key in JSON written with indent=2 (one key per line)."""
    path = (path,) if isinstance(path, str) else path
    start = 0
    for depth, key in enumerate(path, 1):
        start = text.index(f'\n{"  " * depth}"{key}":', start) + 1
    return text.count("\n", 0, start) + 1


@pytest.mark.parametrize("base,changes,key,words", REFUSALS,
                         ids=[f"{b['model_type']}-{'.'.join(k) if isinstance(k, tuple) else k}"
                              for b, _, k, _ in REFUSALS])
def test_refusal(tmp_path, capsys, base, changes, key, words):
    path = write_config(tmp_path, {**base, **changes})
    assert main(["import-hf", str(path), "-o", str(tmp_path / "out.yaml")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    where, _, message = err.partition(": ")
    file, line, col = where.rsplit(":", 2)
    assert file.endswith("config.json")
    assert int(line) == line_of(path.read_text(), key), err
    assert words in message, err
    assert (key[-1] if isinstance(key, tuple) else key) in message, err
    assert not (tmp_path / "out.yaml").exists()


@pytest.mark.parametrize("text,words", [
    ('{"model_type": "gpt2",\n "n_layer": 2,\n}', "malformed JSON"),
    ('{"model_type": "gpt2", "n_layer": 2, "n_layer": 3}', "duplicate key 'n_layer'"),
    ('[1, 2]', "JSON object"),
    ('{"n_layer": 2}', "no 'model_type'"),
])
def test_bad_files(tmp_path, text, words):
    path = tmp_path / "config.json"
    path.write_text(text)
    with pytest.raises(SpecError, match=words):
        import_config(path)


def test_missing_file(tmp_path, capsys):
    assert main(["import-hf", str(tmp_path / "nope.json")]) == 2
    assert "cannot read the config" in capsys.readouterr().err


def test_every_understood_key_is_documented():
    from archc.interop.import_hf import FAMILIES, table

    for model_type in FAMILIES:
        for key, rule in table(model_type).items():
            assert rule.doc, f"{model_type}: key '{key}' has no doc"
