"""Auxiliary routing losses over router logits pooled from every MoE layer (``in: layers.*.moe.router_logits``)."""

from archc.ops.base import Attr, Op, Port


class _RouterLoss(Op):
    category = "other"
    out_dtype = "float32"  # computed in at least float32 whatever the logits' dtype, as transformers does
    inputs = (Port("x", variadic=True, doc="router logits [..., E], one per MoE layer (concatenated by rows)"),)

    def infer(self, n):
        width = None
        for shape in n.shapes["x"]:
            if not shape:
                n.fail("router logits need an expert axis")
            last = shape[-1]
            if not isinstance(last, int):
                n.fail(f"the expert axis of the router logits must be a number, got '{last}'")
            if width is not None and last != width:
                n.fail(f"router logits with {width} and {last} experts cannot be pooled")
            width = last
        self.check_width(n, width)
        return [()]

    def check_width(self, n, width):
        pass

    def flops(self, n, out):
        return (0.0, 0.0)  # a scalar per batch, not per token


class LoadBalancingLoss(_RouterLoss):
    """Switch/Mixtral load-balancing loss, exactly transformers' ``load_balancing_loss_func``: the logits of
    all layers are concatenated along the token axis and E·Σ_e f_e·P_e is computed once over the pooled
    rows, f_e the fraction of top-k assignments to expert e (per top-k slot, summed over slots) and P_e the
    mean softmax probability of e. Not the sum of per-layer losses: on a 2-layer Mixtral 2.0076 against
    4.0435. The coefficient (``router_aux_loss_coef``) is left to the training loop, as HF returns it."""

    name = "load_balancing_loss"
    attrs = {
        "num_experts": Attr(int, None, nullable=True, min=1,
                            doc="number of experts E; must equal the logits' width (null: that width)"),
        "top_k": Attr(int, 2, min=1, doc="experts per token, as the moe layers route"),
    }
    example = {"attrs": {"num_experts": 4, "top_k": 2}, "inputs": {"x": [["B", "T", 4], ["B", "T", 4]]}}

    def check_width(self, n, width):
        if n["num_experts"] is not None and width != n["num_experts"]:
            n.fail(f"router logits have {width} experts, num_experts is {n['num_experts']}", "num_experts")
        if n["top_k"] > width:
            n.fail(f"top_k ({n['top_k']}) is more than the {width} experts", "top_k")


class RouterZLoss(_RouterLoss):
    """Router z-loss (ST-MoE, Zoph et al. 2022, arXiv:2202.08906, eq. 5): the mean over the pooled tokens of
    (log Σ_e exp(logit_e))², which keeps router logits small for numerical stability."""

    name = "router_z_loss"
    example = {"attrs": {}, "inputs": {"x": [["B", "T", 4]]}}
