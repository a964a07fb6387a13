from archc.ops.base import Attr, Op, Port
from archc.ops.mlp import ACTIVATIONS


class MoE(Op):
    """Sparse mixture of gated experts in one op (Shazeer et al. 2017; Mixtral, Jiang et al. 2024).

    A bias-free router ``router(x)`` gives ``router_logits`` over ``num_experts``; softmax, the ``top_k``
    largest probabilities per token, renormalised to sum to 1 when ``norm_topk_prob`` (Mixtral always does;
    transformers' ``MixtralTopKRouter`` divides by their sum); each chosen expert is a gated MLP
    ``down_e(act(gate_e(x)) * up_e(x))`` and the token's output is the weighted sum of its experts' outputs.

    Parameters ``router.weight`` (E, d), ``gate_up`` (E, 2·d_ff, d: gate rows first) and ``down`` (E, d, d_ff),
    the stacked layout of transformers 5's ``MixtralExperts`` and of kernels/moe.py. With
    ``capacity_factor`` c each expert takes at most ceil(c·N·top_k / E) of the N tokens' assignments, in token
    order (Switch Transformer, Fedus et al. 2022); a dropped assignment contributes nothing, so a token with
    all assignments dropped leaves the op as zeros and passes through the residual connection around it.
    Outputs ``out`` (the shape of x) and ``router_logits`` (x's leading axes, then E) for the routing losses.
    FLOPs count only the active experts: top_k expert MLPs per token, plus the router.
    """

    name = "moe"
    category = "mlp"
    inputs = (Port("x", takes="float32"),)
    outputs = ("out", "router_logits")
    attrs = {
        "num_experts": Attr(int, min=1, doc="number of experts E"),
        "top_k": Attr(int, 2, min=1, doc="experts per token (Mixtral: 2)"),
        "d_ff": Attr(int, min=1, doc="hidden width of each expert"),
        "activation": Attr(str, "silu", choices=ACTIVATIONS, doc="nonlinearity of the gate (silu: SwiGLU)"),
        "norm_topk_prob": Attr(bool, True, doc="renormalise the top-k probabilities to sum to 1 (Mixtral)"),
        "capacity_factor": Attr(float, None, nullable=True, min=0.0,
                                doc="null: no capacity limit; c: each expert takes at most ceil(c*N*top_k/E) "
                                    "assignments, later ones are dropped (Switch)"),
    }
    example = {"attrs": {"num_experts": 4, "top_k": 2, "d_ff": 6}, "inputs": {"x": ["B", "T", 5]}}

    def check(self, n):
        if n["top_k"] > n["num_experts"]:
            n.fail(f"top_k ({n['top_k']}) is more than num_experts ({n['num_experts']})", "top_k")
        if n["capacity_factor"] is not None and n["capacity_factor"] <= 0:
            n.fail("capacity_factor must be positive (null for no limit)", "capacity_factor")

    def infer(self, n):
        shape = tuple(n.shape())
        n.width()
        return [shape, shape[:-1] + (n["num_experts"],)]

    def params(self, n):
        d, f, e = n.width(), n["d_ff"], n["num_experts"]
        return {"router.weight": (e, d), "gate_up": (e, 2 * f, d), "down": (e, d, f)}

    def flops(self, n, out):
        d, f, e, k = n.width(), n["d_ff"], n["num_experts"], n["top_k"]
        router = 2.0 * d * e + 5.0 * e  # the router matmul and the softmax over experts
        expert = 2.0 * f * 3 * d + f  # gate, up and down matmuls and the gating product
        return (router + k * (expert + d), 0.0)  # + d: the weighted sum of the k expert outputs
