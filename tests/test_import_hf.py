"""`archc import-hf`: HuggingFace config.json -> spec, checked against transformers' own models.

References: configs written by transformers itself (``GPT2Config(...).to_json_file``) and hand-written
4.x-style configs (the layout of the Hub's gpt2 and Llama-2/3 files); the spec's parameter keys and shapes,
mapped through archc.interop.hf's tables, must equal the state dict of the transformers model built from
the same file (on the meta device: no memory, no weights).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
import torch
import transformers
import yaml

from archc.cli.main import main
from archc.errors import SpecError
from archc.interop.hf import hf_shapes
from archc.interop.import_hf import import_config
from archc.interop.registry import FAMILIES
from archc.passes.count import totals
from archc.paths import catalog_dir
from archc.pipeline import load_spec

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPECS_DIR = catalog_dir()


def hf_class(family):
    return getattr(transformers, family.hf_class)


def write_config(tmp_path, config, name="config.json", family=None):
    """``config``: a dict, written as is (a hand-written file), or with ``family`` given, handed to the family's
    config class and saved by transformers (its own layout and every default written out)."""
    path = tmp_path / name
    if family is None:
        path.write_text(json.dumps(config, indent=2))
    else:
        kwargs = {k: v for k, v in config.items() if k != "model_type"}
        hf_class(family).config_class(**kwargs).to_json_file(path)
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
    cls = hf_class(FAMILIES[json.loads(config_path.read_text())["model_type"]])
    config = cls.config_class.from_json_file(str(config_path))
    with torch.device("meta"):
        return cls(config)


def assert_matches_transformers(tmp_path, config_path):
    spec = imported_spec(tmp_path, config_path)
    ref = hf_reference(config_path)
    expected = {k: tuple(v.shape) for k, v in ref.state_dict().items()}
    assert hf_shapes(spec_shapes(spec)) == expected
    assert totals(spec.ir, 1)["params"] == sum(p.numel() for p in ref.parameters())
    return spec


# -- every family in the registry: its tiny config, its examples, its published configs --------------------

SMALL = [(f, name, config) for f in FAMILIES.values()
         for name, config in {"tiny": f.tiny, **f.examples}.items()]
SMALL_IDS = [f"{f.model_type}-{name}" for f, name, _ in SMALL]
PUBLISHED = [(f, p) for f in FAMILIES.values() for p in f.published]


@pytest.mark.parametrize("family,name,config", SMALL, ids=SMALL_IDS)
@pytest.mark.parametrize("layout", ["as-written", "by-transformers"])
def test_small_configs_match_transformers(tmp_path, family, name, config, layout):
    """The spec's parameter keys, shapes and count equal the transformers model's, for the file as written
    (4.x-style, defaults left out) and as transformers writes the same config (5.x layout, every key)."""
    path = write_config(tmp_path, config, family=family if layout == "by-transformers" else None)
    assert_matches_transformers(tmp_path, path)


@pytest.mark.parametrize("family,published", PUBLISHED, ids=[p.name for _, p in PUBLISHED])
def test_published_configs_match_transformers(tmp_path, family, published):
    """Real configs as published (their counts are checked in test_param_counts.py)."""
    assert_matches_transformers(tmp_path, write_config(tmp_path, published.config))


@pytest.mark.parametrize("family", FAMILIES.values(), ids=list(FAMILIES))
def test_golden_import(tmp_path, family):
    """The spec imported from the family's tiny config, pinned (ARCHC_UPDATE_GOLDEN=1 rewrites it)."""
    golden = os.path.join(ROOT, "tests", "golden", "hf", f"{family.model_type}.yaml")
    text = import_config(write_config(tmp_path, family.tiny)).text
    if os.environ.get("ARCHC_UPDATE_GOLDEN"):
        os.makedirs(os.path.dirname(golden), exist_ok=True)
        with open(golden, "w", encoding="utf-8") as fh:
            fh.write(text)
    assert os.path.exists(golden), f"no golden import for {family.model_type}: run with ARCHC_UPDATE_GOLDEN=1"
    with open(golden, encoding="utf-8") as fh:
        assert text == fh.read(), f"the import of {family.model_type}'s tiny config changed: review, then " \
                                  "rerun with ARCHC_UPDATE_GOLDEN=1"


