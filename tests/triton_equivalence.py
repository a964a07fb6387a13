"""Run by tests/test_backend_triton.py in a subprocess with TRITON_INTERPRET=1 (Triton reads it when a kernel
is decorated, so it must be set before the generated file is imported, and the rest of the suite must not see
it): build each spec with both backends, load the PyTorch model's weights into the Triton one, and print, as
JSON, the largest logit and gradient differences and how often each kernel ran."""

from __future__ import annotations

import json
import os
import sys
import time

assert os.environ.get("TRITON_INTERPRET") == "1", "run with TRITON_INTERPRET=1"

import torch  # noqa: E402

from archc.codegen.pytorch import build_source, load_source  # noqa: E402
from archc.passes.rewrite import relower  # noqa: E402
from archc.pipeline import load_spec  # noqa: E402

KERNEL_ENTRIES = ("flash_attention", "rms_norm", "layer_norm", "swiglu", "geglu")


def count_calls(module) -> dict[str, int]:
    """Wrap the kernels' entry points in the module's globals (the generated code looks them up at call time)."""
    counts = {}
    for name in KERNEL_ENTRIES:
        fn = getattr(module, name, None)
        if fn is None:
            continue
        counts[name] = 0

        def wrapped(*args, _fn=fn, _name=name, **kw):
            counts[_name] += 1
            return _fn(*args, **kw)

        setattr(module, name, wrapped)
    return counts


def compare(spec: str, overrides: list[str], vocab: int, T: int) -> dict:
    started = time.perf_counter()
    reference = load_source(build_source(load_spec(spec, overrides))).Model().eval()
    loaded = load_spec(spec, overrides)
    relower(loaded.ir, "triton")
    module = load_source(build_source(loaded))
    counts = count_calls(module)
    model = module.Model().eval()
    model.load_state_dict(reference.state_dict())
    tokens = torch.randint(0, vocab, (2, T), generator=torch.Generator().manual_seed(1))
    outs = []
    for m in (reference, model):
        y = m(tokens)
        y = y if torch.is_tensor(y) else y["logits"]
        (y.double() * torch.linspace(-1, 1, y.shape[-1], dtype=torch.float64)).sum().backward()
        outs.append(y.detach())
    grads_ref = dict(reference.named_parameters())
    worst = {}
    for name, p in model.named_parameters():
        g_ref = grads_ref[name].grad
        scale = g_ref.abs().max().item()
        worst[name] = [(p.grad - g_ref).abs().max().item(), scale]
    return {"logit_err": (outs[0] - outs[1]).abs().max().item(), "logit_scale": outs[0].abs().max().item(),
            "grads": worst, "calls": counts, "seconds": time.perf_counter() - started}


def main() -> None:
    torch.manual_seed(0)
    cases = json.loads(sys.argv[1])
    print(json.dumps({name: compare(*case) for name, case in cases.items()}))


if __name__ == "__main__":
    main()
