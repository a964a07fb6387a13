"""archc: a declarative neural-architecture compiler.

``import archc`` is cheap: it imports neither torch nor jinja2. The public API is loaded on first use:

>>> import archc
>>> spec = archc.load_spec("specs/llama.yaml", overrides=["vars.n_layers=2"])
>>> source = archc.build_source(spec)        # standalone PyTorch source, a str
>>> model = archc.build_module(spec)         # an instance of the generated Model (imports torch)
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["load_spec", "build_source", "build_module", "SpecError", "__version__"]


def __getattr__(name: str):
    if name == "load_spec":
        from archc.pipeline import load_spec

        return load_spec
    if name in ("build_source", "build_module"):
        from archc.codegen import pytorch

        return getattr(pytorch, name)
    if name == "SpecError":
        from archc.errors import SpecError

        return SpecError
    raise AttributeError(f"module 'archc' has no attribute {name!r}")
