"""count: parameters and forward FLOPs per token of every node.

Writes ``meta["params"]`` ({name: shape}, without tied parameters), ``meta["n_params"]``, ``meta["flops"]``
([fixed, per_ctx]: FLOPs per token are ``fixed + per_ctx * T``) and ``meta["category"]``: the op's
``output_category`` (``head`` for a linear) when the node feeds a model output from outside any repeat and
any block with a role; else the op's ``category``, or for ``other`` the role of the nearest enclosing block
that declares one, so the linears of an ``ffn`` block count as MLP. Checks that every parameter's element
count fits torch's int64, that tied parameters exist on both sides with equal shapes and that per-parameter
``init`` names exist.

Conventions: a multiply-add is 2 FLOPs; attention's T-dependent part (QK^T and PV) is 4 * heads * head_dim
per token per attended position, counted at the full context T (no causal discount, as Kaplan et al. 2020).
"""

from __future__ import annotations

import math

from archc.errors import SpecError, did_you_mean
from archc.ir.dims import INT64_MAX, fmt, show_int
from archc.ir.graph import IR
from archc.ops.registry import OPS
from archc.passes.infer_shapes import node_view


def _category(ir: IR, node, feeds_output: bool) -> str:
    op = OPS[node.op]
    role = ir.scopes.role_of(node.parent)
    # the head is the model's own last projection: not the down projection of an `mlp` block that happens
    # to end the spec, nor the last iteration of a repeated block
    if feeds_output and op.output_category and role == "other" and not ir.scopes.indices(node.key):
        return op.output_category
    return op.category if op.category != "other" else role


def count(ir: IR) -> IR:
    outputs = {key for key, _ in ir.info["outputs"].values()}
    for node in ir.nodes():
        op = OPS[node.op]
        view = node_view(ir, node)
        params = {k: list(v) for k, v in op.params(view).items()}
        for name, shape in params.items():
            if math.prod(shape) > INT64_MAX:
                view.fail(f"parameter {name} {fmt(shape)} has {show_int(math.prod(shape))} elements, more than torch's "
                          f"int64 sizes hold ({INT64_MAX:,})")
        for name in node.init:
            if name != "*" and name not in params:
                raise SpecError(f"{node.key}: init names parameter '{name}', but op '{node.op}' has "
                                f"{', '.join(params) or 'none'}{did_you_mean(name, params)}",
                                node.attr_locs.get("init", node.loc))
        if node.tie:
            target = ir.node(node.tie)
            target_params = {k: list(v) for k, v in OPS[target.op].params(node_view(ir, target)).items()}
            shared = [k for k in params if k in target_params and k.endswith("weight")]
            if not shared:
                raise SpecError(f"{node.key}: cannot tie to '{node.tie}': no weight in common",
                                node.attr_locs.get("tie", node.loc))
            for k in shared:
                if params[k] != target_params[k]:
                    raise SpecError(f"{node.key}: cannot tie {k} {fmt(params[k])} to {node.tie}.{k} "
                                    f"{fmt(target_params[k])}", node.attr_locs.get("tie", node.loc))
                del params[k]
            node.meta["tied"] = {k: f"{node.tie}.{k}" for k in shared}
        node.meta["params"] = params
        node.meta["n_params"] = sum(math.prod(s) for s in params.values())
        fixed, per_ctx = op.flops(view, [tuple(s) for s in node.meta["shapes"].values()])
        node.meta["flops"] = [fixed, per_ctx]
        node.meta["category"] = _category(ir, node, node.key in outputs)
    return ir


def totals(ir: IR, ctx: int) -> dict:
    """Whole-model totals: parameters, FLOPs per token at context ``ctx``, and the share by category."""
    params = 0
    flops = 0.0
    by_cat: dict[str, float] = {}
    for node in ir.nodes():
        params += node.meta["n_params"]
        f = node.meta["flops"][0] + node.meta["flops"][1] * ctx
        flops += f
        by_cat[node.meta["category"]] = by_cat.get(node.meta["category"], 0.0) + f
    return {"params": params, "flops_per_token": flops, "ctx": ctx, "flops_by_category": by_cat}
