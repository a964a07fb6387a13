"""``archc build --verify``: build the generated model on the meta device and check it against the IR.

Checks the parameter count (shared parameters once), the state-dict keys and shapes against the IR's
``meta["params"]`` (plus tied keys), and every declared output's shape for a concrete batch (symbols
get small distinct sizes). No memory is allocated for weights: the meta device stores no data.

A mismatch means archc's code generation disagrees with its own analysis of a spec that loaded: that is
archc's bug, raised as :class:`CodegenBug` (the CLI reports it as such, exit 3), never a spec error.
"""

from __future__ import annotations

from archc.codegen.lower import CodegenBug
from archc.ir.dims import evaluate

SIZES = (2, 3, 5, 7, 11, 13)


def verify(spec, source: str) -> str:
    import torch

    from archc.codegen.init import tie_root
    from archc.codegen.pytorch import load_source
    from archc.passes.count import totals

    ir = spec.ir
    module = load_source(source)
    with torch.device("meta"):
        model = module.Model()
    expected = {f"{n.key}.{p}": tuple(s) for n in ir.nodes() for p, s in n.meta["params"].items()}
    for n in ir.nodes():
        for p in n.meta.get("tied", {}):
            owner, param = tie_root(ir, n.key, p)  # a chain a -> b -> c: the shape is c's
            expected[f"{n.key}.{p}"] = tuple(ir.node(owner).meta["params"][param])
    from archc.codegen.pytorch import state_dict_names

    renamed = state_dict_names(spec)
    expected = {renamed[k]: v for k, v in expected.items()}
    got = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    problems = []
    for key in sorted(set(expected) - set(got)):
        problems.append(f"missing parameter {key}")
    for key in sorted(set(got) - set(expected)):
        problems.append(f"unexpected parameter {key}")
    for key in sorted(set(got) & set(expected)):
        if got[key] != expected[key]:
            problems.append(f"{key} has shape {list(got[key])}, the IR says {list(expected[key])}")
    n_params = sum(p.numel() for p in model.parameters())
    want = totals(ir, 1)["params"]
    if n_params != want:
        problems.append(f"{n_params:,} parameters, the IR counts {want:,}")
    symbols: dict[str, int] = {}
    args = []
    for decl in ir.info["inputs"].values():
        shape = []
        for d in decl["shape"]:
            if isinstance(d, str):
                d = symbols.setdefault(d, SIZES[len(symbols) % len(SIZES)])
            shape.append(d)
        dtype = getattr(torch, decl["dtype"])
        args.append(torch.zeros(shape, dtype=dtype, device="meta"))
    with torch.no_grad():
        out = model.eval()(*args)
    outs = out if isinstance(out, dict) else {next(iter(ir.info["outputs"])): out}
    for name, (key, port) in ir.info["outputs"].items():
        # a shape may hold a size expression the shape pass wrote (concat along T gives "T+T")
        want_shape = [d if (v := evaluate(d, symbols)) is None else v for d in ir.shape_of(key, port)]
        got_shape = list(outs[name].shape)
        if got_shape != want_shape:
            problems.append(f"output {name} has shape {got_shape}, the IR says {want_shape}")
    if problems:
        raise CodegenBug(f"archc generated a model for {spec.path} that does not match its own analysis "
                         "(a bug in archc, not in the spec): " + "; ".join(problems[:5])
                         + (" ..." if len(problems) > 5 else ""))
    shapes = ", ".join(f"{k} {list(v.shape)}" for k, v in outs.items())
    sizes = ", ".join(f"{k}={v}" for k, v in symbols.items())
    return f"verified: {n_params:,} parameters, {len(got)} state-dict entries, outputs {shapes} at {sizes}"


__all__ = ["verify"]
