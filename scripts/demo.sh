#!/usr/bin/env bash
# `make demo`: show, lint, build and run a catalog spec. Writes into out/ (ignored by git).
set -euo pipefail
cd "$(dirname "$0")/.."
A=.venv/bin/archc
PY=.venv/bin/python
mkdir -p out
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

step archc show specs/gpt2.yaml
$A show specs/gpt2.yaml

step archc show specs/llama.yaml size=7b   "(counted, never allocated)"
$A show specs/llama.yaml size=7b | tail -n 4

step archc lint specs/llama.yaml
$A lint specs/llama.yaml

step archc build specs/llama.yaml vars.n_layers=4 --verify -o out/llama_demo.py --force
$A build specs/llama.yaml vars.n_layers=4 --verify -o out/llama_demo.py --force

step "python: run the generated model on a random batch, one training step"
$PY - <<'PY'
import importlib.util, time
import torch
spec = importlib.util.spec_from_file_location("llama_demo", "out/llama_demo.py")
mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
torch.manual_seed(0)
model = mod.Model()
tokens = torch.randint(0, model.config.vocab_size, (2, 64))
start = time.perf_counter()
logits = model(tokens)
loss = torch.nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1), tokens[:, 1:].flatten())
loss.backward()
print(f"logits {tuple(logits.shape)}, loss {loss.item():.3f} (ln vocab = {torch.log(torch.tensor(float(model.config.vocab_size))):.3f}), "
      f"forward+backward {time.perf_counter() - start:.2f} s, "
      f"{sum(p.numel() for p in model.parameters()):,} parameters")
PY

if command -v dot >/dev/null 2>&1 && $A --help | grep -q " graph"; then
  step archc graph specs/llama.yaml vars.n_layers=4 -o out/llama.svg
  $A graph specs/llama.yaml vars.n_layers=4 -o out/llama.svg && echo "wrote out/llama.svg"
fi
