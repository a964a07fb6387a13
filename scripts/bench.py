"""archc benchmarks: the figures the issues name, measured side by side in one process, printed as ratios.

    make bench                      # everything (about 3 minutes on 2 cores)
    python scripts/bench.py startup scaling build      # a subset

Sections:
  startup   `archc show specs/llama.yaml` cold vs `python -c "import torch"`, alternating runs (target <= 0.5)
  scaling   `archc show specs/llama.yaml vars.n_layers=N` for N = 10, 100, 1000 (target < 3 s at 1000, linear)
  build     `archc build specs/llama.yaml` cold (target < 1 s, no torch import)
  shapes    load + build of graphs shaped unlike a model: a flat scope, a deep chain listed last-first, a deep
            repeat of a one-node block, at N and 10N nodes (linear: 10x)
  lint      `archc lint specs/llama.yaml vars.n_layers=1000` cold vs `python -c "import torch"` (target <= 0.8)
  train     forward+backward of the generated LLaMA / GPT-2 vs transformers with the same weights (target <= 1.0)
  memory    growth of peak RSS over one training step, each model in its own subprocess (target <= 1.0)
  compile   torch.compile(fullgraph=True) with the default inductor backend: compiles, and compiled vs eager

A benchmark is not a test: nothing here fails because a machine is slow; it prints what it measured.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
ARCHC = [str(BIN / "archc")] if (BIN / "archc").exists() else [sys.executable, "-m", "archc.cli.main"]

LLAMA = dict(model_type="llama", vocab_size=8000, hidden_size=256, intermediate_size=688, num_hidden_layers=4,
             num_attention_heads=8, num_key_value_heads=2, max_position_embeddings=512, rms_norm_eps=1e-6,
             rope_theta=10000.0, tie_word_embeddings=False, hidden_act="silu", attention_bias=False,
             mlp_bias=False, architectures=["LlamaForCausalLM"])
GPT2 = dict(model_type="gpt2", vocab_size=8000, n_embd=256, n_layer=4, n_head=8, n_positions=512,
            activation_function="gelu_new", resid_pdrop=0.1, embd_pdrop=0.1, attn_pdrop=0.1,
            layer_norm_epsilon=1e-5, architectures=["GPT2LMHeadModel"])
BATCH, SEQ = 4, 256
# A fixed mmap threshold: glibc otherwise raises it after each large free and keeps later tensors in its
# heap, so RSS would measure what the allocator happened to retain, not what the step needed.
MALLOC_ENV = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072", "MALLOC_TRIM_THRESHOLD_": "131072"}


def run(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def section(title: str):
    print(f"\n## {title}")


def bench_startup(repeats: int = 7) -> dict:
    section("start-up: archc show specs/llama.yaml vs python -c 'import torch' (cold processes, alternating)")
    show = ARCHC + ["show", "specs/llama.yaml"]
    torch_cmd = [sys.executable, "-c", "import torch"]
    run(show), run(torch_cmd)  # warm the page cache for both
    a, b = [], []
    for _ in range(repeats):
        a.append(run(show))
        b.append(run(torch_cmd))
    ma, mb = statistics.median(a), statistics.median(b)
    print(f"archc show: {ma:.3f} s   import torch: {mb:.3f} s   ratio {ma / mb:.2f} (target <= 0.50)")
    return {"show_s": ma, "import_torch_s": mb, "ratio": ma / mb}


def bench_scaling() -> dict:
    section("scaling: archc show specs/llama.yaml vars.n_layers=N (cold process, best of 3)")
    out = {}
    for n in (10, 100, 1000):
        out[n] = min(run(ARCHC + ["show", "specs/llama.yaml", f"vars.n_layers={n}"]) for _ in range(3))
    sys.path.insert(0, str(ROOT))
    from archc.pipeline import load_spec

    nodes = len(load_spec(ROOT / "specs/llama.yaml", ["vars.n_layers=1000"]).ir)
    inproc = {}
    for n in (10, 100, 1000):  # the analysis alone, start-up excluded: this part must grow linearly
        start = time.perf_counter()
        load_spec(ROOT / "specs/llama.yaml", [f"vars.n_layers={n}"])
        inproc[n] = time.perf_counter() - start
    base = out[10]
    for n, t in out.items():
        print(f"n_layers={n:>5}: {t:.3f} s cold process, {inproc[n]:.3f} s load_spec in process")
    print(f"in-process ratios: 100/10 layers {inproc[100] / inproc[10]:.1f}x, 1000/100 layers "
          f"{inproc[1000] / inproc[100]:.1f}x (linear: 10x)")
    per_layer = (out[1000] - out[100]) / 900 * 1000
    print(f"1000 layers = {nodes:,} IR nodes in {out[1000]:.2f} s (target < 3 s); "
          f"marginal cost {per_layer:.2f} ms/layer; 1000/100 layers: {out[1000] / out[100]:.1f}x, "
          f"1000/10: {out[1000] / base:.1f}x (start-up of {base:.2f} s included)")
    return {"seconds": out, "in_process_seconds": inproc, "nodes_1000": nodes, "ms_per_layer": per_layer}


def bench_build() -> dict:
    section("build: archc build specs/llama.yaml (cold process, best of 3)")
    with tempfile.TemporaryDirectory() as tmp:
        t = min(run(ARCHC + ["build", "specs/llama.yaml", "-o", f"{tmp}/llama.py", "--force"]) for _ in range(3))
    print(f"archc build: {t:.3f} s (target < 1 s)")
    return {"seconds": t}


def _shape_spec(kind: str, n: int) -> str:
    """A spec of ``n`` nodes shaped as ``kind`` (see the module docstring), as YAML text."""
    head = "inputs:\n  x: {shape: [B, T, 8]}\n"
    if kind == "flat":  # n siblings in one scope, each reading the input, summed pairwise into a chain of adds
        lines = [f"  r{i}: {{op: relu, in: x}}" for i in range(n)]
        lines += ["  s0: {op: add, in: [r0, r1]}"] + [f"  s{i}: {{op: add, in: [s{i - 1}, r{i + 1}]}}"
                                                       for i in range(1, n - 1)]
        return head + "nodes:\n" + "\n".join(lines) + f"\noutputs: {{y: s{n - 2}}}\n"
    if kind == "chain":  # each node reads the one listed after it: the topological order must be computed
        lines = [f"  c{i}: {{op: relu, in: c{i - 1}}}" for i in range(n - 1, 0, -1)] + ["  c0: {op: relu, in: x}"]
        return head + "nodes:\n" + "\n".join(lines) + f"\noutputs: {{y: c{n - 1}}}\n"
    return head + "blocks:\n  step: {nodes: {a: {op: relu}}}\n" + f"nodes:\n  steps: {{block: step, repeat: {n}}}\n"


def bench_shapes(n: int = 1000) -> dict:
    section(f"graph shapes: load_spec + build_source in process, {n:,} vs {10 * n:,} nodes (linear: 10x)")
    sys.path.insert(0, str(ROOT))
    from archc.codegen.pytorch import build_source
    from archc.pipeline import load_spec

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("flat", "chain", "repeat"):
            times = {}
            for size in (n, 10 * n):
                path = Path(tmp) / f"{kind}_{size}.yaml"
                path.write_text(_shape_spec(kind, size))
                start = time.perf_counter()
                spec = load_spec(path)
                loaded = time.perf_counter() - start
                build_source(spec)
                times[size] = (loaded, time.perf_counter() - start)
            (l1, b1), (l2, b2) = times[n], times[10 * n]
            print(f"{kind:>6}: load {l1:.2f} s -> {l2:.2f} s ({l2 / l1:.1f}x), load+build {b1:.2f} s -> {b2:.2f} s "
                  f"({b2 / b1:.1f}x)")
            out[kind] = {"load_s": [l1, l2], "build_s": [b1, b2], "ratio": b2 / b1}
    return out


def bench_lint(repeats: int = 5) -> dict:
    section("lint: archc lint specs/llama.yaml vars.n_layers=1000, every rule, cold, vs import torch (alternating)")
    lint = ARCHC + ["lint", "specs/llama.yaml", "vars.n_layers=1000"]
    torch_cmd = [sys.executable, "-c", "import torch"]
    a, b = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(lint, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # exit 1 on findings
        a.append(time.perf_counter() - start)
        b.append(run(torch_cmd))
    ma, mb = statistics.median(a), statistics.median(b)
    print(f"archc lint: {ma:.3f} s   import torch: {mb:.3f} s   ratio {ma / mb:.2f} (target <= 0.80)")
    return {"lint_s": ma, "import_torch_s": mb, "ratio": ma / mb}


# -- training step: generated model vs transformers -------------------------------------------------------

def _hf_model(family: str):
    import transformers

    config = LLAMA if family == "llama" else GPT2
    kind = (transformers.LlamaConfig, transformers.LlamaForCausalLM) if family == "llama" else (
        transformers.GPT2Config, transformers.GPT2LMHeadModel)
    hf_config = kind[0](**config)
    hf_config._attn_implementation = "sdpa"  # transformers' fastest path on CPU, the fair baseline
    return kind[1](hf_config)


def _generated_model(family: str, tmp: Path):
    """The generated model as a user gets it: import-hf on the config, then build."""
    import archc

    cfg_path = tmp / f"{family}.json"
    cfg_path.write_text(json.dumps(LLAMA if family == "llama" else GPT2))
    spec_path = tmp / f"imported_{family}.yaml"
    subprocess.run(ARCHC + ["import-hf", str(cfg_path), "-o", str(spec_path)], check=True, cwd=ROOT,
                   capture_output=True)
    return archc.build_module(archc.load_spec(spec_path))


def _models(family: str, tmp: Path):
    """(generated model, HF model) with identical weights."""
    import torch

    from archc.interop.hf import load_hf_weights

    torch.manual_seed(0)
    ref = _hf_model(family)
    gen = _generated_model(family, tmp)
    load_hf_weights(gen, ref.state_dict())
    return gen.train(), ref.train()


def _step(model, tokens, hf: bool):
    out = model(tokens)
    logits = out.logits if hf else out
    loss = logits.pow(2).mean()
    loss.backward()
    for p in model.parameters():
        p.grad = None


def bench_train(family: str, steps: int = 25) -> dict:
    """Median per-round ratio generated / HF; a second, identical HF model gives the noise floor."""
    import copy

    import torch

    section(f"train step, {family}: forward+backward, fp32, CPU, train mode, batch {BATCH} x {SEQ}, "
            f"loss logits.pow(2).mean()")
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        gen, ref = _models(family, Path(tmp))
    twin = copy.deepcopy(ref)
    vocab = (LLAMA if family == "llama" else GPT2)["vocab_size"]
    tokens = torch.randint(0, vocab, (BATCH, SEQ))
    runners = {"generated": (gen, False), "hf": (ref, True), "hf twin": (twin, True)}
    for model, hf in runners.values():
        for _ in range(2):
            _step(model, tokens, hf)
    times: dict[str, list[float]] = {name: [] for name in runners}
    names = list(runners)
    for i in range(steps):  # rotate who goes first, so drift on a shared machine hits all alike
        for name in names[i % 3:] + names[:i % 3]:
            model, hf = runners[name]
            start = time.perf_counter()
            _step(model, tokens, hf)
            times[name].append(time.perf_counter() - start)
    ratio = statistics.median(a / b for a, b in zip(times["generated"], times["hf"], strict=True))
    floor = statistics.median(a / b for a, b in zip(times["hf twin"], times["hf"], strict=True))
    mg, mh = statistics.median(times["generated"]), statistics.median(times["hf"])
    print(f"wall: generated {mg * 1000:.0f} ms   transformers {mh * 1000:.0f} ms   median ratio {ratio:.3f} "
          f"(target <= 1.0, aim 0.9); identical HF twin: {floor:.3f} (the noise floor); "
          f"{torch.get_num_threads()} threads, {steps} rounds")
    return {"generated_ms": mg * 1000, "hf_ms": mh * 1000, "ratio": ratio, "twin_ratio": floor}


def bench_compile(family: str = "llama", steps: int = 8) -> dict:
    """torch.compile with the default (inductor) backend and fullgraph=True: it must compile, and how fast."""
    import torch

    section(f"compile, {family}: torch.compile(model, fullgraph=True) with inductor vs eager, train step")
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        eager = _generated_model(family, Path(tmp)).train()
    compiled = torch.compile(eager, fullgraph=True)
    vocab = (LLAMA if family == "llama" else GPT2)["vocab_size"]
    tokens = torch.randint(0, vocab, (BATCH, SEQ))
    start = time.perf_counter()
    _step(compiled, tokens, False)
    compile_s = time.perf_counter() - start
    _step(eager, tokens, False)
    te, tc = [], []
    for _ in range(steps):
        for model, times in ((eager, te), (compiled, tc)):
            start = time.perf_counter()
            _step(model, tokens, False)
            times.append(time.perf_counter() - start)
    ratio = statistics.median(c / e for c, e in zip(tc, te, strict=True))
    print(f"first compiled step {compile_s:.0f} s (compilation); then compiled {statistics.median(tc) * 1000:.0f} ms "
          f"vs eager {statistics.median(te) * 1000:.0f} ms: ratio {ratio:.3f}; no graph breaks (fullgraph=True)")
    return {"compile_s": compile_s, "compiled_ms": statistics.median(tc) * 1000,
            "eager_ms": statistics.median(te) * 1000, "ratio": ratio}


def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def _memory_child(family: str, which: str) -> None:
    """In a fresh process: build one model, run a warm step, then report the peak RSS growth of one step.

    The peak is Linux's VmHWM, reset just before the measured step (writing 5 to /proc/self/clear_refs), so
    what model construction or the warm step touched does not hide the step's own peak.
    """
    import torch

    torch.manual_seed(0)
    if which == "generated":
        with tempfile.TemporaryDirectory() as tmp:
            model, hf = _generated_model(family, Path(tmp)).train(), False
    else:
        model, hf = _hf_model(family).train(), True
    vocab = (LLAMA if family == "llama" else GPT2)["vocab_size"]
    tokens = torch.randint(0, vocab, (BATCH, SEQ))
    _step(model, tokens, hf)
    Path("/proc/self/clear_refs").write_text("5")
    before = _rss_kib("VmRSS")
    _step(model, tokens, hf)
    print(json.dumps({"growth_kb": _rss_kib("VmHWM") - before}))


def bench_memory(family: str) -> dict:
    section(f"peak memory, {family}: growth of peak RSS over one training step (after a warm one), each model "
            "in its own process, median of 3")
    growth = {}
    for which in ("generated", "hf"):
        runs = []
        for _ in range(3):
            out = subprocess.run([sys.executable, __file__, "--memory-child", family, which], cwd=ROOT,
                                 capture_output=True, text=True, check=True, env=MALLOC_ENV)
            runs.append(json.loads(out.stdout.strip().splitlines()[-1])["growth_kb"] / 1024)
        growth[which] = statistics.median(runs)
    ratio = growth["generated"] / growth["hf"]
    print(f"generated +{growth['generated']:.0f} MiB   transformers +{growth['hf']:.0f} MiB   ratio {ratio:.3f} "
          "(target <= 1.0)")
    return {"generated_mib": growth["generated"], "hf_mib": growth["hf"], "ratio": ratio}


SECTIONS = ("startup", "scaling", "build", "shapes", "lint", "train", "memory", "compile")


def main(argv: list[str]) -> int:
    if argv[:1] == ["--memory-child"]:
        _memory_child(argv[1], argv[2])
        return 0
    wanted = argv or list(SECTIONS)
    print(f"# archc benchmarks: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{time.strftime('%Y-%m-%d')}")
    results = {}
    if "startup" in wanted:
        results["startup"] = bench_startup()
    if "scaling" in wanted:
        results["scaling"] = bench_scaling()
    if "build" in wanted:
        results["build"] = bench_build()
    if "shapes" in wanted:
        results["shapes"] = bench_shapes()
    if "lint" in wanted:
        results["lint"] = bench_lint()
    for family in ("llama", "gpt2"):
        if "train" in wanted:
            results[f"train_{family}"] = bench_train(family)
        if "memory" in wanted:
            results[f"memory_{family}"] = bench_memory(family)
    if "compile" in wanted:
        results["compile"] = bench_compile()
    out = ROOT / "bench-results.json"
    out.write_text(json.dumps(results, indent=2, default=str))
    print(f"\nresults written to {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