@pytest.mark.parametrize("family", FAMILIES.values(), ids=list(FAMILIES))
def test_every_understood_key_is_documented(family):
    from archc.interop.import_hf import table

    for key, rule in table(family.model_type).items():
        assert rule.doc, f"{family.model_type}: key '{key}' has no doc"


# -- values that reach the IR (family-specific) --------------------------------------------------------------


def test_gpt2_values_reach_the_ir(tmp_path):
    family = FAMILIES["gpt2"]
    path = write_config(tmp_path, family.examples["untied-exact-gelu-unscaled"], family=family)
    spec = imported_spec(tmp_path, path)
    ir = spec.ir
    assert ir.node("head").tie is None
    assert ir.node("h.0.mlp.act").attrs["approximate"] == "none"
    assert ir.node("h.0.attn").attrs["scale"] == 1.0
    assert ir.node("h.0.attn").init["o_proj.weight"] == {"kind": "normal", "std": 0.01, "depth": 2}
    assert ir.info["vars"]["resid_dropout"] == 0.0 and ir.info["vars"]["attn_dropout"] == 0.1
    assert ir.info["vars"]["n_ctx"] == 32 and ir.info["vars"]["norm_eps"] == 1e-6


def test_llama_values_reach_the_ir(tmp_path):
    family = FAMILIES["llama"]
    path = write_config(tmp_path, family.examples["tied-biases-4x-theta"], family=family)
    spec = imported_spec(tmp_path, path)
    ir = spec.ir
    assert ir.node("head").tie == "embed"
    attn = ir.node("layers.0.attn").attrs
    assert attn["bias"] is True and attn["dropout"] == 0.1 and attn["n_kv_heads"] == 4
    assert ir.node("layers.0.mlp.gate").attrs["bias"] is True
    assert ir.info["default_init"] == {"*": {"kind": "normal", "std": 0.05}}
    v = ir.info["vars"]
    assert (v["rope_theta"], v["norm_eps"], v["max_seq_len"]) == (500000.0, 1e-5, 256)
    assert ir.node("rope").attrs["theta"] == 500000.0


def test_llama_4x_defaults(tmp_path):
    family = FAMILIES["llama"]
    spec = imported_spec(tmp_path, write_config(tmp_path, family.examples["old-4x-layout"]))
    v = spec.ir.info["vars"]  # LlamaConfig's defaults, not the catalog's
    assert (v["n_kv_heads"], v["norm_eps"], v["max_seq_len"], v["rope_theta"]) == (4, 1e-6, 2048, 10000.0)


def test_rope_priority_as_transformers(tmp_path):
    """rope_parameters' theta beats a top-level rope_theta (transformers 5.x standardisation)."""
    config = {**FAMILIES["llama"].examples["old-4x-layout"], "rope_theta": 1234.0,
              "rope_parameters": {"rope_type": "default", "rope_theta": 77777.0}}
    path = write_config(tmp_path, config)
    assert imported_spec(tmp_path, path).ir.info["vars"]["rope_theta"] == 77777.0
    hf = transformers.LlamaConfig.from_json_file(str(path))
    assert hf.rope_parameters["rope_theta"] == 77777.0


def test_spec_text(tmp_path):
    family = FAMILIES["llama"]
    path = write_config(tmp_path, family.examples["tied-biases-4x-theta"], family=family)
    imported = import_config(path)
    text = imported.text
    assert text.startswith("doc: Imported by `archc import-hf` from config.json (model_type llama, transformers ")
    assert "defaults:\n- llama\n- _self_\n" in text
    assert "nodes:\n  head: {tie: embed}\n" in text
    assert "blocks.ffn" not in text and "  ffn:\n    params: {bias: true}\n" in text
    assert yaml.safe_load(text) == imported.draft.data()  # all of it is the serialised data, nothing else


# -- the command ---------------------------------------------------------------------------------------


def test_stdout_and_file(tmp_path, capsys):
    path = write_config(tmp_path, FAMILIES["gpt2"].tiny, family=FAMILIES["gpt2"])
    assert main(["import-hf", str(path)]) == 0
    out = capsys.readouterr().out
    assert out == import_config(path).text
    target = tmp_path / "out" / "tiny.yaml"
    target.parent.mkdir()
    assert main(["import-hf", str(path), "-o", str(target)]) == 0
    assert target.read_text() == out
    assert "2 layers, d_model 48" in capsys.readouterr().err


def test_output_may_not_shadow_the_catalog(tmp_path, capsys):
    path = write_config(tmp_path, FAMILIES["llama"].tiny)
    assert main(["import-hf", str(path), "-o", str(tmp_path / "llama.yaml")]) == 2
    (tmp_path / "gpt2.yaml").write_text("vars: {}\n")
    assert main(["import-hf", str(path), "-o", str(tmp_path / "mine.yaml")]) == 2
    assert "take the place of the catalog's gpt2.yaml" in capsys.readouterr().err


def test_no_torch_import(tmp_path):
    path = write_config(tmp_path, FAMILIES["gpt2"].published[0].config)
    code = ("import sys; from archc.cli.main import main; import archc; rc = main(['import-hf', sys.argv[1]]); "
            "bad = [m for m in ('torch', 'transformers') if m in sys.modules]; "
            "sys.exit(10 + len(bad) if bad else rc)")
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


# -- refusals ------------------------------------------------------------------------------------------

def by_transformers(family) -> dict:
    """The family's tiny config as transformers writes it: every key, so each one has a line."""
    config = hf_class(family).config_class(**{k: v for k, v in family.tiny.items() if k != "model_type"})
    return json.loads(config.to_json_string())


GPT2_TINY = by_transformers(FAMILIES["gpt2"])
LLAMA_TINY = by_transformers(FAMILIES["llama"])

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
    (GPT2_TINY, {"model_type": "gpt_neox"}, "model_type", "unsupported model_type"),
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
    (LLAMA_TINY, {"rope_parameters": {"rope_type": "longrope", "factor": 2.0, "rope_theta": 1e4}},
     ("rope_parameters", "rope_type"), "RoPE scaling \"longrope\""),
    (LLAMA_TINY, {"rope_parameters": {"rope_type": "default", "factor": 2.0}}, ("rope_parameters", "factor"),
     "unsupported key 'rope_parameters.factor'"),
    (LLAMA_TINY, {"rope_scaling": {"type": "dynamic", "factor": 0.5}}, ("rope_scaling", "factor"), "factor"),
    (LLAMA_TINY, {"rope_scaling": {"rope_type": "linear", "factor": 2.0, "beta_fast": 3}},
     ("rope_scaling", "beta_fast"), "beta_fast"),
    (LLAMA_TINY, {"rope_scaling": {"rope_type": "llama3", "factor": 8.0}}, "rope_scaling", "low_freq_factor"),
    (LLAMA_TINY, {"rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 4.0,
                                   "high_freq_factor": 1.0}}, ("rope_scaling", "high_freq_factor"), "above"),
    (LLAMA_TINY, {"rope_scaling": {"rope_type": "yarn", "factor": 4.0, "truncate": "yes"}},
     ("rope_scaling", "truncate"), "true or false"),
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


# -- a config is data: every value checked, everything written serialised ------------------------------------


def refused(tmp_path, capsys, path) -> tuple[int, str]:
    """Exit code 2, one line ``config.json:line:col: message``, nothing written; returns (line, message)."""
    out = tmp_path / "out.yaml"
    assert main(["import-hf", str(path), "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and len(err) < 400, err
    where, _, message = err.partition(": ")
    file, line, _col = where.rsplit(":", 2)
    assert file.endswith(path.name), err
    assert not out.exists()
    return int(line), message


WRONG = {"a-list": ["x"], "beyond-int64": 2**64, "an-object": {"a": 1}}
APPLIED = [(f, key, label) for f in FAMILIES.values() for key, rule in f.keys.items() if rule.apply
           for label in WRONG]


@pytest.mark.parametrize("family,key,label", APPLIED, ids=[f"{f.model_type}-{k}-{w}" for f, k, w in APPLIED])
def test_a_wrong_value_of_any_key_is_refused_at_that_key(tmp_path, capsys, family, key, label):
    path = write_config(tmp_path, {**by_transformers(family), key: WRONG[label]})
    line, message = refused(tmp_path, capsys, path)
    inner = f"'{key}.a'" in message  # an object for an object-valued key: its unknown sub-key is cited
    assert line == line_of(path.read_text(), (key, "a") if inner else key)
    assert key in message


def raw_config(tmp_path, base: dict, key: str, raw: str, name="config.json"):
    """``base`` with ``key`` set to ``raw`` JSON text (numbers and nesting json.dumps would not write)."""
    text = json.dumps({**base, key: "@RAW@"}, indent=2).replace('"@RAW@"', raw)
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("key,raw,words", [
    ("vocab_size", "1" + "0" * 60, "number of 61 characters"),
    ("vocab_size", "9" * 5000, "number of 5,000 characters"),  # Python refuses int() of over 4,300 digits
    ("rms_norm_eps", "1e400", "out of range"),
    ("bos_token_id", str(2**64), "64-bit integer range"),  # a key with no effect is still read by json
    ("eos_token_id", str(-(2**63) - 1), "64-bit integer range"),
    ("rope_theta", "Infinity", "not standard JSON"),
    ("initializer_range", "NaN", "not standard JSON"),
    ("id2label", "[" * 100_000 + "]" * 100_000, "nests deeper"),  # json.loads would recurse past the stack
    ("id2label", '{"a": ' * 50 + "1" + "}" * 50, "nests deeper"),
    ("transformers_version", '"4.40.0\\nnodes: {evil: {op: relu}}"', "version"),
    ("transformers_version", "[4, 40]", "version"),
    ("model_type", '["llama"]', "must be a string"),
])
def test_values_json_or_yaml_cannot_carry(tmp_path, capsys, key, raw, words):
    path = raw_config(tmp_path, LLAMA_TINY, key, raw)
    line, message = refused(tmp_path, capsys, path)
    assert line == line_of(path.read_text(), key)
    assert words in message


def test_duplicate_key_is_refused_where_it_is_repeated(tmp_path, capsys):
    path = tmp_path / "config.json"
    path.write_text('{\n  "model_type": "gpt2",\n  "n_layer": 2,\n  "n_embd": 48,\n  "n_layer": 3\n}\n')
    line, message = refused(tmp_path, capsys, path)
    assert (line, "duplicate key 'n_layer'" in message) == (5, True)


def test_a_huge_config_is_refused_by_its_size_before_reading(tmp_path, capsys):
    path = tmp_path / "config.json"
    with open(path, "wb") as fh:
        fh.truncate(100 * 2**20)  # sparse: 100 MB that take no disk and would take seconds to parse
    start = time.perf_counter()
    line, message = refused(tmp_path, capsys, path)
    assert time.perf_counter() - start < 1.0
    assert line == 1 and "104,857,600 bytes" in message


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_an_endless_config_is_refused_after_the_limit(tmp_path, capsys):
    assert main(["import-hf", "/dev/zero"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "over 2,097,152 bytes" in err


@pytest.mark.parametrize("name", ["con\nfig.json", "${oc.env:HOME}.json", "a'b\".json"])
def test_the_config_file_name_never_reaches_the_spec_unchecked(tmp_path, name):
    path = write_config(tmp_path, FAMILIES["gpt2"].tiny, name=name)
    imported = import_config(path)
    assert yaml.safe_load(imported.text) == imported.draft.data()
    assert "HOME" not in imported.text and "\nfig" not in imported.text
    assert load_spec(imported_spec_path(tmp_path, imported.text)).ir.info["vars"]["n_layers"] == 2


def imported_spec_path(tmp_path, text):
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    return path


def test_a_newline_in_a_string_does_not_reach_the_spec(tmp_path, capsys):
    """The defect: transformers_version "4.0\nnodes: ..." was pasted into a comment and the spec gained a node."""
    config = {**FAMILIES["gpt2"].tiny, "transformers_version": "4.40.0\nnodes:\n  evil: {op: relu, in: head}"}
    path = write_config(tmp_path, config)
    line, message = refused(tmp_path, capsys, path)
    assert line == line_of(path.read_text(), "transformers_version") and "version" in message


def test_every_family_module_is_registered_once():
    """Adding a family is its module plus its registry line: a module left out of the registry is an error."""
    from pathlib import Path

    import archc.interop.families as package
    from archc.interop import registry

    modules = sorted(p.stem for p in Path(package.__file__).parent.glob("*.py") if p.stem != "__init__")
    assert sorted(registry._MODULES) == modules
    assert len(FAMILIES) == len(modules), "two modules claim one model_type"
    for family in FAMILIES.values():
        assert hasattr(transformers, family.hf_class), family.hf_class
        assert (SPECS_DIR / f"{family.base}.yaml").is_file(), family.base
